"""The certificate registry verifier against a real HTTP server on 127.0.0.1 that checks the bearer
token and the request body exactly, and answers every status, errors, timeouts and garbage."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone as dt_timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from anlian.accounts.tokens import issue_token
from anlian.core import clock
from anlian.core.codes import id18_check_char
from anlian.core.errors import Forbidden
from anlian.orgs import services
from anlian.orgs.access import SYSTEM
from anlian.workforce import certificates, verifier
from anlian.workforce.models import Certificate, CertificateKind
from anlian.workforce.signals import qualification_changed

pytestmark = pytest.mark.django_db

TOKEN = "registry-secret-7f3a"
NOW = datetime(2026, 5, 20, 2, 0, tzinfo=dt_timezone.utc)
ID = "11010519900307123" + id18_check_char("11010519900307123")
HTTP = "anlian.workforce.verifier.HttpRegistryVerifier"


class Registry:
    """A registry on loopback. `answer` is (HTTP status, body bytes) or "hang"; every request's
    token and body are checked against what the documentation promises."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] | str = (200, b"{}")
        self.expected: dict | None = None
        self.problems: list[str] = []
        self.requests = 0
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.requests += 1
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/verify":
                    outer.problems.append(f"path {self.path}")
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    outer.problems.append(f"token {self.headers.get('Authorization')!r}")
                    return self._send(401, b'{"error": "token"}')
                if self.headers.get("Content-Type") != "application/json":
                    outer.problems.append(f"content type {self.headers.get('Content-Type')}")
                if json.loads(raw) != outer.expected:
                    outer.problems.append(f"body {raw!r}")
                if outer.answer == "hang":
                    outer.release.wait(10)
                    return None
                status, body = outer.answer
                return self._send(status, body)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/verify"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def reply(self, **body) -> None:
        self.answer = (200, json.dumps(body, ensure_ascii=False).encode())

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # 127.0.0.1 must be reached directly
    with clock.frozen(NOW):
        yield


@pytest.fixture
def registry(settings):
    server = Registry()
    settings.ANLIAN_CERT_VERIFIER = HTTP
    settings.ANLIAN_CERT_REGISTRY_URL = server.url
    settings.ANLIAN_CERT_REGISTRY_TOKEN = TOKEN
    settings.ANLIAN_CERT_REGISTRY_TIMEOUT = 0.5
    yield server
    server.close()


@pytest.fixture
def cert(world):
    kind = CertificateKind.objects.create(code="t-weld", name="熔化焊接与热切割作业", family="special_operation",
                                          validity_years=6, review_years=3, number_format="id18")
    person = services.save_person(SYSTEM, None, org_unit=world.a.team, name="张焊", employee_no="A100", id_number=ID)
    return certificates.add_certificate(SYSTEM, person, kind=kind, number=ID, issuer="应急管理局",
                                        issued_on=date(2024, 3, 1), expires_on=date(2030, 3, 1))


@pytest.fixture
def signals():
    sent = []
    qualification_changed.connect(lambda sender, person, reason="", **kw: sent.append((person.pk, reason)),
                                  weak=False, dispatch_uid="test-verifier")
    yield sent
    qualification_changed.disconnect(dispatch_uid="test-verifier")


EXPECTED_BODY = {"number": ID, "kind": "t-weld", "kind_name": "熔化焊接与热切割作业", "holder_name": "张焊",
                 "holder_id_number": ID, "issued_on": "2024-03-01", "expires_on": "2030-03-01"}


def check(world, cert, registry):
    registry.expected = EXPECTED_BODY
    result = verifier.verify_certificate(world.a.officer.user, cert)
    assert registry.problems == []
    cert.refresh_from_db()
    return result


def test_a_valid_answer_is_stored(world, cert, registry):
    registry.reply(status="valid", holder_name="张焊", kind="t-weld", issued_on="2024-03-01", expires_on="2030-03-01")
    result = check(world, cert, registry)
    assert result.status == "valid" and registry.requests == 1
    assert cert.verified_at == NOW
    assert cert.verification["status"] == "valid" and cert.verification["raw"]["holder_name"] == "张焊"
    assert cert.verification["checked_at"] == NOW.isoformat() and cert.revoked_at is None


def test_a_revoked_answer_revokes_with_the_registrys_reason(world, cert, registry, signals,
                                                            django_capture_on_commit_callbacks):
    registry.reply(status="revoked", reason="2026-05-01 吊销：违章作业")
    with django_capture_on_commit_callbacks(execute=True):
        result = check(world, cert, registry)
    assert result.status == "revoked"
    assert cert.revoked_at == NOW and "2026-05-01 吊销：违章作业" in cert.revoked_reason
    assert certificates.state_of(cert) == "revoked"
    assert [pk for pk, _reason in signals] == [cert.person_id]


