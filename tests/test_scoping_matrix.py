"""Company isolation, asserted for every URL and every API operation.

The tests walk the URL conf and the OpenAPI document. A new page or endpoint whose parameters are
not in OBJECTS (or whose request body is not in API_BODIES) fails here until someone states how
it is scoped, so nothing ships unscoped by omission.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from anlian.accounts.models import ApiToken
from anlian.accounts.tokens import issue_token
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.evidence.models import StoredFile
from anlian.evidence.services import store_photo
from anlian.flows import core
from anlian.flows import services as flow_services
from anlian.flows import shipped
from anlian.flows.models import Endorsement, Event, FlowTemplate, Instance, TemplateVersion
from anlian.orgs.models import Area, Equipment, OrgUnit, Person, Role, RoleGrant
from anlian.permits.models import Refusal
from tests.conftest import World, client_for
from tests.flows.port import jpeg

# Objects of issue 5 (contractors, certificates, training, violations, badges, imports), made by
# add_workforce for each company; "token" is a badge's signed token, "kind" an import kind.
WORKFORCE_PARAMS = ("contractor_id", "document_id", "contractor_area_id", "certificate_id", "violation_id",
                    "course_id", "session_id", "attendance_id", "company_id", "badge_id", "check_id", "token",
                    "batch_id", "kind", "hazard_id", "rule_id", "level", "hazard_batch_id", "channel_id",
                    "delivery_id", "channel_kind", "route_id", "event", "language", "applies_to",
                    "export_id", "link_id", "account_id", "entry_id", "alarm_id", "device_id", "sensor_rule_id")

# Path parameter → the object of company A (the victim) that company B's people try to reach.
OBJECTS: dict[str, Callable[[World], int]] = {
    "unit_id": lambda w: w.a.plant.pk,
    "area_id": lambda w: w.a.area.pk,
    "equipment_id": lambda w: w.a.equipment.pk,
    "person_id": lambda w: w.a.worker.pk,
    "grant_id": lambda w: w.a.worker.grants.get().pk,
    "role_id": lambda w: Role.objects.get(code="a-custom").pk,
    "token_id": lambda w: ApiToken.objects.get(user=w.a.admin.user).pk,
    "instance_id": lambda w: w.a.job.pk,
    "template_id": lambda w: w.a.template_version.template_id,
    "version_id": lambda w: w.a.template_version.pk,
    "sha256": lambda w: w.a.photo.sha256,
    "step_key": lambda w: "enter",  # a key inside the template, not an object of its own
    "event_id": lambda w: w.a.photo_event.pk,
    **{name: (lambda w, name=name: w.a.workforce[name]) for name in WORKFORCE_PARAMS},
}
# The same parameters for company B's own objects: the attacker must reach these (sanity check).
OWN_OBJECTS: dict[str, Callable[[World], int]] = {
    "unit_id": lambda w: w.b.plant.pk,
    "area_id": lambda w: w.b.area.pk,
    "equipment_id": lambda w: w.b.equipment.pk,
    "person_id": lambda w: w.b.worker.pk,
    "grant_id": lambda w: w.b.worker.grants.get().pk,
    "role_id": lambda w: Role.objects.get(code="b-custom").pk,
    "token_id": lambda w: ApiToken.objects.get(user=w.b.admin.user).pk,
    "instance_id": lambda w: w.b.job.pk,
    "template_id": lambda w: w.b.template_version.template_id,
    "version_id": lambda w: w.b.template_version.pk,
    "sha256": lambda w: w.b.photo.sha256,
    "step_key": lambda w: "enter",
    "event_id": lambda w: w.b.photo_event.pk,
    **{name: (lambda w, name=name: w.b.workforce[name]) for name in WORKFORCE_PARAMS},
}
# Path parameters that choose among fixed values rather than name an object.
NOT_OBJECTS = {"step_key", "kind", "level", "channel_kind", "event", "language", "applies_to"}
# Query-string filters a list page or endpoint might trust: all pointed at company A.
FILTER_PARAMS = ("unit", "org_unit", "org_unit_id", "parent", "parent_id", "area", "area_id", "person_id", "unit_id",
                 "contractor", "contractor_id", "person", "kind_id", "course_id")

# Pages outside the product's scoping: Django admin (superusers only), language switch, health, and
# the permit check behind each permit's QR code (its unguessable token is the permission; it shows
# only whether the permit is valid now).
# Public pages opened by a signed token (a permit's QR, a shared dossier, the verify page) are tested
# with forged, expired and other companies' tokens in their own modules.
UNSCOPED_PREFIXES = ("admin/", "i18n/", "healthz", "api/v1/", "login/", "logout/", "v/", "dossiers/s/", "verify/",
                     ".well-known/")

# A valid body for each API write that takes one, so the request reaches the scoping check.
API_BODIES: dict[tuple[str, str], Callable[[World], dict]] = {
    ("post", "/api/v1/org-units"): lambda w: {"name": "越权车间", "kind": "workshop", "parent_id": w.a.plant.pk},
    ("patch", "/api/v1/org-units/{unit_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/org-units/{unit_id}/move"): lambda w: {"parent_id": w.b.unit.pk},
    ("post", "/api/v1/areas"): lambda w: {"org_unit_id": w.a.plant.pk, "name": "越权区域"},
    ("patch", "/api/v1/areas/{area_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/equipment"): lambda w: {"org_unit_id": w.a.plant.pk, "code": "X-1", "name": "越权设备"},
    ("patch", "/api/v1/equipment/{equipment_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/people"): lambda w: {"org_unit_id": w.a.plant.pk, "name": "越权人员", "employee_no": "X9"},
    ("patch", "/api/v1/people/{person_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/roles"): lambda w: {"owner_id": w.a.unit.pk, "code": "x-role", "name": "越权角色",
                                          "permissions": ["org.view"]},
    ("patch", "/api/v1/roles/{role_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/role-grants"): lambda w: {"person_id": w.a.worker.pk, "role_id": Role.objects.get(
        code="admin", owner=None).pk, "org_unit_id": w.a.unit.pk},
    ("post", "/api/v1/tokens"): None,  # acts on the caller's own account only
    ("post", "/api/v1/templates/validate"): None,  # reads only the body, stores nothing
    ("post", "/api/v1/files"): None,  # multipart; uploads into another company: test_flows_scoping below
    ("post", "/api/v1/templates"): lambda w: {"owner_id": w.a.unit.pk, "source": zero_source("x-zero", "越权模板")},
    ("post", "/api/v1/templates/{template_id}/versions"): lambda w: {"source": zero_source("a-zero", "越权版本")},
    ("post", "/api/v1/templates/{template_id}/copy"): lambda w: {"owner_id": w.b.unit.pk, "key": "stolen"},
    ("post", "/api/v1/instances"): lambda w: {"version_id": w.b.template_version.pk, "area_id": w.a.area.pk},
    ("post", "/api/v1/instances/{instance_id}/actions"): lambda w: {"kind": "cancel", "reason": "越权取消"},
    ("post", "/api/v1/endorsements"): lambda w: {"area_id": w.a.area.pk, "template_key": "a-zero", "reason": "越权"},
    # issue 5
    ("post", "/api/v1/training/courses"): lambda w: {"org_unit_id": w.a.plant.pk, "code": "X1", "name": "越权课程",
                                                     "level": "special", "hours": 2},
    ("patch", "/api/v1/training/courses/{course_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/training/sessions"): lambda w: {"course_id": w.a.workforce["course_id"],
                                                      "starts_at": "2026-06-01T08:00:00+08:00",
                                                      "ends_at": "2026-06-01T10:00:00+08:00"},
    ("patch", "/api/v1/training/sessions/{session_id}"): lambda w: {"place": "越权"},
    ("post", "/api/v1/training/sessions/{session_id}/attendance"): lambda w: {"rows": [
        {"person_id": w.a.worker.pk, "attended": True, "score": 90}]},
    ("post", "/api/v1/training/refreshers"): lambda w: {"org_unit_id": w.a.unit.pk, "year": 2027},
    ("put", "/api/v1/training/policies/{company_id}"): lambda w: {"high_risk": True, "deadline_days": 1,
                                                                  "refresher_hours": 1},
    ("post", "/api/v1/contractors"): lambda w: {"org_unit_id": w.a.plant.pk, "name": "越权承包商"},
    ("patch", "/api/v1/contractors/{contractor_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/contractors/{contractor_id}/status"): lambda w: {"status": "suspended", "reason": "越权"},
    ("post", "/api/v1/contractors/{contractor_id}/documents"): lambda w: {"kind": "license"},
    ("patch", "/api/v1/contractor-documents/{document_id}"): lambda w: {"number": "越权"},
    ("post", "/api/v1/contractors/{contractor_id}/areas"): lambda w: {"area_id": w.b.area.pk, "valid_from": "2026-05-01",
                                                                      "valid_until": "2026-05-31"},
    ("patch", "/api/v1/contractor-areas/{contractor_area_id}"): lambda w: {"valid_until": "2027-01-01"},
    ("post", "/api/v1/certificates"): lambda w: {"person_id": w.a.worker.pk, "kind_id": shipped_kind("se-q2"),
                                                 "number": "X-1", "issued_on": "2026-01-01", "expires_on": "2030-01-01"},
    ("patch", "/api/v1/certificates/{certificate_id}"): lambda w: {"issuer": "越权"},
    ("post", "/api/v1/certificates/{certificate_id}/renew"): lambda w: {"issued_on": "2026-01-01",
                                                                        "expires_on": "2031-01-01"},
    ("post", "/api/v1/certificates/{certificate_id}/review"): lambda w: {"on": "2026-06-01"},
    ("post", "/api/v1/certificates/{certificate_id}/revoke"): lambda w: {"reason": "越权"},
    ("post", "/api/v1/violations"): lambda w: {"person_id": w.a.worker.pk, "what": "越权登记"},
    ("post", "/api/v1/violations/{violation_id}/transition"): lambda w: {"action": "void", "note": "越权"},
    ("post", "/api/v1/imports"): None,  # multipart; another company's unit: tests/test_workforce_import.py
    ("post", "/api/v1/entry-checks"): None,  # logs every scan, a foreign badge too: test_entry_check_scoping
    ("post", "/api/v1/people/{person_id}/badges"): lambda w: {},
    # issue 6
    ("post", "/api/v1/hazards"): lambda w: {"area_id": w.a.area.pk, "category": "fire", "level": "general",
                                            "description": "越权上报", "scene": [w.b.photo.sha256]},
    ("post", "/api/v1/hazards/{hazard_id}/actions"): lambda w: {"kind": "cancel", "reason": "越权撤销"},
    # issue 7
    ("post", "/api/v1/notification-channels"): lambda w: {"company_id": w.a.unit.pk, "kind": "webhook", "name": "越权",
                                                          "config": {"url": "http://127.0.0.1:9/", "secret": "x"}},
    ("patch", "/api/v1/notification-channels/{channel_id}"): lambda w: {"name": "越权改名"},
    ("post", "/api/v1/notification-routes"): lambda w: {"company_id": w.a.unit.pk, "event": "hazard_dispatched"},
    ("patch", "/api/v1/notification-routes/{route_id}"): lambda w: {"is_active": False},
    ("put", "/api/v1/me/notification-settings"): None,  # the caller's own settings only
    ("post", "/api/v1/hazard-imports"): None,  # multipart; another company's unit: tests/test_hazards_import.py
    ("post", "/api/v1/hazard-rules"): lambda w: {"company_id": w.a.unit.pk, "responsible_role": "safety_officer"},
    ("patch", "/api/v1/hazard-rules/{rule_id}"): lambda w: {"priority": 5},
    ("post", "/api/v1/hazard-rules/preview"): lambda w: {"company_id": w.a.unit.pk, "category": "fire",
                                                         "level": "general", "area_id": w.a.area.pk},
    ("post", "/api/v1/dossiers"): lambda w: {"instance_id": w.a.job.pk},
    ("post", "/api/v1/share-links"): lambda w: {"instance_id": w.a.job.pk, "days": 7},
    ("post", "/api/v1/regulator-accounts"): lambda w: {"name": "越权监管", "agency": "应急局", "username": "reg-x",
                                                       "password": "correct-horse-battery-9", "company_ids": [w.a.unit.pk]},
    ("post", "/api/v1/seal/checkpoints"): lambda w: {"company_id": w.a.unit.pk},
    ("put", "/api/v1/companies/{company_id}/escalation-policies/{applies_to}"): lambda w: {
        "tiers": [{"after_minutes": 0, "levels_up": 9, "kinds": ["inbox", "sms"]}]},
    ("put", "/api/v1/companies/{company_id}/hazard-deadlines/{level}"): lambda w: {
        "respond_minutes": 1, "on_site_minutes": 2, "rectify_hours": 3, "remind_before_minutes": 1,
        "escalate_every_minutes": 5},
    ("post", "/api/v1/badges/{badge_id}/revoke"): lambda w: {"reason": "越权"},
    # issue 9
    ("post", "/api/v1/readings"): None,  # a device's ingest token, not a person's: tests/test_sensors_api.py
    ("post", "/api/v1/sensor-devices"): lambda w: {"org_unit_id": w.a.plant.pk, "code": "x-gw", "name": "越权设备"},
    ("post", "/api/v1/sensor-devices/{device_id}/points"): lambda w: {"code": "X-9"},
    ("post", "/api/v1/sensor-rules"): lambda w: {"company_id": w.a.unit.pk, "definition": {
        "key": "x-rule", "kind": "threshold", "point": "TT-1", "above": 1}},
    ("patch", "/api/v1/sensor-rules/{sensor_rule_id}"): lambda w: {"is_active": False},
}


def shipped_kind(code: str) -> int:
    from anlian.workforce.models import CertificateKind

    return CertificateKind.objects.get(owner=None, code=code).pk


def add_workforce(company, prefix: str) -> None:
    """A contractor with a document, an area and a worker, a certificate, a violation, a course with a
    session and attendance, a badge with an entry check, and an import batch: issue 5's targets."""
    from datetime import date, datetime, timezone as tz

    from anlian.hazards.models import DispatchRule
    from anlian.orgs.models import Contractor
    from anlian.training.models import Attendance, Course, Session
    from anlian.workforce import badges
    from anlian.workforce.models import (Certificate, ContractorArea, ContractorDocument, EntryCheck, ImportBatch,
                                         Violation)

    contractor = Contractor.objects.create(org_unit=company.plant, company=company.unit, name=f"{prefix}承包商")
    document = ContractorDocument.objects.create(contractor=contractor, kind="license", number=f"{prefix}-L")
    grant = ContractorArea.objects.create(contractor=contractor, area=company.area, valid_from=date(2026, 1, 1),
                                          valid_until=date(2026, 12, 31))
    certificate = Certificate.objects.create(person=company.worker, company=company.unit, kind_id=shipped_kind("se-q2"),
                                             number=f"{prefix}-Q2", issued_on=date(2025, 1, 1), expires_on=date(2029, 1, 1))
    violation = Violation.objects.create(person=company.worker, what=f"{prefix}违章", occurred_at=datetime.now(tz.utc))
    course = Course.objects.create(org_unit=company.plant, company=company.unit, code=f"{prefix}-C", name=f"{prefix}课程",
                                   hours=2)
    start = datetime(2026, 6, 1, 0, 0, tzinfo=tz.utc)
    session = Session.objects.create(course=course, starts_at=start, ends_at=start)
    attendance = Attendance.objects.create(session=session, person=company.worker, hours=2, passed=True)
    badge = badges.issue_badge(SYSTEM, company.worker)
    check = EntryCheck.objects.create(checked_by=company.officer, checked_at=start, badge=badge, person=company.worker,
                                      go=True, token_state="ok")
    batch = ImportBatch.objects.create(org_unit=company.plant, kind="people", token=f"{prefix}batch",
                                       created_by=company.admin, status="invalid")
    company.workforce = {
        "contractor_id": contractor.pk, "document_id": document.pk, "contractor_area_id": grant.pk,
        "certificate_id": certificate.pk, "violation_id": violation.pk, "course_id": course.pk,
        "session_id": session.pk, "attendance_id": attendance.pk, "company_id": company.unit.pk,
        "badge_id": badge.pk, "check_id": check.pk, "token": badges.token_for(badge), "batch_id": batch.pk,
        "kind": "people",
        "hazard_id": add_hazard(company, prefix),
        "rule_id": DispatchRule.objects.create(owner=company.unit, responsible_role="safety_officer").pk,
        "level": "general",
        **add_notify(company, prefix),
        "hazard_batch_id": ImportBatch.objects.create(org_unit=company.plant, kind="hazards", token=f"{prefix}hz",
                                                      created_by=company.admin, status="invalid").pk,
        **add_evidence(company),
        **add_sensors(company, prefix),
    }


