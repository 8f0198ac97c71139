"""The append-only event record of one job, and the action a person asks for.

Events are the only source of truth: state is always derived by replaying them. Each event
can be hash-chained (``chain_hash``) so a later edit, deletion or reordering is detectable.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

EVENT_KINDS = ("started", "step_completed", "approved", "returned", "rejected", "suspended",
               "resumed", "extended", "handed_over", "cancelled", "closed", "expired", "withdrawn")

# Action kind → the event kind it records.
ACTIONS = {"start": "started", "complete": "step_completed", "approve": "approved",
           "return": "returned", "reject": "rejected", "suspend": "suspended", "resume": "resumed",
           "extend": "extended", "hand_over": "handed_over", "cancel": "cancelled",
           "close": "closed", "expire": "expired", "withdraw": "withdrawn"}


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    actor: str
    server_time: datetime
    step: str | None = None
    device_time: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    location: tuple[float, float] | None = None
    accuracy: float | None = None  # of the location, in metres, as the phone reported it

    def to_dict(self) -> dict[str, Any]:
        # Built by hand rather than with dataclasses.asdict, which deep-copies the payload: this
        # runs for every hash of every event. The chain's canonical JSON is unchanged.
        doc = {"seq": self.seq, "kind": self.kind, "actor": self.actor,
               "server_time": _utc(self.server_time), "step": self.step,
               "device_time": _utc(self.device_time) if self.device_time else None,
               "payload": self.payload, "location": list(self.location) if self.location else None}
        if self.accuracy is not None:  # only when known, so events without it hash as before
            doc["accuracy"] = self.accuracy
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Event:
        device = doc.get("device_time")
        location = doc.get("location")
        return cls(seq=doc["seq"], kind=doc["kind"], actor=doc["actor"],
                   server_time=datetime.fromisoformat(doc["server_time"]), step=doc.get("step"),
                   device_time=datetime.fromisoformat(device) if device else None,
                   payload=dict(doc.get("payload") or {}), location=tuple(location) if location else None,
                   accuracy=doc.get("accuracy"))


def _utc(moment: datetime) -> str:
    """Times in the canonical form are UTC: a database hands them back in UTC whatever zone they
    were recorded in, and the same instant must always hash the same (naive means UTC)."""
    if moment.tzinfo is None:
        return moment.isoformat() + "+00:00"
    return moment.astimezone(timezone.utc).isoformat()


def chain_hash(prev_hash: str, event: Event) -> str:
    """SHA-256 over the previous hash and the event's canonical JSON (keys sorted, UTF-8)."""
    body = json.dumps(event.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Action:
    """What a person asks to do. Only the attributes the kind needs are read."""

    kind: str
    step: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    photos: dict[str, list[str]] = field(default_factory=dict)
    target: str | None = None  # return: the step to return to; hand_over: the incoming person
    reason: str = ""
    area: str | None = None  # start
    endorsed_by: str | None = None  # start: area owner endorsing a simultaneous operation
    extend_by: timedelta | None = None
    device_time: datetime | None = None
    location: tuple[float, float] | None = None
    accuracy: float | None = None
