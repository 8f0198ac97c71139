"""Who may see and make checkpoints, and the reads the pages and the API share.

Checkpoints are company-wide: reading them takes VIEW at the company node, sealing on demand
MANAGE_ORG there. Another company (or a company the user cannot see) is a 404 like a missing one.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from anlian.core.errors import Forbidden
from anlian.flows.models import Instance
from anlian.orgs import access
from anlian.orgs.models import OrgKind, OrgUnit
from anlian.orgs.permissions import MANAGE_ORG, VIEW
from anlian.seal import checkpoints, verify
from anlian.seal.models import Checkpoint


def companies_for(user: Any, perm: str = VIEW) -> QuerySet[OrgUnit]:
    return access.visible(OrgUnit, user, perm).filter(kind=OrgKind.COMPANY).order_by("path")


def get_company(user: Any, pk: Any, perm: str = VIEW) -> OrgUnit:
    return access.get_for_user(companies_for(user, VIEW), user, pk, perm=perm)


def checkpoints_of(company: OrgUnit) -> QuerySet[Checkpoint]:
    return Checkpoint.objects.filter(company=company).select_related("sealed_by").order_by("-number")


def seal_now(user: Any, company: OrgUnit) -> Checkpoint:
    if not access.can(user, MANAGE_ORG, company):
        raise Forbidden()
    return checkpoints.seal_company(company, user=user, force=True)


def verify_for(user: Any, instance_id: Any) -> verify.Report:
    """VIEW on the job (its unit's subtree, or a participant), like its own page."""
    from anlian.flows.services import get_instance_for_user

    job: Instance = get_instance_for_user(user, instance_id)
    return verify.verify_instance(job)
