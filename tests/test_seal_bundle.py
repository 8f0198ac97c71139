"""The evidence bundle and its offline verifier, run as a separate process (scripts/verify_bundle.py with
Django made unimportable): an intact bundle passes; each tampering of the bundle — or of the database
before the bundle was made — is named."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anlian.flows.models import Event
from anlian.seal import checkpoints, keys
from anlian.seal.bundle import build_bundle
from tests.test_seal_checkpoints import rechain
from tests.test_seal_verify import delete_event, job, photo_of, run_hazard, shop  # noqa: F401 — fixtures

pytestmark = pytest.mark.django_db
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "verify_bundle.py"
# The verifier must work without the application: any import of Django fails in its process.
RUNNER = "import runpy, sys; sys.modules['django'] = None; sys.modules['anlian'] = None; " \
         "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "seal.pem"
    path.write_text(keys.public_pem())
    return path


def check(tmp_path: Path, data: bytes, key: Path) -> tuple[int, str]:
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(SCRIPT), str(bundle), "--key", str(key)],
                          capture_output=True, text=True, timeout=60)
    assert not done.stderr, done.stderr
    return done.returncode, done.stdout.strip()


def rewrite(data: bytes, *, manifest=None, replace: dict[str, bytes | None] | None = None) -> bytes:
    """The same zip with the manifest passed through `manifest(m)` and entries replaced or (None) removed."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "manifest.json" and manifest:
                doc = json.loads(content)
                manifest(doc)
                content = json.dumps(doc, ensure_ascii=False).encode()
            if replace and name in replace:
                if replace[name] is None:
                    continue
                content = replace[name]
            target.writestr(name, content)
    return out.getvalue()


@pytest.fixture
def sealed(job, world) -> bytes:
    checkpoints.seal_company(world.a.unit)
    return build_bundle(job, extra_files={"dossier.pdf": b"%PDF-1.7 a dossier"})


def test_an_intact_bundle_verifies_offline(sealed, job, tmp_path, key_file):
    archive = zipfile.ZipFile(io.BytesIO(sealed))
    manifest = json.loads(archive.read("manifest.json"))
    assert len(manifest["events"]) == 9 and len(manifest["files"]) == 4 and manifest["checkpoint"]["leaf"]["seq"] == 9
    assert archive.read("public_key.pem").decode() == keys.public_pem()
    assert archive.read("dossier.pdf") == b"%PDF-1.7 a dossier"
    code, out = check(tmp_path, sealed, key_file)
    assert code == 0, out
    assert out.startswith(f"完整：作业 {job.number}，9 条记录，4 个文件；封签 #1") and "签名有效" in out


def test_an_unsealed_bundle_verifies_its_chain_and_says_it_is_not_sealed(job, tmp_path, key_file):
    code, out = check(tmp_path, build_bundle(job), key_file)
    assert code == 0 and "尚未封签" in out


def test_events_after_the_checkpoint_are_verified_and_said_unsealed(shop, world, tmp_path, key_file):
    job = run_hazard(shop)
    checkpoints.seal_company(world.a.unit)
    run_hazard(shop, minute=1)  # a second job: the proof has a sibling now
    checkpoints.seal_company(world.a.unit)
    code, out = check(tmp_path, build_bundle(job), key_file)
    assert code == 0 and "封签 #2" in out and "前 9 条记录" in out


def _event(seq: int):
    def change(doc):
        return doc["events"][seq - 1]
    return change


@pytest.mark.parametrize("tamper, code, words", [
    (lambda m: m["events"][5]["event"]["payload"]["values"].update(measures="没整改"), "event_changed", "第6条记录"),
    (lambda m: m["events"][3]["event"].update(server_time="2026-05-19T02:00:00+00:00"), "event_changed", "第4条记录"),
    (lambda m: m["events"][6]["event"].update(actor="person:1"), "event_changed", "第7条记录"),
    (lambda m: m["events"].pop(4), "event_missing", "第5条记录缺失"),
    (lambda m: m["events"].insert(3, m["events"].pop(4)), "event_missing", "第4条记录缺失"),
    (lambda m: m["events"].pop(), "head_mismatch", "第9条"),
    (lambda m: m["checkpoint"]["document"].update(head="f" * 64), "checkpoint_signature", "签名无效"),
    (lambda m: m["checkpoint"]["leaf"].update(seq=8), "checkpoint_mismatch", "Merkle"),
    (lambda m: m["instance"].update(id=m["instance"]["id"] + 1), "checkpoint_mismatch", "不属于这个作业"),
])
def test_a_tampered_manifest_is_named(sealed, tmp_path, key_file, tamper, code, words):
    result, out = check(tmp_path, rewrite(sealed, manifest=tamper), key_file)
    assert result == 1 and f"[{code}]" in out and words in out, out


