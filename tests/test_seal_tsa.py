"""RFC 3161 timestamps on checkpoints, against a local TSA stand-in on 127.0.0.1: a tiny http.server
that parses the TimeStampReq with asn1crypto, checks it, and answers a TimeStampResp signed (CMS, ECDSA
P-256) with its own self-signed certificate. Also a TSA that refuses, lies about the imprint, or is down."""

from __future__ import annotations

import base64
import hashlib
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from anlian.seal import checkpoints, tsa, verify
from anlian.seal.models import Checkpoint
from tests.test_seal_verify import job, shop  # noqa: F401 — fixtures

pytestmark = pytest.mark.django_db


def self_signed() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


class StandIn:
    """mode: "ok", "reject", "wrong_imprint", "wrong_nonce", "bad_signature"."""

    def __init__(self):
        self.key, self.cert = self_signed()
        self.mode, self.requests, self.serial = "ok", [], 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(415)
                    return
                try:
                    req = tsp.TimeStampReq.load(body)
                    assert req["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
                    assert len(req["message_imprint"]["hashed_message"].native) == 32
                except Exception:  # noqa: BLE001
                    self.send_error(400)
                    return
                stand_in.requests.append(req)
                reply = stand_in.reply(req)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reply(self, req: tsp.TimeStampReq) -> bytes:
        if self.mode == "reject":
            # asn1crypto insists on the (optional) token field; a bare PKIStatusInfo is what a refusal is
            return b"\x30" + bytes([len(status := tsp.PKIStatusInfo({"status": "rejection"}).dump())]) + status
        self.serial += 1
        imprint = req["message_imprint"]
        if self.mode == "wrong_imprint":
            imprint = {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                       "hashed_message": hashlib.sha256(b"something else").digest()}
        nonce = req["nonce"].native + (1 if self.mode == "wrong_nonce" else 0)
        info = tsp.TSTInfo({"version": "v1", "policy": "1.2.3.4.1", "message_imprint": imprint,
                            "serial_number": self.serial, "gen_time": datetime.now(timezone.utc), "nonce": nonce})
        der = info.dump()
        cert_der = self.cert.public_bytes(serialization.Encoding.DER)
        attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(der).digest()]}),
            # RFC 5816 (ESS signing-certificate-v2): which certificate signed, as a real TSA says
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2({"certs": [
                tsp.ESSCertIDv2({"hash_algorithm": {"algorithm": "sha256"}, "cert_hash": hashlib.sha256(cert_der).digest()})]})]}),
        ])
        signature = self.key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        if self.mode == "bad_signature":
            signature = ec.generate_private_key(ec.SECP256R1()).sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        cert = ax509.Certificate.load(cert_der)
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}), "signature": signature,
        })
        signed = cms.SignedData({
            "version": "v3", "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": info},
            "certificates": [cert], "signer_infos": [signer],
        })
        return tsp.TimeStampResp({"status": {"status": "granted"},
                                  "time_stamp_token": {"content_type": "signed_data", "content": signed}}).dump()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in(settings):
    server = StandIn()
    settings.ANLIAN_TSA_URL = server.url
    yield server
    server.close()


def test_a_checkpoint_is_counter_signed_by_the_tsa(stand_in, job, world):
    cp = checkpoints.seal_company(world.a.unit)
    cp.refresh_from_db()
    assert cp.tsa_token and not cp.tsa_error and len(stand_in.requests) == 1
    sent = stand_in.requests[0]
    assert sent["message_imprint"]["hashed_message"].native == hashlib.sha256(
        checkpoints.canonical(checkpoints.document(cp))).digest()
    assert sent["cert_req"].native is True and sent["nonce"].native > 0
    token = tsa.token_of(cp)
    assert token.serial == 1 and token.policy == "1.2.3.4.1"
    report = verify.verify_company(world.a.unit)
    assert report.ok and report.checkpoint["tsa"] is True


