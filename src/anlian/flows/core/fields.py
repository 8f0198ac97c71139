"""Validation of what a person submits for a step: field values and photos.

Values are checked against the template (required, type, limits, options, checklist) and
normalised to JSON-safe data, because they are stored verbatim in the event payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .i18n import refuse
from .schema import CHECK_STATES, PRESENCE_SLOT, Field, Step


def filled(value: Any) -> bool:
    return value not in (None, "", [], {})


def shown(f: Field, values: dict[str, Any]) -> bool:
    if f.show_if is None:
        return True
    current = values.get(f.show_if.field)
    # A many-choice controller shows the field when any picked option matches.
    picked = current if isinstance(current, list) else [current]
    return any(p in f.show_if.values for p in picked)


def validate_values(step: Step, values: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    by_key = {f.key: f for f in step.fields}
    for key in values:
        if key not in by_key:
            raise refuse("field_unknown", field=key, label=key)
    merged = {**known, **values}
    out: dict[str, Any] = {}
    for f in step.fields:
        value = values.get(f.key)
        if not shown(f, merged):
            if filled(value):
                raise refuse("field_hidden", field=f.key, label=f.label)
            continue
        if not filled(value):
            if f.required:
                raise refuse("field_required", field=f.key, label=f.label)
            continue
        out[f.key] = convert(f, value)
    return out


def convert(f: Field, value: Any) -> Any:
    return _CONVERT[f.type](f, value)


def _bad(f: Field, code: str = "field_invalid", **params: Any):
    return refuse(code, field=f.key, label=f.label, **params)


def _text(f: Field, value: Any) -> Any:
    if f.many and isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    if not isinstance(value, str):
        raise _bad(f)
    return value


def _num(x: float) -> str:
    return f"{x:g}"


def _number(f: Field, value: Any) -> float | int:
    if isinstance(value, bool):
        raise _bad(f, "number_invalid")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise _bad(f, "number_invalid") from None
    if not isinstance(value, (int, float)) or value != value:  # NaN is not a reading
        raise _bad(f, "number_invalid")
    if f.min is not None and value < f.min:
        raise _bad(f, "below_min", min=_num(f.min), unit=f.unit)
    if f.max is not None and value > f.max:
        raise _bad(f, "above_max", max=_num(f.max), unit=f.unit)
    return value


def _choice(f: Field, value: Any) -> Any:
    picked = value if isinstance(value, list) else [value]
    if isinstance(value, list) != f.many:
        raise _bad(f)
    for item in picked:
        if not isinstance(item, str) or (f.options is not None and item not in f.options):
            raise _bad(f, "bad_choice", value=item)
    return value


def _datetime(f: Field, value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        return datetime.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise _bad(f) from None


def _checklist(f: Field, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) - {i.key for i in f.items}:
        raise _bad(f)
    for item in f.items:
        # Every safety measure must be answered: done, or explicitly not applicable.
        if value.get(item.key) not in CHECK_STATES:
            raise refuse("checklist_incomplete", field=f.key, item=item.label)
    return dict(value)


_CONVERT = {"text": _text, "signature": _text, "person": _text, "area": _text, "equipment": _text,
            "number": _number, "choice": _choice, "datetime": _datetime, "checklist": _checklist}


def validate_photos(step: Step, photos: dict[str, list[str]], presence: bool) -> dict[str, list[str]]:
    slots = {p.key: p for p in step.photos}
    for key in photos:
        if key not in slots and not (presence and key == PRESENCE_SLOT):
            raise refuse("photo_unknown", field=f"photos.{key}", slot=key)
    for slot in step.photos:
        refs = photos.get(slot.key) or []
        if len(refs) < slot.min:
            raise refuse("photo_min", field=f"photos.{slot.key}", slot=slot.label, min=slot.min)
        if len(refs) > slot.max:
            raise refuse("photo_max", field=f"photos.{slot.key}", slot=slot.label, max=slot.max)
    if presence and not photos.get(PRESENCE_SLOT):
        raise refuse("presence_photo", field=f"photos.{PRESENCE_SLOT}")
    return {k: list(v) for k, v in photos.items() if v}
