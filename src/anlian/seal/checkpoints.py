"""Sealing a company's job chains into a signed checkpoint, and reading back what a checkpoint sealed.

Format (docs/evidence-chain.md; scripts/verify_bundle.py re-implements the reading half without Django):

- leaf of a job = sha256(0x00 + "<instance_id>:<last_seq>:<last_hash>"), the jobs sorted by id;
- Merkle root over the leaves: node = sha256(0x01 + left + right) on raw digests, an odd last node is
  carried up unchanged; no leaves → sha256(b"");
- head = sha256(prev_digest + merkle_root) (hex strings), prev_digest = digest of the previous checkpoint of
  the company (64 zeros for the first): checkpoints chain like events do;
- the signed document is the canonical JSON (sorted keys, no spaces, UTF-8) of {v, company_id, number,
  sealed_at, prev_digest, merkle_root, head, instances, events, key_id}; signature = Ed25519 over it;
  digest = sha256 of it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from anlian.core import clock
from anlian.flows.models import Instance
from anlian.orgs.models import OrgUnit
from anlian.seal import keys
from anlian.seal.models import Checkpoint, Leaf

GENESIS = "0" * 64
FORMAT = 1


def leaf_hash(instance_id: int, seq: int, head: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{instance_id}:{seq}:{head}".encode()).digest()


def merkle_levels(leaves: list[tuple[int, int, str]]) -> list[list[bytes]]:
    """Every level of the tree, leaves first; `leaves` sorted by instance id."""
    level = [leaf_hash(*leaf) for leaf in leaves]
    levels = [level]
    while len(level) > 1:
        up = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        level = up
        levels.append(level)
    return levels


def merkle_root(leaves: list[tuple[int, int, str]]) -> str:
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    return merkle_levels(leaves)[-1][0].hex()


def merkle_proof(leaves: list[tuple[int, int, str]], index: int) -> list[list[str]]:
    """[[side, sibling hex], …] from the leaf up: side "L" when the sibling is on the left."""
    proof = []
    for level in merkle_levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(["L" if sibling < index else "R", level[sibling].hex()])
        index //= 2
    return proof


def head_of(prev_digest: str, root: str) -> str:
    return hashlib.sha256((prev_digest + root).encode()).hexdigest()


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def document(cp: Checkpoint) -> dict[str, Any]:
    return {"v": FORMAT, "company_id": cp.company_id, "number": cp.number, "sealed_at": _utc(cp.sealed_at),
            "prev_digest": cp.prev_digest, "merkle_root": cp.merkle_root, "head": cp.head,
            "instances": cp.instances, "events": cp.events, "key_id": cp.key_id}


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def digest(cp: Checkpoint) -> str:
    return hashlib.sha256(canonical(document(cp))).hexdigest()


def leaves_by_checkpoint(company_id: int) -> tuple[list[Checkpoint], dict[int, dict[int, tuple[int, str]]]]:
    """The company's checkpoints in order and, per checkpoint id, only its own (changed) leaves."""
    checkpoints = list(Checkpoint.objects.filter(company_id=company_id).order_by("number"))
    own: dict[int, dict[int, tuple[int, str]]] = {cp.pk: {} for cp in checkpoints}
    rows = Leaf.objects.filter(checkpoint__company_id=company_id).values_list("checkpoint_id", "instance_id",
                                                                             "seq", "hash")
    for cp_id, instance_id, seq, head in rows.iterator(chunk_size=5000):
        own.setdefault(cp_id, {})[instance_id] = (seq, head)
    return checkpoints, own


def full_leaves(checkpoints: list[Checkpoint], own: dict[int, dict[int, tuple[int, str]]],
                upto: Checkpoint | None = None) -> dict[int, tuple[int, str]]:
    """The complete set sealed by `upto` (default: the last): each job's latest leaf; seq 0 = removed."""
    leaves: dict[int, tuple[int, str]] = {}
    for cp in checkpoints:
        for instance_id, leaf in own.get(cp.pk, {}).items():
            if leaf[0]:
                leaves[instance_id] = leaf
            else:
                leaves.pop(instance_id, None)
        if upto is not None and cp.pk == upto.pk:
            break
    return leaves


def sorted_leaves(leaves: dict[int, tuple[int, str]]) -> list[tuple[int, int, str]]:
    return [(pk, seq, head) for pk, (seq, head) in sorted(leaves.items())]


def seal_company(company: OrgUnit | int, *, user: Any = None, force: bool = True) -> Checkpoint | None:
    """Seal the company's chains now. Without `force`, nothing changed since the last checkpoint → None."""
    from anlian.seal import tsa

    company_id = company if isinstance(company, int) else company.pk
    with transaction.atomic():
        # One sealer at a time per company: the numbers and the prev_digest links must not fork.
        OrgUnit.objects.select_for_update().filter(pk=company_id).values_list("pk").first()
        checkpoints, own = leaves_by_checkpoint(company_id)
        before = full_leaves(checkpoints, own)
        current = {pk: (seq, head) for pk, seq, head in Instance.objects.filter(company_id=company_id, last_seq__gt=0)
                   .values_list("pk", "last_seq", "last_hash").iterator(chunk_size=5000)}
        changed = {pk: leaf for pk, leaf in current.items() if before.get(pk) != leaf}
        changed.update({pk: (0, "") for pk in before.keys() - current.keys()})
        if checkpoints and not changed and not force:
            return None
        last = checkpoints[-1] if checkpoints else None
        cp = Checkpoint(company_id=company_id, number=(last.number + 1) if last else 1, sealed_at=clock.now(),
                        prev_digest=digest(last) if last else GENESIS,
                        merkle_root=merkle_root(sorted_leaves(current)), instances=len(current),
                        events=sum(seq for seq, _h in current.values()), key_id=keys.fingerprint(),
                        sealed_by=user if isinstance(user, get_user_model()) else None)
        cp.head = head_of(cp.prev_digest, cp.merkle_root)
        cp.signature = keys.sign(canonical(document(cp)))
        cp.save()
        Leaf.objects.bulk_create([Leaf(checkpoint=cp, instance_id=pk, seq=seq, hash=head)
                                  for pk, (seq, head) in sorted(changed.items())], batch_size=2000)
    tsa.stamp(cp)  # outside the transaction: a slow or absent TSA never holds the lock
    return cp


def companies_to_seal() -> list[int]:
    """Every company with a job, and every company sealed before (its jobs may all be gone)."""
    with_jobs = set(Instance.objects.values_list("company_id", flat=True).distinct())
    sealed = set(Checkpoint.objects.values_list("company_id", flat=True).distinct())
    return sorted(with_jobs | sealed)


def seal_all(*, force: bool = False) -> dict[str, int]:
    sealed = unchanged = 0
    for company_id in companies_to_seal():
        if seal_company(company_id, force=force):
            sealed += 1
        else:
            unchanged += 1
    return {"sealed": sealed, "unchanged": unchanged}