def test_a_token_is_bound_to_its_checkpoint(stand_in, job, world):
    cp = checkpoints.seal_company(world.a.unit)
    cp.refresh_from_db()
    other = checkpoints.seal_company(world.a.unit)
    other.refresh_from_db()
    Checkpoint.objects.filter(pk=cp.pk).update(tsa_token=other.tsa_token)  # a token of another checkpoint
    found = verify.verify_company(world.a.unit).first_break
    assert found.code == "checkpoint_timestamp" and "可信时间戳" in found.message
    Checkpoint.objects.filter(pk=cp.pk).update(tsa_token="!!!")
    assert verify.verify_company(world.a.unit).first_break.code == "checkpoint_timestamp"


def test_a_pinned_tsa_certificate_refuses_another_signer(stand_in, job, world, settings, tmp_path):
    cp = checkpoints.seal_company(world.a.unit)
    cp.refresh_from_db()
    _key, foreign = self_signed()
    pinned = tmp_path / "tsa.pem"
    pinned.write_bytes(foreign.public_bytes(serialization.Encoding.PEM))
    settings.ANLIAN_TSA_CERT = str(pinned)
    with pytest.raises(tsa.TsaError):
        tsa.token_of(cp)
    pinned.write_bytes(stand_in.cert.public_bytes(serialization.Encoding.PEM))
    assert tsa.token_of(cp).serial == 1


@pytest.mark.parametrize("mode, reason", [("reject", "refused"), ("wrong_imprint", "imprint"),
                                          ("wrong_nonce", "nonce"), ("bad_signature", "signature")])
def test_a_wrong_answer_is_not_stored_and_sealing_goes_on(stand_in, job, world, mode, reason):
    stand_in.mode = mode
    cp = checkpoints.seal_company(world.a.unit)
    cp.refresh_from_db()
    assert cp.tsa_token == "" and reason in cp.tsa_error
    assert verify.verify_company(world.a.unit).ok  # a checkpoint without a timestamp still verifies


def test_a_tsa_that_is_down_does_not_block_sealing(settings, job, world):
    server = StandIn()
    settings.ANLIAN_TSA_URL = server.url
    server.close()
    cp = checkpoints.seal_company(world.a.unit)
    cp.refresh_from_db()
    assert cp.number == 1 and cp.tsa_token == "" and cp.tsa_error


def test_garbage_replies_are_tsa_errors():
    for reply in (b"", b"\x30\x03\x02\x01\x00", b"not der at all", base64.b64encode(b"x")):
        with pytest.raises(tsa.TsaError):
            tsa.check_reply(reply, b"\x00" * 32)


def test_the_offline_script_extracts_the_timestamp_for_openssl(stand_in, job, world, tmp_path):
    import shutil
    import subprocess
    import sys

    from anlian.seal import keys
    from anlian.seal.bundle import build_bundle
    from tests.test_seal_bundle import SCRIPT

    checkpoints.seal_company(world.a.unit)
    bundle, key = tmp_path / "b.zip", tmp_path / "k.pem"
    bundle.write_bytes(build_bundle(job))
    key.write_text(keys.public_pem())
    done = subprocess.run([sys.executable, str(SCRIPT), str(bundle), "--key", str(key), "--extract-tsa",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    data, token = (tmp_path / "out" / "checkpoint.json").read_bytes(), (tmp_path / "out" / "token.tsr").read_bytes()
    cp = Checkpoint.objects.get()
    assert tsa.check_reply(token, hashlib.sha256(data).digest()).serial == 1
    assert data == checkpoints.canonical(checkpoints.document(cp))
    if shutil.which("openssl"):  # the documented command, with the stand-in's certificate as the CA
        ca = tmp_path / "tsa.pem"
        ca.write_bytes(stand_in.cert.public_bytes(serialization.Encoding.PEM))
        checked = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "out" / "checkpoint.json"),
                                  "-in", str(tmp_path / "out" / "token.tsr"), "-CAfile", str(ca)],
                                 capture_output=True, text=True, timeout=60)
        assert "Verification: OK" in checked.stdout, checked.stdout + checked.stderr
