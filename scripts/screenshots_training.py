"""Screenshots of the training pages: a person's record, the attendance sheet (desktop), 我的培训 (phone).

Self-contained like scripts/screenshots_permits.py (whose set-up and helpers it reuses): a
throw-away database with the demo organisation, a new hire with some training done, some failed
and some overdue, then headless Chromium on loopback.

    python scripts/screenshots_training.py [--out docs/screenshots]
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshots_permits as base  # noqa: E402  (a sibling script: set-up, login, shoot)


def build() -> dict[str, str]:
    from django.urls import reverse
    from django.utils import timezone

    from anlian.orgs import demo
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgUnit, Person
    from anlian.training import services as training

    demo.load()
    company = OrgUnit.objects.get(name="临海港务股份有限公司")
    team = OrgUnit.objects.get(name="桥吊一班")
    today = training.today()
    hire = orgs.save_person(SYSTEM, None, org_unit=team, name="林小川", employee_no="A1119", phone="13900001119",
                            hired_on=today - timedelta(days=20), job_title="桥吊司机")
    orgs.set_login(SYSTEM, hire, username="newhire", password=demo.DEMO_PASSWORD)

    def course(code, name, level, hours, pass_score=60, topic=""):
        return training.save_course(SYSTEM, None, org_unit=company, code=code, name=name, level=level,
                                    hours=hours, pass_score=pass_score, topic=topic)

    def session(c, days_ago, place="安全培训中心201"):
        day = today - timedelta(days=days_ago)
        start = timezone.make_aware(datetime(day.year, day.month, day.day, 8, 30))
        return training.save_session(SYSTEM, None, course=c, starts_at=start, ends_at=start + timedelta(hours=8),
                                     place=place, trainer="张安")

    people = {p.name: p for p in Person.objects.filter(org_unit__path__startswith=team.path)}
    crew = [people["周涛"], people["钱伟"]]
    plan = [
        (course("SJ-01", "公司级安全教育", "company", "8"), 18, [(hire, 92)] + [(p, 88) for p in crew]),
        (course("SJ-02", "车间级安全教育（桥吊车间）", "workshop", "8"), 15, [(hire, 85)]),
        (course("SJ-03", "班组级安全教育（岗位操作规程）", "team", "4"), 10, [(hire, 78)]),
        (course("ZX-07", "有限空间作业专项培训", "special", "4", 60, "confined_space"), 5, [(hire, 55), (crew[0], 90)]),
        (course("ZX-08", "消防器材使用", "special", "2", None), 3, [(hire, None)]),
    ]
    sheet = None
    for c, days_ago, lines in plan:
        sheet = session(c, days_ago)
        training.record_attendance(SYSTEM, sheet, [training.Row(p, True, score) for p, score in lines])
    course("NJ-2026", "年度安全再培训", "refresher", "8")
    return {
        "record": reverse("training:person", args=[hire.pk]),
        "person": hire.get_absolute_url(),
        "sheet": reverse("training:session", args=[sheet.pk]) + f"?unit={team.pk}",
        "courses": reverse("training:courses"),
        "mine": reverse("training:mine"),
    }


def main() -> None:
    out = base.prepare(__doc__.splitlines()[0])
    urls = build()
    with base.live_server() as site, base.chromium() as browser:
        context = browser.new_context(viewport=base.DESKTOP, locale="zh-CN")
        page = context.new_page()
        base.login(page, site, "safety")
        base.shoot(page, site, urls["record"], out, "training-desktop-person-record")
        base.shoot(page, site, urls["sheet"], out, "training-desktop-attendance-sheet")
        # A sheet with mistakes: every bad row says why, nothing is recorded.
        page.click("#all-present")
        selects, scores = page.locator("#sheet select"), page.locator("#sheet input.score")
        scores.nth(1).fill("105")
        selects.nth(2).select_option("0")
        scores.nth(2).fill("80")
        with page.expect_navigation():
            page.click("#sheet button[type=submit].primary")
        base.shoot(page, site, None, out, "training-desktop-attendance-errors", full=False)
        base.shoot(page, site, urls["courses"], out, "training-desktop-courses", full=False)
        base.shoot(page, site, urls["person"], out, "training-desktop-person-page", full=False,
                   scroll_to="#training")
        context.close()
        context = browser.new_context(viewport=base.PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                      locale="zh-CN")
        page = context.new_page()
        base.login(page, site, "newhire")
        # One screen, as a worker sees it (the tab bar stays fixed at the bottom).
        base.shoot(page, site, urls["mine"], out, "training-phone-mine", full=False)
        context.close()


if __name__ == "__main__":
    main()
