"""Drawn signatures are files of the chain too: a replaced or lost signature image is a break, in
the server's verification and in an offline bundle; and sealing as the system (the worker, the
retention policy) records no person."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from anlian.evidence.models import StoredFile
from anlian.flows.models import Event
from anlian.orgs.access import SYSTEM
from anlian.seal import bundle, checkpoints, services, verify
from tests.test_dossiers_helpers import job  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def signature_of(instance) -> StoredFile:
    for payload in Event.objects.filter(instance=instance).values_list("payload", flat=True):
        for _key, sha in verify._refs(payload):
            stored = StoredFile.objects.get(company=instance.company, sha256=sha)
            if not stored.content_type.startswith("image/jpeg"):
                return stored
    raise AssertionError("the demo job has no drawn signature")


def test_a_replaced_signature_image_is_named(job):  # noqa: F811
    report = verify.verify_instance(job)
    assert report.ok and report.files >= 6
    signature = signature_of(job)
    with signature.file.storage.open(signature.file.name, "wb") as handle:
        handle.write(b"\x89PNG forged signature")
    report = verify.verify_instance(job)
    assert not report.ok and report.first_break.code == "file_changed"
    assert report.first_break.file_sha256 == signature.sha256


def test_the_bundle_carries_the_signature_and_lists_it(job):  # noqa: F811
    signature = signature_of(job)
    archive = zipfile.ZipFile(io.BytesIO(bundle.build_bundle(job)))
    assert f"files/{signature.sha256}" in archive.namelist()
    manifest = json.loads(archive.read("manifest.json"))
    assert signature.sha256 in {f["sha256"] for f in manifest["files"]}


def test_the_system_seals_without_a_person(world):
    checkpoint = services.seal_now(SYSTEM, world.a.unit)
    assert checkpoint.sealed_by is None and checkpoint.number == 1
    assert checkpoints.seal_company(world.a.unit, user=SYSTEM).sealed_by is None
