"""API: who am I, and my personal tokens."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from anlian.accounts.models import ApiToken
from anlian.accounts.tokens import issue_token, revoke_token
from anlian.core.schemas import Id, Strict
from anlian.orgs import access

router = Router(tags=["accounts"])


class GrantOut(Schema):
    role: str
    role_name: str
    org_unit_id: int
    org_unit_name: str


class MeOut(Schema):
    username: str
    person_id: int | None
    name: str | None
    org_unit_id: int | None
    is_superuser: bool
    grants: list[GrantOut]


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=60)
    days: int = Field(default=365, ge=1, le=3650)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    secret: str


@router.get("/me", response=MeOut, summary="The current account, person and role grants")
def me(request: HttpRequest):
    person = getattr(request.user, "person", None)
    grants = person.grants.select_related("role", "org_unit") if person else []
    return {
        "username": request.user.username,
        "person_id": person.pk if person else None,
        "name": person.name if person else None,
        "org_unit_id": person.org_unit_id if person else None,
        "is_superuser": access.scope_of(request.user).is_superuser,
        "grants": [{"role": g.role.code, "role_name": g.role.label, "org_unit_id": g.org_unit_id,
                    "org_unit_name": g.org_unit.name} for g in grants],
    }


@router.get("/tokens", response=list[TokenOut], summary="My API tokens")
def list_tokens(request: HttpRequest):
    return ApiToken.objects.filter(user=request.user)


@router.post("/tokens", response={201: TokenCreated}, summary="Create a token; the secret is shown only here")
def create_token(request: HttpRequest, payload: TokenIn):
    token, secret = issue_token(request.user, payload.name, payload.days)
    return Status(201, {**TokenOut.model_validate(token).model_dump(), "secret": secret})


@router.delete("/tokens/{token_id}", response=TokenOut, summary="Revoke one of my tokens")
def delete_token(request: HttpRequest, token_id: Id):
    return revoke_token(request.user, token_id)