def add_sensors(company, prefix: str) -> dict:
    """Issue 9: a device with a point, a rule on it and an alarm of that rule."""
    from anlian.core import clock
    from anlian.sensors import services as sensors
    from anlian.sensors.models import Alarm

    device = sensors.create_device(company.admin.user, org_unit=company.plant, area=company.area, code="gw-1",
                                   name=f"{prefix}网关")
    sensors.add_point(company.admin.user, device, code="TT-1")
    rule = sensors.save_rule(company.admin.user, None, company=company.unit, area=company.area, definition={
        "key": "tt-1-high", "name": f"{prefix}温度规则", "kind": "threshold", "point": "TT-1", "above": 90,
        "actions": ["notify"]})
    now = clock.now()
    alarm = Alarm.objects.create(company=company.unit, org_unit=company.plant, rule=rule, area=company.area, level=2,
                                 points=["TT-1"], value=95.0, reason=f"{prefix}温度超限", since=now, raised_at=now)
    return {"alarm_id": alarm.pk, "device_id": device.pk, "sensor_rule_id": rule.pk}


def add_evidence(company) -> dict:
    """Issue 8: a finished dossier export, a share link, a regulator account and an audit entry."""
    import hashlib

    from django.core.files.base import ContentFile

    from anlian.audit.models import AuditEntry
    from anlian.core import clock
    from anlian.dossiers import services as dossiers
    from anlian.dossiers.models import DossierExport
    from tests.conftest import PASSWORD

    pdf, now = b"%PDF-1.4\n% scoping matrix\n", clock.now()
    export = DossierExport(instance=company.job, status="done", pages=1, created_by=company.admin.user,
                           created_at=now, finished_at=now, sha256=hashlib.sha256(pdf).hexdigest(), size=len(pdf))
    export.file.save(f"matrix-{company.unit.pk}.pdf", ContentFile(pdf), save=False)
    export.save()
    link = dossiers.create_share(company.admin.user, company.job, 7)
    account = dossiers.create_regulator(company.admin.user, name=f"{company.unit.name}监管", agency="应急管理局",
                                        username=f"reg-{company.unit.pk}", password=PASSWORD, companies=[company.unit])
    entry = AuditEntry.objects.filter(company=company.unit).order_by("pk").first()
    return {"export_id": export.pk, "link_id": link.pk, "account_id": account.pk, "entry_id": entry.pk}


