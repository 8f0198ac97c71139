"""Issue, check and revoke personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.accounts.models import ApiToken
from anlian.core.errors import Invalid, NotFound

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


def user_for_secret(secret: str) -> Any | None:
    """The active account behind a token, or None for unknown, expired or revoked tokens."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    try:
        token = ApiToken.objects.select_related("user__person").get(key_hash=_digest(secret))
    except ApiToken.DoesNotExist:
        return None
    if token is None or not token.is_usable or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        # Coarse on purpose: one write per token per five minutes, not one per request.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


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
