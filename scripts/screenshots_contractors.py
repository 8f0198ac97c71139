"""Screenshots of the contractor pages on desktop (list, detail, monthly red/black list).

Self-contained like scripts/screenshots_permits.py (whose set-up and helpers it reuses): a
throw-away database with the demo organisation and a few contractors in every interesting state
(suspended, blacklisted, documents expired and expiring, violations, training), then headless
Chromium on loopback at 1366 px wide.

    python scripts/screenshots_contractors.py [--out docs/screenshots]
"""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshots_permits as base  # noqa: E402  (a sibling script: set-up, login, shoot)

DESKTOP = {"width": 1366, "height": 900}

# (name, credit code's first 17 characters, contact, phone, contract months from now: start, end)
CONTRACTORS = [
    ("宁波海工建设有限公司", "91330200MA2H4B7CX", "王建军", "13857400001", -8, 16),
    ("临港蓝海保洁服务有限公司", "91330206MA2CJ1Y0P", "李芳", "13857400002", -14, 10),
    ("恒安机电安装工程有限公司", "91330212MA2GXR3K4", "陈恒", "13857400003", -3, 1),
    ("东海起重设备维保有限公司", "91330201MA2AQ5UT8", "周起", "13857400004", -20, -1),
    ("甬兴防腐涂装有限公司", "91330203MA2J0D8N6", "吴甬", "13857400005", -2, 22),
]


def id18(first17: str) -> str:
    from anlian.core.codes import id18_check_char

    return first17 + id18_check_char(first17)


def build() -> dict[str, str]:
    from django.urls import reverse
    from django.utils import timezone

    from anlian.core.codes import credit_check_char
    from anlian.orgs import demo
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import Area, OrgUnit
    from anlian.training.models import Assignment
    from anlian.workforce import contractors
    from anlian.workforce.models import Violation

    demo.load()
    company = OrgUnit.objects.get(name="临海港务股份有限公司")
    safety_dept = OrgUnit.objects.get(name="安全环保部")
    teams = [OrgUnit.objects.get(name=n) for n in ("桥吊一班", "焊工班", "电工班")]
    areas = list(Area.objects.filter(org_unit__company=company).order_by("name"))
    today = timezone.localdate()
    first = today.replace(day=1)
    last_month_day = first - timedelta(days=1)  # the list shows the month that just ended
    made = []
    for index, (name, code, contact, phone, start, end) in enumerate(CONTRACTORS):
        made.append(contractors.save_contractor(
            SYSTEM, None, org_unit=safety_dept if index % 2 else company, name=name,
            credit_code=code + credit_check_char(code), contact_name=contact, contact_phone=phone,
            contract_start=today + timedelta(days=30 * start), contract_end=today + timedelta(days=30 * end)))
    haigong, lanhai, hengan, donghai, yongxing = made
    workers = {}
    for contractor, count, prefix in ((haigong, 12, "HG"), (lanhai, 6, "LH"), (hengan, 12, "HA"), (donghai, 4, "DH"),
                                      (yongxing, 5, "YX")):
        workers[contractor.pk] = [orgs.save_person(
            SYSTEM, None, org_unit=teams[i % 3], name=f"{contractor.name[2:4]}{i + 1:02d}", employee_no=f"{prefix}{i + 1:03d}",
            contractor=contractor, job_title=("架子工", "电焊工", "起重工", "普工")[i % 4],
            hired_on=today - timedelta(days=90), id_number=id18(f"3302031990{i % 12 + 1:02d}15{len(prefix) + i:03d}"))
            for i in range(count)]

    docs = [(haigong, "license", "", None), (haigong, "safety_permit", "(浙)JZ安许证字[2023]001234", 40),
            (haigong, "agreement", "AQXY-2025-017", 12), (lanhai, "license", "", None),
            (lanhai, "insurance", "PICC-2025-8812", 200), (hengan, "safety_permit", "(浙)JZ安许证字[2022]004411", -9),
            (hengan, "qualification", "D233012345", 25), (donghai, "qualification", "TS4133012-2026", -72),
            (yongxing, "insurance", "CPIC-2025-3310", 300)]
    for contractor, kind, number, days in docs:
        contractors.save_document(SYSTEM, contractor, None, kind=kind, number=number,
                                  expires_on=None if days is None else today + timedelta(days=days),
                                  scan=base.photo(f"{kind} {number}", "#f4f1e8") if number else None)
    for contractor in made:
        for area in areas[:2]:
            contractors.save_area(SYSTEM, contractor, None, area=area, valid_from=today - timedelta(days=60),
                                  valid_until=contractor.contract_end or today)

    zone = timezone.get_current_timezone()

    def when(day: date, hour: int = 10) -> datetime:
        return datetime.combine(day, time(hour), zone)

    violations = [  # (contractor, worker index, day of last month, serious, rectified days after due or None)
        (haigong, 0, 3, False, 0), (haigong, 4, 11, True, None), (haigong, 7, 19, False, 2),
        (hengan, 1, 8, False, 0), (donghai, 2, 14, False, None), (donghai, 3, 21, False, None),
    ]
    for contractor, who, day, serious, late in violations:
        occurred = last_month_day.replace(day=day)
        due = occurred + timedelta(days=5)
        rectified = None if late is None else when(due + timedelta(days=late), 9)
        Violation.objects.create(person=workers[contractor.pk][who], contractor=contractor, what="高处作业未系安全带",
                                 occurred_at=when(occurred), severity="serious" if serious else "general",
                                 rectify_due=due, rectified_at=rectified, area=areas[0],
                                 status="open" if rectified is None else "rectified")
    # Training: everyone's education due last month; most did it, 恒安 and 东海 fell behind.
    behind = {hengan.pk: 1, donghai.pk: 2}
    for contractor in made:
        for index, person in enumerate(workers[contractor.pk]):
            done = index >= behind.get(contractor.pk, 0)
            Assignment.objects.filter(person=person).update(
                due_on=last_month_day - timedelta(days=3), completed_on=last_month_day - timedelta(days=5) if done else None)
    contractors.set_status(SYSTEM, hengan, "suspended", "安全协议过期未续签")
    contractors.set_status(SYSTEM, donghai, "blacklisted", "起重作业无证上岗，发生未遂事故")
    return {"list": reverse("workforce:contractors"), "detail": reverse("workforce:contractor", args=[haigong.pk]),
            "redlist": f"{reverse('workforce:redlist')}?month={last_month_day:%Y-%m}",
            "person": workers[haigong.pk][4].get_absolute_url()}


def main() -> None:
    out = base.prepare(__doc__.splitlines()[0])
    urls = build()
    with base.live_server() as site, base.chromium() as browser:
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = context.new_page()
        base.login(page, site, "safety")
        base.shoot(page, site, urls["list"], out, "contractor-desktop-list", full=False)
        base.shoot(page, site, urls["detail"], out, "contractor-desktop-detail")
        base.shoot(page, site, urls["redlist"], out, "contractor-desktop-redlist", full=False)
        base.shoot(page, site, urls["person"], out, "contractor-desktop-person")
        context.close()


if __name__ == "__main__":
    main()