def add_notify(company, prefix: str) -> dict:
    """A webhook channel and a message delivered to the company's worker (inbox) and the channel."""
    from anlian.notify.delivery import notify
    from anlian.notify.models import Channel, EscalationPolicy, Route

    channel = Channel.objects.create(company=company.unit, kind="webhook", name=f"{prefix}渠道",
                                     config={"url": "http://127.0.0.1:9/", "secret": "s"})
    message = notify(company.unit, key=f"{prefix}-m", event="test", title=f"{prefix}消息", body="", url="/",
                     severity="info", to=[company.worker], channels=[channel])
    route = Route.objects.create(company=company.unit, event="hazard_dispatched", roles=["safety_officer"])
    EscalationPolicy.objects.create(company=company.unit, applies_to="permit", name=f"{prefix}升级",
                                    tiers=[{"after_minutes": 5, "levels_up": 1, "kinds": ["inbox"]}])
    return {"channel_id": channel.pk, "delivery_id": message.deliveries.first().pk, "channel_kind": "webhook",
            "route_id": route.pk, "event": "hazard_dispatched", "language": "zh-hans", "applies_to": "permit"}


def add_hazard(company, prefix: str) -> int:
    """A reported hazard (its dispatch needs people: with no rule, the area's safety officers)."""
    from anlian.hazards import services as hazards

    upload = SimpleUploadedFile("h.jpg", jpeg(7 if prefix == "甲" else 8), content_type="image/jpeg")
    photo = store_photo(company.worker.user, company.unit, upload)
    return hazards.report(company.worker.user, area=company.area, category="fire", level="general",
                          description=f"{prefix}隐患", photos=[photo.sha256]).pk


