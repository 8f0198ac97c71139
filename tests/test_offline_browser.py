"""Issue 4, points 1–2 on the phone: photos downscaled before upload, and a step taken offline kept in
the browser (IndexedDB, service worker) and sent once when the connection returns — in Chromium.

Plus the service worker's own URL (/m/sw.js): its type, its scope header, and that it holds nothing
of anyone (it is served to anonymous visitors too: a login redirect would break the browser's checks)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image
from playwright.sync_api import sync_playwright

from anlian.evidence.models import StoredFile
from anlian.flows.models import Event, Instance, TemplateStatus, TemplateVersion
from tests.conftest import PASSWORD, client_for, make_person
from tests.test_permit_pages import jpeg

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The documentation's screenshot is retaken only when asked (ANLIAN_SCREENSHOTS=1): a test run must
# not change the repository.
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "offline-queue.png"


def start_zero_job(page, live_server, world) -> Instance:
    """In the browser: start a zero-process job of company A with its first step done, through the
    live server (the next step is the lock photo)."""
    partner = make_person(world.a.team, "甲公司同伴", "A010")
    v = TemplateVersion.objects.get(template__key="zero-process", status=TemplateStatus.PUBLISHED)
    url = f"{live_server.url}{reverse('permits:start')}?version={v.pk}&area={world.a.area.pk}"
    page.goto(url)
    token = page.input_value("input[name=csrfmiddlewaretoken]")
    photos = {name: {"name": f"{name}.jpg", "mimeType": "image/jpeg", "buffer": jpeg(color).read()}
              for name, color in (("of_partner", "red"), ("of_self", "yellow"))}
    response = page.request.post(url, headers={"Referer": url}, multipart={
        "csrfmiddlewaretoken": token, "f__partner": str(partner.pk), "f__place": "1号皮带机",
        "photo__of_partner": photos["of_partner"], "photo__of_self": photos["of_self"], "do": "complete"})
    assert response.ok and "/m/permits/" in response.url, response.status
    return Instance.objects.get(version=v)


def start_zero_job_here(world) -> Instance:
    """The same, from the test's own thread (for tests without a live server)."""
    partner = make_person(world.a.team, "甲公司同伴", "A010")
    v = TemplateVersion.objects.get(template__key="zero-process", status=TemplateStatus.PUBLISHED)
    response = client_for(world.a.worker).post(f"{reverse('permits:start')}?version={v.pk}&area={world.a.area.pk}", {
        "f__partner": str(partner.pk), "f__place": "1号皮带机", "photo__of_partner": [jpeg("red", "a.jpg")],
        "photo__of_self": [jpeg("yellow", "b.jpg")], "do": "complete",
        "device_time": "2025-05-19T02:30:00.000Z", "lat": "30.00012", "lng": "120.00034"})
    assert response.status_code == 302, re.findall(r'pf-error[^>]*>([^<]+)', response.content.decode())
    return Instance.objects.get(version=v)


def logged_in_worker(context, live_server):
    """A new page of `context`, logged in as company A's worker."""
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "A-worker")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def big_jpeg(path: Path, size=(1600, 1200)) -> Path:
    """A real camera-sized JPEG with EXIF (capture time), larger than the configured long edge."""
    image = Image.new("RGB", size, (30, 90, 160))
    for x in range(0, size[0], 40):  # some structure, so the JPEG is not trivially small
        image.paste((200, 180, 40), (x, 0, x + 20, size[1]))
    exif = Image.Exif()
    exif[0x0132] = "2025:05:19 10:29:00"
    exif[0x0112] = 1
    image.save(path, "JPEG", quality=85, exif=exif.tobytes())
    return path


# --- the service worker's URL -------------------------------------------------------------------------


