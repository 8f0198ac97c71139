"""The seal's API and pages: who may read and make checkpoints and verify a job, refusals of bad input
(nothing changes), company isolation, and the public key at its well-known URL."""

from __future__ import annotations

import pytest
from django.test import Client

from anlian.flows.models import Event
from anlian.seal import checkpoints, keys
from anlian.seal.models import Checkpoint
from tests.conftest import client_for, csrf_client_for
from tests.test_seal_verify import job, shop  # noqa: F401 — fixtures

pytestmark = pytest.mark.django_db
JSON = "application/json"


def test_the_public_key_is_served_to_anyone_as_plain_text():
    response = Client().get("/.well-known/anlian-seal-key.pem")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content.decode() == keys.public_pem()
    body = Client().get("/api/v1/seal/key").json()
    assert body == {"algorithm": "Ed25519", "key_id": keys.fingerprint(), "pem": keys.public_pem()}
    assert Client().post("/.well-known/anlian-seal-key.pem").status_code == 405


def test_an_administrator_seals_on_demand_and_lists_the_checkpoints(job, world):
    admin = client_for(world.a.admin)
    response = admin.post("/api/v1/seal/checkpoints", {"company_id": world.a.unit.pk}, content_type=JSON)
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["number"] == 1 and made["instances"] == 1 and made["events"] == 9 and made["key_id"] == keys.fingerprint()
    listed = admin.get(f"/api/v1/seal/checkpoints?company_id={world.a.unit.pk}").json()
    assert [c["id"] for c in listed] == [made["id"]]


def test_sealing_takes_manage_org_at_the_company(job, world):
    for person, status in ((world.a.worker, 404), (world.a.officer, 404), (world.b.admin, 404)):
        response = client_for(person).post("/api/v1/seal/checkpoints", {"company_id": world.a.unit.pk}, content_type=JSON)
        assert response.status_code == status, (person, response.content)
    assert not Checkpoint.objects.exists()
    assert Client().post("/api/v1/seal/checkpoints", {"company_id": world.a.unit.pk}, content_type=JSON).status_code == 401


def test_viewing_without_managing_is_refused_sealing(job, world):
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import Role
    from tests.conftest import make_person

    viewer = make_person(world.a.unit, "经理", "A009", [("manager", world.a.unit)], login="a-manager")
    client = client_for(viewer)
    assert client.get(f"/api/v1/seal/checkpoints?company_id={world.a.unit.pk}").status_code == 200
    response = client.post("/api/v1/seal/checkpoints", {"company_id": world.a.unit.pk}, content_type=JSON)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert not Checkpoint.objects.exists()
    orgs.grant_role(SYSTEM, viewer, Role.objects.get(code="admin", owner=None), world.a.unit)
    assert client.post("/api/v1/seal/checkpoints", {"company_id": world.a.unit.pk}, content_type=JSON).status_code == 201


@pytest.mark.parametrize("body", [{}, {"company_id": "x"}, {"company_id": 0}, {"company_id": 2**70},
                                  {"company_id": 1, "extra": 1}, [1], "null"])
def test_bad_bodies_are_refused_and_change_nothing(world, body):
    response = client_for(world.a.admin).post("/api/v1/seal/checkpoints", body, content_type=JSON)
    assert response.status_code in (400, 422), response.content
    assert not Checkpoint.objects.exists()


def test_a_plant_or_team_is_not_a_company_to_seal(world):
    response = client_for(world.a.admin).post("/api/v1/seal/checkpoints", {"company_id": world.a.plant.pk},
                                              content_type=JSON)
    assert response.status_code == 404 and not Checkpoint.objects.exists()


def test_a_session_write_needs_the_csrf_token(world):
    response = csrf_client_for(world.a.admin).post("/api/v1/seal/checkpoints", {"company_id": world.a.unit.pk},
                                                   content_type=JSON)
    assert response.status_code == 403 and response.json()["code"] == "csrf_failed"
    assert not Checkpoint.objects.exists()


def test_company_b_cannot_list_a_s_checkpoints(job, world):
    checkpoints.seal_company(world.a.unit)
    assert client_for(world.b.admin).get(f"/api/v1/seal/checkpoints?company_id={world.a.unit.pk}").status_code == 404
    assert client_for(world.a.worker).get(f"/api/v1/seal/checkpoints?company_id={world.a.unit.pk}").status_code == 404
    assert client_for(world.a.admin).get("/api/v1/seal/checkpoints?company_id=abc").status_code == 422


def test_verify_one_job_through_the_api(job, world):
    checkpoints.seal_company(world.a.unit)
    for person in (world.a.worker, world.a.officer, world.a.admin):  # the reporter, the verifier, the admin
        body = client_for(person).get(f"/api/v1/seal/verify?instance_id={job.pk}").json()
        assert body["ok"] and body["events"] == 9 and body["files"] == 4 and body["checkpoint"]["number"] == 1
    Event.objects.filter(instance=job, seq=3).update(step="x")
    body = client_for(world.a.admin).get(f"/api/v1/seal/verify?instance_id={job.pk}").json()
    assert body["ok"] is False and body["breaks"][0]["code"] == "event_changed" and body["breaks"][0]["seq"] == 3
    assert client_for(world.b.admin).get(f"/api/v1/seal/verify?instance_id={job.pk}").status_code == 404
    assert client_for(world.a.admin).get("/api/v1/seal/verify?instance_id=999999").status_code == 404
    assert client_for(world.a.admin).get("/api/v1/seal/verify").status_code == 422
    assert Client().get(f"/api/v1/seal/verify?instance_id={job.pk}").status_code == 401


def test_the_page_lists_checkpoints_and_seals_for_a_manager(job, world):
    checkpoints.seal_company(world.a.unit)
    admin = csrf_client_for(world.a.admin)
    page = admin.get("/seal/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "证据封签" in html and "#1" in html and "立即封签" in html and keys.fingerprint() in html
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else admin.cookies["csrftoken"].value
    response = admin.post(f"/seal/{world.a.unit.pk}/seal/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == f"/seal/?company={world.a.unit.pk}"
    assert Checkpoint.objects.filter(company=world.a.unit).count() == 2
    assert admin.post(f"/seal/{world.a.unit.pk}/seal/").status_code == 403  # no CSRF token
    assert admin.get(f"/seal/{world.a.unit.pk}/seal/").status_code == 405


def test_the_page_refuses_other_companies_and_people_without_view_there(job, world):
    checkpoints.seal_company(world.a.unit)
    b = client_for(world.b.admin)
    assert b.get(f"/seal/?company={world.a.unit.pk}").status_code == 404
    assert "#1" not in b.get("/seal/").content.decode()
    assert b.post(f"/seal/{world.a.unit.pk}/seal/").status_code == 404
    assert client_for(world.a.worker).get("/seal/").status_code == 403
    assert client_for(world.a.worker).post(f"/seal/{world.a.unit.pk}/seal/").status_code == 404
    assert client_for(world.a.admin).get("/seal/?company=abc").status_code == 404
    assert Client().get("/seal/").status_code == 302  # to the login
    assert Checkpoint.objects.count() == 1
