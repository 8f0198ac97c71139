"""Screenshots of the permit pages (phone step form, my tasks, approval; desktop ledger and timeline).

Self-contained: builds a throw-away database with the demo organisation and a few permits (real
photos, a refused reading, an approval waiting), serves it on loopback, and drives headless
Chromium through Playwright (the system Chromium: CHROMIUM, default /usr/bin/chromium).

    python scripts/screenshots_permits.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PHONE = {"width": 390, "height": 844}
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


def photo(text: str, color: str):
    """A camera-like JPEG: a coloured scene with a label, so thumbnails look like real evidence."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (800, 600), color)
    draw = ImageDraw.Draw(image)
    for i in range(0, 800, 40):
        draw.line([(i, 600), (i + 200, 300)], fill="#ffffff", width=2)
    draw.rectangle((40, 40, 360, 120), fill="#000000")
    draw.text((60, 70), text, fill="#ffffff")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return SimpleUploadedFile(f"{text}.jpg", out.getvalue(), "image/jpeg")


def build_data() -> dict[str, str]:
    """Demo organisation plus permits in every interesting state; returns the URLs to shoot."""
    from django.urls import reverse

    from anlian.core import clock
    from anlian.core.errors import DomainError
    from anlian.evidence.services import store_photo
    from anlian.flows import core
    from anlian.flows import services as flows
    from anlian.flows.models import TemplateStatus, TemplateVersion
    from anlian.orgs import demo
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import Area, Equipment, OrgUnit, Person, Role
    from anlian.permits import services as permits
    from anlian.workforce.demo import qualify

    demo.load()
    people = {p.name: p for p in Person.objects.all()}
    plant = OrgUnit.objects.get(name="集装箱装卸一队")
    orgs.grant_role(SYSTEM, people["孙立"], Role.objects.get(code="approver_workshop", owner=None), plant)
    for name, login in (("钱伟", "leader"), ("孙立", "workshop"), ("卫东", None)):
        if login and people[name].user_id is None:
            orgs.set_login(SYSTEM, people[name], username=login, password=demo.DEMO_PASSWORD)
    for name in ("蒋焊", "沈光"):
        qualify(people[name], "焊接与热切割作业")
    people = {p.name: Person.objects.select_related("user").get(pk=p.pk) for p in people.values()}
    berth = Area.objects.get(name="3#泊位")
    hall = Area.objects.get(name="机修车间厂房")
    company = berth.org_unit.company

    def pub(key: str) -> TemplateVersion:
        return TemplateVersion.objects.get(template__key=key, template__owner=None, status=TemplateStatus.PUBLISHED)

    def shots(user, *items):
        return {slot: [store_photo(user, company, photo(label, color)).sha256] for slot, label, color in items}

    worker, leader, analyst = people["周涛"].user, people["钱伟"].user, people["韩析"].user
    now = clock.now()
    # 1. a zero process, done and closed
    zero = flows.start(worker, pub("zero-process"), hall, now=now - timedelta(hours=5), first=core.Action(
        "complete", step="enter", values={"partner": str(people["吴强"].pk), "place": "2#逆变焊机检修"},
        photos=shots(worker, ("of_partner", "partner", "#4a6fa5"), ("of_self", "self", "#5a8f5a")),
        location=(29.93351, 121.88121), device_time=now - timedelta(hours=5)))
    flows.act(worker, zero, core.Action("complete", step="lock", photos=shots(worker, ("lock", "LOTO", "#b35c00")),
                                        location=(29.93352, 121.88119)), now=now - timedelta(hours=5, minutes=-3))
    flows.act(worker, zero, core.Action("complete", step="exit", photos=shots(
        worker, ("of_partner", "exit-partner", "#4a6fa5"), ("of_self", "exit-self", "#5a8f5a"))),
        now=now - timedelta(hours=4))
    flows.act(worker, zero, core.Action("close"), now=now - timedelta(hours=4))

    # 2. a hot work permit waiting for the workshop approval, with a refused reading on its chain
    hot = pub("hot-work-2")
    apply_values = {
        "unit": "集装箱装卸一队", "work_unit": "机修厂焊工班", "work_leader": str(people["钱伟"].pk),
        "location": "3#泊位 QC-301 联系梁", "content": "3#岸桥联系梁裂纹补焊", "method": "电焊",
        "operators": [str(people["蒋焊"].pk), str(people["沈光"].pk)], "operator_certs": "T2211、T2212",
        "guardian": str(people["卫东"].pk), "planned_start": (now + timedelta(hours=1)).isoformat(),
        "planned_end": (now + timedelta(hours=6)).isoformat(), "timing": "非节假日、公休日、夜间作业",
        "related": ["高处"], "related_permits": "GC-20250519-0002", "hazards": ["火灾", "灼烫", "高处坠落"],
    }
    job = flows.start(worker, hot, berth, now=now - timedelta(minutes=50), first=core.Action(
        "complete", step="apply", values=apply_values, photos=shots(worker, ("crew", "crew PPE", "#2f5d8a")),
        location=(29.93801, 121.88702), device_time=now - timedelta(minutes=50)))
    measures = {f"m{i:02d}": "done" if i not in (4, 6, 14) else "not_applicable" for i in range(1, 16)}
    flows.act(leader, job, core.Action("complete", step="measures", values={
        "measures": measures, "blind_plates": 0, "extinguishers": 4, "fire_blankets": 2,
        "measures_sign": "钱伟"}, photos=shots(leader, ("site", "isolation", "#8a6d2f"), ("fire_kit", "extinguishers",
                                                                                      "#a33"))),
        now=now - timedelta(minutes=40))
    flows.act(leader, job, core.Action("complete", step="briefing", values={
        "briefer": str(people["钱伟"].pk), "briefer_sign": "钱伟",
        "receivers": [str(people["蒋焊"].pk), str(people["沈光"].pk)], "receivers_sign": "蒋焊、沈光"},
        photos=shots(leader, ("briefing", "briefing", "#556b2f"))), now=now - timedelta(minutes=30))
    gas = {"gas_point": "联系梁焊口周边10m", "gas_name": "可燃气体", "gas_method": "便携式检测仪",
           "gas_instrument": str(Equipment.objects.get(code="QC-301").pk), "lel": 12, "gas_result": "合格",
           "analyst_sign": "韩析"}
    try:
        flows.act(analyst, job, core.Action("complete", step="gas", values=gas,
                                            photos=shots(analyst, ("meter", "12 %LEL", "#444"))),
                  now=now - timedelta(minutes=20))
    except DomainError as exc:  # the first reading is over the limit: refused, kept for the timeline
        with clock.frozen(now - timedelta(minutes=20)):
            permits.record_refusal(analyst, exc, version=hot, area=berth, action="complete", step="gas", instance=job)
    gas["lel"] = 0.4
    flows.act(analyst, job, core.Action("complete", step="gas", values=gas,
                                        photos=shots(analyst, ("meter", "0.4 %LEL", "#333"))),
              now=now - timedelta(minutes=10))

    # 3. a few more permits for the ledger
    for area, key in ((hall, "zero-process"), (berth, "zero-process")):
        flows.start(worker, pub(key), area, now=now - timedelta(days=1))
    open_zero = flows.start(worker, pub("zero-process"), hall)
    return {
        "step": reverse("permits:step", args=[open_zero.pk, "enter"]),
        "measures_start": f"{reverse('permits:start')}?version={hot.pk}&area={berth.pk}",
        "approve": reverse("permits:step", args=[job.pk, "unit_review"]),
        "tasks": reverse("permits:tasks"),
        "ledger": reverse("permits:ledger"),
        "timeline_hot": reverse("permits:detail", args=[job.pk]),
        "timeline_zero": reverse("permits:detail", args=[zero.pk]),
        "verify": reverse("permits:verify", args=[job.verify_token]),
    }


