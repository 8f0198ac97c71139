"""The port hot-work crew of company A, with logins, roles, qualifications and the example template
imported and published through the API: shared by the API tests of issue 3."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from django.test import Client
from PIL import Image

import anlian.flows.core as core
from anlian.core import clock
from anlian.workforce.demo import qualify
from anlian.orgs import services as org_services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Equipment, Person
from tests.conftest import World, client_for, make_person

EXAMPLE = Path(core.__file__).parent / "examples" / "hot-work-2.yaml"
CST = timezone(timedelta(hours=8))
WELD = "焊接与热切割作业"


def at(hour: int, minute: int, day: int = 19) -> datetime:
    return datetime(2025, 5, day, hour, minute, tzinfo=CST)


def jpeg(seed: int) -> bytes:
    """A small real JPEG, different for every seed (photos are stored by content hash)."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)).save(buf, "JPEG")
    return buf.getvalue()


@dataclass
class Crew:
    world: World
    applicant: Person
    analyst: Person
    approver: Person
    guardian: Person
    owner: Person
    supervisor: Person
    operators: list[Person]
    stranger: Person
    instrument: Equipment
    version_id: int
    photo_seed: int = 0

    def client(self, person: Person) -> Client:
        return client_for(person)

    def photo(self, person: Person) -> str:
        """Upload a new photo as `person` and return its reference."""
        self.photo_seed += 1
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("p.jpg", jpeg(self.photo_seed), content_type="image/jpeg")
        response = self.client(person).post("/api/v1/files", {"file": upload})
        assert response.status_code == 201, response.content
        return response.json()["sha256"]

    def apply_values(self) -> dict:
        return {"unit": "码头二队", "content": "3号泊位护栏焊接", "method": "电焊",
                "operators": [str(p.pk) for p in self.operators], "guardian": str(self.guardian.pk),
                "risks": ["火灾", "灼烫"],
                "measures": {"cleared": "done", "extinguisher": "done", "isolated": "not_applicable"}}

    def start(self, when: datetime | None = None, **extra) -> dict:
        clock.set_now(when or at(8, 55))
        body = {"version_id": self.version_id, "area_id": self.world.a.area.pk, "values": self.apply_values(),
                "photos": {"crew": [self.photo(self.applicant)], "loto": [self.photo(self.applicant)]}, **extra}
        response = self.client(self.applicant).post("/api/v1/instances", body, content_type="application/json")
        assert response.status_code == 201, response.content
        return response.json()

    def act(self, person: Person, instance_id: int, when: datetime | None = None, **body):
        if when is not None:
            clock.set_now(when)
        return self.client(person).post(f"/api/v1/instances/{instance_id}/actions", body,
                                         content_type="application/json")

    def ok(self, person: Person, instance_id: int, when: datetime | None = None, **body) -> dict:
        response = self.act(person, instance_id, when, **body)
        assert response.status_code == 201, response.content
        return response.json()

    def gas(self, instance_id: int, when: datetime | None = None, lel: float = 0) -> dict:
        return self.ok(self.analyst, instance_id, when, kind="complete", step="gas",
                       values={"lel": lel, "instrument": str(self.instrument.pk)},
                       photos={"meter": [self.photo(self.analyst)]})

    def approve(self, instance_id: int, when: datetime | None = None) -> dict:
        return self.ok(self.approver, instance_id, when, kind="approve", step="approve",
                       values={"approver_sign": "王五"}, photos={"presence": [self.photo(self.approver)]})

    def patrol(self, instance_id: int, when: datetime) -> dict:
        return self.ok(self.guardian, instance_id, when, kind="complete", step="patrol",
                       photos={"site": [self.photo(self.guardian)]})

    def finish(self, instance_id: int, when: datetime) -> dict:
        return self.ok(self.guardian, instance_id, when, kind="complete", step="finish",
                       values={"cleanup": {"fire_out": "done", "tidy": "done"}},
                       photos={"site": [self.photo(self.guardian)]})


def make_crew(w: World) -> Crew:
    a = w.a
    hot_work_approver = org_services.save_role(SYSTEM, None, owner=a.unit, code="hot_work_approver",
                                               name="动火审批人", permissions=["org.view"])
    area_owner = org_services.save_role(SYSTEM, None, owner=a.unit, code="area_owner", name="区域负责人",
                                        permissions=["org.view"])
    applicant = make_person(a.team, "张三", "P01", [("applicant", a.team)], login="zhang")
    analyst = make_person(a.team, "李四", "P02", [("analyst", a.plant)], login="li")
    approver = make_person(a.plant, "王五", "P03", login="wang")
    org_services.grant_role(SYSTEM, approver, hot_work_approver, a.plant)
    guardian = make_person(a.team, "赵六", "P04", [("guardian", a.team)], login="zhao")
    owner = make_person(a.plant, "钱七", "P05", [("admin", a.plant)], login="qian")
    org_services.grant_role(SYSTEM, owner, area_owner, a.plant)
    supervisor = make_person(a.unit, "孙八", "P06", [("process_supervisor", a.unit)], login="sun")
    operators = [make_person(a.team, "吴九", "P07", login="wu"), make_person(a.team, "郑十", "P08", login="zheng")]
    for op in operators:
        qualify(op, WELD)
    qualify(applicant, "受限空间作业")  # the confined-space training the shipped template asks of its applicant
    stranger = make_person(a.team, "路人", "P09", [("applicant", a.team)], login="passer")
    instrument = org_services.save_equipment(SYSTEM, None, org_unit=a.plant, area=a.area, code="GD-07",
                                             name="四合一气体检测仪")
    response = client_for(a.admin).post("/api/v1/templates", {
        "owner_id": a.unit.pk, "source": EXAMPLE.read_text(encoding="utf-8"), "publish": True,
    }, content_type="application/json")
    assert response.status_code == 201, response.content
    return Crew(w, applicant, analyst, approver, guardian, owner, supervisor, operators, stranger, instrument,
                response.json()["id"])
