"""A job's evidence as one zip that can be verified offline with only the public key
(scripts/verify_bundle.py, docs/evidence-chain.md):

    manifest.json        the job, every event as stored (canonical fields, prev_hash, hash), the files,
                         and the latest checkpoint covering the job with the job's Merkle inclusion proof
    public_key.pem       the install's public seal key (the verifier should use a copy obtained separately)
    files/<sha256>       every photo and clip the events reference, byte for byte
    <name>               extra_files, e.g. dossier.pdf (listed in the manifest with their sha256)

The manifest itself is not signed: what proves the record is the chain of event hashes, the file hashes
inside the events, and the signed checkpoint whose Merkle root includes the job's chain head.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

from django.core.files.storage import default_storage

from anlian.core import clock
from anlian.evidence.models import StoredFile
from anlian.flows.models import Event, Instance
from anlian.flows.services import EVENT_COLUMNS, _core_event
from anlian.seal import checkpoints as cps
from anlian.seal import keys
from anlian.seal.verify import _refs

FORMAT = "anlian-evidence-bundle/1"
RESERVED = {"manifest.json", "public_key.pem"}


def _kind(instance: Instance) -> str:
    return "hazard" if hasattr(instance, "hazard") else "permit"


def checkpoint_entry(instance: Instance) -> dict[str, Any] | None:
    """The latest checkpoint of the company that sealed this job, with the job's leaf and proof."""
    checkpoints, own = cps.leaves_by_checkpoint(instance.company_id)
    if not checkpoints:
        return None
    leaves = cps.full_leaves(checkpoints, own)
    if instance.pk not in leaves:
        return None
    latest = checkpoints[-1]
    ordered = cps.sorted_leaves(leaves)
    index = next(i for i, leaf in enumerate(ordered) if leaf[0] == instance.pk)
    seq, head = leaves[instance.pk]
    return {"document": cps.document(latest), "signature": latest.signature, "digest": cps.digest(latest),
            "tsa_token": latest.tsa_token or None,
            "leaf": {"instance_id": instance.pk, "seq": seq, "hash": head},
            "proof": cps.merkle_proof(ordered, index), "leaves": len(ordered)}


def build_bundle(instance: Instance, extra_files: dict[str, bytes] | None = None) -> bytes:
    rows = Event.objects.filter(instance_id=instance.pk).order_by("seq").values_list(*EVENT_COLUMNS, "prev_hash", "hash")
    events, refs = [], {}
    for row in rows:
        core = _core_event(*row[:10])
        events.append({"event": core.to_dict(), "prev_hash": row[10], "hash": row[11]})
        for _slot, ref in _refs(core.payload):
            refs.setdefault(ref, None)
    # The head as stored now, not as cached on the caller's object (which may predate the last event).
    last_seq, last_hash = Instance.objects.filter(pk=instance.pk).values_list("last_seq", "last_hash").get()
    stored = {f.sha256: f for f in StoredFile.objects.filter(company_id=instance.company_id, sha256__in=list(refs))}
    buffer = io.BytesIO()
    files, extras = [], []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for sha in refs:
            found = stored.get(sha)
            data = _read(found.file.name) if found else None
            if data is None:
                files.append({"sha256": sha, "missing": True})
                continue
            # Stored as is: the verifier must see the bytes the server has, even if they were replaced.
            archive.writestr(f"files/{sha}", data, compress_type=zipfile.ZIP_STORED if found.is_video else None)
            files.append({"sha256": sha, "content_type": found.content_type, "size": len(data), "path": f"files/{sha}"})
        for name, data in (extra_files or {}).items():
            if not name or name in RESERVED or name.startswith(("files/", "/")) or ".." in name.split("/"):
                raise ValueError(f"reserved or unsafe bundle name: {name}")
            archive.writestr(name, data)
            extras.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
        manifest = {
            "format": FORMAT, "created_at": clock.now().isoformat(),
            "hash_scheme": "event.hash = sha256(prev_hash + canonical JSON of event); first prev_hash = 64 zeros",
            "instance": {"id": instance.pk, "number": instance.number, "title": instance.title, "kind": _kind(instance),
                         "company_id": instance.company_id, "status": instance.status,
                         "started_at": instance.started_at.isoformat(), "last_seq": last_seq,
                         "last_hash": last_hash},
            "events": events, "files": files, "extra_files": extras,
            "checkpoint": checkpoint_entry(instance), "key_id": keys.fingerprint(),
        }
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
        archive.writestr("public_key.pem", keys.public_pem())
    return buffer.getvalue()


def _read(name: str) -> bytes | None:
    try:
        with default_storage.open(name, "rb") as stream:
            return stream.read()
    except OSError:
        return None
