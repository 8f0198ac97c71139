"""Checking a certificate against an external registry (the issuing authority's query service).

One interface, one class per kind of registry, chosen by the setting ANLIAN_CERT_VERIFIER (a dotted
path to a `CertificateVerifier` subclass). The default says that no registry is configured.
`HttpRegistryVerifier` talks to a JSON service described in its docstring and in docs/workforce.md.

A verifier never raises: a registry that is down, slow or answers nonsense is "unavailable", so a
page or API call that asks for a check never fails with a 500.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.orgs import access
from anlian.orgs.permissions import MANAGE_CERTIFICATES
from anlian.workforce import certificates
from anlian.workforce.models import Certificate

log = logging.getLogger(__name__)

VALID, REVOKED, NOT_FOUND, MISMATCH, UNAVAILABLE = "valid", "revoked", "not_found", "mismatch", "unavailable"
STATUSES = (VALID, REVOKED, NOT_FOUND, MISMATCH, UNAVAILABLE)
DEFAULT_VERIFIER = "anlian.workforce.verifier.NoRegistryVerifier"
MAX_ANSWER_BYTES = 64 * 1024  # a registry answer is a few hundred bytes; anything huge is refused unread
MAX_DETAIL = 300


@dataclass(frozen=True)
class Verification:
    """A registry's answer: one of STATUSES, a translated sentence for people, the raw answer."""

    status: str
    detail: str
    raw: Any = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown verification status {self.status!r}")


class CertificateVerifier(ABC):
    """Asks one registry about one certificate. Implementations must not raise."""

    name = "base"

    @abstractmethod
    def verify(self, certificate: Certificate) -> Verification: ...


class NoRegistryVerifier(CertificateVerifier):
    """The default: no registry configured, so nothing can be confirmed (and says so)."""

    name = "none"

    def verify(self, certificate: Certificate) -> Verification:
        return Verification(UNAVAILABLE, _("未配置外部证书核验服务（ANLIAN_CERT_VERIFIER），无法在线核验"))


class HttpRegistryVerifier(CertificateVerifier):
    """A JSON registry over HTTPS: ANLIAN_CERT_REGISTRY_URL, ANLIAN_CERT_REGISTRY_TOKEN and
    ANLIAN_CERT_REGISTRY_TIMEOUT (seconds, default 10).

    Request: `POST <URL>` with `Authorization: Bearer <TOKEN>`, `Content-Type: application/json` and
    the body (dates ISO 8601; `holder_id_number` null when unknown)::

        {"number": "11010519491231002X", "kind": "so-welding", "kind_name": "熔化焊接与热切割作业",
         "holder_name": "张三", "holder_id_number": "11010519491231002X",
         "issued_on": "2024-03-01", "expires_on": "2030-03-01"}

    Answer: HTTP 200 with a JSON object::

        {"status": "valid" | "revoked" | "not_found",
         "holder_name": "张三", "kind": "so-welding", "issued_on": "2024-03-01", "expires_on": "2030-03-01",
         "reason": "2025-01-10 吊销：违章作业"}          # reason: for "revoked"

    For "valid", any of holder_name, kind, issued_on, expires_on present in the answer that differ
    from ours make the result "mismatch" (listing what differs). Any other HTTP status, a timeout,
    a connection error, an answer over 64 KB or one that is not such an object is "unavailable".
    """

    name = "http"

    def config(self) -> dict[str, Any]:
        return {"url": getattr(settings, "ANLIAN_CERT_REGISTRY_URL", ""),
                "token": getattr(settings, "ANLIAN_CERT_REGISTRY_TOKEN", ""),
                "timeout": float(getattr(settings, "ANLIAN_CERT_REGISTRY_TIMEOUT", 10))}

    @staticmethod
    def body(certificate: Certificate) -> dict[str, Any]:
        person = certificate.person
        return {"number": certificate.number, "kind": certificate.kind.code, "kind_name": certificate.kind.name,
                "holder_name": person.name, "holder_id_number": person.id_number or None,
                "issued_on": certificate.issued_on.isoformat(), "expires_on": certificate.expires_on.isoformat()}

    def verify(self, certificate: Certificate) -> Verification:
        cfg = self.config()
        if not cfg["url"] or not cfg["token"]:
            return Verification(UNAVAILABLE, _("证书核验服务地址或令牌未配置"))
        try:
            response = httpx.post(cfg["url"], json=self.body(certificate), timeout=cfg["timeout"],
                                  headers={"Authorization": f"Bearer {cfg['token']}", "Accept": "application/json"})
        except httpx.TimeoutException:
            return Verification(UNAVAILABLE, _("证书核验服务超时（{s}秒）").format(s=f"{cfg['timeout']:g}"))
        except httpx.HTTPError as exc:
            log.warning("certificate registry: %s", exc)
            return Verification(UNAVAILABLE, _("无法连接证书核验服务"))
        if response.status_code != 200:
            log.warning("certificate registry: HTTP %s: %.300s", response.status_code, response.text)
            return Verification(UNAVAILABLE, _("证书核验服务出错（HTTP {status}）").format(status=response.status_code),
                                {"http_status": response.status_code})
        return self.read(certificate, response.content)

    def read(self, certificate: Certificate, content: bytes) -> Verification:
        answer = None
        if len(content) <= MAX_ANSWER_BYTES:
            try:
                answer = json.loads(content)
            except ValueError:
                pass
        status = answer.get("status") if isinstance(answer, dict) else None
        if status not in (VALID, REVOKED, NOT_FOUND):
            log.warning("certificate registry: unreadable answer: %.300r", content)
            return Verification(UNAVAILABLE, _("证书核验服务的回复无法识别"))
        if status == NOT_FOUND:
            return Verification(NOT_FOUND, _("登记机关查无此证"), answer)
        if status == REVOKED:
            reason = answer.get("reason") if isinstance(answer.get("reason"), str) else ""
            return Verification(REVOKED, _("登记机关显示此证已吊销/注销：{r}").format(r=reason.strip()[:150] or "-"), answer)
        differences = mismatches(certificate, answer)
        if differences:
            return Verification(MISMATCH, _("登记信息与本系统不一致：{d}").format(d="；".join(differences)), answer)
        return Verification(VALID, _("登记机关确认此证有效"), answer)


