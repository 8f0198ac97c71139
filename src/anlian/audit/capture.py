"""Signal receivers that write the audit log, without any audited app knowing about it.

- pre_save loads the stored row (one SELECT, only the tracked columns, skipped for new objects
  and for saves whose update_fields touch nothing tracked such as last_login);
- post_save compares and writes one row when something changed, nothing for a no-op save;
- pre_delete notes where the object belonged while its relations still exist, post_delete writes;
- m2m_changed records a many-to-many field as its list of names before and after. Changes made
  right after the object's save (Route.save(), then people.set(), then channels.set()) are folded
  into the row of that save, so one edit is one row.

Not seen: QuerySet.update(), bulk_create() and raw SQL, which send no signals (docs/audit.md).
"""

from __future__ import annotations

import itertools
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, models, transaction
from django.db.models.signals import (
    m2m_changed,
    post_delete,
    post_save,
    pre_delete,
    pre_save,
)

from anlian.audit import context, registry
from anlian.audit.models import Action, AuditEntry
from anlian.core import clock
from anlian.core.prepared import Prepared

log = logging.getLogger("anlian.audit")

_marks = itertools.count(1)
_table_ready: set[str] = set()
# The last row written outside any actor block (CLI without acting(), tests), per context.
_loose: ContextVar[Slot | None] = ContextVar("anlian_audit_loose_slot", default=None)


@dataclass
class Slot:
    """The last row written, so m2m changes that follow its save land in it."""

    label: str
    object_id: str
    transaction: int | None
    entry_id: int
    changes: dict[str, Any]
    before: dict[str, list[str]] = field(default_factory=dict)  # m2m lists before the first change
    m2m_only: bool = False  # written for an m2m change alone: dropped again if the change is undone
    done: bool = False  # its transaction committed: a later change is another edit

    def finish(self) -> None:
        self.done = True


# --- helpers --------------------------------------------------------------------------------------


def _ready(using: str) -> bool:
    """False while migrating towards the audit table (post_migrate hooks of other apps save rows)."""
    if using in _table_ready:
        return True
    connection = connections[using]
    with connection.cursor() as cursor:
        if AuditEntry._meta.db_table in connection.introspection.table_names(cursor):
            _table_ready.add(using)
            return True
    return False


def _transaction(using: str) -> int | None:
    """A number for the outermost open transaction (an attribute on Django's own Atomic object)."""
    blocks = connections[using].atomic_blocks
    if not blocks:
        return None
    outer = blocks[0]
    mark = getattr(outer, "_anlian_audit_mark", None)
    if mark is None:
        mark = next(_marks)
        outer._anlian_audit_mark = mark
    return mark


def _slot() -> Slot | None:
    actor = context.current()
    return actor.slot if actor is not None else _loose.get()


def _set_slot(slot: Slot | None) -> None:
    actor = context.current()
    if actor is not None:
        actor.slot = slot
    else:
        _loose.set(slot)


_SQL: dict[str, str] = {}
_INSERT_FIELDS = ("company", "org_path", "at", "actor", "actor_name", "ip", "request_id", "action", "model",
                  "object_id", "object_repr", "changes")


