"""我的待办 (issue 7, point 4): one list per person of steps, approvals, hazards, certificates,
violations, training and unread notices — each for its own person only, overdue first, every link
opening the item, in a bounded number of queries."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse

from anlian.core import clock
from anlian.core.models import Notice
from anlian.flows import core
from anlian.flows import services as flows
from anlian.notify import todos as todo_list
from anlian.notify.todos import todos
from anlian.orgs.access import SYSTEM
from anlian.training.models import Assignment
from anlian.workforce.models import Certificate, CertificateKind, Violation
from tests.conftest import client_for
from tests.test_hazards_timers import Plant, at

pytestmark = pytest.mark.django_db
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 5, 19, 9, 30, tzinfo=CST)

# Until the lead includes the module at the site root, this test module is the URL conf.
urlpatterns = [path("", include("anlian.notify.urls_todos")), path("", include("anlian.urls"))]

TEMPLATE = """
key: todo-test
name: 待办测试作业
kind: permit
validity: 8h
steps:
  - key: apply
    name: 作业申请
    actor: applicant
    fields:
      - {key: content, label: 作业内容, type: text, required: true}
  - key: approve
    name: 待办审批
    kind: approval
    actor: {role: safety_officer, scope: plant}
    approval: {mode: single}
    deadline: 2h
"""


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def world(world):
    """The shared world, less the three-level education every new person owes from hiring (each
    test gives the training it lists itself)."""
    Assignment.objects.all().delete()
    return world


def start_job(company, content: str, when: datetime):
    version = flows.save_version(SYSTEM, None, TEMPLATE.replace("todo-test", f"todo-{company.unit.pk}"),
                                 owner=company.unit, publish=True)
    return flows.start(company.worker.user, version, company.area,
                       first=core.Action("complete", step="apply", values={"content": content}), now=when)


def give_records(company, tag: str) -> None:
    """A certificate that expired, one expiring in 10 days and one valid for years; a violation due
    yesterday; training owed in 60 days; two unread notices and a read one — all the worker's."""
    kinds = list(CertificateKind.objects.filter(owner=None).order_by("pk")[:3])
    today = NOW.date()
    for k, expires, no in ((kinds[0], today - timedelta(days=3), "1"), (kinds[1], today + timedelta(days=10), "2"),
                           (kinds[2], today + timedelta(days=900), "3")):
        Certificate.objects.create(person=company.worker, company=company.unit, kind=k, number=f"{tag}-C{no}",
                                   issued_on=date(2020, 1, 1), expires_on=expires)
    Violation.objects.create(person=company.worker, what=f"{tag}未系安全带", occurred_at=NOW - timedelta(days=2),
                             rectify_due=today - timedelta(days=1))
    Violation.objects.create(person=company.worker, what=f"{tag}已销号违章", occurred_at=NOW - timedelta(days=9),
                             status="closed")
    Assignment.objects.create(person=company.worker, level="refresher", year=2026, hours_required=20,
                              due_on=today + timedelta(days=60))
    for n, read in ((1, None), (2, None), (3, NOW)):
        Notice.objects.create(person=company.worker, key=f"{tag}-{n}", title=f"{tag}消息{n}", created_at=NOW,
                              read_at=read)


def text(response) -> str:
    return response.content.decode()


# --- who sees what -----------------------------------------------------------------------------------------


def test_each_source_reaches_its_own_person_only(world):
    for company, tag in ((world.a, "甲"), (world.b, "乙")):
        give_records(company, tag)
        start_job(company, f"{tag}3号罐焊接", NOW - timedelta(minutes=30))
    worker = todos(world.a.worker.user, NOW)
    kinds = sorted(t.kind for t in worker)
    assert kinds == ["certificate", "certificate", "notices", "training", "violation"]
    assert [t.count for t in worker if t.kind == "notices"] == [2]
    assert "甲未系安全带" in [t.title for t in worker] and "甲已销号违章" not in [t.title for t in worker]
    officer = todos(world.a.officer.user, NOW)
    assert [(t.kind, t.action) for t in officer] == [("step", "审批：待办审批")]
    assert officer[0].due == NOW - timedelta(minutes=30) + timedelta(hours=2)
    # Nothing of company B's, in either list, and nothing of the worker's in the officer's.
    for items in (worker, officer):
        for t in items:
            assert "乙" not in t.title
    b_certs = set(Certificate.objects.filter(company=world.b.unit).values_list("pk", flat=True))
    for t in worker:
        if t.kind == "certificate":
            assert int(t.url.rstrip("/").rsplit("/", 1)[1]) not in b_certs
    assert todos(world.a.admin.user, NOW) == []


def test_the_pages_list_the_same_items_for_their_owner_only(world):
    for company, tag in ((world.a, "甲"), (world.b, "乙")):
        give_records(company, tag)
    clock.set_now(NOW)
    client = client_for(world.a.worker)
    phone, desktop = text(client.get("/m/todo/")), text(client.get("/todo/"))
    for page in (phone, desktop):
        assert "我的待办" in page and "甲未系安全带" in page and "2条未读消息" in page and "年度再培训" in page
        assert "乙" not in page.replace("乙公司", "")  # B's company name may appear in no row either
    assert phone.count('class="red"') == 2  # the expired certificate and the late violation
    assert phone.count('class="orange"') == 1  # the certificate expiring in 10 days
    assert "已超期" in desktop and "即将到期" in desktop
    assert "甲未系安全带" not in text(client_for(world.b.worker).get("/m/todo/"))


