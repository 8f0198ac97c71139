"""Screenshots of the workflow template pages (desktop, Chinese): list, template page, editor with
live validation errors, editor with the preview of a valid template.

Self-contained: builds a throw-away database with the demo organisation and a company copy of the
shipped 二级动火 template, serves it on loopback, and drives headless Chromium through Playwright
(the system Chromium: CHROMIUM, default /usr/bin/chromium).

    python scripts/screenshots_templates.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESKTOP = {"width": 1366, "height": 900}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def setup_django() -> None:
    os.environ.setdefault("ANLIAN_DATA_DIR", tempfile.mkdtemp(prefix="anlian-shots-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anlian.settings")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_data() -> dict[str, str]:
    """The demo organisation, a company copy of hot-work-2 (v1 published, v2 draft); the URLs to shoot."""
    from django.urls import reverse

    from anlian.flows import services
    from anlian.flows.models import FlowTemplate
    from anlian.orgs import demo
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgUnit

    demo.load()
    company = OrgUnit.objects.get(name="临海港务股份有限公司")
    copy = services.copy_template(SYSTEM, FlowTemplate.objects.get(owner=None, key="hot-work-2"), company,
                                  "hot-work-2-port")
    services.publish_version(SYSTEM, copy)
    services.save_version(SYSTEM, copy.template, copy.source.replace("name: 二级动火作业", "name: 二级动火作业（港区）"))
    services.copy_template(SYSTEM, FlowTemplate.objects.get(owner=None, key="zero-process"), company, "zero-process-port")
    return {
        "list": reverse("flows:list"),
        "detail": reverse("flows:detail", args=[copy.template_id]),
        "edit": reverse("flows:edit", args=[copy.template_id]),
    }


# A short template with three mistakes a person typically makes: a misspelt field type, a limit
# written in words, and an approval mode that does not exist.
BROKEN = """\
key: hot-work-2-port
name: 二级动火作业（港区）
kind: permit
validity: 72h
guards:
  - area_not_frozen
steps:
  - key: apply
    name: 作业申请
    fields:
      - {key: content, label: 作业内容, type: text, required: true}
      - {key: guardian, label: 监护人, type: persn, required: true}
  - key: gas
    name: 动火分析
    actor: {role: analyst}
    valid_for: 30分钟
    fields:
      - {key: lel, label: 可燃气体读数, type: number, unit: "%LEL", min: 0, max: 九点九}
  - key: approve
    name: 动火审批
    kind: approval
    actor: {role: approver_plant, scope: plant}
    approval: {mode: some}
"""


def login(page, base: str, username: str) -> None:
    from anlian.orgs.demo import DEMO_PASSWORD

    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_load_state("networkidle")


def save(page, out: Path, name: str, full: bool = False) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=full)
    width = page.evaluate("document.documentElement.scrollWidth")
    print("saved", out / f"{name}.png", "scrollWidth", width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    options = parser.parse_args()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    setup_django()
    urls = build_data()

    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread
    from playwright.sync_api import sync_playwright

    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    base = f"http://127.0.0.1:{server.port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)
            context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
            page = context.new_page()
            login(page, base, "safety")

            page.goto(base + urls["list"])
            page.wait_for_load_state("networkidle")
            save(page, out, "template-list", full=True)

            page.goto(base + urls["detail"])
            page.wait_for_load_state("networkidle")
            save(page, out, "template-page")

            # The editor: type a broken template, wait for the live check to list the problems.
            page.goto(base + urls["edit"])
            page.wait_for_load_state("networkidle")
            page.fill("textarea.yaml", BROKEN)
            page.wait_for_selector('#check [data-ok="0"]')
            save(page, out, "template-editor-errors")

            # Fix them: the check turns green and shows the step-by-step preview.
            fixed = (BROKEN.replace("type: persn", "type: person").replace("max: 九点九", "max: 9.9")
                     .replace("valid_for: 30分钟", "valid_for: {for: 30m, through: approve}")
                     .replace("{mode: some}", "{mode: single, return_to: [apply, gas]}")
                     .replace("    actor: {role: analyst}\n", "    actor: {role: analyst}\n    photos:\n"
                              "      - {key: meter, label: 检测仪读数, min: 1, max: 3}\n")
                     + "    presence: photo\n    cc: [{role: safety_officer}]\n"
                     + "  - key: patrol\n    name: 监护巡检\n    actor: {person_field: guardian}\n"
                     + "    repeat: {every: 2h, until: finish}\n  - key: finish\n    name: 完工验收\n")
            page.fill("textarea.yaml", fixed)
            page.wait_for_selector('#check [data-ok="1"]')
            save(page, out, "template-editor-preview")
            context.close()
            browser.close()
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