def mismatches(certificate: Certificate, answer: dict[str, Any]) -> list[str]:
    """What the registry says differently from us, as short translated phrases."""
    ours = {"holder_name": (_("持证人"), certificate.person.name), "kind": (_("证书类型"), certificate.kind.code),
            "issued_on": (_("发证日期"), certificate.issued_on.isoformat()),
            "expires_on": (_("有效期至"), certificate.expires_on.isoformat())}
    found = []
    for key, (label, mine) in ours.items():
        theirs = answer.get(key)
        if theirs is not None and str(theirs).strip()[:60] != mine:
            found.append(_("{what}为“{theirs}”（本系统：{mine}）").format(what=label, theirs=str(theirs).strip()[:60],
                                                                  mine=mine))
    return found


def get_verifier() -> CertificateVerifier:
    return import_string(getattr(settings, "ANLIAN_CERT_VERIFIER", "") or DEFAULT_VERIFIER)()


def ask_registry(certificate: Certificate) -> Verification:
    """The configured verifier's answer; a verifier that breaks its promise and raises is unavailable."""
    try:
        return get_verifier().verify(certificate)
    except Exception:  # noqa: BLE001 - a plug-in's bug must not turn a check into a 500
        log.exception("certificate verifier failed")
        return Verification(UNAVAILABLE, _("证书核验出错，请稍后重试"))


def verify_certificate(actor: Any, certificate: Certificate) -> Verification:
    """Ask the registry, store the answer, and revoke the certificate when the registry has.

    Call it outside a transaction: the registry is asked first (up to the timeout) with no database
    lock held, then the answer is written in a transaction of its own. `verified_at` records the
    last time the registry really answered; an "unavailable" attempt is stored in `verification`
    but leaves `verified_at` alone. A revocation sends `qualification_changed` on commit.
    """
    access.require(actor, MANAGE_CERTIFICATES, certificate.person)
    result = ask_registry(certificate)
    with transaction.atomic():
        fresh = Certificate.objects.select_for_update(of=("self",)).select_related("person", "kind").get(pk=certificate.pk)
        now = clock.now()
        fresh.verification = {"status": result.status, "detail": result.detail[:MAX_DETAIL], "raw": _bounded(result.raw),
                              "checked_at": now.isoformat(), "verifier": get_verifier_name(),
                              "renewals": certificates.renewals(fresh)}
        if result.status != UNAVAILABLE:
            fresh.verified_at = now
        fresh.save(update_fields=["verification", "verified_at", "updated_at"])
        if result.status == REVOKED and fresh.revoked_at is None:
            certificates.do_revoke(fresh, result.detail[:certificates.MAX_REASON])
    certificate.refresh_from_db()
    return result


def get_verifier_name() -> str:
    return getattr(settings, "ANLIAN_CERT_VERIFIER", "") or DEFAULT_VERIFIER


def _bounded(raw: Any) -> Any:
    """The raw answer if it is plain JSON of reasonable size, else nothing (it is only for people)."""
    try:
        return raw if len(json.dumps(raw, ensure_ascii=False)) <= 4000 else None
    except (TypeError, ValueError):
        return None


def last_result(certificate: Certificate) -> dict[str, Any] | None:
    """The stored answer of the last check, for pages ({status, detail, checked_at}), if any."""
    stored = certificate.verification or {}
    return stored if stored.get("status") in STATUSES else None

