"""The pages in a real browser (Debian's Chromium driven by Playwright): login, language, phone layout."""

from __future__ import annotations

import os

import pytest
from django.urls import reverse
from playwright.sync_api import sync_playwright

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
# Playwright's sync API runs an event loop in this thread; the Django calls made by the fixtures
# are still synchronous, so allow them (the standard setting for browser tests with Django).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.django_db(transaction=True)
def test_a_worker_logs_in_and_opens_equipment_from_its_qr_on_a_phone(browser, live_server, world):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  locale="zh-CN")
    page = context.new_page()
    login(page, live_server.url, "A-worker")
    assert "/login/" not in page.url
    page.goto(live_server.url + reverse("mobile:equipment", args=[world.a.equipment.pk]))
    assert world.a.equipment.name in page.content()
    # Nothing wider than the phone: no sideways scrolling with gloves on.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


@pytest.mark.django_db(transaction=True)
def test_the_language_switch_turns_the_desktop_into_english(browser, live_server, world):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    login(page, live_server.url, "A-admin")
    page.goto(f"{live_server.url}/org/")
    assert "组织" in page.inner_text("body")
    with page.expect_navigation():
        page.select_option("select[name=language]", "en")
    page.goto(f"{live_server.url}/org/")
    assert "组织架构" not in page.inner_text("body")
    context.close()


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_is_refused_with_a_chinese_message(browser, live_server, world):
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "A-worker")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "密码不正确" in page.inner_text("body")
    page.close()