def zero_source(key: str, name: str) -> str:
    source = (Path(shipped.__file__).parent / "zero-process.yaml").read_text(encoding="utf-8")
    return source.replace("key: zero-process", f"key: {key}").replace("name: 三步零流程", f"name: {name}")


def add_flows(company, key: str, name: str, seed: int) -> None:
    """A published own template, a running job and a photo, as the scoping targets of issue 3."""
    company.template_version = flow_services.save_version(SYSTEM, None, zero_source(key, name), owner=company.unit,
                                                          publish=True)
    company.job = flow_services.start(company.worker.user, company.template_version, company.area)
    upload = SimpleUploadedFile("p.jpg", jpeg(seed), content_type="image/jpeg")
    company.photo = store_photo(company.worker.user, company.unit, upload)
    # The first step with the photo: an event whose photos get watermarked display copies.
    photos = {"of_partner": [company.photo.sha256], "of_self": [company.photo.sha256]}
    company.photo_event = flow_services.act(company.worker.user, company.job, core.Action(
        "complete", step="enter", values={"partner": str(company.admin.pk), "place": "1号皮带机"}, photos=photos))


def a_snapshot(w: World) -> str:
    """Every row belonging to company A (and the tokens), to prove nothing changed."""
    path = w.a.unit.path
    rows = {
        "units": list(OrgUnit.objects.filter(path__startswith=path).values().order_by("pk")),
        "areas": list(Area.objects.filter(org_unit__path__startswith=path).values().order_by("pk")),
        "equipment": list(Equipment.objects.filter(org_unit__path__startswith=path).values().order_by("pk")),
        "people": list(Person.objects.filter(org_unit__path__startswith=path).values().order_by("pk")),
        "grants": list(RoleGrant.objects.filter(org_unit__path__startswith=path).values().order_by("pk")),
        "roles": list(Role.objects.filter(owner__path__startswith=path).values().order_by("pk")),
        "tokens": list(ApiToken.objects.filter(user=w.a.admin.user).values().order_by("pk")),
        "templates": list(FlowTemplate.objects.filter(owner__path__startswith=path).values().order_by("pk")),
        "versions": list(TemplateVersion.objects.filter(template__owner__path__startswith=path).values().order_by("pk")),
        "jobs": list(Instance.objects.filter(company=w.a.unit).values().order_by("pk")),
        "events": list(Event.objects.filter(instance__company=w.a.unit).values().order_by("pk")),
        "files": list(StoredFile.objects.filter(company=w.a.unit).values().order_by("pk")),
        "endorsements": list(Endorsement.objects.filter(area__org_unit__path__startswith=path).values().order_by("pk")),
        "refusals": list(Refusal.objects.filter(area__org_unit__path__startswith=path).values().order_by("pk")),
        **workforce_rows(path),
    }
    return json.dumps(rows, default=str, sort_keys=True)


