"""The certificates-and-violations panel of the person page (`workforce/_person_qualification.html`)."""

from __future__ import annotations

from typing import Any

from django import template

from anlian.orgs import access
from anlian.orgs.models import Person
from anlian.orgs.permissions import MANAGE_CERTIFICATES
from anlian.workforce import certificates, qualification, violations
from anlian.workforce.models import Certificate, Violation, ViolationStatus

register = template.Library()


@register.inclusion_tag("workforce/certificates/_person_panel.html", takes_context=True)
def person_qualification(context: template.Context, person: Person) -> dict[str, Any]:
    """The person's certificates coloured by state (red: expired or revoked; orange: expiring or
    review due within 30 days) and their violations not yet closed, as the viewer may see them."""
    user = context["request"].user
    today = certificates.today()
    rows, may_manage = [], access.can(user, MANAGE_CERTIFICATES, person)
    for cert in access.visible(Certificate, user).filter(person=person).select_related("kind").order_by("kind__name"):
        state = certificates.state_of(cert, today)
        rows.append({"certificate": cert, "number": certificates.shown_number(cert, may_manage),
                     "label": certificates.STATE_LABELS[state],
                     "colour": certificates.STATE_COLOURS[state]})
    pending = access.visible(Violation, user).filter(
        person=person, status__in=[ViolationStatus.OPEN, ViolationStatus.RECTIFIED]).select_related("area")
    standing = [{"work_type": work_type, "reasons": reasons}
                for work_type, reasons in qualification.status_by_work_type(person, today)]
    return {"person": person, "rows": rows, "violations": pending, "standing": standing,
            "may_manage": may_manage,
            "may_record": violations.may_record(user, person, None)}
