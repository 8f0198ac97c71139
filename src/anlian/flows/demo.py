"""Demo jobs for the demo port company: a hot-work permit waiting for its safety measures, a
zero process half done (in the demo worker's "my tasks") and one finished and closed.

Runs after the organisation demo (`anlian demo`); it adds jobs only when the company has none, so
running it again changes nothing. Photos are generated pictures, stored like real uploads.
"""

from __future__ import annotations

import io
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image, ImageDraw

from anlian.core import clock
from anlian.evidence.services import store_photo
from anlian.flows import core, services
from anlian.flows.models import FlowTemplate, Instance
from anlian.workforce.demo import id_number_for, qualify
from anlian.orgs.models import Area, Equipment, OrgUnit, Person

COMPANY = "临海港务股份有限公司"
WELDING = "焊接与热切割作业"


def _picture(seed: int) -> SimpleUploadedFile:
    image = Image.new("RGB", (640, 480), (96 + seed * 23 % 80, 110 + seed * 41 % 70, 120 + seed * 17 % 60))
    draw = ImageDraw.Draw(image)
    draw.rectangle((80 + seed * 7 % 200, 120, 360 + seed * 5 % 200, 400), fill=(230, 140 + seed * 13 % 90, 40))
    draw.ellipse((420, 60, 560, 200), fill=(250, 250, 240))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return SimpleUploadedFile(f"demo-{seed}.jpg", buf.getvalue(), content_type="image/jpeg")


def _version(key: str):
    return FlowTemplate.objects.get(key=key, owner=None).published()


@transaction.atomic
def load() -> int:
    """Add the demo jobs; returns how many were added (0 when they exist already)."""
    company = OrgUnit.objects.filter(name=COMPANY, kind="company").first()
    if company is None or Instance.objects.filter(company=company).exists():
        return 0
    people = {p.name: p for p in Person.objects.filter(company=company)}
    areas = {a.name: a for a in Area.objects.filter(org_unit__company=company)}
    seed = iter(range(1, 1000))

    def photo(person: Person) -> str:
        return store_photo(person.user, company, _picture(next(seed))).sha256

    def act(person: Person, instance: Instance, kind: str, step: str, **kw) -> None:
        services.act(person.user, instance, core.Action(kind, step=step, **kw))

    now = clock.now()
    worker, partner = people["周涛"], people["钱伟"]  # the demo login "worker" and his team leader

    # A zero process finished earlier today.
    with clock.frozen(now - timedelta(hours=3)):
        done = services.start(worker.user, _version("zero-process"), areas["4#泊位"])
        for step, photos in (("enter", ("of_partner", "of_self")), ("lock", ("lock",)),
                             ("exit", ("of_partner", "of_self"))):
            values = {"partner": str(partner.pk), "place": "4#岸桥小车架"} if step == "enter" else {}
            act(worker, done, "complete", step, values=values,
                photos={slot: [photo(worker)] for slot in photos})
        act(worker, done, "close", None)

    # A zero process under way: the demo worker still has to photograph the exit.
    with clock.frozen(now - timedelta(minutes=40)):
        open_job = services.start(worker.user, _version("zero-process"), areas["3#泊位"])
        act(worker, open_job, "complete", "enter", values={"partner": str(partner.pk), "place": "3#岸桥大梁检修平台"},
            photos={"of_partner": [photo(worker)], "of_self": [photo(worker)]})
        act(worker, open_job, "complete", "lock", photos={"lock": [photo(worker)]})

    # Hot work in the repair shop: applied for, waiting for the work leader's safety measures.
    welder, helper, guardian = people["蒋焊"], people["沈光"], people["卫东"]
    for person in (welder, helper):
        qualify(person, WELDING)
    with clock.frozen(now - timedelta(minutes=25)):
        start = clock.now()
        values = {
            "unit": "机修厂", "work_unit": "机加工车间焊工班", "work_leader": str(welder.pk),
            "location": "机修车间厂房东侧，3#岸桥备用小车架", "content": "小车架横梁裂纹补焊",
            "equipment": str(Equipment.objects.get(org_unit__company=company, code="WD-02").pk),
            "method": "电焊", "operators": [str(helper.pk)], "operator_certs": id_number_for(helper),
            "guardian": str(guardian.pk), "planned_start": (start + timedelta(hours=1)).isoformat(),
            "planned_end": (start + timedelta(hours=6)).isoformat(), "timing": "非节假日、公休日、夜间作业",
            "related": ["不涉及"], "hazards": ["火灾", "灼烫", "触电"],
        }
        services.start(welder.user, _version("hot-work-2"), areas["机修车间厂房"],
                       first=core.Action("complete", step="apply", values=values, photos={"crew": [photo(welder)]}))
    return 3
