"""Demo data: a port group with two companies, its areas, equipment and about 30 people.

Loading is idempotent: every object is found by its natural key before it is created, so running
`anlian demo` twice leaves the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import Area, Equipment, OrgKind, OrgUnit, Person, Role, RoleGrant

DEMO_PASSWORD = "anlian-demo-2026"

# (name, kind, children)
TREE = (
    "临海港口集团", OrgKind.GROUP, [
        ("临海港务股份有限公司", OrgKind.COMPANY, [
            ("集装箱装卸一队", OrgKind.PLANT, [
                ("桥吊车间", OrgKind.WORKSHOP, [("桥吊一班", OrgKind.TEAM, []), ("桥吊二班", OrgKind.TEAM, [])]),
                ("场桥车间", OrgKind.WORKSHOP, [("场桥一班", OrgKind.TEAM, [])]),
            ]),
            ("机修厂", OrgKind.PLANT, [
                ("电气车间", OrgKind.WORKSHOP, [("电工班", OrgKind.TEAM, [])]),
                ("机加工车间", OrgKind.WORKSHOP, [("焊工班", OrgKind.TEAM, [])]),
            ]),
            ("安全环保部", OrgKind.PLANT, []),
        ]),
        ("临海散货码头有限公司", OrgKind.COMPANY, [
            ("散货装卸队", OrgKind.PLANT, [
                ("皮带机车间", OrgKind.WORKSHOP, [("皮带运行一班", OrgKind.TEAM, []), ("皮带运行二班", OrgKind.TEAM, [])]),
                ("堆取料车间", OrgKind.WORKSHOP, [("斗轮机班", OrgKind.TEAM, [])]),
            ]),
            ("燃气站", OrgKind.PLANT, [("储罐车间", OrgKind.WORKSHOP, [("储运班", OrgKind.TEAM, [])])]),
        ]),
    ],
)

# (unit, name, code, outdoor, explosion, confined, lat, lng, radius)
AREAS = [
    ("集装箱装卸一队", "3#泊位", "BW-03", True, False, False, 29.9380, 121.8870, 250),
    ("集装箱装卸一队", "4#泊位", "BW-04", True, False, False, 29.9392, 121.8905, 250),
    ("机修厂", "机修车间厂房", "JX-01", False, False, False, 29.9335, 121.8812, 60),
    ("机修厂", "废油回收池", "JX-02", True, False, True, 29.9331, 121.8820, 10),
    ("散货装卸队", "1#皮带机廊道", "BC-L1", False, False, False, 29.9451, 121.8990, 300),
    ("散货装卸队", "2#皮带机廊道", "BC-L2", False, False, False, 29.9458, 121.9012, 300),
    ("散货装卸队", "翻车机房", "FC-01", False, False, True, 29.9470, 121.8975, 40),
    ("燃气站", "液化气罐区", "GAS-01", True, True, False, 29.9412, 121.9050, 80),
    ("燃气站", "调压站", "GAS-02", True, True, False, 29.9418, 121.9062, 25),
]

# (unit, area, code, name, model)
EQUIPMENT = [
    ("桥吊车间", "3#泊位", "QC-301", "3#岸边集装箱起重机", "ZPMC 65t"),
    ("桥吊车间", "4#泊位", "QC-401", "4#岸边集装箱起重机", "ZPMC 65t"),
    ("场桥车间", "3#泊位", "RTG-12", "12#轮胎式龙门起重机", "RTG 40.5t"),
    ("电气车间", "机修车间厂房", "DP-07", "7#配电柜", "GGD"),
    ("机加工车间", "机修车间厂房", "WD-02", "2#逆变焊机", "ZX7-400"),
    ("皮带机车间", "1#皮带机廊道", "BC-101", "BC1 带式输送机", "B1400 3000t/h"),
    ("皮带机车间", "2#皮带机廊道", "BC-102", "BC2 带式输送机", "B1400 3000t/h"),
    ("堆取料车间", "1#皮带机廊道", "SR-01", "1#斗轮堆取料机", "DQL3000"),
    ("储罐车间", "液化气罐区", "TK-01", "1#液化气球罐", "1000m³"),
    ("储罐车间", "调压站", "PRV-01", "调压撬", "RTZ-50"),
]


@dataclass(frozen=True)
class DemoPerson:
    unit: str
    name: str
    employee_no: str
    phone: str
    roles: tuple[tuple[str, str], ...]  # (role code, unit where granted)
    login: str = ""


PEOPLE = [
    DemoPerson("临海港口集团", "周建国", "G0001", "13800000001", (("admin", "临海港口集团"),), "admin"),
    DemoPerson("临海港口集团", "监管-陈静", "G0900", "13800000900", (("regulator", "临海港务股份有限公司"),), "regulator"),
    DemoPerson("临海港务股份有限公司", "李海峰", "A0001", "13900000001", (("admin", "临海港务股份有限公司"), ("manager", "临海港务股份有限公司")), "port-admin"),
    DemoPerson("临海港务股份有限公司", "王思远", "A0002", "13900000002", (("approver_company", "临海港务股份有限公司"), ("manager", "临海港务股份有限公司"))),
    DemoPerson("安全环保部", "张安", "A0101", "13900000101", (("safety_officer", "临海港务股份有限公司"),), "safety"),
    DemoPerson("安全环保部", "刘敏", "A0102", "13900000102", (("process_supervisor", "临海港务股份有限公司"),), "supervisor"),
    DemoPerson("集装箱装卸一队", "赵德明", "A1001", "13900001001", (("approver_plant", "集装箱装卸一队"),), "approver"),
    DemoPerson("桥吊车间", "孙立", "A1101", "13900001101", (("approver_workshop", "桥吊车间"),)),
    DemoPerson("桥吊一班", "钱伟", "A1111", "13900001111", (("approver_team", "桥吊一班"), ("applicant", "桥吊一班"))),
    DemoPerson("桥吊一班", "周涛", "A1112", "13900001112", (("applicant", "桥吊一班"),), "worker"),
    DemoPerson("桥吊二班", "吴强", "A1121", "13900001121", (("applicant", "桥吊二班"),)),
    DemoPerson("场桥一班", "郑凯", "A1211", "13900001211", (("applicant", "场桥一班"),)),
    DemoPerson("机修厂", "冯建华", "A2001", "13900002001", (("approver_plant", "机修厂"),)),
    DemoPerson("电气车间", "陈电", "A2101", "13900002101", (("approver_workshop", "电气车间"),)),
    DemoPerson("电工班", "褚明", "A2111", "13900002111", (("applicant", "电工班"),)),
    DemoPerson("电工班", "卫东", "A2112", "13900002112", (("guardian", "机修厂"),), "guardian"),
    DemoPerson("焊工班", "蒋焊", "A2211", "13900002211", (("applicant", "焊工班"),), "welder"),
    DemoPerson("焊工班", "沈光", "A2212", "13900002212", (("applicant", "焊工班"),)),
    DemoPerson("机加工车间", "韩析", "A2201", "13900002201", (("analyst", "临海港务股份有限公司"),), "analyst"),
    DemoPerson("临海散货码头有限公司", "杨帆", "B0001", "13700000001", (("admin", "临海散货码头有限公司"), ("manager", "临海散货码头有限公司")), "bulk-admin"),
    DemoPerson("临海散货码头有限公司", "朱立新", "B0002", "13700000002", (("approver_company", "临海散货码头有限公司"),)),
    DemoPerson("临海散货码头有限公司", "秦安全", "B0101", "13700000101", (("safety_officer", "临海散货码头有限公司"),), "bulk-safety"),
    DemoPerson("散货装卸队", "尤大勇", "B1001", "13700001001", (("approver_plant", "散货装卸队"),)),
    DemoPerson("皮带机车间", "许峰", "B1101", "13700001101", (("approver_workshop", "皮带机车间"),)),
    DemoPerson("皮带运行一班", "何勇", "B1111", "13700001111", (("approver_team", "皮带运行一班"), ("applicant", "皮带运行一班"))),
    DemoPerson("皮带运行一班", "吕小兵", "B1112", "13700001112", (("applicant", "皮带运行一班"),), "bulk-worker"),
    DemoPerson("皮带运行二班", "施亮", "B1121", "13700001121", (("applicant", "皮带运行二班"),)),
    DemoPerson("斗轮机班", "张斗", "B1211", "13700001211", (("applicant", "斗轮机班"),)),
    DemoPerson("燃气站", "孔祥", "B2001", "13700002001", (("approver_plant", "燃气站"),)),
    DemoPerson("储运班", "曹监", "B2111", "13700002111", (("guardian", "燃气站"),)),
    DemoPerson("储运班", "严测", "B2112", "13700002112", (("analyst", "燃气站"),)),
]


def _units(spec, parent: OrgUnit | None, found: dict[str, OrgUnit]) -> None:
    name, kind, children = spec
    unit = OrgUnit.objects.filter(parent=parent, name=name).first()
    if unit is None:
        unit = services.create_unit(SYSTEM, name=name, kind=kind, parent=parent)
    found[name] = unit
    for child in children:
        _units(child, unit, found)


@transaction.atomic
def load() -> list[tuple[str, str, str]]:
    """Load (or complete) the demo data; returns the demo logins as (login, name, what they see)."""
    units: dict[str, OrgUnit] = {}
    _units(TREE, None, units)
    areas: dict[str, Area] = {}
    for unit, name, code, outdoor, explosion, confined, lat, lng, radius in AREAS:
        area = Area.objects.filter(org_unit=units[unit], name=name).first()
        areas[name] = area or services.save_area(
            SYSTEM, None, org_unit=units[unit], name=name, code=code, is_outdoor=outdoor,
            is_explosion_zone=explosion, is_confined_space=confined, center_lat=lat, center_lng=lng,
            radius_m=radius,
        )
    for unit, area, code, name, model in EQUIPMENT:
        if not Equipment.objects.filter(org_unit__company=units[unit].company, code=code).exists():
            services.save_equipment(SYSTEM, None, org_unit=units[unit], area=areas[area], code=code,
                                    name=name, model=model)
    logins = []
    for spec in PEOPLE:
        logins += _person(spec, units)
    return logins


def _person(spec: DemoPerson, units: dict[str, OrgUnit]) -> list[tuple[str, str, str]]:
    unit = units[spec.unit]
    company = unit if unit.kind == OrgKind.COMPANY else unit.company
    person = Person.objects.filter(company=company, employee_no=spec.employee_no).first()
    if person is None:
        person = services.save_person(SYSTEM, None, org_unit=unit, name=spec.name,
                                      employee_no=spec.employee_no, phone=spec.phone)
    for role_code, where in spec.roles:
        role = Role.objects.get(code=role_code, owner=None)
        if not RoleGrant.objects.filter(person=person, role=role, org_unit=units[where]).exists():
            services.grant_role(SYSTEM, person, role, units[where])
    if not spec.login:
        return []
    User = get_user_model()
    if person.user_id is None and not User.objects.filter(username=spec.login).exists():
        services.set_login(SYSTEM, person, username=spec.login, password=DEMO_PASSWORD)
    roles = "、".join(Role.objects.get(code=c, owner=None).label for c, _w in spec.roles)
    return [(spec.login, spec.name, f"{roles} @ {spec.roles[0][1]}")]