def workforce_rows(path: str) -> dict[str, list]:
    from anlian.core.models import Notice
    from anlian.hazards.models import DeadlinePolicy, DispatchRule, Hazard
    from anlian.dossiers.models import DossierExport, RegulatorAccount, ShareLink
    from anlian.notify.models import Channel, Delivery, EscalationPolicy
    from anlian.seal.models import Checkpoint
    from anlian.sensors.models import Alarm, Device, EngineState, Point, Rule
    from anlian.orgs.models import Contractor
    from anlian.training.models import Assignment, Attendance, Course, Session
    from anlian.workforce.models import (Badge, Certificate, ContractorArea, ContractorDocument, EntryCheck,
                                         ImportBatch, Violation)

    def rows(model, lookup: str) -> list:
        return list(model.objects.filter(**{f"{lookup}__startswith": path}).values().order_by("pk"))

    return {
        "contractors": rows(Contractor, "org_unit__path"), "documents": rows(ContractorDocument, "contractor__org_unit__path"),
        "contractor_areas": rows(ContractorArea, "contractor__org_unit__path"),
        "certificates": rows(Certificate, "person__org_unit__path"), "violations": rows(Violation, "person__org_unit__path"),
        "courses": rows(Course, "org_unit__path"), "sessions": rows(Session, "course__org_unit__path"),
        "attendance": rows(Attendance, "person__org_unit__path"), "assignments": rows(Assignment, "person__org_unit__path"),
        "badges": rows(Badge, "person__org_unit__path"), "entry_checks": rows(EntryCheck, "person__org_unit__path"),
        "imports": rows(ImportBatch, "org_unit__path"), "notices": rows(Notice, "person__org_unit__path"),
        "hazards": rows(Hazard, "org_unit__path"), "hazard_rules": rows(DispatchRule, "owner__path"),
        "channels": rows(Channel, "company__path"), "deliveries": rows(Delivery, "message__company__path"),
        "hazard_deadlines": rows(DeadlinePolicy, "owner__path"),
        "escalation_policies": rows(EscalationPolicy, "company__path"),
        "dossier_exports": rows(DossierExport, "instance__org_unit__path"),
        "share_links": rows(ShareLink, "instance__org_unit__path"),
        "regulators": rows(RegulatorAccount, "person__org_unit__path"),
        "checkpoints": rows(Checkpoint, "company__path"),
        "sensor_devices": rows(Device, "org_unit__path"), "sensor_rules": rows(Rule, "company__path"),
        "sensor_points": rows(Point, "device__org_unit__path"),
        "sensor_alarms": rows(Alarm, "org_unit__path"), "sensor_states": rows(EngineState, "company__path"),
    }