def prepare(description: str) -> Path:
    """Parse --out, make the folder, and set up Django on a throw-away database: the output folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    setup_django()
    return out


@contextmanager
def live_server() -> Iterator[str]:
    """The throw-away site on loopback, for as long as the screenshots take: its base URL."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.terminate()


@contextmanager
def chromium() -> Iterator[Any]:
    """The system Chromium (CHROMIUM, default /usr/bin/chromium) through Playwright; never a download."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(page, base: str, username: str) -> None:
    from anlian.orgs.demo import DEMO_PASSWORD

    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form.form button[type=submit]")
    page.wait_for_load_state("networkidle")


def shoot(page, base: str, path: str | None, out: Path, name: str, full: bool = True, scroll_to: str = "") -> None:
    if path is not None:
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    if full:  # let lazily loaded photos arrive before the whole page is taken
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        page.evaluate("window.scrollTo(0, 0)")
    if scroll_to:
        page.locator(scroll_to).first.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, 260)")
    page.screenshot(path=str(out / f"{name}.png"), full_page=full)
    width = page.evaluate("document.documentElement.scrollWidth")
    print("saved", out / f"{name}.png", "scrollWidth", width)


def main() -> None:
    out = prepare(__doc__.splitlines()[0])
    urls = build_data()

    with live_server() as base, chromium() as browser:
        phone = dict(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
        for user, shots in (("worker", [("step", "permit-phone-step"), ("measures_start", "permit-phone-start-hot-work")]),
                            ("workshop", [("tasks", "permit-phone-tasks"), ("approve", "permit-phone-approval")])):
            context = browser.new_context(**phone)
            page = context.new_page()
            login(page, base, user)
            for key, name in shots:
                # Phone shots are one screen, as a worker sees it (the tab bar and submit stay fixed).
                shoot(page, base, urls[key], out, name, full=False)
                if key == "approve":
                    shoot(page, base, None, out, "permit-phone-approval-decide", full=False,
                          scroll_to="#field-reason")
            context.close()
        context = browser.new_context(**phone)
        shoot(context.new_page(), base, urls["verify"], out, "permit-phone-qr-check", full=False)
        context.close()
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = context.new_page()
        login(page, base, "safety")
        shoot(page, base, urls["ledger"], out, "permit-desktop-ledger", full=False)
        shoot(page, base, urls["timeline_hot"], out, "permit-desktop-timeline")
        shoot(page, base, urls["timeline_zero"], out, "permit-desktop-timeline-zero")
        context.close()


if __name__ == "__main__":
    main()