def test_a_hazard_goes_to_the_responsible_person_with_its_deadline(world):
    plant = Plant(world)
    hazard = plant.report(at(9, 0))
    fitter = todos(plant.fitter.user, at(9, 30))
    rows = [t for t in fitter if t.kind == "hazard"]
    assert len(rows) == 1 and rows[0].title == hazard.description
    assert rows[0].due == hazard.respond_due and not rows[0].overdue and rows[0].soon
    assert rows[0].desktop_url == reverse("hazards:detail", args=[hazard.pk])
    assert rows[0].url.startswith(reverse("permits:job", args=[hazard.instance_id]))
    late = [t for t in todos(plant.fitter.user, at(10, 5)) if t.kind == "hazard"]
    assert late[0].overdue
    # The verifier takes part in the job but is not responsible; company B's manager sees nothing.
    for person in (world.a.officer, plant.b_manager, world.a.worker):
        assert [t for t in todo_list._hazards(person.user, person, at(9, 30), set())] == []
    # Not listed as a step (e.g. a step the person cannot take now): the hazard row itself.
    alone = todo_list._hazards(plant.fitter.user, plant.fitter, at(9, 30), set())
    assert [(t.url, t.action) for t in alone] == [(reverse("hazards:m_detail", args=[hazard.pk]), "接收期限将到或已过")]
    # Far from any deadline it is not a hazard row (its step still is).
    assert todo_list._hazards(plant.fitter.user, plant.fitter, at(9, 30) - timedelta(days=2), set()) == []


def test_overdue_first_then_by_deadline(world):
    give_records(world.a, "甲")
    start_job(world.a, "焊接", NOW - timedelta(minutes=30))
    Certificate.objects.filter(person=world.a.worker).update(person=world.a.officer)
    Violation.objects.filter(person=world.a.worker).update(person=world.a.officer)
    Notice.objects.create(person=world.a.officer, key="n", title="消息", created_at=NOW)
    items = todos(world.a.officer.user, NOW)
    assert [t.kind for t in items] == ["certificate", "violation", "step", "certificate", "notices"]
    assert [t.overdue for t in items] == [True, True, False, False, False]
    dues = [t.due for t in items if t.due is not None]
    assert dues[:2] == sorted(dues[:2]) and dues[2:] == sorted(dues[2:])


def test_every_link_opens_the_item_for_its_owner(world):
    give_records(world.a, "甲")
    start_job(world.a, "焊接", NOW - timedelta(minutes=30))
    clock.set_now(NOW)
    for person in (world.a.worker, world.a.officer):
        client = client_for(person)
        items = todos(person.user, NOW)
        assert items
        for t in items:
            for url in (t.url, t.desktop_url):
                assert client.get(url).status_code == 200, (t.kind, url)


def test_the_hazard_links_open_for_the_responsible_person(world):
    plant = Plant(world)
    plant.report(at(9, 0))
    client = client_for(plant.fitter)
    alone = todo_list._hazards(plant.fitter.user, plant.fitter, at(9, 30), set())
    for t in todos(plant.fitter.user, at(9, 30)) + alone:
        for url in (t.url, t.desktop_url):
            assert client.get(url).status_code == 200, url


# --- bounded ---------------------------------------------------------------------------------------------


def queries(user) -> int:
    with CaptureQueriesContext(connection) as seen:
        todos(user, NOW)
    return len(seen)


def test_the_number_of_queries_does_not_grow_with_the_items(world, django_assert_max_num_queries):
    give_records(world.a, "甲")
    Certificate.objects.filter(person=world.a.worker).update(person=world.a.officer)
    start_job(world.a, "焊接1", NOW - timedelta(minutes=30))
    few = queries(world.a.officer.user)
    for n in range(2, 6):
        start_job(world.a, f"焊接{n}", NOW - timedelta(minutes=30))
        Certificate.objects.create(person=world.a.officer, company=world.a.unit,
                                   kind=CertificateKind.objects.filter(owner=None).order_by("pk")[n + 3],
                                   number=f"X{n}", issued_on=date(2020, 1, 1), expires_on=NOW.date())
    assert queries(world.a.officer.user) <= few  # the first call may also fill per-user caches
    with django_assert_max_num_queries(few):
        assert len(todos(world.a.officer.user, NOW)) >= 10


# --- the pages refuse what they must ----------------------------------------------------------------------


def test_the_pages_need_a_login_and_refuse_writes(world):
    for url in ("/m/todo/", "/todo/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
        client = client_for(world.a.worker)
        assert client.post(url, {"x": "1"}).status_code == 405
        for query in ("?page=-1", "?kind=<script>alert(1)</script>", "?q=" + "长" * 5000,
                      "?person=" + str(world.b.worker.pk)):
            page = client.get(url + query)
            assert page.status_code == 200 and "<script>alert" not in text(page)


def test_an_account_without_a_person_sees_an_empty_list(db):
    user = get_user_model().objects.create_user("loner", password="correct-horse-battery-9")
    client = Client()
    client.force_login(user)
    for url in ("/m/todo/", "/todo/"):
        page = client.get(url)
        assert page.status_code == 200 and "没有等待你处理的事项" in text(page)
