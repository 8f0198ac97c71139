"""Audit log of configuration and administration changes (see docs/audit.md).

`with audit.acting(user):` attributes changes made by the CLI or the worker to a person.
`audit.record_created(objs)` and `audit.record_changed(obj, old)` record what bulk_create and
QuerySet.update() do without sending signals.
"""

from typing import Any

from anlian.audit.context import acting


def record_created(objects: Any, using: str = "default") -> int:
    from anlian.audit import capture  # not at import time: apps are still loading then

    return capture.record_created(list(objects), using)


def record_changed(instance: Any, old: dict, using: str = "default") -> Any:
    from anlian.audit import capture

    return capture.record_changed(instance, old, using)


__all__ = ["acting", "record_changed", "record_created"]
