"""Screenshots of the approver's view with red reminders (failed photo checks, a pre-review concern).

Self-contained like scripts/screenshots_permits.py (whose set-up and helpers it reuses): a
throw-away database with the demo organisation, one inspection job whose photo is blurred and
reused, the worker's processing run, then headless Chromium on loopback.

    python scripts/screenshots_flags.py [--out docs/screenshots]
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshots_permits as base  # noqa: E402  (a sibling script: set-up, login, shoot)

TEMPLATE = """
key: lock-check
name: 停电挂牌确认
kind: loto
steps:
  - key: lock
    name: 上锁挂牌拍照
    actor: applicant
    photos:
      - {key: lock, label: 上锁挂牌照片, hint: 开关须可见挂锁和危险标签, min: 1, max: 3,
         checks: {quality: {}, freshness: {max_age: 30m}}}
  - key: verify
    name: 安全员确认
    kind: approval
    actor: {role: safety_officer}
    approval: {mode: single, return_to: [lock]}
    presence: photo
"""


def blurred_photo():
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.new("RGB", (1200, 900), "#6b7c8c")
    draw = ImageDraw.Draw(image)
    draw.rectangle((420, 200, 780, 760), fill="#d9d9d9", outline="#333333", width=8)
    draw.ellipse((560, 380, 640, 460), fill="#c62828")
    image = image.filter(ImageFilter.GaussianBlur(9))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return SimpleUploadedFile("lock.jpg", out.getvalue(), "image/jpeg")


def build() -> dict[str, str]:
    from django.urls import reverse

    from anlian.evidence.services import store_photo, watermark_event
    from anlian.flows import core
    from anlian.flows import services as flows
    from anlian.orgs import demo
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import Area, OrgUnit, Person
    from anlian.trust.review import Verdict
    from anlian.trust.services import after_event

    demo.load()
    company = OrgUnit.objects.get(name="临海港务股份有限公司")
    worker = Person.objects.get(name="周涛")
    version = flows.save_version(SYSTEM, None, TEMPLATE, owner=company, publish=True)
    job = flows.start(worker.user, version, Area.objects.get(name="3#泊位"))
    sha = store_photo(worker.user, company, blurred_photo()).sha256
    event = flows.act(worker.user, job, core.Action("complete", step="lock", photos={"lock": [sha]},
                                                    location=(29.9381, 121.8871)))

    class Vision:  # what a vision model answered, recorded as the worker would have
        name = "vision"

        def review(self, request):
            return Verdict("concern", "照片模糊，无法确认开关上有挂锁和危险标签", self.name)

    watermark_event(event.pk)
    after_event(event.pk, reviewers=[Vision()])
    return {"approve": reverse("permits:step", args=[job.pk, "verify"]), "timeline": job.get_absolute_url(),
            "display": reverse("evidence:display", args=[sha, event.pk])}


def main() -> None:
    out = base.prepare(__doc__.splitlines()[0])
    urls = build()

    with base.live_server() as address, base.chromium() as browser:
        phone = browser.new_context(viewport=base.PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                    locale="zh-CN")
        page = phone.new_page()
        base.login(page, address, "safety")
        base.shoot(page, address, urls["approve"], out, "flags-phone-approval", full=False, scroll_to=".ev-flags")
        phone.close()
        desktop = browser.new_context(viewport=base.DESKTOP, locale="zh-CN")
        page = desktop.new_page()
        base.login(page, address, "safety")
        base.shoot(page, address, urls["timeline"], out, "flags-desktop-timeline", full=False, scroll_to=".ev-flags")
        desktop.close()


if __name__ == "__main__":
    main()
