"""Demo hazards for the demo port company: the machine-shop example of issue 6 closed yesterday
(reported 09:23, closed 10:17: a 54-minute cycle), and one reported this morning waiting to be
received. Runs after the other demo loaders; adds nothing when the company has hazards already."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from PIL import Image

from anlian.core import clock
from anlian.evidence.services import store_photo
from anlian.flows import core
from anlian.flows import services as flows
from anlian.hazards import services
from anlian.hazards.models import DispatchRule, Hazard
from anlian.orgs.models import Area, Equipment, OrgUnit, Person

COMPANY = "临海港务股份有限公司"


def _picture(seed: int) -> SimpleUploadedFile:
    """A textured picture, different for every seed (the reuse check compares what photos show)."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray((rng.random((120, 160, 3)) * 255).astype("uint8")).resize((640, 480), Image.NEAREST)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return SimpleUploadedFile(f"hazard-{seed}.jpg", buf.getvalue(), content_type="image/jpeg")


@transaction.atomic
def load() -> int:
    company = OrgUnit.objects.filter(name=COMPANY, kind="company").first()
    if company is None or Hazard.objects.filter(company=company).exists():
        return 0
    people = {p.name: p for p in Person.objects.filter(company=company)}
    reporter, fitter, officer = people["周涛"], people["卫东"], people["张安"]
    shop = Area.objects.get(org_unit__company=company, name="机修车间厂房")
    welder = Equipment.objects.get(org_unit__company=company, code="WD-02")
    DispatchRule.objects.create(owner=company, priority=10, category="mechanical", responsible_role="guardian",
                                verifier_role="safety_officer")
    DispatchRule.objects.create(owner=company, priority=100, responsible_role="guardian", verifier_role="safety_officer",
                                double_blind=True)
    seeds = iter(range(500, 600))
    here = (shop.center_lat, shop.center_lng)

    def photo(person: Person) -> str:
        return store_photo(person.user, company, _picture(next(seeds))).sha256

    yesterday = timezone.localtime(clock.now()).date() - timedelta(days=1)

    def at(hour: int, minute: int, day=yesterday) -> datetime:
        return timezone.make_aware(datetime.combine(day, time(hour, minute)))

    def step(person: Person, hazard: Hazard, when: datetime, kind: str, key: str, **kw) -> None:
        with clock.frozen(when):
            flows.act(person.user, hazard.instance, core.Action(kind, step=key, location=here, **kw))

    with clock.frozen(at(9, 23)):
        done = services.report(reporter.user, area=shop, equipment=welder, category="mechanical", level="general",
                               description="2#逆变焊机旁砂轮机防护罩缺失", photos=[photo(reporter)], location=here)
    step(fitter, done, at(9, 25), "complete", "receive")
    step(fitter, done, at(9, 38), "complete", "on_site", photos={"arrival": [photo(fitter)]})
    step(fitter, done, at(10, 12), "complete", "rectify", values={"measures": "加装防护罩并紧固", "rectifier_sign": "卫东"},
         photos={"before": [photo(fitter)], "after": [photo(fitter)]})
    step(officer, done, at(10, 15), "approve", "verify", values={"verify_sign": "张安"})
    step(officer, done, at(10, 17), "complete", "close")

    today = timezone.localtime(clock.now()).date()
    morning = min(clock.now() - timedelta(minutes=30), at(8, 40, today))
    with clock.frozen(morning):
        services.report(reporter.user, area=shop, category="fire", level="general",
                        description="机修车间东门消防通道堆放废料", photos=[photo(reporter)], location=here)
    return 2
