"""Screenshots of the QR badge: the badge page GO and NO-GO on a phone, the printable card on desktop.

Self-contained like scripts/screenshots_permits.py (whose set-up and helpers it reuses): a
throw-away database with the demo organisation, a qualified welder and a contractor's worker
whose certificate expired 72 days ago, then headless Chromium on loopback.

    python scripts/screenshots_badges.py [--out docs/screenshots]
"""

from __future__ import annotations

import io
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots_permits import DESKTOP, PHONE, chromium, live_server, login, prepare, shoot  # noqa: E402

WELDING = "焊接与热切割作业"


def portrait(shirt: str, skin: str = "#e0b48f"):
    """A plain ID-photo-like JPEG (a drawn head and shoulders on a light background)."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (360, 450), "#dbe7f3")
    draw = ImageDraw.Draw(image)
    draw.ellipse((70, 300, 290, 560), fill=shirt)       # shoulders
    draw.rectangle((155, 250, 205, 320), fill=skin)     # neck
    draw.ellipse((110, 90, 250, 270), fill=skin)        # face
    draw.pieslice((104, 70, 256, 210), 180, 360, fill="#2b2b2b")  # hair
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return SimpleUploadedFile("photo.jpg", out.getvalue(), "image/jpeg")


def build_data() -> dict[str, str]:
    """The demo organisation, a badge that says GO and one that says NO-GO; the URLs to shoot."""
    from django.urls import reverse

    from anlian.core import clock
    from anlian.orgs import demo
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import Area, Contractor, OrgUnit, Person
    from anlian.workforce import badges
    from anlian.workforce.demo import qualify
    from anlian.workforce.models import Certificate, ContractorArea, Violation, ViolationSeverity

    demo.load()
    today = clock.today()
    hall = Area.objects.get(name="机修车间厂房")
    workshop = OrgUnit.objects.get(name="机修厂")

    welder = Person.objects.get(name="蒋焊")
    orgs.save_person(SYSTEM, welder, org_unit=welder.org_unit, name=welder.name, employee_no=welder.employee_no,
                     phone=welder.phone, is_active=True, job_title="电焊工")
    orgs.set_photo(SYSTEM, welder, portrait("#1f4e79"))
    qualify(welder, WELDING)
    go = badges.issue_badge(SYSTEM, welder)

    contractor, _ = Contractor.objects.get_or_create(
        company=workshop.company, name="宏达钢结构安装有限公司",
        defaults={"org_unit": workshop, "contact_name": "马经理", "contact_phone": "13512345678",
                  "contract_start": today - timedelta(days=200), "contract_end": today + timedelta(days=160)})
    ContractorArea.objects.get_or_create(contractor=contractor, area=hall, defaults={
        "valid_from": today - timedelta(days=120), "valid_until": today - timedelta(days=3)})
    hand = orgs.save_person(SYSTEM, None, org_unit=workshop, name="马力", employee_no="C-0312", phone="13600000312",
                            contractor=contractor, job_title="焊工")
    orgs.set_photo(SYSTEM, hand, portrait("#8a5a14", "#d9a57c"))
    for cert in qualify(hand, WELDING):
        Certificate.objects.filter(pk=cert.pk).update(issued_on=date(2020, 3, 9),
                                                      expires_on=today - timedelta(days=72))
    Violation.objects.create(person=hand, contractor=contractor, area=hall, what="动火作业未配备灭火器",
                             severity=ViolationSeverity.SERIOUS, occurred_at=clock.now() - timedelta(days=2))
    nogo = badges.issue_badge(SYSTEM, hand)
    return {
        "go": reverse("workforce:badge_page", args=[badges.token_for(go)]) + f"?area=&work_type={WELDING}",
        "nogo": reverse("workforce:badge_page", args=[badges.token_for(nogo)]) + f"?area={hall.pk}&work_type={WELDING}",
        "card": reverse("workforce:person_badge", args=[welder.pk]),
    }


def main() -> None:
    out = prepare(__doc__.splitlines()[0])
    urls = build_data()
    with live_server() as base, chromium() as browser:
        # a guardian of the workshop scans with the phone's camera app
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                      locale="zh-CN")
        page = context.new_page()
        login(page, base, "guardian")
        shoot(page, base, urls["go"], out, "badge-go-phone")
        shoot(page, base, urls["nogo"], out, "badge-nogo-phone")
        context.close()
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = context.new_page()
        login(page, base, "port-admin")
        shoot(page, base, urls["card"], out, "badge-card-desktop", full=False)
        context.close()


if __name__ == "__main__":
    main()
