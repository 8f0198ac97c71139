# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API of the supervision view 督办: the same figures per department as the page."""

from datetime import date
from typing import Literal, Optional

from django.http import HttpRequest
from ninja import Query, Router, Schema

from anlian.hazards import supervision
from anlian.orgs.api import ref
from anlian.orgs.models import OrgUnit

router = Router(tags=["hazards"])


class DepartmentOut(Schema):
    unit_id: int
    name: str
    rest: bool
    total: int
    open: int
    overdue: int
    closed: int
    recurrent: int
    avg_close_hours: Optional[float]
    overdue_rate: Optional[float]
    recurrence_rate: Optional[float]

    @staticmethod
    def resolve_unit_id(row: supervision.Figures) -> int:
        return row.unit.pk

    @staticmethod
    def resolve_name(row: supervision.Figures) -> str:
        return row.label


class SupervisionOut(Schema):
    unit_id: int
    level: str
    start: date
    end: date
    departments: list[DepartmentOut]
    total: DepartmentOut

    @staticmethod
    def resolve_unit_id(report: supervision.Report) -> int:
        return report.root.pk

    @staticmethod
    def resolve_departments(report: supervision.Report) -> list:
        return report.rows

    @staticmethod
    def resolve_total(report: supervision.Report):
        return report.all


@router.get("/hazard-supervision", response=SupervisionOut,
            summary="Hazards per department 督办: open, overdue, average closure time, overdue and recurrence rates")
def hazard_supervision(request: HttpRequest, unit_id: int = Query(..., ge=1, le=2**63 - 1),
                       level: Literal["plant", "workshop", "team"] = "plant",
                       start: Optional[date] = None, end: Optional[date] = None):
    root = ref(OrgUnit, request, unit_id, "unit_id")
    first, last = supervision.default_period()
    return supervision.report(request.user, root, level, start or first, end or last)
