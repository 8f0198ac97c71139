"""/me and personal API tokens: the secret is shown once, and a revoked token stops working."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from anlian.accounts.models import ApiToken
from anlian.accounts.tokens import issue_token
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_me_describes_the_account_and_grants(world):
    secret = issue_token(world.a.officer.user, "t")[1]
    r = Client().get("/api/v1/me", **bearer(secret))
    assert r.status_code == 200
    me = r.json()
    assert me["username"] == "A-safety" and me["person_id"] == world.a.officer.pk and me["is_superuser"] is False
    assert [(g["role"], g["org_unit_id"]) for g in me["grants"]] == [("safety_officer", world.a.plant.pk)]


def test_me_works_with_the_session(world):
    assert client_for(world.a.worker).get("/api/v1/me").json()["username"] == "A-worker"


def test_creating_a_token_shows_the_secret_once(world):
    client = Client()
    secret = issue_token(world.a.admin.user, "bootstrap")[1]
    r = client.post("/api/v1/tokens", json.dumps({"name": "手机", "days": 30}), content_type="application/json",
                    **bearer(secret))
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["secret"].startswith("anl_") and created["secret"].startswith(created["prefix"])
    assert not ApiToken.objects.filter(key_hash__contains=created["secret"]).exists()  # only its hash is kept

    listed = client.get("/api/v1/tokens", **bearer(secret))
    assert listed.status_code == 200
    assert {t["name"] for t in listed.json()} == {"bootstrap", "手机"}
    assert created["secret"] not in listed.content.decode() and all("secret" not in t for t in listed.json())

    assert client.get("/api/v1/me", **bearer(created["secret"])).json()["username"] == "A-admin"


def test_a_token_name_is_required_and_unknown_fields_refused(world):
    secret = issue_token(world.a.admin.user, "t")[1]
    r = Client().post("/api/v1/tokens", json.dumps({"name": ""}), content_type="application/json", **bearer(secret))
    assert r.status_code == 422 and r.json()["field"] == "name"
    r = Client().post("/api/v1/tokens", json.dumps({"name": "x", "scope": "all"}), content_type="application/json",
                      **bearer(secret))
    assert r.status_code == 422 and r.json()["code"] == "unknown_field"


def test_a_revoked_token_stops_working(world):
    client = Client()
    admin_secret = issue_token(world.a.admin.user, "admin")[1]
    token, secret = issue_token(world.a.admin.user, "to revoke")
    assert client.get("/api/v1/org-units", **bearer(secret)).status_code == 200
    r = client.delete(f"/api/v1/tokens/{token.pk}", **bearer(admin_secret))
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = client.get("/api/v1/org-units", **bearer(secret))
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert client.get("/api/v1/org-units", **bearer(admin_secret)).status_code == 200  # the others still work


def test_a_token_can_revoke_itself(world):
    token, secret = issue_token(world.a.admin.user, "self")
    assert Client().delete(f"/api/v1/tokens/{token.pk}", **bearer(secret)).status_code == 200
    assert Client().get("/api/v1/me", **bearer(secret)).status_code == 401


def test_nobody_lists_or_revokes_another_persons_tokens(world):
    victim, victim_secret = issue_token(world.a.worker.user, "mine")
    secret = issue_token(world.a.admin.user, "t")[1]
    assert "mine" not in Client().get("/api/v1/tokens", **bearer(secret)).content.decode()
    r = Client().delete(f"/api/v1/tokens/{victim.pk}", **bearer(secret))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert Client().get("/api/v1/me", **bearer(victim_secret)).status_code == 200