def _insert(entry: AuditEntry, using: str) -> int:
    """One INSERT, its SQL written once: the ORM would compile the same statement for every
    change, which cost more than the write itself (saving a person must stay cheap)."""
    connection = connections[using]
    fields = [AuditEntry._meta.get_field(name) for name in _INSERT_FIELDS]
    returning = connection.features.can_return_columns_from_insert
    sql = _SQL.get(using)
    if sql is None:
        quote = connection.ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(AuditEntry._meta.db_table), ", ".join(quote(f.column) for f in fields),
            ", ".join(["%s"] * len(fields)))
        if returning:
            sql += " RETURNING " + quote(AuditEntry._meta.pk.column)
        _SQL[using] = sql
    params = [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if returning else cursor.lastrowid


def _write(instance: models.Model, action: str, changes: dict[str, Any], using: str,
           scope: tuple[int | None, str] | None = None, created: bool = False) -> int:
    spec = registry.REGISTRY[type(instance)]
    company_id, path = scope if scope is not None else registry.scope_of(instance, created)
    actor = context.current()
    user = actor.account() if actor else None
    entry = AuditEntry(
        company_id=company_id, org_path=path, at=clock.now(),
        actor_id=user.pk if user is not None else None, actor_name=actor.display_name() if actor else "",
        ip=actor.ip if actor else None, request_id=actor.request_id if actor else "",
        action=action, model=spec.label, object_id=str(instance.pk),
        object_repr=getattr(instance, "_anlian_audit_repr", None) or registry.describe(instance),
        changes=changes,
    )
    entry_id = _insert(entry, using)
    slot = Slot(spec.label, str(instance.pk), _transaction(using), entry_id, changes)
    if slot.transaction is not None:
        # The outermost Atomic object can be reused by a decorated function: its commit ends the slot.
        transaction.on_commit(slot.finish, using=using)
    _set_slot(slot)
    return entry_id


def _values(instance: models.Model, fields: list[models.Field]) -> dict[str, Any]:
    return {f.name: registry.normalise(f, f.value_from_object(instance)) for f in fields}


def _shown(f: models.Field, value: Any, instance: models.Model | None) -> Any:
    """A value as the log shows it: related objects by name."""
    if isinstance(f, models.ForeignKey):
        if value is None:
            return None
        cached = f.get_cached_value(instance, None) if instance is not None else None
        if cached is not None and cached.pk == value:
            return registry.describe(cached)
        return registry.related_name(f, value)
    return registry.plain(value)


def _diff(fields: list[models.Field], old: dict[str, Any], new: dict[str, Any],
          instance: models.Model) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for f in fields:
        before, after = old.get(f.name), new.get(f.name)
        if before == after:
            continue
        shown_old, shown_new = _shown(f, before, None), _shown(f, after, instance)
        if isinstance(f, models.ForeignKey) and shown_old == shown_new:
            shown_old, shown_new = f"{shown_old} (#{before})", f"{shown_new} (#{after})"
        changes[f.name] = list(registry.mask_pair(shown_old, shown_new, registry.is_secret_name(f.name)))
    return changes


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


# --- save and delete ------------------------------------------------------------------------------


_STORED: dict[tuple[type[models.Model], tuple[str, ...]], Prepared] = {}


def _stored(model: type[models.Model], columns: tuple[str, ...]) -> Prepared:
    """The stored row's tracked columns, compiled once per model and column set (core.prepared)."""
    key = (model, columns)
    if key not in _STORED:
        _STORED[key] = Prepared(lambda pk: model._base_manager.filter(pk=pk).values_list(*columns))
    return _STORED[key]


def on_pre_save(sender: type[models.Model], instance: models.Model, raw: bool = False, using: str = "default",
                update_fields: Any = None, **kwargs: Any) -> None:
    instance._anlian_audit_old = None
    if raw or instance._state.adding or instance.pk is None:
        return
    fields = registry.tracked_fields(sender)
    if update_fields is not None:
        fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
        if not fields:
            return  # e.g. last_login: nothing tracked, not even a SELECT
    rows = _stored(sender, tuple(f.attname for f in fields)).rows(instance.pk)
    if rows:
        instance._anlian_audit_old = {f.name: registry.normalise(f, value) for f, value in zip(fields, rows[0])}


def on_post_save(sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False,
                 using: str = "default", **kwargs: Any) -> None:
    if raw or not _ready(using):
        return
    fields = registry.tracked_fields(sender)
    old = getattr(instance, "_anlian_audit_old", None)
    instance._anlian_audit_old = None
    if created or old is None:
        new = {name: value for name, value in _values(instance, fields).items() if not _empty(value)}
        if created:
            _write(instance, Action.CREATE, _diff(fields, registry.baseline(instance), new, instance), using,
                   created=True)
        return
    fields = [f for f in fields if f.name in old]
    changes = _diff(fields, old, _values(instance, fields), instance)
    if changes:
        _write(instance, Action.UPDATE, changes, using)


def on_pre_delete(sender: type[models.Model], instance: models.Model, using: str = "default", **kwargs: Any) -> None:
    # Relations are still there: a cascade may delete the person or unit in the same statement batch.
    instance._anlian_audit_scope = registry.scope_of(instance)
    instance._anlian_audit_repr = registry.describe(instance)


def on_post_delete(sender: type[models.Model], instance: models.Model, using: str = "default", **kwargs: Any) -> None:
    if not _ready(using):
        return
    fields = registry.tracked_fields(sender)
    old = {name: value for name, value in _values(instance, fields).items() if not _empty(value)}
    changes = {name: [after, before] for name, (before, after) in _diff(fields, {}, old, instance).items()}
    _write(instance, Action.DELETE, changes, using, getattr(instance, "_anlian_audit_scope", None))


# --- many-to-many ---------------------------------------------------------------------------------

THROUGH: dict[type[models.Model], tuple[type[models.Model], models.ManyToManyField]] = {}


def _names(obj: models.Model, m2m: models.ManyToManyField, using: str) -> list[str]:
    return sorted(registry.describe(o) for o in getattr(obj, m2m.name).using(using).all())


def _sources(model: type[models.Model], m2m: models.ManyToManyField, instance: models.Model, reverse: bool,
             pk_set: Any, using: str) -> list[models.Model]:
    """The audited objects whose field changes: the instance, or (changed from the other side,
    e.g. channel.routes.add(route)) the objects named in pk_set."""
    if not reverse:
        return [instance]
    if pk_set is None:  # clear() from the other side: every object linked to the instance
        through = m2m.remote_field.through
        pk_set = through._base_manager.using(using).filter(
            **{m2m.m2m_reverse_field_name(): instance.pk}).values_list(m2m.m2m_field_name(), flat=True)
    return list(model._base_manager.using(using).filter(pk__in=list(pk_set)))


def on_m2m_changed(sender: type[models.Model], instance: models.Model, action: str, reverse: bool,
                   model: type[models.Model], pk_set: Any, using: str = "default", **kwargs: Any) -> None:
    if sender not in THROUGH or not action.startswith(("pre_", "post_")) or not _ready(using):
        return
    audited, m2m = THROUGH[sender]
    label = registry.REGISTRY[audited].label
    if action.startswith("pre_"):
        sources = _sources(audited, m2m, instance, reverse, pk_set, using)
        slot = _slot()
        before = {o.pk: _names(o, m2m, using) for o in sources
                  if not (_matches(slot, label, o, using) and m2m.name in slot.before)}
        instance._anlian_audit_m2m = (before, [o.pk for o in sources])
        return
    before, pks = getattr(instance, "_anlian_audit_m2m", None) or ({}, [])
    instance._anlian_audit_m2m = None
    objects = list(audited._base_manager.using(using).filter(pk__in=pks)) if reverse else [instance]
    for obj in objects:
        _record_m2m(label, obj, m2m, before.get(obj.pk), _names(obj, m2m, using), using)


def _matches(slot: Slot | None, label: str, obj: models.Model, using: str) -> bool:
    return (slot is not None and not slot.done and slot.label == label and slot.object_id == str(obj.pk)
            and slot.transaction is not None and slot.transaction == _transaction(using))


def _record_m2m(label: str, obj: models.Model, m2m: models.ManyToManyField, before: list[str] | None,
                after: list[str], using: str) -> None:
    slot = _slot()
    if _matches(slot, label, obj, using):
        before = slot.before.setdefault(m2m.name, before if before is not None else after)
        changes = dict(slot.changes)
        if before == after:
            changes.pop(m2m.name, None)
        else:
            changes[m2m.name] = [before, after]
        if changes == slot.changes:
            return
        rows = AuditEntry.objects.using(using).filter(pk=slot.entry_id)
        if not changes and slot.m2m_only:  # e.g. a person removed and added back: nothing changed
            rows.delete()
            _set_slot(None)
            return
        if rows.update(changes=changes):
            slot.changes = changes
            return
        # The row went with a rolled-back savepoint: write the change afresh.
    if before is None or before == after:
        return
    _write(obj, Action.UPDATE, {m2m.name: [before, after]}, using)
    slot = _slot()
    slot.before[m2m.name], slot.m2m_only = before, True


# --- wiring ---------------------------------------------------------------------------------------


def connect() -> None:
    """Connect the receivers to every audited model (AuditConfig.ready)."""
    for model, spec in registry.load().items():
        uid = f"anlian.audit.{spec.label}"
        pre_save.connect(on_pre_save, sender=model, dispatch_uid=uid)
        post_save.connect(on_post_save, sender=model, dispatch_uid=uid)
        pre_delete.connect(on_pre_delete, sender=model, dispatch_uid=uid)
        post_delete.connect(on_post_delete, sender=model, dispatch_uid=uid)
        for name in spec.m2m:
            m2m = model._meta.get_field(name)
            THROUGH[m2m.remote_field.through] = (model, m2m)
            m2m_changed.connect(on_m2m_changed, sender=m2m.remote_field.through, dispatch_uid=f"{uid}.{name}")


# --- for code paths without signals ---------------------------------------------------------------


def record_created(objects: list[models.Model], using: str = "default") -> int:
    """Entries for objects inserted with bulk_create (an Excel import of people): one per object,
    as a save would have written. Returns how many were written."""
    written = 0
    for obj in objects:
        if type(obj) not in registry.REGISTRY or obj.pk is None or not _ready(using):
            continue
        fields = registry.tracked_fields(type(obj))
        new = {name: value for name, value in _values(obj, fields).items() if not _empty(value)}
        _write(obj, Action.CREATE, _diff(fields, {}, new, obj), using, created=True)
        written += 1
    return written


def record_changed(instance: models.Model, old: dict[str, Any], using: str = "default") -> int | None:
    """An entry for a change made with QuerySet.update(): `old` maps field names to the values
    before (as the model holds them, e.g. parent_id), the instance holds the values after."""
    if type(instance) not in registry.REGISTRY or not _ready(using):
        return None
    fields = [f for f in instance._meta.concrete_fields if f.name in old or f.attname in old]
    before = {f.name: registry.normalise(f, old.get(f.name, old.get(f.attname))) for f in fields}
    changes = _diff(fields, before, _values(instance, fields), instance)
    return _write(instance, Action.UPDATE, changes, using) if changes else None
