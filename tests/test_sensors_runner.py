"""The company's engine at work: alarms raised once, messages, freezes that suspend running jobs
and refuse new ones, and their end only when the values are normal and a person resolves."""

from __future__ import annotations

import pytest

from anlian.core import clock
from anlian.core.errors import Forbidden, Invalid
from anlian.flows import core
from anlian.flows import services as flows
from anlian.flows.models import AreaFreeze, InstanceStatus
from anlian.flows.services import EngineRefusal
from anlian.notify.models import Message
from anlian.sensors import runner
from anlian.sensors.engine import Reading
from anlian.sensors.models import Alarm, AlarmStatus, EngineState
from anlian.sensors.tasks import sensor_tick
from tests.test_sensors_site import Site, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(world) -> Site:
    return Site(world)


def feed(site: Site, values: list[tuple[int, float]], point: str = "TT-101") -> list[Alarm]:
    """One reading every `second` of minute 0 onward; the clock follows the readings."""
    out = []
    for second, value in values:
        clock.set_now(at(0, second))
        out += runner.accept(site.a.unit, [Reading(point, value, at(0, second))])
    return out


def breach(site: Site, start: int = 0, value: float = 90.0) -> list[Alarm]:
    return feed(site, [(start + s, value) for s in range(0, 121, 30)])


def test_sustained_breach_raises_one_alarm_notifies_and_freezes_the_area(site):
    job = site.job
    assert job.status == InstanceStatus.ACTIVE
    assert breach(site, value=89.0)[-1].status == AlarmStatus.RAISED
    alarm = Alarm.objects.get()
    assert (alarm.level, alarm.points, alarm.value, alarm.area, alarm.org_unit) == (3, ["TT-101"], 89.0, site.a.area,
                                                                                   site.a.plant)
    assert alarm.raised_at == at(2) and alarm.since == at(0)
    assert "TT-101" in alarm.reason and "2分钟" in alarm.reason
    message = Message.objects.get(event="sensor_alarm")
    assert message.key == f"alarm:{alarm.pk}" and message.severity == "critical"
    assert site.rule.name in message.title and alarm.reason in message.body
    freeze = AreaFreeze.objects.get(area=site.a.area)
    assert alarm.freeze == freeze and freeze.ended_at is None and freeze.started_at == at(2)
    with pytest.raises(EngineRefusal) as refused:
        site.apply(at(3))
    assert refused.value.code == "area_frozen"
    with pytest.raises(EngineRefusal) as step:  # the running job was suspended by the system
        flows.act(site.a.officer.user, job, core.Action("approve", step="approve"), now=at(3))
    assert step.value.code == "suspended"
    # still beyond the band: nothing more
    assert feed(site, [(150, 95.0), (180, 95.0)]) == []
    assert Alarm.objects.count() == 1 and AreaFreeze.objects.count() == 1 and Message.objects.count() == 1


def test_a_short_spike_raises_nothing(site):
    assert feed(site, [(0, 95.0), (60, 95.0), (119, 95.0), (120, 84.0), (200, 99.0), (300, 99.0)]) == []
    assert not Alarm.objects.exists() and not AreaFreeze.objects.exists()
    site.job.refresh_from_db()
    assert site.job.status == InstanceStatus.ACTIVE


def test_resolve_is_refused_until_values_are_normal_for_clear_after(site):
    breach(site)
    alarm = Alarm.objects.get()
    officer, worker = site.a.officer.user, site.a.worker.user
    with pytest.raises(Forbidden):
        runner.resolve(worker, alarm)
    with pytest.raises(Forbidden):
        runner.acknowledge(site.world.b.admin.user, alarm)
    assert runner.acknowledge(officer, alarm, at(3)).status == AlarmStatus.ACKNOWLEDGED
    with pytest.raises(Invalid) as refused:
        runner.resolve(officer, alarm, at(3))
    assert refused.value.code == "alarm_not_cleared" and "尚未恢复正常" in refused.value.message()
    # normal for 90 s only: still not cleared (clear_after = for = 120 s)
    assert feed(site, [(180, 80.0), (240, 81.0), (270, 79.0)]) == []
    with pytest.raises(Invalid):
        runner.resolve(officer, alarm, at(5))
    cleared = feed(site, [(300, 80.0)])
    assert [a.status for a in cleared] == [AlarmStatus.CLEARED]
    alarm.refresh_from_db()
    assert alarm.cleared_at == at(5) and alarm.freeze.ended_at is None  # the freeze waits for a person
    with pytest.raises(EngineRefusal):
        site.apply(at(6))
    with pytest.raises(EngineRefusal) as frozen:  # values normal, but no person has resolved it yet
        flows.act(site.a.worker.user, site.job, core.Action("resume"), now=at(6))
    assert frozen.value.code == "area_frozen"
    resolved = runner.resolve(officer, alarm, at(7))
    assert (resolved.status, resolved.resolved_by, resolved.resolved_at) == (AlarmStatus.RESOLVED, site.a.officer, at(7))
    assert AreaFreeze.objects.get().ended_at == at(7)
    assert site.apply(at(8)).status == InstanceStatus.ACTIVE  # new work is allowed again
    # The suspended job goes on only once a person resumes it (with the template's resumption steps).
    flows.act(site.a.worker.user, site.job, core.Action("resume"), now=at(8))
    flows.act(officer, site.job, core.Action("approve", step="approve"), now=at(8))
    with pytest.raises(Invalid):
        runner.resolve(officer, alarm, at(9))


