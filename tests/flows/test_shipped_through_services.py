"""Every shipped template end to end through the Django layer: real people holding the roles the
template names (granted in the org tree), people named in forms, qualifications, stored photos,
equipment, the database facts, hash-chained events. The engine tests prove the rules; these prove
the templates work in a real company."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

import anlian.flows.core as core
from anlian.core import clock
from anlian.evidence.services import store_photo
from anlian.flows import services
from anlian.flows.core.fields import shown
from anlian.flows.core.state import approval_slots
from anlian.flows.models import FlowTemplate, InstanceStatus
from anlian.workforce.demo import qualify
from anlian.orgs.models import Person, Role
from anlian.orgs import services as org_services
from anlian.orgs.access import SYSTEM
from tests.conftest import make_person
from tests.flows.test_photo_checks_in_steps import scene

from .port import at, jpeg
from .test_shipped_templates import KEYS, auto_value


class DbRun:
    def __init__(self, world, key: str):
        self.w, self.key = world, key
        self.version = FlowTemplate.objects.get(key=key, owner=None).published()
        self.tpl = services.template_of(self.version)
        self.now = at(8, 0)
        a = world.a
        self.applicant = make_person(a.team, "申请人", "S00", [("applicant", a.team)], login="s-applicant")
        self.by_role: dict[str, Person] = {}
        self.named = [make_person(a.team, f"被指定{i}", f"N{i}", login=f"s-named-{i}") for i in range(4)]
        work_types = {g.work_type for g in self.tpl.guards if g.name == "qualified"}
        work_types |= {g.work_type for s in self.tpl.steps for g in getattr(s, "guards", ()) if g.name == "qualified"}
        for person in [self.applicant, *self.named]:
            for work_type in work_types:
                qualify(person, work_type, self.now.date())
        upload = SimpleUploadedFile("p.jpg", jpeg(7), content_type="image/jpeg")
        self.photo = store_photo(self.applicant.user, a.unit, upload).sha256

    def role_person(self, role: str) -> Person:
        if role not in self.by_role:
            n = len(self.by_role)
            person = make_person(self.w.a.plant, f"{role}人员", f"R{n:02d}", login=f"s-role-{n}")
            org_services.grant_role(SYSTEM, person, Role.objects.get(code=role, owner=None), self.w.a.unit)
            self.by_role[role] = person
        return self.by_role[role]

    def fresh_photo(self) -> str:
        self.seed = getattr(self, "seed", 100) + 1
        upload = SimpleUploadedFile("p.jpg", scene(self.seed), content_type="image/jpeg")
        return store_photo(self.applicant.user, self.w.a.unit, upload).sha256

    def value(self, f):
        if f.type == "person":
            # Verifiers are other people than the doers (separation of duties, distinct_from).
            ids = [str(p.pk) for p in (self.named[2:4] if f.key == "verifiers" else self.named[:2])]
            return ids if f.many else ids[0]
        if f.type == "equipment":
            return str(self.w.a.equipment.pk)
        if f.type == "area":
            return str(self.w.a.area.pk)
        return auto_value(f, self.now)

    def values(self, step, known: dict) -> dict:
        out: dict = {}
        for f in step.fields:
            if shown(f, {**known, **out}):
                out[f.key] = self.value(f)
        return out

    def actors(self, step, state) -> list[Person]:
        if not step.is_approval:
            return [self.resolve(step.actor, state.values)]
        out = []
        for slot, index, person in approval_slots(step, state.values):
            if slot not in state.steps[step.key].approvals:
                out.append(Person.objects.get(pk=int(person)) if person
                           else self.resolve(step.approval.actors[index], state.values))
        return out

    def resolve(self, spec, values) -> Person | None:
        if spec.kind == "system":
            return None
        if spec.kind == "applicant":
            return self.applicant
        if spec.kind == "person":
            named = values[spec.person_field]
            return Person.objects.get(pk=int(named[0] if isinstance(named, list) else named))
        return self.role_person(spec.role)

    def tick(self, minutes: int = 2) -> None:
        self.now += core.parse_duration(f"{minutes}m")
        clock.set_now(self.now)

    def step(self, instance, step) -> None:
        state = services.state_of(instance)
        if step.window and step.window.at_least:
            self.now = max(self.now, state.steps[step.window.step].completed_at + step.window.at_least)
        kind = "approve" if step.is_approval else "complete"
        for person in self.actors(step, state):
            self.tick()
            state = services.state_of(instance)
            # A slot that refuses reused pictures gets a new one (an "after" photo is not the "before").
            photos = {p.key: [self.fresh_photo() if p.checks else self.photo] * max(p.min, 1) for p in step.photos}
            if step.presence:
                photos["presence"] = [self.photo]
            action = core.Action(kind, step=step.key, values=self.values(step, state.values), photos=photos)
            if person is None:
                services.act_as_system(instance, action)
            else:
                services.act(person.user, instance, action)

    def run(self):
        clock.set_now(self.now)
        instance = services.start(self.applicant.user, self.version, self.w.a.area)
        for step in self.tpl.steps:
            self.step(instance, step)
            if step.repeat:
                self.now += step.repeat.every
                self.step(instance, step)
        self.tick()
        services.act(self.applicant.user, instance, core.Action("close"))
        return instance


@pytest.mark.parametrize("key", KEYS)
def test_shipped_template_runs_end_to_end_in_a_company(world, key):
    try:
        instance = DbRun(world, key).run()
    finally:
        clock.set_now(None)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.CLOSED and instance.current_steps == []
    events = list(instance.events.order_by("seq"))
    assert events[0].kind == "started" and events[-1].kind == "closed"
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:]))
    assert instance.number.startswith(f"{instance.number.split('-')[0]}-2025")
