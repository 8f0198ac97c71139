# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API: a person's qualification — GO / NO-GO with every reason, per work type or for one question."""

from typing import Optional

from django.http import HttpRequest
from ninja import Query, Router, Schema

from anlian.core.errors import NotFound
from anlian.core.schemas import Id
from anlian.orgs import access
from anlian.orgs.models import Area, Person
from anlian.workforce import qualification

router = Router(tags=["qualification"])


class ReasonOut(Schema):
    code: str
    text: str


class StandingOut(Schema):
    work_type: Optional[str]
    go: bool
    reasons: list[ReasonOut]


class QualificationOut(Schema):
    person_id: int
    asked: StandingOut
    work_types: list[StandingOut]


@router.get("/people/{person_id}/qualification", response=QualificationOut,
            summary="A person's qualification: the question asked (work type, area) and every work type")
def person_qualification(request: HttpRequest, person_id: Id,
                         work_type: Optional[str] = Query(None, max_length=60),
                         area_id: Optional[int] = Query(None)):
    person = access.get_for_user(Person, request.user, person_id)
    if area_id is not None:
        try:
            access.get_for_user(Area, request.user, area_id)
        except NotFound:
            raise NotFound(field="area_id") from None
    asked = qualification.assess(person, work_type=work_type or None, area_id=area_id)
    return {
        "person_id": person.pk,
        "asked": {"work_type": work_type or None, "go": not asked, "reasons": [r.as_dict() for r in asked]},
        "work_types": [{"work_type": wt, "go": not reasons, "reasons": [r.as_dict() for r in reasons]}
                       for wt, reasons in qualification.status_by_work_type(person)],
    }
