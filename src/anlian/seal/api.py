# No `from __future__ import annotations`: ninja must see the real parameter types.
"""API of the evidence seal: the install's public key (public), a company's checkpoints (VIEW at the
company), sealing on demand (MANAGE_ORG at the company) and verifying one job (VIEW on the job).
Another company's id is a 404 like a missing one."""

from datetime import datetime
from typing import Optional

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from anlian.core.schemas import Id, Strict
from anlian.orgs.api import ref
from anlian.seal import keys, services
from anlian.seal.models import Checkpoint

router = Router(tags=["seal"])


class KeyOut(Schema):
    algorithm: str = "Ed25519"
    key_id: str = Field(description="SHA-256 of the raw 32-byte public key, hex")
    pem: str


class CheckpointOut(Schema):
    id: int
    company_id: int
    number: int
    sealed_at: datetime
    head: str
    prev_digest: str
    merkle_root: str
    instances: int
    events: int
    key_id: str
    signature: str
    tsa: bool = Field(description="Counter-signed by an RFC 3161 timestamp authority")


class SealIn(Strict):
    company_id: Id


class BreakOut(Schema):
    code: str
    message: str
    instance_id: Optional[int]
    seq: Optional[int]
    file_sha256: str


class SealSummary(Schema):
    id: int
    number: int
    company_id: int
    sealed_at: datetime
    signature_ok: bool
    head: str
    tsa: bool


class VerifyOut(Schema):
    ok: bool
    events: int
    files: int
    breaks: list[BreakOut]
    checkpoint: Optional[SealSummary]


def _out(cp: Checkpoint) -> dict:
    return {**{name: getattr(cp, name) for name in (
        "id", "company_id", "number", "sealed_at", "head", "prev_digest", "merkle_root", "instances", "events",
        "key_id", "signature")}, "tsa": bool(cp.tsa_token)}


@router.get("/seal/key", response=KeyOut, auth=None, summary="The install's public seal key (no login needed)")
def public_key(request: HttpRequest):
    return {"key_id": keys.fingerprint(), "pem": keys.public_pem()}


@router.get("/seal/checkpoints", response=list[CheckpointOut], summary="A company's checkpoints, newest first (at most 100)")
def list_checkpoints(request: HttpRequest, company_id: Id = Query(...)):
    company = ref(services.companies_for(request.user), request, company_id, "company_id")
    return [_out(cp) for cp in services.checkpoints_of(company)[:100]]


@router.post("/seal/checkpoints", response={201: CheckpointOut}, summary="Seal a company's chains now")
def seal(request: HttpRequest, body: SealIn):
    company = ref(services.companies_for(request.user), request, body.company_id, "company_id")
    # Not in an outer transaction: sealing takes its own, and a timestamp authority is asked after it.
    return Status(201, _out(services.seal_now(request.user, company)))


@router.get("/seal/verify", response=VerifyOut, summary="Recompute one job's chain, files and seal")
def verify_job(request: HttpRequest, instance_id: Id = Query(...)):
    report = services.verify_for(request.user, instance_id)
    return {"ok": report.ok, "events": report.events, "files": report.files,
            "breaks": [b.__dict__ for b in report.breaks], "checkpoint": report.checkpoint}

