"""A company A site for the sensors tests: a gateway with two points, a sustained temperature rule
that freezes the tank area, a silence rule on the gateway's heartbeat, and a running job there."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from anlian.flows import core
from anlian.flows import services as flows
from anlian.notify import texts
from anlian.orgs.access import SYSTEM
from anlian.sensors import services
from tests.conftest import make_person

CST = timezone(timedelta(hours=8))

TEMPLATE = """
key: sensor-test
name: 罐区测试作业
kind: permit
validity: 12h
guards:
  - area_not_frozen
steps:
  - key: apply
    name: 作业申请
    actor: applicant
    fields:
      - {key: content, label: 作业内容, type: text, required: true}
  - key: approve
    name: 安全审批
    kind: approval
    actor: {role: safety_officer, scope: plant}
    approval: {mode: single}
"""

TEMP = {"key": "r101-temp", "name": "R-101反应釜温度偏离设定值", "kind": "threshold", "point": "TT-101",
        "setpoint": 80, "band": 5, "for": "120s", "level": 3, "actions": ["notify", "freeze"]}
SILENT = {"key": "gw-silent", "name": "罐区网关通讯中断", "kind": "silence", "points": ["@gw-tank"],
          "interval": "5m", "misses": 2, "level": 2, "actions": ["notify"]}


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 23, 9, 0, tzinfo=CST) + timedelta(minutes=minute, seconds=second)


class Site:
    def __init__(self, world, silence: bool = False):
        texts.sync_shipped_texts()
        self.world = world
        a = self.a = world.a
        self.device = services.create_device(a.admin.user, org_unit=a.plant, area=a.area, code="gw-tank", name="罐区网关")
        self.token = services.issue_ingest_token(a.admin.user, self.device)
        services.add_point(a.admin.user, self.device, code="TT-101", kind="temperature", unit="℃", set_point=80)
        services.add_point(a.admin.user, self.device, code="LT-3", kind="level", unit="m")
        self.rule = services.save_rule(a.admin.user, None, company=a.unit, definition=TEMP, area=a.area)
        if silence:
            self.silent = services.save_rule(a.admin.user, None, company=a.unit, definition=SILENT)
        self.manager = make_person(a.plant, "厂长", "A090", [("safety_officer", a.plant)], login="A-manager")
        self.version = flows.save_version(SYSTEM, None, TEMPLATE, owner=a.unit, publish=True)
        self.job = self.apply(at(-60))

    def apply(self, when: datetime):
        return flows.start(self.a.worker.user, self.version, self.a.area,
                           first=core.Action("complete", step="apply", values={"content": "罐区焊接"}), now=when)
