"""The server's clock, replaceable in tests (`frozen`) so timing rules can be proven exactly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

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
