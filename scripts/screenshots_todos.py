"""Screenshots of 我的待办 on a phone and on the desktop, for a guardian of the demo port company
with a realistic mix: a hazard dispatched to him this morning (its respond deadline past), a
certificate expired and one expiring, a violation to rectify, training owed and unread notices.

Self-contained like scripts/screenshots_permits.py (whose set-up and helpers it reuses): a
throw-away database with the demo organisation, then headless Chromium on loopback.

    python scripts/screenshots_todos.py [--out docs/screenshots]
"""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots_permits import DESKTOP, PHONE, chromium, live_server, login, prepare, shoot  # noqa: E402


def mount() -> None:
    """Serve anlian.notify.urls_todos in front of the site's URLs when the site does not include it yet."""
    from django.conf import settings
    from django.urls import NoReverseMatch, clear_url_caches, include, path, reverse

    try:
        reverse("todos:phone")
        return
    except NoReverseMatch:
        pass
    module = types.ModuleType("todo_screenshot_urls")
    module.urlpatterns = [path("", include("anlian.notify.urls_todos")), path("", include(settings.ROOT_URLCONF))]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()


def build_data() -> dict[str, str]:
    from django.urls import reverse

    from anlian.core import clock
    from anlian.core.models import Notice
    from anlian.flows import demo as flows_demo
    from anlian.hazards import demo as hazards_demo
    from anlian.orgs import demo
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import Area, Person
    from anlian.training.models import Assignment
    from anlian.workforce import demo as workforce_demo
    from anlian.workforce.models import Certificate, CertificateKind, Violation

    demo.load()
    workforce_demo.load()
    flows_demo.load()
    hazards_demo.load()
    guardian = Person.objects.get(name="卫东")
    if guardian.user_id is None:
        orgs.set_login(SYSTEM, guardian, username="guardian", password=demo.DEMO_PASSWORD)
    now = clock.now()
    today = now.date()
    for code, number, expires in (("electrician", "T330206198805120031", today - timedelta(days=4)),
                                  ("work-at-height", "T330206198805120032", today + timedelta(days=12))):
        kind = CertificateKind.objects.filter(owner=None, code__icontains=code).first() or \
            CertificateKind.objects.filter(owner=None).exclude(certificates__person=guardian).first()
        Certificate.objects.get_or_create(person=guardian, kind=kind, defaults={
            "company": guardian.company, "number": number, "issued_on": expires - timedelta(days=6 * 365),
            "expires_on": expires, "issuer": "宁波市应急管理局"})
    Violation.objects.get_or_create(person=guardian, what="高处作业未系挂安全带（2#岸桥检修平台）", defaults={
        "occurred_at": now - timedelta(days=3), "rectify_due": today + timedelta(days=1),
        "area": Area.objects.get(name="3#泊位")})
    Assignment.objects.get_or_create(person=guardian, level="refresher", year=today.year, defaults={
        "hours_required": 20, "hours_done": 12, "due_on": today + timedelta(days=20)})
    for n, title in enumerate(("动火作业票 DH-0412 已批准", "3#泊位今日起封闭检修", "隐患 YH-0077 已验收")):
        Notice.objects.get_or_create(person=guardian, key=f"demo-todo-{n}",
                                     defaults={"title": title, "created_at": now - timedelta(hours=n + 1)})
    return {"phone": reverse("todos:phone"), "desktop": reverse("todos:desktop")}


def main() -> None:
    out = prepare(__doc__.splitlines()[0])
    mount()
    urls = build_data()
    with live_server() as base, chromium() as browser:
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                      locale="zh-CN")
        page = context.new_page()
        login(page, base, "guardian")
        shoot(page, base, urls["phone"], out, "todo-phone", full=False)
        context.close()
        context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = context.new_page()
        login(page, base, "guardian")
        shoot(page, base, urls["desktop"], out, "todo-desktop", full=False)
        context.close()


if __name__ == "__main__":
    main()
