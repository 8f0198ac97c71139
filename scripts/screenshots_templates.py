"""Screenshots of the workflow template pages (desktop, Chinese): list, template page, editor with
live validation errors, editor with the preview of a valid template.

Self-contained: builds a throw-away database with the demo organisation and a company copy of the
shipped 二级动火 template, serves it on loopback, and drives headless Chromium through Playwright
(the system Chromium: CHROMIUM, default /usr/bin/chromium).

    python scripts/screenshots_templates.py [--out docs/screenshots]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots_permits import DESKTOP, chromium, live_server, login, prepare, shoot  # noqa: E402


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


def main() -> None:
    out = prepare(__doc__.splitlines()[0])
    urls = build_data()

    with live_server() as base, chromium() as browser:
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = context.new_page()
        login(page, base, "safety")

        shoot(page, base, urls["list"], out, "template-list", full=True)

        shoot(page, base, urls["detail"], out, "template-page", full=False)

        # The editor: type a broken template, wait for the live check to list the problems.
        page.goto(base + urls["edit"])
        page.wait_for_load_state("networkidle")
        page.fill("textarea.yaml", BROKEN)
        page.wait_for_selector('#check [data-ok="0"]')
        shoot(page, base, None, out, "template-editor-errors", full=False)

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
        shoot(page, base, None, out, "template-editor-preview", full=False)
        context.close()


if __name__ == "__main__":
    main()