def test_the_service_worker_is_javascript_scoped_to_the_phone_pages_and_personal_to_nobody(world):
    url = reverse("permits:service_worker")
    assert url == "/m/sw.js"
    anonymous = Client().get(url)
    assert anonymous.status_code == 200
    assert anonymous["Content-Type"].startswith("application/javascript")
    assert anonymous["Service-Worker-Allowed"] == "/m/"
    assert "no-cache" in anonymous["Cache-Control"] or "max-age=0" in anonymous["Cache-Control"]
    body = anonymous.content.decode()
    assert "importScripts(" in body and "/static/permits/queue.js" in body and "/m/" in body
    # The same script for everyone: no user name, no CSRF token, no session, nothing of a company.
    logged_in = client_for(world.a.worker).get(url)
    assert logged_in.content == anonymous.content
    for secret in (world.a.worker.user.username, world.a.worker.name, "csrf", world.a.unit.name):
        assert secret not in body
    assert Client().post(url).status_code == 405


def test_the_step_page_offers_the_camera_the_queue_and_the_photo_size(world, settings):
    settings.ANLIAN_PHOTO_MAX_EDGE = 1280
    job = start_zero_job_here(world)
    page = client_for(world.a.worker).get(reverse("permits:step", args=[job.pk, "lock"])).content.decode()
    for expected in ('capture="environment"', 'data-max-edge="1280"', 'name="accuracy"', 'id="pf-queue"',
                     'data-sw="/m/sw.js"', "项待发送", 'name="offline_meta"', "/api/v1/instances/%d/actions" % job.pk,
                     "permits/queue.js"):
        assert expected in page, expected


