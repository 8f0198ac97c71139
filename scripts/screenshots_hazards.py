"""Screenshots of the hazard pages: reporting on a phone (随手拍), a hazard on the desktop with its
dispatch, deadlines and timeline, and the dispatch rules table with a "test a hazard" answer.

Self-contained like scripts/screenshots_permits.py (whose set-up and helpers it reuses): a
throw-away database with the demo organisation and its demo hazards, then headless Chromium on
loopback.

    python scripts/screenshots_hazards.py [--out docs/screenshots]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots_permits import DESKTOP, PHONE, chromium, live_server, login, prepare, shoot  # noqa: E402


def build_data() -> dict[str, str]:
    """The demo organisation and hazards (the machine-shop hazard closed in 54 minutes); the URLs to shoot."""
    from django.urls import reverse

    from anlian.flows import demo as flows_demo
    from anlian.hazards import demo as hazards_demo
    from anlian.hazards.models import DispatchRule, Hazard
    from anlian.orgs import demo
    from anlian.orgs.models import Area, Equipment
    from anlian.workforce import demo as workforce_demo

    demo.load()
    workforce_demo.load()
    flows_demo.load()
    hazards_demo.load()
    closed = Hazard.objects.filter(stage="closed").order_by("pk").first()
    welder = Equipment.objects.get(code="WD-02")
    company = closed.company
    # A table worth looking at: electrical hazards to the electricians with the power supply co-signing,
    # and a disabled rule kept for later.
    electric_unit = closed.area.org_unit
    DispatchRule.objects.create(owner=company, priority=20, category="electrical", responsible_role="guardian",
                                responsible_unit=electric_unit, cosign_roles=["power_supply"],
                                verifier_role="safety_officer")
    DispatchRule.objects.create(owner=company, priority=30, level="major", responsible_role="approver_plant",
                                cosign_roles=["safety_officer", "approver_company"], verifier_role="safety_officer",
                                is_active=False)
    shop = Area.objects.get(name="机修车间厂房")
    return {
        "report": f"{reverse('hazards:report')}?equipment={welder.pk}",
        "detail": reverse("hazards:detail", args=[closed.pk]),
        "rules": f"{reverse('hazards:rules')}?t_category=electrical&t_level=general&t_area={shop.pk}",
        "lat": shop.center_lat, "lng": shop.center_lng,
    }


def main() -> None:
    out = prepare(__doc__.splitlines()[0])
    urls = build_data()
    with live_server() as base, chromium() as browser:
        phone = dict(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN",
                     permissions=["geolocation"],
                     geolocation={"latitude": urls["lat"], "longitude": urls["lng"], "accuracy": 12})
        context = browser.new_context(**phone)
        page = context.new_page()
        login(page, base, "worker")
        page.goto(base + urls["report"])
        page.wait_for_load_state("networkidle")
        page.fill("#in-description", "砂轮机托架间隙过大，约8毫米")
        page.check("input[name=category][value=mechanical]")
        page.check("input[name=level][value=general]")
        page.set_input_files("input[name=photo__scene]", files=[{
            "name": "scene.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}])
        page.wait_for_timeout(1500)  # the position line and the downscaled photo
        # Phone shots are one screen, as a worker sees it (the tab bar and submit stay fixed).
        shoot(page, base, None, out, "hazard-report-phone", full=False)
        shoot(page, base, None, out, "hazard-report-phone-place", full=False, scroll_to="#field-area")
        page.click("form.hz-report button[type=submit]")
        page.wait_for_load_state("networkidle")
        shoot(page, base, None, out, "hazard-reported-phone", full=False)
        context.close()

        context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = context.new_page()
        login(page, base, "safety")
        shoot(page, base, urls["detail"], out, "hazard-detail-desktop")
        shoot(page, base, urls["rules"], out, "hazard-rules-desktop")
        context.close()


def _jpeg() -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (800, 600), "#6b7b8c")
    ImageDraw.Draw(image).rectangle((200, 150, 600, 450), fill="#c9a227")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


if __name__ == "__main__":
    main()
