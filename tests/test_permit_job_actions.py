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
