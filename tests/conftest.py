"""Shared fixtures: two companies whose people must never see each other's data."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Person, Role

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Counters kept in the cache (the public verify page's limit per address) start afresh."""
    yield
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        from django.core.cache import cache

        cache.clear()


@pytest.fixture(autouse=True)
def _real_clock():
    """A test that pins the clock never leaves it pinned for the next one."""
    yield
    from anlian.core import clock

    clock.set_now(None)


def make_person(unit: OrgUnit, name: str, no: str, roles: list[tuple[str, OrgUnit]] = (), login: str = "") -> Person:
    person = services.save_person(SYSTEM, None, org_unit=unit, name=name, employee_no=no)
    for code, where in roles:
        services.grant_role(SYSTEM, person, Role.objects.get(code=code, owner=None), where)
    if login:
        services.set_login(SYSTEM, person, username=login, password=PASSWORD)
    return person


@dataclass
class Company:
    unit: OrgUnit
    plant: OrgUnit
    team: OrgUnit
    area: Area
    equipment: Equipment
    admin: Person
    officer: Person
    worker: Person


def make_company(group: OrgUnit, name: str, prefix: str) -> Company:
    unit = services.create_unit(SYSTEM, name=name, kind=OrgKind.COMPANY, parent=group)
    plant = services.create_unit(SYSTEM, name=f"{name}一厂", kind=OrgKind.PLANT, parent=unit)
    team = services.create_unit(SYSTEM, name=f"{name}一班", kind=OrgKind.TEAM, parent=plant)
    area = services.save_area(SYSTEM, None, org_unit=plant, name=f"{name}罐区", is_outdoor=True,
                              center_lat=30.0, center_lng=120.0, radius_m=100)
    equipment = services.save_equipment(SYSTEM, None, org_unit=plant, area=area, code=f"{prefix}-EQ1", name="储罐")
    admin = make_person(unit, f"{name}管理员", f"{prefix}001", [("admin", unit)], login=f"{prefix}-admin")
    officer = make_person(plant, f"{name}安全员", f"{prefix}002", [("safety_officer", plant)], login=f"{prefix}-safety")
    worker = make_person(team, f"{name}工人", f"{prefix}003", [("applicant", team)], login=f"{prefix}-worker")
    return Company(unit, plant, team, area, equipment, admin, officer, worker)


@dataclass
class World:
    group: OrgUnit
    a: Company
    b: Company


@pytest.fixture
def world(db) -> World:
    group = services.create_unit(SYSTEM, name="测试集团", kind=OrgKind.GROUP, parent=None)
    return World(group, make_company(group, "甲公司", "A"), make_company(group, "乙公司", "B"))


def client_for(person: Person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def csrf_client_for(person: Person) -> Client:
    """A client that enforces CSRF like a browser, for testing form and session-API protection."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(person.user)
    return client
