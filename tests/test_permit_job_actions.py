"""Job-level actions on the phone job page: extension 延期 and shift hand-over 交接."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from anlian.core import clock
from anlian.flows.models import Event, Instance
from tests.flows.port import Crew, at, make_crew


@pytest.fixture
def crew(world) -> Crew:
    yield make_crew(world)
    clock.set_now(None)


def test_extend_and_hand_over_from_the_job_page(crew):
    job = crew.start()
    crew.gas(job["id"])
    crew.approve(job["id"], at(8, 56))
    client = crew.client(crew.applicant)
    page = client.get(reverse("permits:job", args=[job["id"]])).content.decode()
    assert 'name="hours"' in page and 'name="target"' in page and crew.guardian.name in page

    url = reverse("permits:job_action", args=[job["id"]])
    assert client.post(url, {"do": "extend", "hours": "12"}).status_code == 302
    assert Instance.objects.get(pk=job["id"]).expires_at == at(8, 55) + timedelta(hours=84)

    before = Event.objects.count()
    too_long = client.post(url, {"do": "extend", "hours": "13"})  # 24 h in all is the template's maximum
    assert too_long.status_code == 409 and "1440" in too_long.content.decode()
    for bad in ("", "abc", "-3", "99999"):
        assert client.post(url, {"do": "extend", "hours": bad}).status_code == 422
    assert client.post(url, {"do": "hand_over", "target": str(crew.world.b.worker.pk)}).status_code == 422
    assert client.post(url, {"do": "hand_over", "target": ""}).status_code == 422
    assert Event.objects.count() == before

    assert client.post(url, {"do": "hand_over", "target": str(crew.stranger.pk)}).status_code == 302
    last = Event.objects.filter(instance_id=job["id"]).latest("seq")
    assert last.kind == "handed_over" and last.payload == {"to": str(crew.stranger.pk)}
    # The incoming holder must re-confirm on site: the template's hand-over step comes first.
    assert "patrol" in Instance.objects.get(pk=job["id"]).current_steps


def test_simultaneous_operation_endorsed_by_the_area_owner_through_the_pages(crew):
    from anlian.flows.models import Endorsement, FlowTemplate

    clock.set_now(at(8, 0))
    confined = FlowTemplate.objects.get(key="confined-space", owner=None).published()
    assert crew.client(crew.applicant).post("/api/v1/instances", {"version_id": confined.pk,
                                            "area_id": crew.world.a.area.pk},
                                            content_type="application/json").status_code == 201
    area = crew.world.a.area
    start_url = reverse("permits:start") + f"?version={crew.version_id}&area={area.pk}"
    applicant = crew.client(crew.applicant)
    photos = {"photo__crew": [_jpeg(1)], "photo__loto": [_jpeg(2)]}
    form = {"do": "complete", **_apply_form(crew)}
    refused = applicant.post(start_url, {**form, **photos})
    assert refused.status_code == 409
    assert reverse("permits:endorse") in refused.content.decode()  # tells whom to ask, and where

    # Only the area owner may endorse; the page lists only the areas they own.
    assert crew.client(crew.analyst).post(reverse("permits:endorse"), {"area": area.pk, "template": "hot-work-2",
                                          "reason": "x", "hours": "2"}).status_code == 422
    owner = crew.client(crew.owner)
    assert area.name in owner.get(reverse("permits:endorse")).content.decode()
    assert owner.post(reverse("permits:endorse"), {"area": area.pk, "template": "hot-work-2", "reason": "",
                                                   "hours": "2"}).status_code == 422
    assert owner.post(reverse("permits:endorse"), {"area": area.pk, "template": "hot-work-2", "hours": "99",
                                                   "reason": "已隔离"}).status_code == 422
    assert owner.post(reverse("permits:endorse"), {"area": area.pk, "template": "hot-work-2",
                                                   "reason": "受限空间已撤人并隔离", "hours": "2"}).status_code == 302
    endorsement = Endorsement.objects.get()
    page = applicant.get(start_url).content.decode()
    assert "受限空间已撤人并隔离" in page
    done = applicant.post(start_url, {**form, "photo__crew": [_jpeg(3)], "photo__loto": [_jpeg(4)],
                                      "endorsement": str(endorsement.pk)})
    assert done.status_code == 302, done.content.decode()[:2000]
    endorsement.refresh_from_db()
    assert endorsement.used_by is not None and endorsement.used_by.version_id == crew.version_id


def _jpeg(seed: int):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.flows.port import jpeg

    return SimpleUploadedFile(f"{seed}.jpg", jpeg(seed + 40), content_type="image/jpeg")


def _apply_form(crew: Crew) -> dict:
    values = crew.apply_values()
    form = {f"f__{k}": v for k, v in values.items() if k not in ("measures", "operators", "risks")}
    form["f__operators"] = values["operators"]
    form["f__risks"] = values["risks"]
    for item, answer in values["measures"].items():
        form[f"c__measures__{item}"] = answer
    return form


def test_area_owners_find_the_endorsement_page_on_the_phone_home(crew):
    from django.urls import reverse

    assert reverse("permits:endorse") in crew.client(crew.owner).get("/m/").content.decode()
    assert reverse("permits:endorse") not in crew.client(crew.applicant).get("/m/").content.decode()
