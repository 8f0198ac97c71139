"""Transports: one class per service, each sending one `Outgoing` with a channel's `config` and
answering a `Result` that says whether it arrived and, if not, whether trying again can help.

A transport never raises for a service's refusal or a network error: it returns the result, and
the delivery worker decides (retry with backoff, or dead letter). Each module documents the
service's request, signature and error bodies it relies on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

import httpx


@dataclass(frozen=True)
class Outgoing:
    title: str
    text: str  # plain text; transports that take markdown build it from title, text and url
    url: str = ""  # absolute link that opens the item
    address: str = ""  # phone number or e-mail address; empty for a group robot
    idempotency_key: str = ""  # the same for every attempt of one delivery
    severity: str = "info"
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    ok: bool
    retry: bool = False  # worth another attempt later (network, rate limit, 5xx)
    detail: str = ""  # why, in a line, for the delivery log
    response: str = ""  # the service's answer (truncated by the caller)


class Transport(Protocol):
    kind: str

    def send(self, config: dict, out: Outgoing) -> Result: ...


TIMEOUT_SECONDS = 10.0

_local = threading.local()


def http_client() -> httpx.Client:
    """This thread's HTTP client: connections to a webhook or gateway are kept alive between
    deliveries (a fan-out of a thousand messages must not open a thousand TLS connections).
    Timeouts are passed per request, so tests that shorten them still apply."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(follow_redirects=False)
    return client
