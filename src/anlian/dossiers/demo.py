"""A sample hot-work permit with real JPEG photos, readings, a drawn signature and an approval,
for the dossier's tests, its benchmark (bench/dossier_pdf.py) and screenshots."""

from __future__ import annotations

import io
import random
import secrets
from datetime import timedelta
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw, ImageFilter

from anlian.core import clock
from anlian.evidence.services import store_photo
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.models import FlowTemplate, Instance, TemplateStatus
from anlian.orgs import services as orgs
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Area, OrgUnit, Person, Role

TEMPLATE = """
key: dossier-hot-work
name: 动火作业（档案示例）
kind: permit
validity: 8h
steps:
  - key: apply
    name: 作业申请
    actor: applicant
    fields:
      - {key: content, label: 作业内容, type: text, required: true}
      - {key: method, label: 动火方式, type: choice, required: true, options: [电焊, 气割, 其他]}
      - key: measures
        label: 安全措施
        type: checklist
        required: true
        items: [{key: m1, label: 现场已配备灭火器}, {key: m2, label: 已设立警戒区}, {key: m3, label: 已清除易燃物}]
      - {key: sign, label: 申请人签名, type: signature, required: true}
    photos:
      - {key: crew, label: 人员与防护, min: 1, max: 20, checks: {quality: {}}}
  - key: gas
    name: 气体分析
    actor: {role: analyst}
    fields:
      - {key: lel, label: 可燃气体, type: number, unit: "%LEL", min: 0, max: 100, required: true}
      - {key: o2, label: 氧含量, type: number, unit: "%", min: 0, max: 30, required: true}
      - {key: h2s, label: 硫化氢, type: number, unit: ppm, min: 0, max: 100}
    photos:
      - {key: meter, label: 检测仪读数, min: 1, max: 20}
  - key: approve
    name: 动火审批
    kind: approval
    actor: {role: approver_plant, scope: plant}
    approval: {mode: single, return_to: [apply, gas]}
  - key: finish
    name: 完工验收
    actor: applicant
    fields:
      - {key: result, label: 验收结论, type: text, required: true}
    photos:
      - {key: after, label: 完工现场, min: 1, max: 20}
"""


