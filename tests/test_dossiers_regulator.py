"""Regulator accounts: a company administrator opens a read-only login limited to chosen companies,
lists and revokes it; the regulator reads those companies' permits, hazards and dossiers, never
another company's, and every write it tries (every URL, every API path, every method) is refused
with 403 and changes nothing."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from anlian.dossiers import services
from anlian.dossiers.middleware import ALLOWED
from anlian.dossiers.models import DossierExport, RegulatorAccount
from anlian.flows.models import EventPhoto, Instance
from anlian.orgs.models import OrgKind, RoleGrant
from tests.conftest import PASSWORD, World, client_for, csrf_client_for, make_person
from tests.test_dossiers_helpers import job, job_b, read_only, regulator  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def login(username: str) -> Client:
    """Log in through the login page, as the regulator would (the password is the one the admin set)."""
    client = Client()
    answer = client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})
    assert answer.status_code == 302, answer.content.decode()[:500]
    return client


def counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()
            if m._meta.app_label not in ("sessions", "axes")}


def all_paths() -> list[str]:
    """Every URL of the site (pages and API), with 1 for each parameter."""
    out: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p.pattern.regex, re.Pattern) and not hasattr(p.pattern, "_route"):
                route = route.lstrip("^").rstrip("$").replace("\\Z", "")
                if re.search(r"[()\[\]?*+\\]", route):
                    continue
            route = re.sub(r"<(?:\w+:)?\w+>", "1", route)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + route)
            elif isinstance(p, URLPattern):
                out.append("/" + prefix + route)

    walk(get_resolver().url_patterns, "")
    return sorted(set(out))


def test_admin_creates_lists_and_revokes_a_regulator(world: World, job, read_only):
    admin = client_for(world.a.admin)
    answer = admin.post(reverse("dossiers:regulators"), {
        "name": "市应急局张检查", "agency": "市应急管理局", "username": "reg-zhang", "password": PASSWORD,
        "companies": [str(world.a.unit.pk)]})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    account = RegulatorAccount.objects.get()
    grants = list(RoleGrant.objects.filter(person=account.person).values_list("role__code", "org_unit"))
    assert grants == [("regulator", world.a.unit.pk)]
    from anlian.training.models import Assignment

    assert not Assignment.objects.filter(person=account.person).exists()  # not an employee: no education owed
    assert "reg-zhang" in admin.get(reverse("dossiers:regulators")).content.decode()
    reg = login("reg-zhang")
    assert reg.get(reverse("dossiers:dossier", args=[job.pk])).status_code == 200
    assert admin.post(reverse("dossiers:regulator_revoke", args=[account.pk])).status_code == 302
    account.refresh_from_db()
    assert account.revoked_at is not None and not RoleGrant.objects.filter(person=account.person).exists()
    assert not account.person.user.is_active
    assert reg.get(reverse("dossiers:dossier", args=[job.pk])).status_code == 302  # logged out
    answer = Client().post(reverse("accounts:login"), {"username": "reg-zhang", "password": PASSWORD})
    assert answer.status_code != 302


def test_only_own_companies_and_managers(world: World, read_only):
    before = counts()
    admin = client_for(world.a.admin)
    # company B is not the admin's to give
    answer = admin.post(reverse("dossiers:regulators"), {
        "name": "张", "agency": "局", "username": "reg-x", "password": PASSWORD,
        "companies": [str(world.a.unit.pk), str(world.b.unit.pk)]})
    assert answer.status_code == 404
    # bad input: nothing chosen, no agency, weak password, taken login name
    for bad in ({"companies": []}, {"agency": ""}, {"password": "123"}, {"username": "A-admin"}):
        data = {"name": "张", "agency": "局", "username": "reg-y", "password": PASSWORD,
                "companies": [str(world.a.unit.pk)], **bad}
        answer = admin.post(reverse("dossiers:regulators"), data)
        assert answer.status_code == 422, bad
    # a worker or a plant's safety officer does not manage the company
    assert client_for(world.a.worker).get(reverse("dossiers:regulators")).status_code == 403
    assert client_for(world.a.officer).get(reverse("dossiers:regulators")).status_code == 403
    assert counts() == before
    account = regulator(world, [world.a.unit])
    assert client_for(world.b.admin).post(reverse("dossiers:regulator_revoke", args=[account.pk])).status_code == 404
    assert client_for(world.b.admin).delete(f"/api/v1/regulator-accounts/{account.pk}").status_code == 404
    account.refresh_from_db()
    assert account.revoked_at is None


def test_regulator_reads_chosen_companies_only(world: World, job, job_b, read_only):
    regulator(world, [world.a.unit])
    reg = login("reg-a")
    ledger = reg.get(reverse("permits:ledger")).content.decode()
    assert reverse("permits:detail", args=[job.pk]) in ledger
    assert reverse("permits:detail", args=[job_b.pk]) not in ledger
    assert reg.get(reverse("permits:detail", args=[job.pk])).status_code == 200
    assert reg.get(reverse("dossiers:dossier", args=[job.pk])).status_code == 200
    assert reg.get(reverse("hazards:list")).status_code == 200
    for url in (reverse("dossiers:dossier", args=[job_b.pk]), reverse("permits:detail", args=[job_b.pk]),
                f"/api/v1/instances/{job_b.pk}"):
        assert reg.get(url).status_code == 404, url
    assert reg.get(f"/api/v1/instances/{job.pk}").status_code == 200
    # a regulator may ask for the dossier PDF of a job it reads: that changes no record
    assert reg.post(reverse("dossiers:export_start", args=[job.pk])).status_code == 302
    assert reg.post("/api/v1/dossiers", {"instance_id": job_b.pk}, content_type="application/json").status_code == 404
    assert DossierExport.objects.filter(instance=job).count() == 1


def test_a_group_admin_gives_both_companies(world: World, job, job_b, read_only):
    boss = make_person(world.group, "集团管理员", "G001", [("admin", world.group)], login="g-admin")
    answer = client_for(boss).post("/api/v1/regulator-accounts", {
        "name": "省厅李检查", "agency": "省应急管理厅", "username": "reg-both", "password": PASSWORD,
        "company_ids": [world.a.unit.pk, world.b.unit.pk]}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    assert sorted(answer.json()["company_ids"]) == sorted([world.a.unit.pk, world.b.unit.pk])
    reg = login("reg-both")
    for j in (job, job_b):
        assert reg.get(reverse("dossiers:dossier", args=[j.pk])).status_code == 200
    listed = client_for(boss).get("/api/v1/regulator-accounts").json()
    assert [x["username"] for x in listed["items"]] == ["reg-both"]
    assert client_for(world.a.admin).get("/api/v1/regulator-accounts").json()["count"] == 1  # in its company
    assert world.group.kind == OrgKind.GROUP
    # the group is not a company: it cannot be chosen
    answer = client_for(boss).post("/api/v1/regulator-accounts", {
        "name": "王", "agency": "局", "username": "reg-g", "password": PASSWORD, "company_ids": [world.group.pk]},
        content_type="application/json")
    assert answer.status_code == 404 and answer.json()["field"] == "company_ids"


def test_every_write_is_refused_and_changes_nothing(world: World, job, read_only):
    regulator(world, [world.a.unit])
    reg = login("reg-a")
    paths = [p for p in all_paths() if not any(a.match(p) for a in ALLOWED)]
    assert len(paths) > 150 and "/api/v1/hazards" in paths and "/m/permits/new/" in paths
    before = counts()
    for path in paths:
        for method in ("post", "put", "patch", "delete"):
            answer = getattr(reg, method)(path, {}, content_type="application/json")
            assert answer.status_code == 403, (method, path, answer.status_code)
        answer = reg.post(path, {"name": "x"})  # a form
        assert answer.status_code == 403, path
    assert counts() == before


def test_real_writes_with_valid_data_are_refused(world: World, job, read_only):
    regulator(world, [world.a.unit])
    reg, photo = login("reg-a"), EventPhoto.objects.filter(event__instance=job).select_related("file").first()
    before = counts()
    attempts = [
        ("/api/v1/hazards", {"area_id": world.a.area.pk, "category": "fire", "level": "general",
                             "description": "通道堵塞", "scene": [photo.file.sha256]}),
        ("/api/v1/instances", {"version_id": job.version_id, "area_id": world.a.area.pk}),
        (f"/api/v1/instances/{job.pk}/actions", {"kind": "close"}),
        ("/api/v1/share-links", {"instance_id": job.pk, "days": 3}),
        ("/api/v1/tokens", {"name": "mine"}),
    ]
    for path, body in attempts:
        answer = reg.post(path, body, content_type="application/json")
        assert answer.status_code == 403 and answer.json()["code"] == "read_only", path
    for url, form in ((f"{reverse('permits:start')}?version={job.version_id}&area={world.a.area.pk}", {"do": "complete"}),
                      (reverse("dossiers:share_create", args=[job.pk]), {"days": "3"}),
                      (reverse("accounts:tokens"), {"name": "mine"}),
                      (reverse("hazards:report"), {"area": world.a.area.pk, "description": "x"})):
        answer = reg.post(url, form)
        assert answer.status_code == 403 and "监管账号只能查看" in answer.content.decode(), url
    assert counts() == before


def test_a_regulator_api_token_is_read_only_too(world: World, job, read_only):
    from anlian.accounts import tokens

    account = regulator(world, [world.a.unit])
    _token, secret = tokens.issue_token(account.person.user, "t")  # (made by hand: the pages refuse it)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get(f"/api/v1/instances/{job.pk}", **headers).status_code == 200
    answer = Client().post(f"/api/v1/instances/{job.pk}/actions", {"kind": "close"},
                           content_type="application/json", **headers)
    assert answer.status_code == 403 and answer.json()["code"] == "read_only"
    assert Instance.objects.get(pk=job.pk).last_seq == job.last_seq


def test_regulator_api_refusals(world: World, read_only):
    admin = client_for(world.a.admin)
    for bad in ({"name": "a", "agency": "b", "username": "c", "password": PASSWORD, "company_ids": []},
                {"name": "a", "agency": "b", "username": "c", "password": PASSWORD},
                {"name": "a", "agency": "b", "username": "c", "password": PASSWORD, "company_ids": [world.a.unit.pk],
                 "is_superuser": True}):
        assert admin.post("/api/v1/regulator-accounts", bad, content_type="application/json").status_code == 422
    answer = admin.post("/api/v1/regulator-accounts", {"name": "a", "agency": "b", "username": "c",
                                                       "password": PASSWORD, "company_ids": [world.b.unit.pk]},
                        content_type="application/json")
    assert answer.status_code == 404
    assert client_for(world.a.worker).get("/api/v1/regulator-accounts").status_code == 403
    assert not RegulatorAccount.objects.exists()
    # CSRF: a session write without the token is refused
    answer = csrf_client_for(world.a.admin).post("/api/v1/regulator-accounts", {}, content_type="application/json")
    assert answer.status_code == 403
    account = regulator(world, [world.a.unit])
    assert services.is_read_only(account.person.user)
    assert admin.delete(f"/api/v1/regulator-accounts/{account.pk}").status_code == 204
    account.person.user.refresh_from_db()
    assert not account.person.user.is_active  # revoked: the login ends with its grants


def test_a_regulator_reading_any_page_never_crashes(world: World, job, read_only):
    regulator(world, [world.a.unit])
    reg = login("reg-a")
    crashed = []
    for path in all_paths():
        if "logout" in path:
            continue
        answer = reg.get(path)
        if answer.status_code >= 500:
            crashed.append((path, answer.status_code))
    assert crashed == []


def test_a_regulator_is_never_offered_nor_accepted_as_a_person_on_a_job(world: World, job, read_only):
    from anlian.core.errors import Invalid
    from anlian.flows import core
    from anlian.flows import services as flows
    from anlian.permits.services import Choices

    account = regulator(world, [world.a.unit])
    people = dict(Choices.for_company(world.a.admin.user, world.a.unit).people)
    assert str(account.person.pk) not in people and str(world.a.worker.pk) in people
    from anlian.orgs.access import SYSTEM
    from tests.test_scoping_matrix import zero_source

    tpl = flows.template_of(flows.save_version(SYSTEM, None, zero_source("reg-zero", "监管测试"), owner=world.a.unit,
                                               publish=True))
    flows._check_submission(world.a.unit.pk, tpl, core.Action("complete", step="enter", values={
        "partner": str(world.a.worker.pk)}))  # a colleague: accepted
    with pytest.raises(Invalid) as refused:
        flows._check_submission(world.a.unit.pk, tpl, core.Action("complete", step="enter", values={
            "partner": str(account.person.pk)}))
    assert refused.value.code == "unknown_reference"