def test_raised_again_before_resolved_is_the_same_alarm(site):
    breach(site)
    feed(site, [(300, 80.0), (420, 80.0)])
    alarm = Alarm.objects.get()
    assert alarm.status == AlarmStatus.CLEARED
    breach(site, start=600)
    alarm.refresh_from_db()
    assert (alarm.status, alarm.raised_count, alarm.cleared_at) == (AlarmStatus.RAISED, 2, None)
    assert Alarm.objects.count() == 1 and AreaFreeze.objects.count() == 1
    assert Message.objects.filter(event="sensor_alarm").count() == 2
    feed(site, [(900, 80.0), (1020, 80.0)])
    runner.resolve(site.a.officer.user, alarm, at(18))
    breach(site, start=1200)  # after a person resolved it: a new alarm, a new freeze
    assert Alarm.objects.count() == 2 and AreaFreeze.objects.filter(ended_at__isnull=True).count() == 1


def test_replayed_readings_raise_nothing_twice(site):
    readings = [Reading("TT-101", 90.0, at(0, s)) for s in range(0, 121, 30)]
    clock.set_now(at(2))
    assert len(runner.accept(site.a.unit, readings)) == 1
    assert runner.accept(site.a.unit, readings) == []
    assert runner.accept(site.a.unit, readings[-2:]) == []
    assert Alarm.objects.count() == 1 and Message.objects.count() == 1


def test_state_survives_between_batches_and_the_tick_raises_a_late_sustained_condition(site):
    feed(site, [(0, 90.0)])
    state = EngineState.objects.get(company=site.a.unit)
    assert '"since"' in state.state
    assert runner.tick(at(1, 59)) == 0
    clock.set_now(at(1, 59))
    assert sensor_tick.call_local() == 0
    clock.set_now(at(2))
    assert sensor_tick.call_local() == 1  # the periodic task: the reading due at 2 minutes never came
    assert Alarm.objects.get().raised_at == at(2)


def test_a_freeze_suspends_the_jobs_running_in_the_area(site):
    breach(site)
    site.job.refresh_from_db()
    assert site.job.status == InstanceStatus.SUSPENDED
    assert site.job.events.last().payload["reason"].startswith("设备报警「R-101")


def test_silence_rule_raises_on_tick_after_the_misses(world):
    site = Site(world, silence=True)
    clock.set_now(at(0))
    runner.accept(site.a.unit, [Reading("@gw-tank", 2.0, at(0))])
    assert runner.tick(at(9, 59)) == 0
    assert runner.tick(at(10)) == 1
    alarm = Alarm.objects.get(rule=site.silent)
    assert alarm.area is None and alarm.org_unit == site.a.unit and alarm.freeze is None
    assert "10分钟无有效数据" in alarm.reason
    runner.accept(site.a.unit, [Reading("@gw-tank", 2.0, at(11))])
    alarm.refresh_from_db()
    assert alarm.status == AlarmStatus.CLEARED
    assert runner.resolve(site.a.admin.user, alarm, at(12)).status == AlarmStatus.RESOLVED


def test_a_changed_or_switched_off_rule_is_used_at_the_next_batch(site):
    from anlian.sensors import services
    from tests.test_sensors_site import TEMP

    feed(site, [(0, 80.0)])  # the engine is built (and kept) with band 80 ± 5
    rule = services.save_rule(site.a.admin.user, site.rule, company=site.a.unit, area=site.a.area,
                              definition={**TEMP, "band": 20})
    assert breach(site, start=10, value=95.0) == []  # 95 is inside 80 ± 20 now
    services.save_rule(site.a.admin.user, rule, company=site.a.unit, area=site.a.area, definition=TEMP,
                       is_active=False)
    assert breach(site, start=300, value=95.0) == []
    services.save_rule(site.a.admin.user, rule, company=site.a.unit, area=site.a.area, definition=TEMP)
    assert [a.status for a in breach(site, start=600, value=95.0)] == [AlarmStatus.RAISED]