def jpeg_bytes(index: int, label: str = "", size: tuple[int, int] = (1600, 1200), dark: bool = False) -> bytes:
    """A distinct, photo-like JPEG (gradient, shapes, noise), so hashes and fingerprints differ."""
    rng = random.Random(index)
    w, h = size
    base = [rng.randint(40, 200) for _ in range(3)]
    image = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(image)
    for y in range(0, h, 8):
        shade = tuple(min(255, c + y * 60 // h) for c in base)
        draw.rectangle((0, y, w, y + 8), fill=shade)
    for _ in range(14):
        x0, y0 = rng.randint(0, w - 100), rng.randint(0, h - 100)
        draw.rectangle((x0, y0, x0 + rng.randint(60, 500), y0 + rng.randint(60, 400)),
                       fill=tuple(rng.randint(0, 255) for _ in range(3)), outline=(0, 0, 0), width=6)
    for _ in range(8):
        x0, y0 = rng.randint(0, w - 200), rng.randint(0, h - 200)
        draw.ellipse((x0, y0, x0 + 180, y0 + 180), outline=(255, 255, 255), width=10)
    draw.text((40, 40), f"PHOTO {index:03d} {label}", fill=(255, 255, 255))
    image = image.filter(ImageFilter.DETAIL)
    if dark:
        image = image.point(lambda v: v // 12)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def signature_png() -> bytes:
    image = Image.new("RGBA", (480, 160), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(30, 110), (90, 40), (140, 120), (200, 50), (260, 115), (330, 60), (440, 90)],
              fill=(20, 30, 120, 255), width=6)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def template_version(owner: OrgUnit):
    existing = FlowTemplate.objects.filter(owner=owner, key="dossier-hot-work").first()
    if existing is not None:
        published = existing.versions.filter(status=TemplateStatus.PUBLISHED).order_by("-number").first()
        if published is not None:
            return published
    return flows.save_version(SYSTEM, existing, TEMPLATE, owner=owner, publish=True)


def _person(unit: OrgUnit, name: str, role: str, where: OrgUnit) -> Person:
    person = orgs.save_person(SYSTEM, None, org_unit=unit, name=name, employee_no=f"D{secrets.token_hex(4)}")
    orgs.grant_role(SYSTEM, person, Role.objects.get(code=role, owner=None), where)
    return person


def make_job(applicant: Person, area: Area, *, photos: int = 6, analyst: Person | None = None,
             approver: Person | None = None, dark_first: bool = True,
             photo_size: tuple[int, int] = (1600, 1200), photo_bytes: Any = None) -> Instance:
    """A closed hot-work permit in `area` whose steps carry `photos` photos in all (at least 3);
    `photo_bytes(index, slot)` may supply each JPEG instead of the drawn ones."""
    company = area.org_unit if area.org_unit.kind == "company" else area.org_unit.company
    plant = area.org_unit
    analyst = analyst or _person(plant, "气体分析员王工", "analyst", plant)
    approver = approver or _person(plant, "厂长李明", "approver_plant", plant)
    version = template_version(company)
    photos = max(3, photos)
    split = [photos - 2 * (photos // 3), photos // 3, photos // 3]
    counter = iter(range(1, photos + 1))

    def stored(n: int, who: Person, label: str) -> list[str]:
        refs = []
        for _ in range(n):
            i = next(counter)
            data = (photo_bytes(i, label) if photo_bytes is not None
                    else jpeg_bytes(i, label, size=photo_size, dark=dark_first and i == 1))
            refs.append(store_photo(who.user or SYSTEM, company, ContentFile(data, name=f"p{i}.jpg")).sha256)
        return refs

    now = clock.now()
    sig = store_photo(applicant.user or SYSTEM, company, ContentFile(signature_png(), name="sig.png")).sha256
    apply = core.Action("complete", step="apply", values={
        "content": "2号罐区管线动火焊接", "method": "电焊",
        "measures": {"m1": "done", "m2": "done", "m3": "not_applicable"}, "sign": f"sig:{sig}:{applicant.name}"},
        photos={"crew": stored(split[0], applicant, "crew")}, device_time=now - timedelta(seconds=40),
        location=(30.0001, 120.0002), accuracy=8.0)
    instance = flows.start(applicant.user, version, area, first=apply, now=now, location=(30.0001, 120.0002))
    flows.act(analyst.user or _login(analyst), instance, core.Action(
        "complete", step="gas", values={"lel": 0.2, "o2": 20.9, "h2s": 0},
        photos={"meter": stored(split[1], analyst, "meter")}, location=(30.0002, 120.0001), accuracy=6.0,
        device_time=now + timedelta(minutes=9)), now=now + timedelta(minutes=10))
    flows.act(approver.user or _login(approver), instance, core.Action(
        "approve", step="approve", reason="同意动火，监护人全程在场"), now=now + timedelta(minutes=20))
    flows.act(applicant.user, instance, core.Action(
        "complete", step="finish", values={"result": "作业完成，现场已清理，无遗留火种"},
        photos={"after": stored(split[2], applicant, "after")}, location=(30.0001, 120.0003),
        device_time=now + timedelta(hours=2)), now=now + timedelta(hours=2, minutes=1))
    flows.act(applicant.user, instance, core.Action("close"), now=now + timedelta(hours=2, minutes=5))
    instance.refresh_from_db()
    return instance


def _login(person: Person):
    orgs.set_login(SYSTEM, person, username=f"u{secrets.token_hex(5)}", password=secrets.token_urlsafe(16))
    person.refresh_from_db()
    return person.user
