#!/usr/bin/env python3
"""Verify an Anlian evidence bundle offline: no server, no Django, only the public seal key.

    python3 verify_bundle.py BUNDLE.zip --key anlian-seal-key.pem

Needs Python 3.9+ and the `cryptography` package (pip install cryptography). Checks, in order:

1. every event's hash = sha256(prev_hash + canonical JSON of the event), each event chained to the one
   before (the first to 64 zeros), seq numbers 1, 2, 3 … without gaps, the job's recorded head = the last event;
2. every photo or clip an event references: files/<sha256> is in the bundle and its bytes hash to that sha256;
3. the checkpoint: signed with the given key (Ed25519 over its canonical JSON), made by that key (key id),
   its head = sha256(prev_digest + merkle_root), the job's leaf is in that Merkle root (inclusion proof),
   and the leaf is an event of this chain (seq and hash);
4. extra files (e.g. dossier.pdf) hash to what the manifest lists.

Exit 0 with a summary when everything holds, 1 naming the first break, 2 when the bundle cannot be read.
Canonical JSON: keys sorted, separators "," and ":", UTF-8, non-ASCII kept as is (json.dumps(...,
sort_keys=True, ensure_ascii=False, separators=(",", ":"))). See docs/evidence-chain.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import zipfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64


def canonical(doc) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def short(digest) -> str:
    return f"{digest[:12]}…" if digest else "（空）"


def leaf_hash(instance_id: int, seq: int, head: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{instance_id}:{seq}:{head}".encode()).digest()


def root_from_proof(leaf: bytes, proof) -> str:
    node = leaf
    for side, sibling in proof:
        other = bytes.fromhex(sibling)
        node = hashlib.sha256(b"\x01" + (other + node if side == "L" else node + other)).digest()
    return node.hex()


def load_key(path: str) -> Ed25519PublicKey:
    with open(path, "rb") as handle:
        key = serialization.load_pem_public_key(handle.read())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    return sha256_hex(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


class Broken(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def photos_of(event) -> list:
    """(slot or field, sha256) of the files an event refers to: photos and clips, and drawn
    signatures ("sig:<sha256>:<name>" in the form values)."""
    payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
    photos = payload.get("photos")
    found = [] if not isinstance(photos, dict) else [
        (slot, ref) for slot, refs in photos.items() if isinstance(refs, list) for ref in refs if isinstance(ref, str)]
    values = payload.get("values")
    for field, value in (values.items() if isinstance(values, dict) else ()):
        if isinstance(value, str) and value.startswith("sig:") and len(value[4:].split(":", 1)[0]) == 64:
            found.append((field, value[4:].split(":", 1)[0]))
    return found


def check_chain(manifest) -> dict:
    """The events' own chain; returns {seq: hash}."""
    number = manifest["instance"]["number"]
    prev, hashes = GENESIS, {}
    for index, entry in enumerate(manifest["events"]):
        event, seq = entry["event"], entry["event"].get("seq")
        what = f"作业 {number} 的第{seq}条记录（{event.get('kind')}{' · ' + event['step'] if event.get('step') else ''}）"
        if seq != index + 1:
            raise Broken("event_missing", f"作业 {number} 的第{index + 1}条记录缺失：记录编号为 {seq}")
        if entry["prev_hash"] != prev:
            raise Broken("prev_hash_mismatch", f"{what}没有接上前一条：它记录的前一哈希 {short(entry['prev_hash'])}"
                                               f" 与前一条的哈希 {short(prev)} 不符")
        actual = sha256_hex((entry["prev_hash"] + canonical(event)).encode("utf-8"))
        if actual != entry["hash"]:
            raise Broken("event_changed", f"{what}的内容被改动：记录的哈希 {short(entry['hash'])} 与重新计算的 {short(actual)} 不符")
        prev, hashes[seq] = entry["hash"], entry["hash"]
    job = manifest["instance"]
    tail_seq = len(manifest["events"])
    if (job["last_seq"], job["last_hash"]) != (tail_seq, prev if tail_seq else job["last_hash"]):
        raise Broken("head_mismatch", f"作业 {number} 记下的最新记录（第{job['last_seq']}条，哈希 {short(job['last_hash'])}）"
                                      f"与记录链的末尾（第{tail_seq}条，哈希 {short(prev)}）不符")
    return hashes


def check_files(manifest, archive: zipfile.ZipFile) -> int:
    number, checked = manifest["instance"]["number"], set()
    names = set(archive.namelist())
    for entry in manifest["events"]:
        event = entry["event"]
        for slot, ref in photos_of(event):
            if ref in checked:
                continue
            what = f"作业 {number} 的第{event['seq']}条记录「{slot}」的文件 {short(ref)}"
            if f"files/{ref}" not in names:
                raise Broken("file_missing", f"{what}不在证据包中")
            actual = sha256_hex(archive.read(f"files/{ref}"))
            if actual != ref:
                raise Broken("file_changed", f"{what}被替换：文件内容的哈希为 {short(actual)}")
            checked.add(ref)
    for extra in manifest.get("extra_files", []):
        if extra["name"] not in names or sha256_hex(archive.read(extra["name"])) != extra["sha256"]:
            raise Broken("file_changed", f"附件 {extra['name']} 与清单中的哈希不符")
    return len(checked)


