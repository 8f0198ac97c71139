"""The public verify page the dossier's QR code opens: "完整" with counts, head and checkpoint for an
untouched job; the break (event, message) in red when the database was edited; forged tokens 404."""

from __future__ import annotations

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from anlian.dossiers import services
from anlian.flows.models import Event
from tests.conftest import World
from tests.test_dossiers_helpers import job, job_b  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def verify_path(instance) -> str:
    return reverse("dossiers:verify", args=[services.verify_token(instance)])


def test_untouched_job_is_intact(world: World, job):
    page = Client().get(verify_path(job))
    html = page.content.decode()
    assert page.status_code == 200
    assert "✓ 完整" in html and 'class="vf ok"' in html and "不完整" not in html
    assert job.last_hash in html and job.number in html and "甲公司" in html
    assert f"{job.events.count()} 条记录" in html
    assert 'name="viewport"' in html and 'class="m-tabs"' not in html  # the phone layout, no menu
    assert page["Cache-Control"] == "no-store"
    # the dossier's QR code points here
    assert services.collect(job).verify_url.endswith(verify_path(job))


def test_an_edited_event_payload_shows_where_the_chain_breaks(world: World, job, job_b):
    event = job.events.get(seq=3)  # the gas analysis
    payload = dict(event.payload)
    payload["values"] = {**payload["values"], "lel": 0.0}  # someone "improves" the reading
    Event.objects.filter(pk=event.pk).update(payload=payload)
    html = Client().get(verify_path(job)).content.decode()
    assert "✕ 不完整" in html and 'class="vf no"' in html and 'class="ds-breaks"' in html
    assert "第 3 条记录" in html
    report = services.integrity(job)
    assert not report.ok and report.first_break.seq == 3 and report.first_break.message in html
    # the other company's job is untouched
    assert "✓ 完整" in Client().get(verify_path(job_b)).content.decode()


def test_a_deleted_event_is_caught(world: World, job):
    from anlian.flows.models import EventPhoto

    event = job.events.get(seq=4)
    EventPhoto.objects.filter(event=event).delete()
    Event.objects.filter(pk=event.pk).delete()
    html = Client().get(verify_path(job)).content.decode()
    assert "✕ 不完整" in html


def test_a_share_token_opens_the_verify_page_too(world: World, job):
    link = services.create_share(world.a.officer.user, job, 2)
    token = services.share_token(link)
    html = Client().get(reverse("dossiers:verify", args=[token])).content.decode()
    assert "✓ 完整" in html and reverse("dossiers:shared", args=[token]) in html  # "scan to read the whole process"
    services.revoke_share(world.a.officer.user, link)
    assert Client().get(reverse("dossiers:verify", args=[token])).status_code == 410


def test_forged_verify_tokens(world: World, job):
    for bad in (signing.dumps({"v": job.pk}, salt="x"), signing.dumps({"v": "1"}, salt=services.VERIFY_SALT),
                signing.dumps({"v": 10**9}, salt=services.VERIFY_SALT), signing.dumps([job.pk], salt=services.VERIFY_SALT),
                job.verify_token, "zz", "a" * 250):
        page = Client().get(f"/verify/{bad}/")
        assert page.status_code == 404, bad
        assert job.last_hash not in page.content.decode()
    assert Client().get("/verify/%00/").status_code == 422  # refused at the door (NUL)
    assert Client().post(verify_path(job)).status_code == 405


def test_the_public_verify_page_limits_each_address(world, job):  # noqa: F811
    from django.core.cache import cache

    cache.clear()
    url = services.verify_url(job)
    client = Client(REMOTE_ADDR="203.0.113.9")
    answers = [client.get(url).status_code for _ in range(services.VERIFY_PER_MINUTE)]
    assert answers == [200] * services.VERIFY_PER_MINUTE
    refused = client.get(url)
    assert refused.status_code == 429 and refused["Retry-After"] == "60" and "过于频繁" in refused.content.decode()
    assert Client(REMOTE_ADDR="203.0.113.10").get(url).status_code == 200  # another inspector is not affected
    cache.clear()
