"""The one permission function of Anlian, and scoped lookups built on it.

Every page, API endpoint and task asks `can()` / `require()` whether a person may do something at
an org node, and fetches objects only through `visible()` / `get_for_user()`, which filter by the
subtrees the person's grants cover. Another company's object is simply not found (404).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet

from anlian.core.errors import Forbidden, NotFound
from anlian.core.prepared import Prepared
from anlian.orgs.permissions import VIEW

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class Scope:
    """What one account may do where: (subtree path, permission codes) per grant."""

    is_superuser: bool
    grants: tuple[tuple[str, frozenset[str]], ...]
    # The same grants widened to their whole company, for things everyone on site must be able
    # to look up (an area's rules, an equipment QR label), whichever team they belong to.
    company_grants: tuple[tuple[str, frozenset[str]], ...] = ()
    # (role code, granting node's path, its level) per grant, for the workflow engine's actor facts.
    roles: tuple[tuple[str, str, str], ...] = ()

    def allows(self, perm: str, path: str) -> bool:
        if self.is_superuser:
            return True
        return any(path.startswith(prefix) and perm in perms for prefix, perms in self.grants)

    def paths(self, perm: str, company_wide: bool = False) -> list[str]:
        """The smallest set of subtree prefixes where `perm` holds (nested ones folded in)."""
        grants = self.company_grants if company_wide else self.grants
        prefixes = sorted({prefix for prefix, perms in grants if perm in perms})
        folded: list[str] = []
        for prefix in prefixes:
            if not any(prefix.startswith(kept) for kept in folded):
                folded.append(prefix)
        return folded

    def permissions_at(self, path: str) -> frozenset[str]:
        if self.is_superuser:
            from anlian.orgs.permissions import PERMISSIONS

            return frozenset(PERMISSIONS)
        held: set[str] = set()
        for prefix, perms in self.grants:
            if path.startswith(prefix):
                held |= perms
        return frozenset(held)


NO_SCOPE = Scope(False, ())


def scope_of(user: Any) -> Scope:
    """The scope of an account, computed once per request and kept on the user object."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_SCOPE
    cached = getattr(user, "_anlian_scope", None)
    if cached is None:
        rows = _grants().rows(user.pk)
        cached = Scope(
            user.is_superuser,
            tuple((path, frozenset(perms)) for path, perms, _company, _code, _kind in rows),
            tuple((company or path, frozenset(perms)) for path, perms, company, _code, _kind in rows),
            tuple((code, path, kind) for path, _perms, _company, code, kind in rows),
        )
        user._anlian_scope = cached
    return cached


@lru_cache(maxsize=1)
def _grants() -> Prepared:
    """An account's grants: asked on every request, so compiled once (core.prepared)."""
    from anlian.orgs.models import RoleGrant

    return Prepared(lambda user_id: RoleGrant.objects.filter(person__user_id=user_id, person__is_active=True)
                    .values_list("org_unit__path", "role__permissions", "org_unit__company__path", "role__code",
                                 "org_unit__kind"))


def forget_scope(user: Any) -> None:
    """Drop the cached scope after grants change within the same request."""
    if user is not None and hasattr(user, "_anlian_scope"):
        del user._anlian_scope


def path_of(target: Any) -> str:
    """The org path an object is scoped by: its own for a unit, else its `org_unit`'s."""
    if isinstance(target, str):
        return target
    path = getattr(target, "path", None)
    if isinstance(path, str) and path:
        return path
    return target.org_unit.path


def can(user: Any, perm: str, target: Any) -> bool:
    return scope_of(user).allows(perm, path_of(target))


def require(user: Any, perm: str, target: Any) -> None:
    if not can(user, perm, target):
        raise Forbidden()


def scope_filter(user: Any, perm: str, lookup: str, company_wide: bool = False) -> Q:
    scope = scope_of(user)
    if scope.is_superuser:
        return Q()
    paths = scope.paths(perm, company_wide)
    if not paths:
        return Q(pk__in=[])
    q = Q()
    for prefix in paths:
        q |= Q(**{f"{lookup}__startswith": prefix})
    return q


def visible(queryset: QuerySet[M] | type[M], user: Any, perm: str = VIEW) -> QuerySet[M]:
    """Objects of a model whose org path lies in the subtrees where `user` holds `perm`.

    A model declares its scope with `scope_path_lookup` (e.g. "org_unit__path"); one with
    `readable_company_wide = True` can be read by anyone with a VIEW grant in its company, and
    `scope_also(user) -> Q` adds objects a person may read for another reason.
    """
    qs = queryset._default_manager.all() if isinstance(queryset, type) else queryset
    company_wide = perm == VIEW and getattr(qs.model, "readable_company_wide", False)
    condition = scope_filter(user, perm, qs.model.scope_path_lookup, company_wide)
    also = getattr(qs.model, "scope_also", None)
    if also is not None and perm == VIEW and not scope_of(user).is_superuser:
        # e.g. a job's participants see it wherever their own grants sit.
        return qs.filter(pk__in=qs.model._default_manager.filter(condition | also(user)).values("pk"))
    return qs.filter(condition)


def get_for_user(queryset: QuerySet[M] | type[M], user: Any, pk: Any, *, perm: str | None = None) -> M:
    """Fetch one visible object or raise NotFound; with `perm`, also require it there (403)."""
    try:
        obj = visible(queryset, user).filter(pk=pk).first()
    except (ValueError, TypeError, ValidationError):
        obj = None
    if obj is None:
        raise NotFound()
    if perm:
        require(user, perm, obj)
    return obj


def visible_roles(user: Any) -> QuerySet:
    """Built-in roles, plus the roles defined inside the subtrees the user may see."""
    from anlian.orgs.models import Role

    scope = scope_of(user)
    if scope.is_superuser:  # (Q(...) | Q() drops the empty Q, so "all" must be said outright)
        return Role.objects.all()
    if not scope.grants:
        return Role.objects.none()
    return Role.objects.filter(Q(owner__isnull=True) | scope_filter(user, VIEW, "owner__path"))


class _SystemActor:
    """The installation itself, acting in loaders and tasks that no person started."""

    is_authenticated = True
    is_active = True
    is_superuser = True
    pk = None
    _anlian_scope = Scope(True, ())

    def __str__(self) -> str:
        return "system"


SYSTEM = _SystemActor()
