"""Concurrent batches on PostgreSQL: the engine state is locked per company, so the same breach
posted by several gateways' retries at once raises one alarm, one freeze, one message."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from anlian.core import clock
from anlian.flows.models import AreaFreeze
from anlian.notify.models import Message
from anlian.sensors import runner
from anlian.sensors.engine import Reading
from anlian.sensors.models import Alarm
from tests.test_sensors_site import Site, at

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_the_same_breach_posted_at_once_raises_one_alarm(world):
    site = Site(world)
    clock.set_now(at(2))
    # The state row exists already (first use creates it, which alone would serialise the posts).
    runner.accept(site.a.unit, [Reading("TT-101", 80.0, at(-1))])
    body = json.dumps([{"point": "TT-101", "value": 95.0, "ts": at(0, s).isoformat()} for s in range(0, 121, 30)])
    barrier, answers = threading.Barrier(4), []

    def post() -> None:
        from django.db import connections

        try:
            barrier.wait()
            answers.append(Client().post("/api/v1/readings", data=body, content_type="application/json",
                                         HTTP_AUTHORIZATION=f"Bearer {site.token}").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 4
    assert Alarm.objects.count() == 1 and AreaFreeze.objects.count() == 1
    assert Message.objects.filter(event="sensor_alarm").count() == 1
