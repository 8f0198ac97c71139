"""Photo checks (anlian.trust) wired into step submissions: hard ones refuse, soft ones are kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageFilter

from anlian.core import clock
from anlian.flows import services
from anlian.flows.models import Event, EventPhoto
from anlian.orgs.access import SYSTEM
from anlian.trust.models import PhotoFinding
from tests.conftest import client_for

from .port import at

TEMPLATE = """
key: patrol-check
name: 巡检拍照
kind: inspection
steps:
  - key: first
    name: 第一次巡检
    actor: applicant
    photos:
      - {key: site, label: 现场, min: 1, max: 3, checks: {reuse: {hard: true}, quality: {}}}
  - key: second
    name: 第二次巡检
    actor: applicant
    photos:
      - {key: site, label: 现场, min: 1, max: 3, checks: {reuse: {hard: true}, quality: {}}}
"""


def scene(seed: int, blur: float = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((240, 320, 3)) * 255).astype("uint8")
    image = Image.fromarray(pixels).resize((640, 480), Image.NEAREST)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def job(world):
    version = services.save_version(SYSTEM, None, TEMPLATE, owner=world.a.unit, publish=True)
    clock.set_now(at(9, 0))
    yield services.start(world.a.worker.user, version, world.a.area)
    clock.set_now(None)


def upload(world, data: bytes) -> str:
    client = client_for(world.a.worker)
    response = client.post("/api/v1/files", {"file": SimpleUploadedFile("p.jpg", data, content_type="image/jpeg")})
    assert response.status_code == 201, response.content
    return response.json()["sha256"]


def submit(world, job, step: str, ref: str):
    return client_for(world.a.worker).post(f"/api/v1/instances/{job.pk}/actions",
                                           {"kind": "complete", "step": step, "photos": {"site": [ref]}},
                                           content_type="application/json")


def test_a_reused_photo_is_refused_and_a_blurred_one_flagged(world, job):
    first = upload(world, scene(1))
    assert submit(world, job, "first", first).status_code == 201
    assert EventPhoto.objects.filter(file__sha256=first, slot="site").count() == 1

    before = Event.objects.count()
    again = submit(world, job, "second", first)  # the same picture "proves" the second patrol
    assert again.status_code == 422 and again.json()["code"] == "photo_reuse"
    assert again.json()["field"] == "photos.site" and again.json()["message"]
    assert Event.objects.count() == before

    blurred = upload(world, scene(2, blur=6))
    assert submit(world, job, "second", blurred).status_code == 201
    flags = PhotoFinding.objects.filter(file__sha256=blurred, check_name="quality")
    assert [(f.level, f.hard) for f in flags] == [("fail", False)] and flags[0].event.step == "second"
    assert not PhotoFinding.objects.filter(file__sha256=first, level="fail").exists()


RETURNABLE = TEMPLATE.replace("""  - key: second
    name: 第二次巡检
    actor: applicant""", """  - key: second
    name: 复核
    kind: approval
    actor: {role: safety_officer}
    approval: {mode: single, return_to: [first]}""").replace("key: patrol-check", "key: patrol-return")


def test_a_step_sent_back_may_be_resubmitted_with_its_own_photos(world):
    version = services.save_version(SYSTEM, None, RETURNABLE, owner=world.a.unit, publish=True)
    clock.set_now(at(9, 0))
    try:
        job = services.start(world.a.worker.user, version, world.a.area)
        ref = upload(world, scene(5))
        assert submit(world, job, "first", ref).status_code == 201
        sent_back = client_for(world.a.officer).post(
            f"/api/v1/instances/{job.pk}/actions", {"kind": "return", "step": "second", "target": "first",
                                                     "reason": "照片不清楚"}, content_type="application/json")
        assert sent_back.status_code == 201, sent_back.content
        assert submit(world, job, "first", ref).status_code == 201  # the same step again: not a reuse
    finally:
        clock.set_now(None)


def test_the_worker_sweeps_photo_steps_watermarks_fingerprints_and_pre_reviews(world, job):
    from anlian.evidence.models import DerivedFile
    from anlian.flows.tasks import process_photo_steps
    from anlian.trust.models import PhotoFingerprint, PhotoReview

    ref = upload(world, scene(7))
    assert submit(world, job, "first", ref).status_code == 201
    event = Event.objects.get(instance=job, step="first")
    assert process_photo_steps.call_local() == 1
    assert DerivedFile.objects.filter(original__sha256=ref, event=event, kind="display").exists()
    assert PhotoFingerprint.objects.filter(file__sha256=ref).exists()
    reviews = PhotoReview.objects.filter(event=event, slot="site")
    assert [r.reviewer for r in reviews] == ["rules"]  # no vision model configured in tests
    assert process_photo_steps.call_local() == 0  # each step once


def test_a_reviewer_concern_is_kept_as_a_reminder_and_errors_degrade(world, job):
    from anlian.trust.models import PhotoReview
    from anlian.trust.review import Verdict
    from anlian.trust.services import after_event

    class Worried:
        name = "vision"

        def review(self, request):
            assert request.step == "第一次巡检" and len(request.photos) == 1 and request.photos[0].data
            return Verdict("concern", "照片中看不到挂锁", self.name)

    class Broken:
        name = "broken"

        def review(self, request):
            raise RuntimeError("down")

    ref = upload(world, scene(8))
    assert submit(world, job, "first", ref).status_code == 201
    event = Event.objects.get(instance=job, step="first")
    assert after_event(event.pk, reviewers=[Worried(), Broken()]) == 2
    kept = {r.reviewer: (r.status, r.reason) for r in PhotoReview.objects.filter(event=event)}
    assert kept["vision"] == ("concern", "照片中看不到挂锁") and kept["broken"][0] == "not_reviewed"
    assert after_event(event.pk, reviewers=[Worried()]) == 0  # once per slot


def test_red_flags_show_on_the_timeline_the_approver_view_and_the_ledger(world):
    from django.urls import reverse

    version = services.save_version(SYSTEM, None, RETURNABLE, owner=world.a.unit, publish=True)
    clock.set_now(at(9, 0))
    try:
        job = services.start(world.a.worker.user, version, world.a.area)
        blurred = upload(world, scene(9, blur=6))
        assert submit(world, job, "first", blurred).status_code == 201
    finally:
        clock.set_now(None)
    officer = client_for(world.a.officer)
    event = Event.objects.get(instance=job, step="first")
    detail = officer.get(job.get_absolute_url()).content.decode()
    assert "ev-flags" in detail and "现场：" in detail
    assert reverse("evidence:display", args=[blurred, event.pk]) in detail  # the watermarked copy opens
    # The approver sees the flag beside the evidence before deciding.
    approve_page = officer.get(reverse("permits:step", args=[job.pk, "second"])).content.decode()
    assert "ev-flags" in approve_page and "现场：" in approve_page
    ledger = officer.get(reverse("permits:ledger")).content.decode()
    assert "flag-count" in ledger and "⚑ 1" in ledger


def test_a_camera_only_slot_refuses_the_gallery_on_the_phone(world):
    from django.urls import reverse

    source = TEMPLATE.replace("key: patrol-check", "key: camera-check").replace(
        "{key: site, label: 现场, min: 1, max: 3, checks: {reuse: {hard: true}, quality: {}}}",
        "{key: site, label: 现场, min: 1, max: 3, camera_only: true}", 1)
    version = services.save_version(SYSTEM, None, source, owner=world.a.unit, publish=True)
    job = services.start(world.a.worker.user, version, world.a.area)
    page = client_for(world.a.worker).get(reverse("permits:step", args=[job.pk, "first"])).content.decode()
    assert "data-camera-only" in page and 'capture="environment"' in page


BEFORE_AFTER = """
key: fix-check
name: 整改前后
kind: inspection
steps:
  - key: before
    name: 整改前
    actor: applicant
    photos:
      - {key: site_before, label: 整改前, min: 1, max: 1}
  - key: after
    name: 整改后
    actor: applicant
    photos:
      - {key: site_after, label: 整改后, min: 1, max: 1, checks: {before_after: {before: site_before, within: 20, hard: true}}}
