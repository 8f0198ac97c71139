"""The server's clock, replaceable in tests (`frozen`) so timing rules can be proven exactly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

from django.utils import timezone

_fixed: datetime | None = None


def now() -> datetime:
    return _fixed or timezone.now()


def set_now(moment: datetime | None) -> None:
    """Pin the clock (None: back to real time)."""
    global _fixed
    _fixed = moment


@contextmanager
def frozen(moment: datetime) -> Iterator[None]:
    previous = _fixed
    set_now(moment)
    try:
        yield
    finally:
        set_now(previous)


def today() -> date:
    """Today in the site's time zone (Asia/Shanghai by default): dates on certificates and
    deadlines are local dates, so a UTC date would be wrong for eight hours a day."""
    return timezone.localtime(now()).date()


def local_date(moment: datetime) -> date:
    return timezone.localtime(moment).date()