def a_names(w: World) -> list[str]:
    return [w.a.plant.name, w.a.team.name, w.a.area.name, w.a.worker.name, w.a.officer.name, "甲自定义角色",
            "甲专用零流程", w.a.photo.sha256, "甲承包商", "甲课程", "甲违章", "甲-Q2", "甲隐患", "甲渠道", "甲消息", "甲温度规则",
            "甲温度超限", "甲网关"]  # (job numbers are per company: B has the same one)


@pytest.fixture
def matrix_world(world: World) -> World:
    services.save_role(SYSTEM, None, owner=world.a.unit, code="a-custom", name="甲自定义角色", permissions=["org.view"])
    services.save_role(SYSTEM, None, owner=world.b.unit, code="b-custom", name="乙自定义角色", permissions=["org.view"])
    issue_token(world.a.admin.user, "甲的令牌")
    issue_token(world.b.admin.user, "乙的令牌")
    add_flows(world.a, "a-zero", "甲专用零流程", 1)
    add_flows(world.b, "b-zero", "乙专用零流程", 2)
    add_workforce(world.a, "甲")
    add_workforce(world.b, "乙")
    return world


def walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, list[str]]]:
    """(route, view name, parameter names) for every URL pattern."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            route = prefix + str(entry.pattern)
            yield route, namespace + entry.name, list(entry.pattern.regex.groupindex)


def page_routes() -> list[tuple[str, str, list[str]]]:
    routes = [r for r in walk(get_resolver().url_patterns) if not r[0].lstrip("^").startswith(UNSCOPED_PREFIXES)]
    assert len(routes) > 20, "the URL conf walk found too few pages"
    return routes


@pytest.mark.django_db
def test_every_page_parameter_is_in_the_matrix():
    unknown = {(route, p) for route, _name, params in page_routes() for p in params if p not in OBJECTS}
    assert not unknown, f"pages with parameters the scoping matrix does not know: {sorted(unknown)}"


@pytest.mark.parametrize("attacker", ["admin", "worker"])
def test_no_page_reaches_another_companys_object(matrix_world, attacker):
    w = matrix_world
    client = client_for(getattr(w.b, attacker))
    before = a_snapshot(w)
    checked = 0
    for _route, name, params in page_routes():
        if not params:
            continue
        url = reverse(name, kwargs={p: OBJECTS[p](w) for p in params})
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (403, 404, 405), f"{method.upper()} {url} ({name}) → {response.status_code}"
            checked += 1
    assert checked > 20
    assert a_snapshot(w) == before, "a refused request changed company A's data"


def test_list_pages_never_show_another_companys_objects(matrix_world):
    w = matrix_world
    client = client_for(w.b.admin)
    query = "&".join(f"{p}={w.a.plant.pk}" for p in FILTER_PARAMS)
    for _route, name, params in page_routes():
        if params:
            continue
        url = reverse(name)
        for full in (url, f"{url}?{query}&q={w.a.area.name}"):
            response = client.get(full)
            assert response.status_code < 500, f"GET {full} → {response.status_code}"
            # The search box shows back what was typed: that is the attacker's own input, not a leak.
            body = re.sub(r'value="[^"]*"', "", response.content.decode(errors="replace"))
            for secret in a_names(w):
                assert secret not in body, f"GET {full} ({name}) shows company A's {secret!r}"


def test_own_objects_are_reachable(matrix_world):
    """The matrix must be able to fail: the same pages open for the company's own objects."""
    w = matrix_world
    client = client_for(w.b.admin)
    opened = 0
    for _route, name, params in page_routes():
        if not params:
            continue
        url = reverse(name, kwargs={p: OWN_OBJECTS[p](w) for p in params})
        response = client.get(url, follow=True)  # a message link redirects to the item's page
        if response.status_code != 405:  # POST-only actions answer GET with 405
            assert response.status_code == 200, f"GET {url} ({name}) → {response.status_code}"
            opened += 1
    assert opened >= 8