def test_not_found(world, cert, registry):
    registry.reply(status="not_found")
    result = check(world, cert, registry)
    assert result.status == "not_found" and cert.verification["status"] == "not_found"
    assert cert.verified_at == NOW and cert.revoked_at is None


def test_a_mismatch_lists_what_differs(world, cert, registry):
    registry.reply(status="valid", holder_name="张汉", kind="t-weld", expires_on="2028-03-01")
    result = check(world, cert, registry)
    assert result.status == "mismatch"
    assert "张汉" in result.detail and "2028-03-01" in result.detail and "发证日期" not in result.detail
    assert cert.verification["status"] == "mismatch" and cert.revoked_at is None


@pytest.mark.parametrize("answer", [
    (500, b'{"status": "valid"}'),
    (404, b'{"status": "not_found"}'),
    (200, b"<html>gateway</html>"),
    (200, b'["valid"]'),
    (200, b'{"status": "VALID!"}'),
    (200, b'{"status": "valid", "pad": "' + b"x" * 70_000 + b'"}'),
    "hang",
])
def test_errors_timeouts_and_garbage_are_unavailable(world, cert, registry, answer):
    registry.answer = answer
    result = check(world, cert, registry)
    assert result.status == "unavailable"
    assert cert.verification["status"] == "unavailable" and cert.verified_at is None and cert.revoked_at is None


def test_an_unreachable_registry_is_unavailable(world, cert, registry, settings):
    registry.close()
    settings.ANLIAN_CERT_REGISTRY_URL = registry.url
    result = verifier.verify_certificate(world.a.officer.user, cert)
    assert result.status == "unavailable" and "无法连接" in result.detail


def test_a_wrong_token_is_refused_by_the_registry_and_unavailable_here(world, cert, registry, settings):
    settings.ANLIAN_CERT_REGISTRY_TOKEN = "wrong"
    registry.expected = EXPECTED_BODY
    result = verifier.verify_certificate(world.a.officer.user, cert)
    assert result.status == "unavailable" and "401" in result.detail
    assert registry.problems == ["token 'Bearer wrong'"]


def test_without_configuration_it_says_so(world, cert, settings):
    settings.ANLIAN_CERT_VERIFIER = ""
    result = verifier.verify_certificate(world.a.officer.user, cert)
    assert result.status == "unavailable" and "未配置" in result.detail
    settings.ANLIAN_CERT_VERIFIER = HTTP
    settings.ANLIAN_CERT_REGISTRY_URL = ""
    assert "未配置" in verifier.verify_certificate(world.a.officer.user, cert).detail


class Broken(verifier.CertificateVerifier):
    def verify(self, certificate):
        raise RuntimeError("plug-in bug")


def test_a_verifier_that_raises_is_unavailable(world, cert, settings):
    settings.ANLIAN_CERT_VERIFIER = f"{__name__}.Broken"
    assert verifier.verify_certificate(world.a.officer.user, cert).status == "unavailable"


def test_only_certificate_managers_of_the_holder_may_verify(world, cert, registry):
    registry.reply(status="revoked", reason="x")
    for actor in (world.a.worker, world.b.officer):
        with pytest.raises(Forbidden):
            verifier.verify_certificate(actor.user, cert)
    assert registry.requests == 0
    cert.refresh_from_db()
    assert cert.verification is None and cert.revoked_at is None


def test_the_api_answers_even_when_the_registry_fails(world, cert, registry):
    registry.answer = (502, b"bad gateway")
    registry.expected = EXPECTED_BODY
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(world.a.officer.user, 't')[1]}"}
    r = client.post(f"/api/v1/certificates/{cert.pk}/verify", **auth)
    assert r.status_code == 200 and r.json()["status"] == "unavailable"
    assert r.json()["certificate"]["verification"]["status"] == "unavailable"
    b_auth = {"HTTP_AUTHORIZATION": f"Bearer {issue_token(world.b.admin.user, 't')[1]}"}
    assert client.post(f"/api/v1/certificates/{cert.pk}/verify", **b_auth).status_code == 404
    assert registry.requests == 1


def test_a_renewal_history_survives_a_check(world, cert, registry):
    certificates.renew_certificate(SYSTEM, cert, issued_on=date(2026, 5, 1), expires_on=date(2032, 5, 1))
    registry.expected = {**EXPECTED_BODY, "issued_on": "2026-05-01", "expires_on": "2032-05-01"}
    registry.reply(status="valid")
    verifier.verify_certificate(world.a.officer.user, cert)
    assert registry.problems == []
    cert.refresh_from_db()
    assert cert.verification["status"] == "valid"
    assert [r["expires_on"] for r in certificates.renewals(cert)] == ["2030-03-01"]
    assert Certificate.objects.count() == 1