def test_swapped_events_with_renumbered_seqs_do_not_chain(sealed, tmp_path, key_file):
    def swap(m):
        a, b = m["events"][3], m["events"][4]
        a["event"]["seq"], b["event"]["seq"] = 5, 4
        m["events"][3], m["events"][4] = b, a

    result, out = check(tmp_path, rewrite(sealed, manifest=swap), key_file)
    assert result == 1 and "[prev_hash_mismatch]" in out and "第4条记录" in out


def test_a_replaced_or_missing_photo_in_the_bundle_is_named(sealed, job, tmp_path, key_file):
    row, stored = photo_of(job, "after")
    result, out = check(tmp_path, rewrite(sealed, replace={f"files/{stored.sha256}": b"another picture"}), key_file)
    assert result == 1 and "[file_changed]" in out and "「after」" in out and f"第{row.seq}条" in out
    result, out = check(tmp_path, rewrite(sealed, replace={f"files/{stored.sha256}": None}), key_file)
    assert result == 1 and "[file_missing]" in out
    result, out = check(tmp_path, rewrite(sealed, replace={"dossier.pdf": b"%PDF forged"}), key_file)
    assert result == 1 and "dossier.pdf" in out


def test_a_checkpoint_re_signed_with_another_key_is_named(sealed, tmp_path, key_file):
    other = Ed25519PrivateKey.generate()

    def resign(m):
        doc = m["checkpoint"]["document"]
        doc["key_id"] = keys.fingerprint(other.public_key())
        m["checkpoint"]["signature"] = keys.sign(checkpoints.canonical(doc), other)

    result, out = check(tmp_path, rewrite(sealed, manifest=resign), key_file)
    assert result == 1 and "[checkpoint_signature]" in out and "不是用所给公钥签的" in out

    def forge(m):
        m["checkpoint"]["signature"] = base64.b64encode(other.sign(checkpoints.canonical(m["checkpoint"]["document"]))).decode()

    result, out = check(tmp_path, rewrite(sealed, manifest=forge), key_file)
    assert result == 1 and "签名无效" in out


def test_the_wrong_key_is_refused(sealed, tmp_path):
    other = tmp_path / "other.pem"
    other.write_text(keys.public_pem(Ed25519PrivateKey.generate().public_key()))
    result, out = check(tmp_path, sealed, other)
    assert result == 1 and "[checkpoint_signature]" in out


def test_a_database_tampered_before_the_bundle_was_made_is_named(sealed, job, tmp_path, key_file):
    delete_event(Event.objects.get(instance=job, seq=9))
    rechain(job)  # the chain and head are consistent again: only the checkpoint knows
    result, out = check(tmp_path, build_bundle(job), key_file)
    assert result == 1 and "[checkpoint_mismatch]" in out and "第9条记录" in out and "封签后被删除" in out


def test_garbage_is_not_a_crash(tmp_path, key_file, sealed):
    assert check(tmp_path, b"not a zip", key_file)[0] == 2
    assert check(tmp_path, rewrite(sealed, replace={"manifest.json": b"{}"}), key_file)[0] == 2
    assert check(tmp_path, rewrite(sealed, manifest=lambda m: m.update(events="x")), key_file)[0] == 1
    not_a_key = tmp_path / "k.pem"
    not_a_key.write_text("hello")
    assert check(tmp_path, sealed, not_a_key)[0] == 2


def test_extra_files_cannot_overwrite_the_bundle_s_own_entries(job):
    for name in ("manifest.json", "public_key.pem", "files/abc", "../x", "/etc/x", ""):
        with pytest.raises(ValueError):
            build_bundle(job, extra_files={name: b"x"})
