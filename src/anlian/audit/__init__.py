"""Audit log of configuration and administration changes (see docs/audit.md).

`with audit.acting(user):` attributes changes made by the CLI or the worker to a person.
"""

from anlian.audit.context import acting

__all__ = ["acting"]
