"""Short video clips in slots that take them: checked with PyAV, kept byte for byte, played back."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from anlian.evidence.models import DerivedFile, StoredFile
from anlian.flows import services
from anlian.flows.models import Event
from anlian.orgs.access import SYSTEM
from tests.conftest import client_for


def clip(seconds: float, fps: int = 2) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), (i * 37) % 255, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def upload(client, data: bytes, name: str = "v.mp4"):
    return client.post("/api/v1/files", {"file": SimpleUploadedFile(name, data, content_type="video/mp4")})


def test_a_short_clip_is_kept_with_its_poster_and_played_back(world):
    client = client_for(world.a.worker)
    data = clip(3)
    response = upload(client, data)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == "video/mp4" and body["seconds"] == pytest.approx(3, abs=0.6)
    stored = StoredFile.objects.get(sha256=body["sha256"])
    with stored.file.open("rb") as handle:
        assert handle.read() == data  # byte for byte
    assert DerivedFile.objects.filter(original=stored, kind="thumb").exists()
    served = client.get(reverse("evidence:file", args=[stored.sha256]))
    assert served["Content-Type"] == "video/mp4" and served["X-Content-Type-Options"] == "nosniff"
    poster = client.get(reverse("evidence:thumb", args=[stored.sha256]))
    assert poster["Content-Type"] == "image/jpeg" and poster.content[:2] == b"\xff\xd8"


@pytest.mark.parametrize("data, words", [
    (None, "60"),  # too long: filled in below
    (b"\x00\x00\x00\x18ftypisom" + b"\x00" * 500, "损坏"),  # an MP4 header and nothing behind it
    (b"\x1a\x45\xdf\xa3" + b"\xff" * 300, "损坏"),  # a WebM header and garbage
])
def test_bad_clips_are_refused_and_nothing_is_stored(world, data, words):
    data = data if data is not None else clip(61, fps=1)
    before = StoredFile.objects.count()
    response = upload(client_for(world.a.worker), data)
    assert response.status_code == 422, response.content
    assert words in response.json()["message"]
    assert StoredFile.objects.count() == before


def test_a_truncated_clip_is_refused(world):
    data = clip(3)
    response = upload(client_for(world.a.worker), data[: len(data) // 2])
    assert response.status_code == 422
    assert not StoredFile.objects.exists()


TEMPLATE = """
key: clip-check
name: 视频记录
kind: inspection
steps:
  - key: record
    name: 录像
    actor: applicant
    photos:
      - {key: clip, label: 现场录像, min: 1, max: 1, video: true}
      - {key: still, label: 现场照片, min: 0, max: 2}
"""


def test_only_slots_that_take_video_accept_a_clip(world):
    version = services.save_version(SYSTEM, None, TEMPLATE, owner=world.a.unit, publish=True)
    job = services.start(world.a.worker.user, version, world.a.area)
    client = client_for(world.a.worker)
    sha = upload(client, clip(2)).json()["sha256"]
    url = f"/api/v1/instances/{job.pk}/actions"
    wrong = client.post(url, {"kind": "complete", "step": "record", "photos": {"clip": [sha], "still": [sha]}},
                        content_type="application/json")
    assert wrong.status_code == 422 and wrong.json()["code"] == "video_not_allowed"
    assert wrong.json()["field"] == "photos.still" and not Event.objects.filter(instance=job, step="record").exists()
    ok = client.post(url, {"kind": "complete", "step": "record", "photos": {"clip": [sha]}},
                     content_type="application/json")
    assert ok.status_code == 201, ok.content
    page = client_for(world.a.officer).get(job.get_absolute_url()).content.decode()
    assert "<video" in page and reverse("evidence:file", args=[sha]) in page
    phone = client.get(reverse("permits:job", args=[job.pk]))
    assert phone.status_code == 200


def test_the_worker_sweep_does_not_come_back_to_a_step_whose_evidence_is_a_clip(world):
    from anlian.flows.tasks import process_photo_steps

    version = services.save_version(SYSTEM, None, TEMPLATE, owner=world.a.unit, publish=True)
    job = services.start(world.a.worker.user, version, world.a.area)
    client = client_for(world.a.worker)
    sha = upload(client, clip(2)).json()["sha256"]
    assert client.post(f"/api/v1/instances/{job.pk}/actions", {"kind": "complete", "step": "record",
                       "photos": {"clip": [sha]}}, content_type="application/json").status_code == 201
    assert process_photo_steps.call_local() == 0
