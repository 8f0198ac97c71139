"""core.prepared: the same rows as the ORM, for every argument shape, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from anlian.core.prepared import Prepared
from anlian.orgs.models import Area, OrgUnit, Person

pytestmark = pytest.mark.django_db

PEOPLE = Prepared(lambda company, ids: Person.objects.filter(company_id=company, is_active=True, pk__in=ids)
                  .order_by("pk").values_list("pk", "name"))
UNITS_BY_NAME = Prepared(lambda name: OrgUnit.objects.filter(name=name).values_list("pk", "path"))


def test_rows_match_the_orm_for_every_shape(world):
    a = world.a
    people = list(Person.objects.filter(company=a.unit).order_by("pk"))
    for ids in ([people[0].pk], [p.pk for p in people], [p.pk for p in people][:2], [999_999]):
        expected = list(Person.objects.filter(company_id=a.unit.pk, is_active=True, pk__in=ids).order_by("pk")
                        .values_list("pk", "name"))
        assert PEOPLE.rows(a.unit.pk, ids) == expected
    assert PEOPLE.rows(a.unit.pk, []) == []
    assert PEOPLE.rows(world.b.unit.pk, [people[0].pk]) == []  # another company: the constant is kept too
    people[0].is_active = False
    people[0].save()
    assert people[0].pk not in [r[0] for r in PEOPLE.rows(a.unit.pk, [p.pk for p in people])]
    assert UNITS_BY_NAME.rows(a.plant.name) == [(a.plant.pk, a.plant.path)]
    assert UNITS_BY_NAME.rows("无此单位'; DROP TABLE orgs_orgunit; --") == []
    assert OrgUnit.objects.filter(pk=a.plant.pk).exists()


def test_converted_columns_come_back_as_python_values(world):
    by_pk = Prepared(lambda pk: Area.objects.filter(pk=pk).values_list("is_outdoor", "center_lat", "org_unit__path"))
    assert by_pk.rows(world.a.area.pk) == [(True, 30.0, world.a.plant.path)]


def test_lookups_that_change_their_argument_are_refused():
    like = Prepared(lambda name: OrgUnit.objects.filter(name__contains=name).values_list("pk"))
    with pytest.raises(ValueError):
        like.rows("港")
    with pytest.raises(TypeError):
        UNITS_BY_NAME.rows(1.5)


def test_prepared_inserts_and_updates_match_the_orm(world):
    from anlian.core.prepared import PreparedInsert, PreparedUpdate
    from anlian.orgs.models import OrgKind

    units = PreparedInsert(OrgUnit)
    one = units.create(name="预备车间", kind=OrgKind.WORKSHOP, parent=world.a.plant, company=world.a.unit,
                       path="/tmp-1/", depth=3)
    assert OrgUnit.objects.get(pk=one.pk).name == "预备车间"
    rows = [dict(name=f"批量{i}", kind=OrgKind.TEAM, parent=one, company=world.a.unit, path=f"/tmp-b{i}/", depth=4)
            for i in range(3)]
    units.create_many(rows)
    units.create_many(rows[:1], ignore_conflicts=True)  # the same path again: ignored, not an error
    assert OrgUnit.objects.filter(name__startswith="批量").count() == 3
    move = PreparedUpdate(Area, ["name", "center_lat"])
    area = world.a.area
    move.run(area.pk, {"name": "改名罐区", "center_lat": None})  # NULL is written into the SQL itself
    assert Area.objects.filter(pk=area.pk).values_list("name", "center_lat").get() == ("改名罐区", None)
    move.run(area.pk, {"name": "再改名", "center_lat": 31.5})
    assert Area.objects.filter(pk=area.pk).values_list("name", "center_lat").get() == ("再改名", 31.5)
