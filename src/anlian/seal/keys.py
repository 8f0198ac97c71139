"""The install's Ed25519 seal key: generated once, on first use, in the data directory (mode 0600).

ANLIAN_SEAL_KEY_FILE (a setting or an environment variable) points at another PEM file instead, e.g. a
key kept on a separate volume. Only the public half ever leaves the server.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings

_lock = threading.Lock()


def key_path() -> Path:
    configured = getattr(settings, "ANLIAN_SEAL_KEY_FILE", None) or os.environ.get("ANLIAN_SEAL_KEY_FILE")
    return Path(configured) if configured else Path(settings.DATA_DIR) / "seal_ed25519.pem"


def _create(path: Path) -> None:
    """Write a new key without ever leaving it readable by others, and never over an existing one
    (O_EXCL: two processes starting at once keep the first key)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


@lru_cache(maxsize=4)
def _load(path: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def private_key() -> Ed25519PrivateKey:
    path = key_path()
    with _lock:
        if not path.exists():
            _create(path)
    return _load(str(path))


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()


def public_pem(key: Ed25519PublicKey | None = None) -> str:
    key = key or public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PublicKey | None = None) -> str:
    """The key id: SHA-256 of the raw 32-byte public key, hex."""
    key = key or public_key()
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).hexdigest()


def sign(data: bytes, key: Ed25519PrivateKey | None = None) -> str:
    return base64.b64encode((key or private_key()).sign(data)).decode()


def signature_ok(data: bytes, signature: str, key: Ed25519PublicKey | None = None) -> bool:
    try:
        (key or public_key()).verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