# --- offline, in Chromium -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def queued(page) -> list[dict]:
    return page.evaluate("""AnlianQueue.all().then(items => items.map(i => ({key: i.key, state: i.state,
        error: i.error, uploads: i.uploads.length, body: i.body, accuracy: i.accuracy})))""")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_step_taken_offline_arrives_once_with_its_photos_after_the_page_was_closed(
        browser, live_server, world, settings, tmp_path):
    settings.ANLIAN_PHOTO_MAX_EDGE = 800
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"latitude": 30.0001, "longitude": 120.0002, "accuracy": 12})
    page = logged_in_worker(context, live_server)
    job = start_zero_job(page, live_server, world)
    step_url = live_server.url + reverse("permits:step", args=[job.pk, "lock"])
    page.goto(step_url)
    # The service worker is running and has kept this page for a reload without network.
    page.wait_for_function("navigator.serviceWorker.controller !== null || navigator.serviceWorker.ready")
    page.evaluate("navigator.serviceWorker.ready")
    page.wait_for_function("caches.open('anlian-pages').then(c => c.match(location.pathname)).then(Boolean)")
    page.wait_for_function("document.querySelector('input[name=accuracy]').value !== ''")

    before = Event.objects.filter(instance=job).count()
    page.set_input_files("input[name=photo__lock]", str(big_jpeg(tmp_path / "lock.jpg")))
    context.set_offline(True)
    page.click("button[name=do][value=complete]")
    banner = page.locator("#pf-queue")
    banner.get_by_text("1 项待发送").wait_for()
    assert "已保存在本机" in banner.inner_text()
    assert Event.objects.filter(instance=job).count() == before

    [item] = queued(page)
    assert item["state"] == "waiting" and item["uploads"] == 1
    assert item["body"]["kind"] == "complete" and item["body"]["step"] == "lock"
    assert item["body"]["lat"] == pytest.approx(30.0001) and item["accuracy"] == pytest.approx(12)
    assert item["body"]["device_time"]

    # Close the page; open it again, still offline: the service worker shows the kept copy, and the
    # step still waits (IndexedDB, not the page's memory).
    page.close()
    page = context.new_page()
    page.goto(step_url)
    page.locator("#pf-queue").get_by_text("1 项待发送").wait_for()
    assert "甲公司" not in page.locator("#pf-queue").inner_text()  # the job number and step, nothing else
    assert "上锁挂牌" in page.locator("#pf-queue").inner_text()
    shot = DOCS_SCREENSHOT if os.environ.get("ANLIAN_SCREENSHOTS") else tmp_path / "offline-queue.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000  # a real picture of the page
    page.evaluate("AnlianQueue.all().then(items => { window.kept = items[0]; })")  # for the replay below

    # Back online: sent on its own, the banner empties.
    context.set_offline(False)
    page.wait_for_function("AnlianQueue.all().then(items => items.length === 0)", timeout=20_000)
    page.locator("#pf-queue").get_by_text("已发送「上锁挂牌」").wait_for()
    events = Event.objects.filter(instance=job, step="lock")
    assert events.count() == 1
    event = events.get()
    [sha] = event.payload["photos"]["lock"]
    stored = StoredFile.objects.get(sha256=sha)
    assert stored.company == world.a.unit
    assert stored.content_type == "image/jpeg" and max(stored.width, stored.height) == 800  # downscaled
    assert event.device_time is not None and event.lat == pytest.approx(30.0001)
    with stored.file.open("rb") as f:  # the capture time survived the downscaling
        assert Image.open(f).getexif().get(0x0132) == "2025:05:19 10:29:00"

    # The same queued step sent again (a retry after a lost answer): replayed, not recorded twice.
    page.evaluate("delete window.kept.id; AnlianQueue.add(window.kept)")
    result = page.evaluate("AnlianQueue.flush({csrf: document.querySelector('[name=csrfmiddlewaretoken]').value})")
    assert result == {"sent": 1, "failed": 0, "stopped": False}
    assert Event.objects.filter(instance=job, step="lock").count() == 1
    assert StoredFile.objects.filter(company=world.a.unit, sha256=sha).count() == 1
    assert queued(page) == []
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_queued_step_the_server_refuses_stays_visible_until_discarded(browser, live_server, world):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = logged_in_worker(context, live_server)
    job = start_zero_job(page, live_server, world)
    step_url = live_server.url + reverse("permits:step", args=[job.pk, "lock"])
    page.goto(step_url)
    context.set_offline(True)
    page.evaluate("document.querySelector('input[name=photo__lock]').removeAttribute('required')")
    page.click("button[name=do][value=complete]")  # no photo: the server will refuse it
    page.locator("#pf-queue").get_by_text("1 项待发送").wait_for()
    context.set_offline(False)
    page.evaluate("AnlianPage.flush()")
    failed = page.locator("#pf-queue li.failed")
    failed.wait_for()
    assert "至少需要1张照片" in failed.inner_text()
    assert "1 项发送失败" in page.locator("#pf-queue").inner_text()
    assert not Event.objects.filter(instance=job, step="lock").exists()
    # Reloading keeps it (with its reason) until the worker discards it.
    page.reload()
    page.locator("#pf-queue li.failed").wait_for()
    page.on("dialog", lambda d: d.accept())
    page.locator("#pf-queue li.failed button").click()
    page.wait_for_function("AnlianQueue.all().then(items => items.length === 0)")
    page.locator("#pf-queue").wait_for(state="hidden")
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_step_submitted_online_goes_straight_through_with_place_and_accuracy(browser, live_server, world,
                                                                                 settings, tmp_path):
    """The everyday path: online, the page's script downscales the photo and submits the form once."""
    settings.ANLIAN_PHOTO_MAX_EDGE = 800
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"latitude": 30.0002, "longitude": 120.0003, "accuracy": 7})
    page = logged_in_worker(context, live_server)
    job = start_zero_job(page, live_server, world)
    page.goto(live_server.url + reverse("permits:step", args=[job.pk, "lock"]))
    page.wait_for_function("document.querySelector('input[name=accuracy]').value !== ''")
    page.set_input_files("input[name=photo__lock]", str(big_jpeg(tmp_path / "lock.jpg")))
    with page.expect_navigation():
        page.click("button[name=do][value=complete]")
    event = Event.objects.get(instance=job, step="lock")
    assert event.lat == pytest.approx(30.0002) and event.accuracy == pytest.approx(7)
    [sha] = event.payload["photos"]["lock"]
    assert max(StoredFile.objects.get(sha256=sha).width, StoredFile.objects.get(sha256=sha).height) == 800
    assert Event.objects.filter(instance=job, step="lock").count() == 1
    context.close()