def check_checkpoint(manifest, hashes: dict, key: Ed25519PublicKey) -> str:
    cp = manifest.get("checkpoint")
    if not cp:
        return "尚未封签（没有签名的封签可以核对：只核对了记录链本身）"
    doc = cp["document"]
    label = f"封签 #{doc['number']}（{doc['sealed_at']}）"
    if doc.get("key_id") != fingerprint(key):
        raise Broken("checkpoint_signature", f"{label}不是用所给公钥签的：密钥指纹 {short(doc.get('key_id'))}，"
                                             f"所给公钥为 {short(fingerprint(key))}")
    try:
        key.verify(base64.b64decode(cp["signature"], validate=True), canonical(doc).encode("utf-8"))
    except (InvalidSignature, ValueError):
        raise Broken("checkpoint_signature", f"{label}的签名无效：签名后内容被改动，或签名被替换") from None
    if sha256_hex((doc["prev_digest"] + doc["merkle_root"]).encode()) != doc["head"]:
        raise Broken("checkpoint_mismatch", f"{label}的封签值与其 Merkle 根不符")
    leaf = cp["leaf"]
    if leaf["instance_id"] != manifest["instance"]["id"] or doc["company_id"] != manifest["instance"]["company_id"]:
        raise Broken("checkpoint_mismatch", f"{label}的证明不属于这个作业")
    if root_from_proof(leaf_hash(leaf["instance_id"], leaf["seq"], leaf["hash"]), cp["proof"]) != doc["merkle_root"]:
        raise Broken("checkpoint_mismatch", f"{label}不包含这个作业的记录链末端（Merkle 证明不成立）")
    if leaf["seq"] not in hashes:
        raise Broken("checkpoint_mismatch", f"{label}封存了第{leaf['seq']}条记录，但证据包中没有它：封签后被删除")
    if hashes[leaf["seq"]] != leaf["hash"]:
        raise Broken("checkpoint_mismatch", f"第{leaf['seq']}条记录与{label}不符：封签时的哈希 {short(leaf['hash'])}，"
                                            f"现在 {short(hashes[leaf['seq']])}")
    later = len(hashes) - leaf["seq"]
    tail = f"；之后的 {later} 条记录尚未封签" if later else ""
    return f"{label}签名有效，封存了本作业前 {leaf['seq']} 条记录{tail}"


def verify(path: str, key_path: str) -> tuple[int, str]:
    try:
        key = load_key(key_path)
        archive = zipfile.ZipFile(path)
        manifest = json.loads(archive.read("manifest.json"))
        if manifest.get("format") != "anlian-evidence-bundle/1":
            return 2, f"不认识的证据包格式：{manifest.get('format')}"
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        return 2, f"无法读取：{exc}"
    try:
        hashes = check_chain(manifest)
        files = check_files(manifest, archive)
        sealed = check_checkpoint(manifest, hashes, key)
    except Broken as broken:
        return 1, f"不完整 [{broken.code}]：{broken.message}"
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return 1, f"不完整 [malformed]：证据包内容不符合格式（{exc!r}）"
    return 0, f"完整：作业 {manifest['instance']['number']}，{len(hashes)} 条记录，{files} 个文件；{sealed}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Verify an Anlian evidence bundle offline.")
    parser.add_argument("bundle", help="the bundle (.zip)")
    parser.add_argument("--key", required=True, help="the install's public seal key (PEM), obtained separately")
    parser.add_argument("--extract-tsa", metavar="DIR", help="also write the checkpoint's canonical JSON and its "
                        "RFC 3161 token there, for: openssl ts -verify -data checkpoint.json -in token.tsr -CAfile …")
    args = parser.parse_args(argv)
    code, message = verify(args.bundle, args.key)
    print(message)
    if args.extract_tsa and code != 2:
        print(extract_tsa(args.bundle, args.extract_tsa))
    return code


def extract_tsa(path: str, folder: str) -> str:
    import os

    cp = json.loads(zipfile.ZipFile(path).read("manifest.json")).get("checkpoint") or {}
    if not cp.get("tsa_token"):
        return "没有可信时间戳"
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "checkpoint.json"), "wb") as out:
        out.write(canonical(cp["document"]).encode("utf-8"))
    with open(os.path.join(folder, "token.tsr"), "wb") as out:
        out.write(base64.b64decode(cp["tsa_token"]))
    return f"已写出 {folder}/checkpoint.json 和 {folder}/token.tsr"


if __name__ == "__main__":
    sys.exit(main())
