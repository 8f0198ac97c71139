"""Permit numbers per company, type and day: DH-20250519-0003."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from anlian.flows.models import FlowTemplate, NumberCounter

# Number prefixes by template family (pinyin initials, as used on paper permits).
PREFIXES = {
    "hot-work": "DH", "confined-space": "SX", "blind-plate": "MB", "work-at-height": "GC",
    "lifting": "DZ", "temporary-power": "LD", "excavation": "DT", "road-closure": "DL",
    "loto": "SS", "zero-process": "LC", "hazard": "YH",
}


def prefix_for(template: FlowTemplate) -> str:
    for family, prefix in PREFIXES.items():
        if template.key.startswith(family):
            return prefix
    return "ZY"  # 作业: any other template


def next_number(company, template: FlowTemplate, now: datetime) -> str:
    """Take the next number; safe under concurrency (row lock, or a unique clash retried)."""
    prefix, day = prefix_for(template), timezone.localtime(now).date()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                counter, _created = NumberCounter.objects.select_for_update().get_or_create(
                    company=company, prefix=prefix, day=day)
                NumberCounter.objects.filter(pk=counter.pk).update(value=F("value") + 1)
                counter.refresh_from_db(fields=["value"])
                return f"{prefix}-{day:%Y%m%d}-{counter.value:04d}"
        except IntegrityError:  # two first permits of the day at once: the loser retries
            continue
    raise RuntimeError("could not allocate a permit number")
