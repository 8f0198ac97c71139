"""Read queries compiled to SQL once, then run many times with new values.

Django compiles a queryset to SQL each time it is evaluated. On this project's hot paths (every
API request looks up its token and the person's grants; a step submission reads the job and its
events) compiling costs about 0.3 ms a query, ten times running it. A `Prepared` query is written
with the ORM as usual, compiled on first use with marker values in place of its arguments, and
afterwards only executed, with the ORM's own column converters applied to the rows.

    EVENTS = Prepared(lambda job: Event.objects.filter(instance_id=job).values_list("seq", "kind"))
    EVENTS.rows(42)   # [(1, "started"), ...]

Arguments are ints or strings, or lists of them (for `__in`; each length compiles once; an empty
list gives no rows). Compiled queries are kept per thread, because a compiler holds its thread's
connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.constants import OnConflict
from django.db.models.sql.subqueries import InsertQuery, UpdateQuery

# Markers stand for the arguments while compiling; they must come out of the ORM unchanged.
_INT_MARKER = 4_611_686_018_427_387_000  # near 2**62: a valid bigint that no row here will have
_STR_MARKER = "\x1fprepared-argument-{}\x1f"


class Prepared:
    def __init__(self, build: Callable[..., QuerySet]):
        self._build = build
        self._local = threading.local()

    def rows(self, *args: Any) -> list[tuple]:
        if any(isinstance(a, (list, tuple, set, frozenset)) and not a for a in args):
            return []
        args = tuple(list(a) if isinstance(a, (list, tuple, set, frozenset)) else a for a in args)
        shape = tuple((type(a[0]), len(a)) if isinstance(a, list) else type(a) for a in args)
        compiled = self._local.__dict__.setdefault("compiled", {})
        entry = compiled.get(shape)
        if entry is None:
            entry = compiled[shape] = self._compile(args)
        compiler, sql, slots, converters = entry
        flat = _flatten(args)
        params = [flat[index] if index is not None else constant for index, constant in slots]
        with connections[compiler.using].cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
        if converters:
            return [tuple(row) for row in compiler.apply_converters(found, converters)]
        return found

    def _compile(self, args: tuple) -> tuple:
        markers, counter = [], iter(range(10_000))

        def marker(value: Any) -> Any:
            n = next(counter)
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise TypeError(f"prepared query arguments are ints or strings, not {type(value).__name__}")
            made = _INT_MARKER + n if isinstance(value, int) else _STR_MARKER.format(n)
            markers.append(made)
            return made

        sample = tuple([marker(v) for v in a] if isinstance(a, list) else marker(a) for a in args)
        queryset = self._build(*sample)
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        slots = []
        for param in params:
            if param in markers:
                slots.append((markers.index(param), None))
            elif isinstance(param, str) and _STR_MARKER[:1] in param:
                raise ValueError("a prepared query's argument is changed by its lookup (e.g. LIKE); use exact or in")
            else:
                slots.append((None, param))  # a constant of the query itself (is_active=True…)
        if sorted(i for i, _c in slots if i is not None) != list(range(len(markers))):
            raise ValueError("every argument of a prepared query must appear once in its SQL")
        fields = [column[0] for column in compiler.select[0:compiler.col_count]]
        return compiler, sql, slots, compiler.get_converters(fields)


def _flatten(args: Sequence[Any]) -> list[Any]:
    flat: list[Any] = []
    for a in args:
        flat.extend(a if isinstance(a, list) else [a])
    return flat


class PreparedInsert:
    """`Model.objects.create(...)` for one hot table, with the INSERT compiled once per thread.

    Values are prepared for the database by each field as the ORM would (JSON, time zones); the
    new primary key comes back through RETURNING where the database has it. No signals are sent:
    use it only for models nobody listens to."""

    def __init__(self, model: type[Model]):
        self._model = model
        self._local = threading.local()

    def create(self, **values: Any) -> Model:
        obj = self._model(**values)
        entry = getattr(self._local, "entry", None)
        if entry is None:
            entry = self._local.entry = self._compile(obj)
        compiler, sql, fields, returning = entry
        params = [compiler.prepare_value(f, compiler.pre_save_val(f, obj)) for f in fields]
        with connections[compiler.using].cursor() as cursor:
            cursor.execute(sql, params)
            if returning:
                obj.pk = cursor.fetchone()[0]
            else:
                obj.pk = connections[compiler.using].ops.last_insert_id(
                    cursor, self._model._meta.db_table, self._model._meta.pk.column)
        obj._state.adding, obj._state.db = False, compiler.using
        return obj

    def create_many(self, rows: Sequence[dict[str, Any]], ignore_conflicts: bool = False) -> None:
        """Several rows in one INSERT (compiled once per row count); their keys are not fetched."""
        if not rows:
            return
        objs = [self._model(**values) for values in rows]
        compiled = self._local.__dict__.setdefault("many", {})
        key = (len(objs), ignore_conflicts)
        entry = compiled.get(key)
        if entry is None:
            entry = compiled[key] = self._compile(objs[0], objs, returning=False, ignore_conflicts=ignore_conflicts)
        compiler, sql, fields, _returning = entry
        if sql is None:  # the backend does not write one VALUES group per row (PostgreSQL's UNNEST)
            for values in rows:
                self.create(**values)
            return
        params = [compiler.prepare_value(f, compiler.pre_save_val(f, obj)) for obj in objs for f in fields]
        with connections[compiler.using].cursor() as cursor:
            cursor.execute(sql, params)

    def _compile(self, obj: Model, objs: Sequence[Model] | None = None, returning: bool = True,
                 ignore_conflicts: bool = False) -> tuple:
        meta = self._model._meta
        fields = [f for f in meta.local_concrete_fields if not f.generated and f is not meta.auto_field]
        query = InsertQuery(self._model, on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
        query.insert_values(fields, list(objs or [obj]))
        compiler = query.get_compiler(using=router.db_for_write(self._model))
        returning = returning and compiler.connection.features.can_return_columns_from_insert
        compiler.returning_fields = [meta.pk] if returning else None
        (sql, params), = compiler.as_sql()
        if len(params) != len(fields) * len(query.objs):
            sql = None  # parameters are not one per field and row: this shape cannot be reused
        return compiler, sql, fields, returning


class PreparedUpdate:
    """`Model.objects.filter(pk=…).update(**values)` for a fixed set of fields, compiled once."""

    def __init__(self, model: type[Model], field_names: Sequence[str]):
        self._model = model
        self._fields = [model._meta.get_field(name) for name in field_names]
        self._local = threading.local()

    def run(self, pk: Any, values: dict[str, Any]) -> None:
        # The ORM writes NULL into the SQL itself: each pattern of empty fields compiles once.
        nulls = tuple(values[f.name] is None for f in self._fields)
        compiled = self._local.__dict__.setdefault("compiled", {})
        entry = compiled.get(nulls)
        if entry is None:
            entry = compiled[nulls] = self._compile(pk, values)
        connection, sql = entry
        params = [f.get_db_prep_save(values[f.name], connection) for f in self._fields if values[f.name] is not None]
        params.append(self._model._meta.pk.get_db_prep_value(pk, connection))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    def _compile(self, pk: Any, values: dict[str, Any]) -> tuple:
        query = UpdateQuery(self._model)
        query.add_update_values({f.name: values[f.name] for f in self._fields})
        query.add_filter("pk", pk)
        compiler = query.get_compiler(using=router.db_for_write(self._model))
        sql, params = compiler.as_sql()
        if len(params) != sum(values[f.name] is not None for f in self._fields) + 1:
            raise ValueError("a prepared update takes one parameter per non-empty field, then the primary key")
        return compiler.connection, sql
