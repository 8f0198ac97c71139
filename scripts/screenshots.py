"""Screenshots of the product pages in headless Chromium, in Chinese and English.

Needs a running server with demo data (anlian migrate; anlian demo; anlian runserver), then:

    python scripts/screenshots.py [--base http://127.0.0.1:8765] [--out docs/screenshots]

Uses the system Chromium (CHROMIUM, default /usr/bin/chromium) through Playwright; it never
downloads a browser.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
USER, PASSWORD = "admin", "anlian-demo-2026"


def login(page: Page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_load_state("networkidle")


def language(page: Page, code: str) -> None:
    """Switch through the page's own language form (the same thing a user clicks)."""
    picker = page.locator("form[action$='/i18n/setlang/'] select[name=language]")
    if picker.count():
        with page.expect_navigation():
            picker.select_option(code)
    else:
        page.click(f"form[action$='/i18n/setlang/'] button[value='{code}']")
    page.wait_for_load_state("networkidle")


def shot(page: Page, out: Path, name: str, path: str | None, base: str, full: bool = True) -> None:
    if path is not None:
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    page.screenshot(path=str(out / f"{name}.png"), full_page=full)
    print("saved", out / f"{name}.png")


def open_first(page: Page, base: str, list_path: str, selector: str) -> None:
    page.goto(base + list_path)
    page.click(selector)
    page.wait_for_load_state("networkidle")


def desktop(browser, base: str, out: Path) -> None:
    page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
    page.goto(f"{base}/login/")
    shot(page, out, "desktop-login-zh", None, base, full=False)
    login(page, base)
    shot(page, out, "desktop-home-zh", "/", base)
    shot(page, out, "desktop-org-tree-zh", "/org/", base)
    open_first(page, base, "/equipment/?q=QC-301", "#results a")
    shot(page, out, "desktop-equipment-zh", None, base)
    open_first(page, base, "/people/?q=A1111", "#results a")
    shot(page, out, "desktop-person-zh", None, base)
    page.goto(f"{base}/people/")
    language(page, "en")
    shot(page, out, "desktop-people-en", None, base, full=False)
    shot(page, out, "desktop-ledger-en", "/permits/", base, full=False)
    language(page, "zh-hans")
    page.close()


def phone(browser, base: str, out: Path) -> None:
    page = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
    login(page, base)
    shot(page, out, "phone-home-zh", "/m/", base)
    open_first(page, base, "/m/equipment/?q=TK-01", ".m-list a")
    shot(page, out, "phone-equipment-zh", None, base)
    page.goto(f"{base}/m/me/")
    language(page, "en")
    shot(page, out, "phone-me-en", None, base)
    shot(page, out, "phone-start-en", "/m/permits/new/", base)
    page.goto(f"{base}/m/me/")  # "me" carries the language switch
    language(page, "zh-hans")
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8765")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "screenshots"))
    options = parser.parse_args()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        try:
            desktop(browser, options.base.rstrip("/"), out)
            phone(browser, options.base.rstrip("/"), out)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
