"""Readings and the parser of the JSON batches that arrive over MQTT and HTTP.

A reading is one value of one point at one moment: ``Reading(point, value, at, quality)``.
``parse_batch`` accepts the three payload shapes of docs/sensors.md and never raises: every item
it cannot use is reported in ``batch.rejected`` with where it was and why, so a gateway sending
one bad tag among a hundred loses only that tag.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from .i18n import text

QUALITIES = ("good", "uncertain", "bad")
MAX_BYTES = 16 * 1024 * 1024  # one HTTP batch / MQTT message
MAX_ITEMS = 200_000  # readings in one batch
MAX_ABS = 1e12  # larger magnitudes are wiring or unit errors, not process values
MAX_NAME = 128  # characters of a point or device id
MAX_FUTURE = timedelta(minutes=5)  # a device clock further ahead than this is refused
_ITEM_KEYS = frozenset({"point", "value", "ts", "quality", "device"})
_DEVICE_KEYS = frozenset({"device", "ts", "values", "quality", "heartbeat"})
HEARTBEAT_PREFIX = "@"


class Reading(NamedTuple):
    """One value of one point. ``at`` is timezone-aware; ``quality`` is good, uncertain or bad
    (OPC UA's three classes). A NamedTuple: a batch of 100,000 must stay cheap to build."""

    point: str
    value: float
    at: datetime
    quality: str = "good"


@dataclass(frozen=True)
class Rejected:
    """An item the parser refused: ``where`` is its place (``[3]``, ``[0].values.T-101``, or
    empty for the whole batch), ``code`` a stable code, ``message`` the translated reason."""

    where: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return text(self.code, self.params)

    def __str__(self) -> str:
        return f"{self.where or '(batch)'}: {self.message}"


class Batch(list):
    """The readings of one payload, in payload order, with the refused items in ``rejected``."""

    def __init__(self, readings=(), rejected: list[Rejected] | None = None, received_at: datetime | None = None):
        super().__init__(readings)
        self.rejected: list[Rejected] = rejected if rejected is not None else []
        self.received_at = received_at


class _Bad(Exception):
    def __init__(self, code: str, **params: Any):
        self.code = code
        self.params = params


_good_names: set[str] = set()  # point names already checked: most batches repeat the same tags


def _good_name(point: Any) -> bool:
    if type(point) is not str or not 0 < len(point) <= MAX_NAME or not point.isprintable():
        return False
    if len(_good_names) >= 100_000:
        _good_names.clear()
    _good_names.add(point)
    return True


def _name(value: Any, code: str) -> str:
    if (not isinstance(value, str) or not value or len(value) > MAX_NAME
            or not value.isprintable()):
        raise _Bad(code, limit=MAX_NAME)
    return value


def _value(value: Any) -> float:
    # bool is an int in Python, but "true" from a device is never a measurement.
    if value is None:
        raise _Bad("value_missing")
    kind = type(value)
    if kind is float:
        if math.isnan(value) or math.isinf(value):
            raise _Bad("value_not_finite")
        if -MAX_ABS <= value <= MAX_ABS:
            return value
        raise _Bad("value_too_large", limit="1e12")
    if kind is int:
        if -MAX_ABS <= value <= MAX_ABS:
            return float(value)
        raise _Bad("value_too_large", limit="1e12")
    raise _Bad("value_not_number", got=_show(value))


def _show(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "…"


class _Times:
    """ISO 8601 or Unix-time parsing with a one-entry cache: a gateway's batch shares one ts."""

    def __init__(self, received_at: datetime | None, max_future: timedelta):
        self._received = received_at
        self._limit = max_future
        self._last_raw: Any = None
        self._last: datetime | None = None

    @property
    def received(self) -> datetime:
        if self._received is None:  # the edge of the system: the only wall-clock read here
            self._received = datetime.now(UTC)
        return self._received

    def parse(self, raw: Any) -> datetime:
        if raw is None:
            return self.received
        if raw == self._last_raw and type(raw) is type(self._last_raw):
            return self._last
        at = self._parse(raw)
        ahead = at - self.received
        if ahead > self._limit:
            raise _Bad("ts_future", seconds=int(ahead.total_seconds()))
        self._last_raw, self._last = raw, at
        return at

    @staticmethod
    def _parse(raw: Any) -> datetime:
        if isinstance(raw, bool):
            raise _Bad("ts_invalid", got=_show(raw))
        if isinstance(raw, (int, float)):
            # Unix time; devices that count milliseconds give 13-digit numbers.
            seconds = raw / 1000 if abs(raw) >= 1e11 else raw
            try:
                return datetime.fromtimestamp(seconds, UTC)
            except (OverflowError, OSError, ValueError):
                raise _Bad("ts_invalid", got=_show(raw)) from None
        if not isinstance(raw, str) or len(raw) > 40:
            raise _Bad("ts_invalid", got=_show(raw))
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            raise _Bad("ts_invalid", got=_show(raw)) from None
        if at.tzinfo is None:
            raise _Bad("ts_no_zone", got=raw)
        return at


def make_reading(point: Any, value: Any, at: datetime, quality: Any = "good") -> Reading | Rejected:
    """One reading from a source that is not JSON (the OPC UA client), checked exactly as
    ``parse_batch`` checks an item: a Reading, or a Rejected saying why not."""
    try:
        if point is None:
            raise _Bad("point_missing")
        name = _name(point, "point_invalid")
        if type(value) not in (int, float) and isinstance(value, numbers.Number) and not isinstance(value, (bool, complex)):
            try:  # numpy floats, Decimal and the like from a client library
                value = float(value)
            except (OverflowError, ValueError):
                raise _Bad("value_too_large", limit="1e12") from None
        number = _value(value)
        if quality not in QUALITIES:
            raise _Bad("quality_invalid", got=_show(quality))
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            raise _Bad("ts_no_zone", got=str(at))
    except _Bad as bad:
        return Rejected(str(point)[:MAX_NAME] if point is not None else "", bad.code, bad.params)
    return Reading(name, number, at, quality)


def parse_batch(raw: bytes | str, received_at: datetime | None = None, *,
                max_bytes: int = MAX_BYTES, max_items: int = MAX_ITEMS,
                max_future: timedelta = MAX_FUTURE) -> Batch:
    """Parse one MQTT message or HTTP body into readings; never raises.

    ``received_at`` is the time the payload arrived (the caller's clock); it stands in for a
    missing ``ts`` and bounds how far in the future a device's ``ts`` may be. When omitted the
    wall clock is read once, when first needed.
    """
    try:
        return _parse(raw, received_at, max_bytes, max_items, max_future)
    except Exception as exc:  # noqa: BLE001 (a parser bug must not take the ingest process down)
        return Batch((), [Rejected("", "batch_not_json", {"detail": type(exc).__name__})], received_at)


def _parse(raw, received_at, max_bytes, max_items, max_future) -> Batch:
    size = len(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else len(raw) * 4 if isinstance(raw, str) else 0
    if isinstance(raw, str) and size > max_bytes:
        size = len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return Batch((), [Rejected("", "batch_too_large", {"size": size, "limit": max_bytes})], received_at)
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return Batch((), [Rejected("", "batch_not_text")], received_at)
    elif not isinstance(raw, str):
        return Batch((), [Rejected("", "batch_shape")], received_at)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        return Batch((), [Rejected("", "batch_not_json", {"detail": detail})], received_at)

    times = _Times(received_at, max_future)
    out: list[Reading] = []
    rejected: list[Rejected] = []
    if isinstance(doc, dict):
        items, single = [doc], True
    elif isinstance(doc, list):
        items, single = doc, False
    else:
        return Batch((), [Rejected("", "batch_shape")], received_at)
    count = len(items)
    if count > max_items:
        return Batch((), [Rejected("", "batch_too_many", {"count": count, "limit": max_items})], received_at)

    append = out.append
    new = tuple.__new__
    parse_ts = times.parse
    last_ts, last_at = None, None
    for index, item in enumerate(items):
        if type(item) is not dict:
            rejected.append(Rejected(_where(single, index), "item_shape"))
            continue
        point = item.get("point")
        value = item.get("value")
        if (type(value) is float and -MAX_ABS <= value <= MAX_ABS and type(point) is str
                and (point in _good_names or _good_name(point))):
            # The common case in few tests (NaN and ±inf fail the comparison): point, value and
            # maybe ts — most often the same text as the item before — and nothing else.
            size = len(item)
            if size == 2 or size == 3 and "ts" in item:
                ts = item.get("ts")
                if ts != last_ts or type(ts) is not str:
                    try:
                        last_at = parse_ts(ts)
                    except _Bad as bad:
                        rejected.append(Rejected(_where(single, index), bad.code, bad.params))
                        continue
                    last_ts = ts
                append(new(Reading, (point, value, last_at, "good")))
                continue
        if "values" in item or ("device" in item and "point" not in item):
            values = item.get("values")
            if type(values) is dict:
                count += len(values)
                if count > max_items:
                    return Batch((), [Rejected("", "batch_too_many", {"count": count, "limit": max_items})],
                                 received_at)
            _device(item, _where(single, index), times, out, rejected)
            continue
        try:
            if not _ITEM_KEYS.issuperset(item):
                raise _Bad("item_unknown", key=min(set(item) - _ITEM_KEYS, key=str))
            point = item.get("point")
            if type(point) is not str or not point or len(point) > MAX_NAME or not point.isprintable():
                raise _Bad("point_missing") if point is None else _Bad("point_invalid", limit=MAX_NAME)
            value = _value(item.get("value"))
            quality = item.get("quality", "good")
            if quality != "good" and quality not in QUALITIES:
                raise _Bad("quality_invalid", got=_show(quality))
            append(Reading(point, value, times.parse(item.get("ts")), quality))
        except _Bad as bad:
            rejected.append(Rejected(_where(single, index), bad.code, bad.params))
    return Batch(out, rejected, times._received)


def _where(single: bool, index: int) -> str:
    return "" if single else f"[{index}]"


def _device(item: dict, where: str, times: _Times, out: list, rejected: list) -> None:
    """``{"device": "gw-1", "ts": …, "values": {"T-101": 85.2, …}}``: one ts for many points,
    plus the heartbeat reading ``@gw-1`` (value: the number of values) that silence rules watch."""
    try:
        unknown = set(item) - _DEVICE_KEYS
        if unknown:
            raise _Bad("item_unknown", key=min(unknown, key=str))
        device = _name(item.get("device"), "device_invalid")
        values = item.get("values", {})
        if type(values) is not dict:
            raise _Bad("values_shape")
        quality = item.get("quality", "good")
        if quality not in QUALITIES:
            raise _Bad("quality_invalid", got=_show(quality))
        at = times.parse(item.get("ts"))
    except _Bad as bad:
        rejected.append(Rejected(where, bad.code, bad.params))
        return
    new = tuple.__new__
    names = _good_names
    # The common case in one comprehension: every value a finite float in range (NaN and ±inf
    # fail the comparison) under a name already checked; otherwise the careful loop below.
    rows = [new(Reading, (p, v, at, quality)) for p, v in values.items()
            if type(v) is float and -MAX_ABS <= v <= MAX_ABS and p in names]
    if len(rows) == len(values):
        out += rows
        out.append(Reading(HEARTBEAT_PREFIX + device, float(len(values)), at, "good"))
        return
    append = out.append
    for point, value in values.items():
        # The common case in one test: a finite float within range (NaN and ±inf fail the
        # comparison) under a sane point name; anything else takes the careful path below.
        if type(value) is float and -MAX_ABS <= value <= MAX_ABS and (point in _good_names or _good_name(point)):
            append(new(Reading, (point, value, at, quality)))
            continue
        try:
            if not point or len(point) > MAX_NAME or not point.isprintable():
                raise _Bad("point_invalid", limit=MAX_NAME)
            if type(value) is dict:  # {"value": 85.2, "quality": "bad"}: one tag's own quality
                q = value.get("quality", quality)
                if q not in QUALITIES:
                    raise _Bad("quality_invalid", got=_show(q))
                append(Reading(point, _value(value.get("value")), at, q))
            else:
                append(Reading(point, _value(value), at, quality))
        except _Bad as bad:
            prefix = f"{where}.values." if where else "values."
            rejected.append(Rejected(prefix + point[:MAX_NAME], bad.code, bad.params))
    append(Reading(HEARTBEAT_PREFIX + device, float(len(values)), at, "good"))
