"""Optional RFC 3161 counter-signature of checkpoints by a timestamp authority (TSA).

Set ANLIAN_TSA_URL (a setting or an environment variable) to the TSA's HTTP endpoint; optionally
ANLIAN_TSA_CERT to the TSA's certificate (PEM) to pin it. After each checkpoint is signed, the TSA
is sent a TimeStampReq over sha256(canonical JSON of the checkpoint) with a random nonce; the reply
(TimeStampResp, DER, base64) is stored on the checkpoint when its imprint and nonce match. A TSA that
is down or answers wrongly never blocks sealing: the reason is kept in `tsa_error` and shown.

The token proves the checkpoint existed at the TSA's time, independently of this server's clock and
key: an attacker with the server's key cannot back-date a re-signed checkpoint past a token.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import algos, cms, core, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from django.conf import settings

TIMEOUT = 10
MAX_REPLY = 256 * 1024


class TsaError(Exception):
    pass


class _Items(core.SequenceOf):
    _child_spec = core.Any


@dataclass(frozen=True)
class Token:
    gen_time: datetime
    serial: int
    policy: str
    imprint: bytes


def tsa_url() -> str:
    return getattr(settings, "ANLIAN_TSA_URL", None) or os.environ.get("ANLIAN_TSA_URL") or ""


def pinned_cert() -> x509.Certificate | None:
    path = getattr(settings, "ANLIAN_TSA_CERT", None) or os.environ.get("ANLIAN_TSA_CERT")
    if not path:
        return None
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def request_for(digest: bytes, nonce: int) -> bytes:
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}), "hashed_message": digest},
        "nonce": nonce, "cert_req": True,
    }).dump()


def ask(url: str, data: bytes) -> bytes:
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/timestamp-query",
                                                                         "Accept": "application/timestamp-reply"})
    with urllib.request.urlopen(req, timeout=TIMEOUT) as response:  # noqa: S310 — an administrator's URL
        body = response.read(MAX_REPLY + 1)
    if len(body) > MAX_REPLY:
        raise TsaError("reply too large")
    return body


def check_reply(reply: bytes, digest: bytes, nonce: int | None = None) -> Token:
    """Parse a TimeStampResp and check it: granted, imprint = sha256 digest, nonce, and the CMS
    signature by the certificate it carries (the pinned one when ANLIAN_TSA_CERT is set)."""
    try:
        # The status first, on its own: a refusal carries no token, which asn1crypto's TimeStampResp requires.
        status = tsp.PKIStatusInfo.load(_Items.load(reply)[0].dump())["status"].native
        if status not in ("granted", "granted_with_mods"):
            raise TsaError(f"TSA refused: {status}")
        resp = tsp.TimeStampResp.load(reply)
        signed = resp["time_stamp_token"]["content"]
        content = signed["encap_content_info"]["content"]
        info = content.parsed
        imprint = info["message_imprint"]
        if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint["hashed_message"].native != digest:
            raise TsaError("imprint does not match the checkpoint")
        if nonce is not None and info["nonce"].native != nonce:
            raise TsaError("nonce does not match the request")
        _check_signature(signed, content.contents)
        return Token(gen_time=info["gen_time"].native, serial=info["serial_number"].native,
                     policy=info["policy"].dotted, imprint=digest)
    except TsaError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise TsaError(f"malformed reply: {exc}") from None


def _check_signature(signed: cms.SignedData, tst_der: bytes) -> None:
    signer = signed["signer_infos"][0]
    algorithm = signer["digest_algorithm"]["algorithm"].native
    digest = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}.get(algorithm)
    if digest is None:
        raise TsaError(f"unsupported digest {algorithm}")
    attrs = signer["signed_attrs"]
    found = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    h = hashes.Hash(digest())
    h.update(tst_der)
    if found != [h.finalize()]:
        raise TsaError("message digest does not match the token")
    certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or []]
    pinned = pinned_cert()
    if pinned is not None:
        certs = [pinned]
    if not certs:
        raise TsaError("no certificate to check the token with")
    data = b"\x31" + attrs.dump()[1:]  # signed over the attributes as a SET OF, not as the [0] field
    signature = signer["signature"].native
    for cert in certs:
        key = cert.public_key()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, data, ec.ECDSA(digest()))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), digest())
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, data)
            else:
                continue
            return
        except InvalidSignature:
            continue
    raise TsaError("the token's signature does not verify")


def stamp(cp) -> None:
    """Counter-sign a new checkpoint when a TSA is configured; never raises."""
    from anlian.seal.checkpoints import canonical, document

    url = tsa_url()
    if not url:
        return
    digest = hashlib.sha256(canonical(document(cp))).digest()
    nonce = secrets.randbits(63)
    try:
        reply = ask(url, request_for(digest, nonce))
        check_reply(reply, digest, nonce)
        cp.tsa_token, cp.tsa_error = base64.b64encode(reply).decode(), ""
    except Exception as exc:  # noqa: BLE001 — the checkpoint stands without a timestamp
        cp.tsa_token, cp.tsa_error = "", str(exc)[:200] or exc.__class__.__name__
    cp.save(update_fields=["tsa_token", "tsa_error"])


def token_of(cp) -> Token:
    """Re-check a stored token against the checkpoint as it is now (verify calls this)."""
    from anlian.seal.checkpoints import canonical, document

    digest = hashlib.sha256(canonical(document(cp))).digest()
    try:
        reply = base64.b64decode(cp.tsa_token, validate=True)
    except ValueError:
        raise TsaError("token is not base64") from None
    return check_reply(reply, digest)
