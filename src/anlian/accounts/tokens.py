"""Issue, check and revoke personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.accounts.models import ApiToken, User
from anlian.core.errors import Invalid, NotFound
from anlian.core.prepared import Prepared

TOKEN_PREFIX = "anl_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(user: Any, name: str, days: int | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored or shown again."""
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise Invalid(_("令牌名称不能为空且不超过60个字符"), field="name")
    days = settings.API_TOKEN_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= 3650:
        raise Invalid(_("有效天数须在1到3650之间"), field="days")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=secret[: len(TOKEN_PREFIX) + 6], key_hash=_digest(secret),
        expires_at=timezone.now() + timedelta(days=days),
    )
    return token, secret


@lru_cache(maxsize=1)
def _by_hash() -> tuple[Prepared, list[str], list[str]]:
    """The token with its account and person, in one query compiled once (core.prepared): every
    API request asks it."""
    from anlian.orgs.models import Person

    user_fields = [f.attname for f in User._meta.concrete_fields]
    person_fields = [f.attname for f in Person._meta.concrete_fields]
    query = Prepared(lambda key_hash: ApiToken.objects.filter(key_hash=key_hash).values_list(
        "pk", "expires_at", "revoked_at", "last_used_at", *(f"user__{f}" for f in user_fields),
        *(f"user__person__{f}" for f in person_fields)))
    return query, user_fields, person_fields


def user_for_secret(secret: str) -> Any | None:
    """The active account behind a token, or None for unknown, expired or revoked tokens."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    query, user_fields, person_fields = _by_hash()
    found = query.rows(_digest(secret))
    if not found:
        return None
    pk, expires_at, revoked_at, last_used_at, *rest = found[0]
    now = timezone.now()
    if revoked_at is not None or (expires_at is not None and expires_at <= now):
        return None
    user = User.from_db("default", user_fields, rest[:len(user_fields)])
    if not user.is_active:
        return None
    person_values = rest[len(user_fields):]
    if person_values[0] is not None:
        from anlian.orgs.models import Person

        person = Person.from_db("default", person_fields, person_values)
        person._state.fields_cache["user"] = user
        user._state.fields_cache["person"] = person
    else:
        user._state.fields_cache["person"] = None  # no person: `user.person` raises, as the ORM's would
    if last_used_at is None or now - last_used_at > timedelta(minutes=5):
        # Coarse on purpose: one write per token per five minutes, not one per request.
        ApiToken.objects.filter(pk=pk).update(last_used_at=now)
    return user


def revoke_token(user: Any, token_id: Any) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first() if str(token_id).isdigit() else None
    if token is None:
        raise NotFound()
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def bearer_secret(request: Any) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
