"""Bad input always gets a JSON {"code", "message", "field"} with a 4xx; replays are idempotent."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from anlian.accounts.models import ApiToken
from anlian.accounts.tokens import issue_token, revoke_token
from anlian.core.models import IdempotencyRecord
from anlian.orgs.models import Area, OrgUnit
from tests.conftest import client_for, csrf_client_for

pytestmark = pytest.mark.django_db


class Api:
    """A token-authenticated client that sends raw bodies, so tests can send broken ones."""

    def __init__(self, person) -> None:
        self.client = Client()
        self.secret = issue_token(person.user, "t")[1]

    def __call__(self, method: str, url: str, body: object = None, raw: bytes | str | None = None, **headers):
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {self.secret}", **headers}
        if body is not None or raw is not None:
            kwargs.update(data=raw if raw is not None else json.dumps(body), content_type="application/json")
        return getattr(self.client, method)(f"/api/v1{url}", **kwargs)


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "field"} and body["message"], body
    assert body["code"] == code and body["field"] == field, body
    return body


def area_body(w, **extra) -> dict:
    return {"org_unit_id": w.a.plant.pk, "name": "新区域", **extra}


# --- malformed and invalid bodies ----------------------------------------------------------------


@pytest.mark.parametrize("raw", ['{"name": ', "not json", "\xff\xfe", '{"a": 1}}'])
def test_malformed_json_is_400(world, raw):
    assert_error(Api(world.a.admin)("post", "/areas", raw=raw.encode("latin-1")), 400, "malformed_json")


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_is_400(world, raw):
    assert_error(Api(world.a.admin)("post", "/areas", raw=raw), 400, "malformed_json")


def test_an_empty_body_is_a_missing_field(world):
    assert_error(Api(world.a.admin)("post", "/areas", raw=""), 422, "missing_field")


def test_an_unknown_field_is_named(world):
    assert_error(Api(world.a.admin)("post", "/areas", area_body(world, colour="red")), 422, "unknown_field", "colour")


def test_an_unknown_field_in_a_patch_is_named(world):
    r = Api(world.a.admin)("patch", f"/org-units/{world.a.plant.pk}", {"kind": "team"})
    assert_error(r, 422, "unknown_field", "kind")  # the level changes only through a move


def test_a_missing_field_is_named(world):
    assert_error(Api(world.a.admin)("post", "/areas", {"name": "x"}), 422, "missing_field", "org_unit_id")


@pytest.mark.parametrize("body, field", [
    ({"is_outdoor": "sometimes"}, "is_outdoor"),
    ({"radius_m": "far"}, "radius_m"),
    ({"center_lat": 1000, "center_lng": 0}, "center_lat"),
    ({"name": ["a"]}, "name"),
    ({"org_unit_id": "one"}, "org_unit_id"),
    ({"org_unit_id": 10**30}, "org_unit_id"),
    ({"polygon": [[1, 2, 3]]}, "polygon.0"),
])
def test_a_wrong_type_is_an_invalid_value(world, body, field):
    assert_error(Api(world.a.admin)("post", "/areas", area_body(world, **body)), 422, "invalid_value", field)


def test_nan_is_refused(world):
    r = Api(world.a.admin)("post", "/areas", raw='{"org_unit_id": %d, "name": "n", "center_lat": NaN, "center_lng": 1}'
                           % world.a.plant.pk)
    assert_error(r, 422, "invalid_value", "center_lat")


def test_an_explicit_null_for_a_required_value_is_refused(world):
    assert_error(Api(world.a.admin)("patch", f"/org-units/{world.a.plant.pk}", {"name": None}), 422, "invalid_value", "name")


@pytest.mark.parametrize("field", ["name", "code", "description"])
def test_huge_strings_are_refused_and_nothing_is_stored(world, field):
    r = Api(world.a.admin)("post", "/areas", area_body(world, **{field: "长" * 10_000}))
    assert_error(r, 422, "invalid_value", field)
    assert not Area.objects.filter(org_unit=world.a.plant).exclude(pk=world.a.area.pk).exists()


def test_a_huge_search_string_is_refused(world):
    assert_error(Api(world.a.admin)("get", "/areas?q=" + "x" * 10_000), 422, "invalid_value", "q")


def test_a_body_over_the_limit_is_413(world, settings):
    big = json.dumps(area_body(world, description="x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)))
    assert_error(Api(world.a.admin)("post", "/areas", raw=big), 413, "body_too_large")
    # With an Idempotency-Key the middleware reads the body first: same answer.
    r = Api(world.a.admin)("post", "/areas", raw=big, HTTP_IDEMPOTENCY_KEY="big-1")
    assert_error(r, 413, "body_too_large")


@pytest.mark.parametrize("url, field", [
    ("/org-units?parent_id=abc", "parent_id"),
    ("/org-units?kind=department", "kind"),
    ("/org-units?page=0", "page"),
    ("/org-units?page=99999999999999999999", "page"),
    ("/org-units?page_size=100000", "page_size"),
    ("/areas?is_outdoor=maybe", "is_outdoor"),
])
def test_bad_query_parameters_are_422(world, url, field):
    assert_error(Api(world.a.admin)("get", url), 422, "invalid_value", field)


@pytest.mark.parametrize("url, field", [
    ("/org-units/99999999999999999999999", "unit_id"), ("/org-units/0", "unit_id"), ("/areas/abc", "area_id"),
])
def test_impossible_ids_are_422(world, url, field):
    assert_error(Api(world.a.admin)("get", url), 422, "invalid_value", field)


@pytest.mark.parametrize("url", ["/nothing-here", "/org-units/1/nothing"])
def test_unknown_paths_are_a_json_404(world, url):
    assert_error(Api(world.a.admin)("get", url), 404, "not_found")


def test_a_wrong_method_is_a_json_405(world):
    r = Api(world.a.admin)("put", "/org-units", {"name": "x"})
    body = assert_error(r, 405, "method_not_allowed")
    assert "POST" in r["Allow"] and body["message"]


# --- authentication ------------------------------------------------------------------------------


def test_no_credentials_is_401(world):
    assert_error(Client().get("/api/v1/org-units"), 401, "unauthenticated")
    assert_error(Client().post("/api/v1/areas", {}, content_type="application/json"), 401, "unauthenticated")


@pytest.mark.parametrize("header", ["Bearer anl_nonsense", "Bearer ", "Bearer " + "x" * 500, "Basic dXNlcjpwYXNz"])
def test_an_invalid_token_is_401(world, header):
    assert_error(Client().get("/api/v1/org-units", HTTP_AUTHORIZATION=header), 401, "unauthenticated")


def test_an_expired_token_is_401(world):
    token, secret = issue_token(world.a.admin.user, "old", days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}"), 401, "unauthenticated")


def test_a_revoked_token_is_401(world):
    token, secret = issue_token(world.a.admin.user, "gone")
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    revoke_token(world.a.admin.user, token.pk)
    assert_error(Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}"), 401, "unauthenticated")


def test_an_invalid_token_does_not_fall_back_to_the_session(world):
    r = client_for(world.a.admin).get("/api/v1/me", HTTP_AUTHORIZATION="Bearer anl_wrong")
    assert_error(r, 401, "unauthenticated")


def test_a_token_of_a_deactivated_person_is_401(world):
    secret = issue_token(world.a.worker.user, "t")[1]
    world.a.worker.user.is_active = False
    world.a.worker.user.save()
    assert_error(Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}"), 401, "unauthenticated")


def test_session_reads_work_and_session_writes_need_csrf(world):
    client = csrf_client_for(world.a.admin)
    assert client.get("/api/v1/org-units").status_code == 200
    r = client.post("/api/v1/areas", area_body(world), content_type="application/json")
    assert_error(r, 403, "csrf_failed")
    assert not Area.objects.filter(name="新区域").exists()


def test_session_writes_with_the_csrf_token_work(world):
    client = csrf_client_for(world.a.admin)
    client.cookies["csrftoken"] = "a" * 32  # what the browser holds after any page
    r = client.post("/api/v1/areas", area_body(world), content_type="application/json", HTTP_X_CSRFTOKEN="a" * 32)
    assert r.status_code == 201, r.content


def test_tokens_need_no_csrf(world):
    r = Api(world.a.admin)("post", "/areas", area_body(world))
    assert r.status_code == 201


# --- idempotency ---------------------------------------------------------------------------------


def test_a_replayed_post_returns_the_same_reply_and_acts_once(world):
    api = Api(world.a.admin)
    body = {"name": "重放车间", "kind": "workshop", "parent_id": world.a.plant.pk}
    first = api("post", "/org-units", body, HTTP_IDEMPOTENCY_KEY="phone-123")
    second = api("post", "/org-units", body, HTTP_IDEMPOTENCY_KEY="phone-123")
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert second["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert OrgUnit.objects.filter(name="重放车间").count() == 1


def test_the_same_key_with_another_body_is_refused(world):
    api = Api(world.a.admin)
    api("post", "/org-units", {"name": "一", "kind": "workshop", "parent_id": world.a.plant.pk}, HTTP_IDEMPOTENCY_KEY="k1")
    r = api("post", "/org-units", {"name": "二", "kind": "workshop", "parent_id": world.a.plant.pk}, HTTP_IDEMPOTENCY_KEY="k1")
    assert_error(r, 422, "idempotency_key_reused", "Idempotency-Key")
    assert not OrgUnit.objects.filter(name="二").exists()


def test_the_same_key_from_another_user_acts_independently(world):
    body = {"name": "同键", "kind": "workshop"}
    r1 = Api(world.a.admin)("post", "/org-units", {**body, "parent_id": world.a.plant.pk}, HTTP_IDEMPOTENCY_KEY="shared")
    r2 = Api(world.b.admin)("post", "/org-units", {**body, "parent_id": world.b.plant.pk}, HTTP_IDEMPOTENCY_KEY="shared")
    assert r1.status_code == r2.status_code == 201 and not r2.has_header("Idempotent-Replayed")
    assert OrgUnit.objects.filter(name="同键").count() == 2


@pytest.mark.parametrize("key", ["", "x" * 101, "钥匙", "tab\there"])
def test_an_invalid_key_is_400(world, key):
    r = Api(world.a.admin)("post", "/org-units", {"name": "x", "kind": "workshop", "parent_id": world.a.plant.pk},
                           HTTP_IDEMPOTENCY_KEY=key)
    assert_error(r, 400, "idempotency_key_invalid", "Idempotency-Key")
    assert not OrgUnit.objects.filter(name="x").exists()


def test_a_refused_write_is_not_remembered(world):
    # A refusal changed nothing, so the fixed retry must act rather than replay the refusal.
    client = csrf_client_for(world.a.admin)
    body = json.dumps(area_body(world))
    r = client.post("/api/v1/areas", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert_error(r, 403, "csrf_failed")
    assert not IdempotencyRecord.objects.filter(key="retry-1").exists()
    client.cookies["csrftoken"] = "a" * 32
    r = client.post("/api/v1/areas", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="retry-1",
                    HTTP_X_CSRFTOKEN="a" * 32)
    assert r.status_code == 201, r.content


def test_an_expired_key_may_be_used_again(world, settings):
    api = Api(world.a.admin)
    body = {"name": "过期键", "kind": "workshop", "parent_id": world.a.plant.pk}
    assert api("post", "/org-units", body, HTTP_IDEMPOTENCY_KEY="old").status_code == 201
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - settings.IDEMPOTENCY_TTL * 2)
    body["name"] = "新的"
    assert api("post", "/org-units", body, HTTP_IDEMPOTENCY_KEY="old").status_code == 201


def test_a_replayed_delete_is_idempotent(world):
    api = Api(world.a.admin)
    unit = api("post", "/org-units", {"name": "待删", "kind": "workshop", "parent_id": world.a.plant.pk}).json()
    first = api("delete", f"/org-units/{unit['id']}", HTTP_IDEMPOTENCY_KEY="del-1")
    second = api("delete", f"/org-units/{unit['id']}", HTTP_IDEMPOTENCY_KEY="del-1")
    assert first.status_code == second.status_code == 204 and second["Idempotent-Replayed"] == "true"


# --- pagination ----------------------------------------------------------------------------------


def test_pagination_counts_and_pages(world):
    api = Api(world.a.admin)
    for i in range(7):
        assert api("post", "/areas", area_body(world, name=f"区域{i:02d}")).status_code == 201
    first = api("get", "/areas?page_size=3").json()
    assert first["count"] == 8 and len(first["items"]) == 3
    last = api("get", "/areas?page=3&page_size=3").json()
    assert last["count"] == 8 and len(last["items"]) == 2
    beyond = api("get", "/areas?page=9&page_size=3").json()
    assert beyond == {"items": [], "count": 8}
    seen = {a["id"] for p in (1, 2, 3) for a in api("get", f"/areas?page={p}&page_size=3").json()["items"]}
    assert len(seen) == 8  # a stable order: no item on two pages, none skipped
    assert Api(world.b.admin)("get", "/areas").json()["count"] == 1  # the other company's count is its own


def test_openapi_lists_every_path(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = set(r.json()["paths"])
    for path in ("/api/v1/org-units", "/api/v1/org-units/{unit_id}", "/api/v1/org-units/{unit_id}/move",
                 "/api/v1/org-units/{unit_id}/subtree", "/api/v1/areas", "/api/v1/areas/{area_id}",
                 "/api/v1/areas/{area_id}/contains", "/api/v1/equipment", "/api/v1/equipment/{equipment_id}",
                 "/api/v1/people", "/api/v1/people/{person_id}", "/api/v1/people/{person_id}/grants",
                 "/api/v1/roles", "/api/v1/roles/{role_id}", "/api/v1/role-grants",
                 "/api/v1/role-grants/{grant_id}", "/api/v1/me", "/api/v1/tokens", "/api/v1/tokens/{token_id}"):
        assert path in paths


def test_a_retry_while_the_first_request_runs_is_409_until_that_request_is_stale(world):
    api = Api(world.a.admin)
    body = {"name": "进行中", "kind": "workshop", "parent_id": world.a.plant.pk}
    first = api("post", "/org-units", body, HTTP_IDEMPOTENCY_KEY="probe")  # learn the stored hash
    record = IdempotencyRecord.objects.get(key="probe")
    OrgUnit.objects.filter(pk=first.json()["id"]).delete()
    # Pretend a first request with key "busy" is still running.
    IdempotencyRecord.objects.create(user=world.a.admin.user, key="busy", method="POST", path=record.path,
                                     request_hash=record.request_hash)
    assert_error(api("post", "/org-units", body, HTTP_IDEMPOTENCY_KEY="busy"), 409, "idempotency_in_progress")
    IdempotencyRecord.objects.filter(key="busy").update(created_at=timezone.now() - timedelta(minutes=10))
    assert api("post", "/org-units", body, HTTP_IDEMPOTENCY_KEY="busy").status_code == 201


def test_nul_characters_are_refused_everywhere(world):
    """PostgreSQL cannot store or compare them: a clear 4xx, never a 500, on SQLite and PostgreSQL."""
    from tests.conftest import client_for

    client = client_for(world.a.admin)
    response = client.post("/api/v1/areas", {"org_unit_id": world.a.plant.pk, "name": "罐区\u0000"},
                           content_type="application/json")
    assert response.status_code == 422 and response.json()["code"] == "nul_character"
    assert client.get("/api/v1/areas?q=%00").status_code == 422
    assert client.get("/permits/?type=%00&person=%00").status_code == 422
    assert client.post("/org/", {"name": "a\x00b"}).status_code in (400, 403, 404, 405, 422)
    assert client.get("/v/abc%00def/").status_code in (404, 422)


def test_a_form_body_to_a_json_endpoint_from_a_browser_session_is_a_clear_422(world):
    """The session's CSRF check reads a multipart body as a form; the JSON parser must then say the
    body is not JSON instead of failing on the consumed stream (it was a 500)."""
    from django.middleware.csrf import get_token
    from django.test import Client

    client = Client()
    client.force_login(world.a.admin.user)
    token = get_token(client.get("/m/").wsgi_request)
    response = client.post("/api/v1/org-units", {"name": "表单", "kind": "workshop", "parent_id": world.a.plant.pk},
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 422 and response.json()["code"] == "json_required"


def test_every_api_operation_has_its_own_url_name():
    """Pages reverse API addresses by name ("api:act"): two view functions of the same name in two
    routers would silently send a page's requests to the wrong endpoint."""
    from collections import Counter

    from anlian.core.api import api

    names = Counter(pattern.name for pattern in api.urls[0])
    assert [name for name, count in names.items() if count > 1] == []