# --- API -----------------------------------------------------------------------------------------


def api_operations(client) -> list[tuple[str, str, dict]]:
    spec = client.get("/api/v1/openapi.json").json()
    ops = [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()
           if method in {"get", "post", "put", "patch", "delete"}]
    assert len(ops) > 15, "the OpenAPI walk found too few operations"
    return ops


def fill(path: str, values: dict[str, Callable[[World], int]], w: World) -> str:
    def one(match: re.Match) -> str:
        param = match.group(1)
        assert param in values, f"API path parameter {{{param}}} of {path} is not in the scoping matrix"
        return str(values[param](w))

    return re.sub(r"\{(\w+)\}", one, path)


# Values for required query parameters (e.g. a position to test against a geofence).
QUERY_EXAMPLES = {"lat": "30.0", "lng": "120.0"}


def with_required_query(url: str, op: dict) -> str:
    required = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query" and p.get("required")]
    for name in required:
        assert name in QUERY_EXAMPLES, f"add an example for required query parameter {name!r}"
    return url + ("?" + "&".join(f"{n}={QUERY_EXAMPLES[n]}" for n in required) if required else "")


def call(client, method: str, url: str, body: dict | None, token: str):
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if body is not None:
        return getattr(client, method)(url, data=json.dumps(body), content_type="application/json", **kwargs)
    return getattr(client, method)(url, **kwargs)


