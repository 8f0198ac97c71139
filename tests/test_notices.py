"""The in-app inbox: a person sees only their own notices, and can mark them read."""

from __future__ import annotations

import pytest

from anlian.core import clock
from anlian.core.models import Notice
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def notice(person, key: str, title: str) -> Notice:
    return Notice.objects.create(person=person, key=key, title=title, body="正文", url="/permits/", created_at=clock.now())


def test_the_inbox_shows_my_notices_only_and_marks_them_read(world):
    notice(world.a.worker, "k1", "证书30天后到期")
    notice(world.a.officer, "k2", "别人的消息")
    notice(world.b.worker, "k3", "乙公司的消息")
    client = client_for(world.a.worker)
    page = client.get("/m/notices/").content.decode()
    assert "证书30天后到期" in page and "别人的消息" not in page and "乙公司的消息" not in page
    assert "我的消息 (1)" in client.get("/m/").content.decode()
    assert client.post("/m/notices/").status_code == 302
    assert not Notice.objects.filter(person=world.a.worker, read_at__isnull=True).exists()
    assert Notice.objects.get(key="k2").read_at is None  # someone else's stays unread
    assert "我的消息 (" not in client.get("/m/").content.decode()


def test_the_inbox_needs_a_login_and_csrf(world):
    from django.test import Client

    assert Client().get("/m/notices/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(world.a.worker.user)
    assert strict.post("/m/notices/").status_code == 403


def test_a_notice_key_is_sent_once(world):
    notice(world.a.worker, "same", "一次")
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        notice(world.a.worker, "same", "两次")
