"""Share links: a manager sends a signed, expiring, revocable link to one job; opened without login it
shows that job's read-only dossier in phone layout and nothing else; expired, revoked, forged and
tampered tokens answer a clear Chinese page with 410/404 and are logged."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from anlian.core import clock
from anlian.dossiers import services
from anlian.dossiers.models import ShareLink
from anlian.flows.models import EventPhoto
from tests.conftest import World, client_for
from tests.test_dossiers_helpers import job, job_b  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def token_of(url: str) -> str:
    return re.search(r"/dossiers/s/([^/]+)/", url).group(1)


@pytest.fixture
def link(world: World, job) -> ShareLink:
    return services.create_share(world.a.officer.user, job, 7)


def test_manager_creates_a_link_on_the_dossier_page(world: World, job):
    client = client_for(world.a.officer)
    answer = client.post(reverse("dossiers:share_create", args=[job.pk]), {"days": "3"}, follow=True)
    link = ShareLink.objects.get()
    assert link.instance == job and link.days == 3 and link.created_by == world.a.officer.user
    assert link.expires_at - link.created_at == timedelta(days=3)
    assert "/dossiers/s/" in answer.content.decode()


@pytest.mark.parametrize("days", ["0", "31", "-1", "abc", "", "9" * 40])
def test_days_out_of_range_are_refused(world: World, job, days):
    answer = client_for(world.a.officer).post(reverse("dossiers:share_create", args=[job.pk]), {"days": days})
    assert answer.status_code == 422 and "有效天数" in answer.content.decode()
    assert not ShareLink.objects.exists()


def test_only_managers_of_the_unit_share(world: World, job, job_b):
    # a worker may read the dossier but not send it outside
    answer = client_for(world.a.worker).post(reverse("dossiers:share_create", args=[job.pk]), {"days": "3"})
    assert answer.status_code == 403
    # another company's job is not found
    answer = client_for(world.b.admin).post(reverse("dossiers:share_create", args=[job.pk]), {"days": "3"})
    assert answer.status_code == 404
    assert not ShareLink.objects.exists()


def test_link_opens_the_read_only_phone_dossier_without_login(world: World, job, link):
    anonymous = Client()
    url = reverse("dossiers:shared", args=[services.share_token(link)])
    page = anonymous.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert job.number in html and "完整" in html and "可燃气体" in html
    assert page["Cache-Control"] == "no-store" and page["Referrer-Policy"] == "no-referrer"
    assert "<form" not in html and 'class="m-tabs"' not in html  # nothing to do, no menu
    assert f'href="{reverse("permits:ledger")}"' not in html and f'href="{reverse("hazards:list")}"' not in html
    # every photo through the link, watermarked
    uses = list(EventPhoto.objects.filter(event__instance=job).select_related("file"))
    for use in uses:
        src = reverse("dossiers:shared_photo", args=[services.share_token(link), use.event_id, use.file.sha256])
        assert src.rsplit("/", 4)[-3:] == [str(use.event_id), use.file.sha256, ""]
        photo = anonymous.get(src)
        assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
        assert photo.content != use.file.file.open("rb").read()  # the display copy, not the original
    link.refresh_from_db()
    assert link.opened == 1
    # the signature image too
    signature = re.search(r"/dossiers/s/[^/]+/photos/(\d+)/([0-9a-f]{64})/\" alt=\"手写签名", html)
    assert signature
    answer = anonymous.get(reverse("dossiers:shared_photo", args=[services.share_token(link), *signature.groups()]))
    assert answer.status_code == 200 and answer["Content-Type"] == "image/png"


def test_link_shows_nothing_else(world: World, job, job_b, link, caplog):
    anonymous, token = Client(), services.share_token(link)
    other = EventPhoto.objects.filter(event__instance=job_b).select_related("file").first()
    mine = EventPhoto.objects.filter(event__instance=job).select_related("file").first()
    # another job's photo, a photo of this job under another event, junk: 404
    for event_id, sha in ((other.event_id, other.file.sha256), (mine.event_id + 1000, mine.file.sha256),
                          (other.event_id, mine.file.sha256), (mine.event_id, "0" * 64), (mine.event_id, "../x")):
        answer = anonymous.get(f"/dossiers/s/{token}/photos/{event_id}/{sha}/")
        assert answer.status_code == 404, (event_id, sha)
    assert "outside its job" in caplog.text
    # the logged-in pages still need a login
    for url in (reverse("dossiers:dossier", args=[job.pk]), reverse("permits:detail", args=[job.pk]),
                reverse("evidence:display", args=[mine.file.sha256, mine.event_id])):
        assert anonymous.get(url).status_code == 302
    # a share page answers GET only
    assert anonymous.post(reverse("dossiers:shared", args=[token])).status_code == 405


def test_expired_revoked_and_forged_links(world: World, job, link, caplog):
    anonymous, token = Client(), services.share_token(link)
    clock.set_now(link.expires_at + timedelta(seconds=1))
    page = anonymous.get(reverse("dossiers:shared", args=[token]))
    assert page.status_code == 410 and "链接已过期" in page.content.decode() and job.number not in page.content.decode()
    clock.set_now(None)
    assert anonymous.get(reverse("dossiers:shared", args=[token])).status_code == 200

    forged = signing.dumps({"s": link.pk}, salt="another-salt")
    tampered = token[:-2] + ("aa" if not token.endswith("aa") else "bb")
    verify_token = services.verify_token(job)  # a verify token does not open the dossier
    for bad in (forged, tampered, verify_token, "x", "a" * 300):
        page = anonymous.get(reverse("dossiers:shared", args=[bad]))
        assert page.status_code == 404 and "链接无效" in page.content.decode() and job.number not in page.content.decode()
    assert "dossier link refused" in caplog.text

    services.revoke_share(world.a.officer.user, link)
    page = anonymous.get(reverse("dossiers:shared", args=[token]))
    assert page.status_code == 410 and "撤销" in page.content.decode()
    photo = EventPhoto.objects.filter(event__instance=job).first()
    assert anonymous.get(f"/dossiers/s/{token}/photos/{photo.event_id}/{photo.file.sha256}/").status_code == 410


def test_a_link_whose_row_is_gone_or_token_altered_to_another_id(world: World, job, job_b):
    link_b = services.create_share(world.b.admin.user, job_b, 5)
    # a token for company B's link gives B's job only; changing the id inside breaks the signature
    token = services.share_token(link_b)
    body, _sep, rest = token.partition(":")
    other = signing.b64_encode(b'{"s":999}').decode()
    assert Client().get(reverse("dossiers:shared", args=[f"{other}:{rest}"])).status_code == 404
    html = Client().get(reverse("dossiers:shared", args=[token])).content.decode()
    assert job_b.last_hash in html and job.last_hash not in html  # (both are number 0001 of their company)


def test_revoke_page_and_refusals(world: World, job, link):
    url = reverse("dossiers:share_revoke", args=[link.pk])
    assert client_for(world.b.admin).post(url).status_code == 404
    assert client_for(world.a.worker).post(url).status_code == 403
    link.refresh_from_db()
    assert link.revoked_at is None
    assert client_for(world.a.officer).post(url).status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None and link.revoked_by == world.a.officer.user


def test_share_link_api(world: World, job, job_b):
    client = client_for(world.a.officer)
    created = client.post("/api/v1/share-links", {"instance_id": job.pk, "days": 14}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["days"] == 14 and "/dossiers/s/" in body["url"]
    assert Client().get(body["url"].split("://", 1)[1].split("/", 1)[1].join(["/", ""])).status_code == 200
    listed = client.get(f"/api/v1/share-links?instance_id={job.pk}").json()
    assert [x["id"] for x in listed["items"]] == [body["id"]] and listed["count"] == 1
    assert client_for(world.a.worker).get(f"/api/v1/share-links?instance_id={job.pk}").status_code == 403
    assert client_for(world.b.admin).get(f"/api/v1/share-links?instance_id={job.pk}").status_code == 404
    for bad in ({"instance_id": job.pk, "days": 0}, {"instance_id": job.pk, "days": 31},
                {"instance_id": job.pk}, {"instance_id": job.pk, "days": 3, "max_age": 99}):
        assert client.post("/api/v1/share-links", bad, content_type="application/json").status_code == 422
    answer = client.post("/api/v1/share-links", {"instance_id": job_b.pk, "days": 3}, content_type="application/json")
    assert answer.status_code == 404
    worker = client_for(world.a.worker).post("/api/v1/share-links", {"instance_id": job.pk, "days": 3},
                                              content_type="application/json")
    assert worker.status_code == 403
    assert client_for(world.b.admin).delete(f"/api/v1/share-links/{body['id']}").status_code == 404
    assert client.delete(f"/api/v1/share-links/{body['id']}").status_code == 204
    assert client.delete(f"/api/v1/share-links/{body['id']}").status_code == 204  # again: still revoked
    assert ShareLink.objects.get().revoked_at is not None
    assert ShareLink.objects.count() == 1