@pytest.mark.parametrize("attacker", ["admin", "worker"])
def test_no_api_operation_reaches_another_companys_object(matrix_world, client, attacker):
    w = matrix_world
    _token, secret = issue_token(getattr(w.b, attacker).user, "attack")
    before = a_snapshot(w)
    for method, path, op in api_operations(client):
        has_body = "requestBody" in op
        if has_body:
            assert (method, path) in API_BODIES, f"add a valid example body for {method.upper()} {path}"
            if API_BODIES[(method, path)] is None:
                continue
        if not set(re.findall(r"\{(\w+)\}", path)) - NOT_OBJECTS and not has_body:
            continue  # list endpoints (and choices such as an import kind): see the next test
        body = API_BODIES[(method, path)](w) if has_body else None
        response = call(client, method, with_required_query(fill(path, OBJECTS, w), op), body, secret)
        assert response.status_code in (403, 404, 422), f"{method.upper()} {path} → {response.status_code}"
        if response.status_code == 422:
            # A refusal on the referenced foreign id: it must not reveal the object exists.
            assert response.json()["code"] not in {"conflict"}, response.json()
    assert a_snapshot(w) == before, "a refused API request changed company A's data"


def test_api_lists_never_show_another_companys_objects(matrix_world, client):
    w = matrix_world
    _token, secret = issue_token(w.b.admin.user, "attack")
    query = "&".join(f"{p}={w.a.plant.pk}" for p in FILTER_PARAMS)
    for method, path, _op in api_operations(client):
        if method != "get" or "{" in path or path.endswith("openapi.json"):
            continue
        for url in (path, f"{path}?{query}", f"{path}?q={w.a.area.name}"):
            response = call(client, "get", url, None, secret)
            assert response.status_code < 500, f"GET {url} → {response.status_code}"
            body = response.content.decode(errors="replace")  # an export is a workbook, not JSON
            for name in a_names(w):
                assert json.dumps(name)[1:-1] not in body and name not in body, f"GET {url} shows {name!r}"


def test_api_own_objects_are_reachable(matrix_world, client):
    w = matrix_world
    _token, secret = issue_token(w.b.admin.user, "own")
    opened = 0
    for method, path, op in api_operations(client):
        if method == "get" and "{" in path:
            response = call(client, "get", with_required_query(fill(path, OWN_OBJECTS, w), op), None, secret)
            assert response.status_code == 200, f"GET {path} → {response.status_code}: {response.content[:200]}"
            opened += 1
    assert opened >= 6


def test_flows_scoping(matrix_world):
    """Uploads and jobs of issue 3 that the generic walk cannot express."""
    w = matrix_world
    client = client_for(w.b.admin)
    before = a_snapshot(w)
    upload = SimpleUploadedFile("p.jpg", jpeg(3), content_type="image/jpeg")
    response = client.post("/api/v1/files", {"file": upload, "company_id": w.a.unit.pk})
    assert response.status_code == 404 and response.json()["field"] == "company_id"
    # A's job is invisible in B's ledger filters and B's own photo cannot be attached to it.
    assert client.get(f"/api/v1/instances?area_id={w.a.area.pk}").json()["count"] == 0
    assert client.get(f"/api/v1/instances?person_id={w.a.worker.pk}").json()["count"] == 0
    assert a_snapshot(w) == before


def test_entry_check_scoping(matrix_world):
    """A gate of company B scanning company A's badge: logged as B's check of an invalid badge,
    nothing about A's person in the answer, nothing of A's changed."""
    w = matrix_world
    client = client_for(w.b.officer)
    before = a_snapshot(w)
    response = client.post("/api/v1/entry-checks", {"token": w.a.workforce["token"]}, content_type="application/json")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["go"] is False and answer["token_state"] == "forged"
    for secret in a_names(w):
        assert secret not in response.content.decode()
    assert a_snapshot(w) == before
