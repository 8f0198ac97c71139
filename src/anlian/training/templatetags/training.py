"""The training summary that the person page includes (training/_person_training.html)."""

from __future__ import annotations

from typing import Any

from django import template

from anlian.training import services

register = template.Library()


@register.inclusion_tag("training/_summary.html")
def training_summary(person: Any) -> dict[str, Any]:
    # The person page has already fetched `person` through access; their record goes with them.
    record = services.record_of(person)
    return {"person": person, "last": next(iter(record["attendance"]), None), **record}
