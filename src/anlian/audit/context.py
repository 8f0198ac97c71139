"""Who is acting: the request's user and address (set by `AuditMiddleware`) or, in the CLI and
the worker, whoever `acting()` names. Kept free of model imports: `anlian.audit` re-exports
`acting` and is imported while Django is still loading apps.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist


@dataclass
class Actor:
    """The author of the changes being made. A request's user is read when a change is written,
    not when the request starts: an API token authenticates the user later, inside the view."""

    user: Any = None
    name: str = ""
    ip: str | None = None
    request_id: str = ""
    request: Any = None
    # The last entry written under this actor, for folding m2m changes into it (capture.py).
    slot: Any = field(default=None, repr=False)

    def account(self) -> Any:
        user = self.user
        if user is None and self.request is not None:
            user = getattr(self.request, "user", None)
        if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
            return None
        return user

    def display_name(self) -> str:
        if self.name:
            return self.name[:150]
        user = self.account()
        if user is None:
            return ""
        try:
            person = user.person
        except ObjectDoesNotExist:  # no Person for this account (a platform administrator)
            person = None
        name = person.name if person is not None else ""
        username = user.get_username()
        return (f"{name}（{username}）" if name else username)[:150]


_current: ContextVar[Actor | None] = ContextVar("anlian_audit_actor", default=None)


def current() -> Actor | None:
    return _current.get()


def clean_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


@contextmanager
def acting(user: Any = None, *, name: str = "", ip: str | None = None) -> Iterator[Actor]:
    """Attribute the changes made inside the block to `user` (or to `name`, e.g. "导入任务").

    For the CLI and the worker, which have no request; nested blocks win over outer ones.
    """
    actor = Actor(user=user if getattr(user, "pk", None) is not None else None, name=name, ip=clean_ip(ip))
    if not name and actor.user is None and user is not None:
        actor.name = str(user)[:150]  # e.g. the installation's SYSTEM actor
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


@contextmanager
def for_request(request: Any) -> Iterator[Actor]:
    actor = Actor(request=request, ip=clean_ip(request.META.get("REMOTE_ADDR")),
                  request_id=str(getattr(request, "request_id", "") or "")[:64])
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