"""


def test_after_photos_must_differ_from_before_and_be_taken_at_the_same_place(world):
    version = services.save_version(SYSTEM, None, BEFORE_AFTER, owner=world.a.unit, publish=True)
    job = services.start(world.a.worker.user, version, world.a.area)
    client = client_for(world.a.worker)
    url = f"/api/v1/instances/{job.pk}/actions"
    before = upload(world, scene(11))
    assert client.post(url, {"kind": "complete", "step": "before", "photos": {"site_before": [before]},
                             "lat": 30.0, "lng": 120.0}, content_type="application/json").status_code == 201
    same = client.post(url, {"kind": "complete", "step": "after", "photos": {"site_after": [before]},
                             "lat": 30.0, "lng": 120.0}, content_type="application/json")
    assert same.status_code == 422 and same.json()["code"] == "photo_before_after"
    after = upload(world, scene(12))
    far = client.post(url, {"kind": "complete", "step": "after", "photos": {"site_after": [after]},
                            "lat": 30.01, "lng": 120.0}, content_type="application/json")  # ~1.1 km away
    assert far.status_code == 422 and far.json()["code"] == "photo_before_after"
    near = client.post(url, {"kind": "complete", "step": "after", "photos": {"site_after": [after]},
                             "lat": 30.00005, "lng": 120.0}, content_type="application/json")
    assert near.status_code == 201, near.content
