"""Signed checkpoints: sealing, chaining, and what only a checkpoint can catch — an attacker who knows the
hash scheme and rewrites a job's chain and head after deleting or changing events; a checkpoint re-signed
with another key or with an altered head. Also the install key, the CLI (verify, seal_key) and the tasks."""

from __future__ import annotations

import os
import stat
from io import StringIO

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.storage import default_storage
from django.core.management import call_command

from anlian.flows.core.events import chain_hash
from anlian.flows.models import Event, Instance
from anlian.flows.services import GENESIS, to_core
from anlian.seal import checkpoints, keys, tasks, verify
from anlian.seal.models import Checkpoint, Leaf
from tests.flows.test_photo_checks_in_steps import scene
from tests.test_hazards_example import at
from tests.test_seal_verify import delete_event, job, photo_of, run_hazard, shop  # noqa: F401 — fixtures

pytestmark = pytest.mark.django_db


def rechain(job: Instance) -> None:
    """What an attacker who knows the scheme does after an edit: recompute every hash and the head."""
    prev, last = GENESIS, None
    for row in Event.objects.filter(instance=job).order_by("seq"):
        row.prev_hash, row.hash = prev, chain_hash(prev, to_core(row))
        Event.objects.filter(pk=row.pk).update(prev_hash=row.prev_hash, hash=row.hash)
        prev, last = row.hash, row
    Instance.objects.filter(pk=job.pk).update(last_seq=last.seq, last_hash=last.hash)


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("verify", *args, stdout=out, stderr=StringIO())
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_a_checkpoint_seals_every_job_of_the_company_and_verifies(job, world):
    cp = checkpoints.seal_company(world.a.unit)
    assert (cp.number, cp.instances, cp.events, cp.prev_digest) == (1, 1, 9, "0" * 64)
    assert cp.key_id == keys.fingerprint() and keys.signature_ok(checkpoints.canonical(checkpoints.document(cp)),
                                                                   cp.signature)
    assert list(Leaf.objects.filter(checkpoint=cp).values_list("instance_id", "seq", "hash")) == [
        (job.pk, 9, job.last_hash)]
    report = verify.verify_instance(job)
    assert report.ok and report.checkpoint["id"] == cp.pk and report.checkpoint["signature_ok"]
    assert verify.verify_company(world.a.unit).checkpoint["head"] == cp.head
    assert verify.verify_company(world.b.unit).checkpoint is None  # B's seal is B's own


def test_checkpoints_chain_and_store_only_changed_leaves(shop, world):
    first_job = run_hazard(shop)
    one = checkpoints.seal_company(world.a.unit)
    assert checkpoints.seal_company(world.a.unit, force=False) is None  # nothing changed
    second_job = run_hazard(shop, minute=1)
    two = checkpoints.seal_company(world.a.unit, force=False)
    assert two.number == 2 and two.prev_digest == checkpoints.digest(one) and two.instances == 2
    assert list(Leaf.objects.filter(checkpoint=two).values_list("instance_id", flat=True)) == [second_job.pk]
    three = checkpoints.seal_company(world.a.unit)  # on demand: sealed even when unchanged
    assert three.number == 3 and not Leaf.objects.filter(checkpoint=three).exists()
    assert three.merkle_root == two.merkle_root != one.merkle_root
    assert verify.verify_company(world.a.unit).ok and verify.verify_instance(first_job).checkpoint["number"] == 3


def test_deleting_the_last_event_and_rewriting_the_head_is_caught_by_the_checkpoint(job, world):
    checkpoints.seal_company(world.a.unit)
    delete_event(Event.objects.get(instance=job, seq=9))
    rechain(job)
    assert verify.verify_instance(job, files=False).breaks[0].code == "checkpoint_mismatch"
    code, out = run("--hazard", job.number)
    assert code == 1 and "封签 #1" in out and "第9条记录，但它已不存在" in out


def test_a_changed_and_rechained_event_is_caught_by_the_checkpoint(job, world):
    checkpoints.seal_company(world.a.unit)
    Event.objects.filter(instance=job, seq=4).update(actor_key="person:1")
    rechain(job)
    found = verify.verify_instance(job).first_break
    assert found.code == "checkpoint_mismatch" and found.seq == 9
    assert "封签后被改动" in found.message


def test_a_checkpoint_re_signed_with_another_key_is_caught(job, world):
    cp = checkpoints.seal_company(world.a.unit)
    other = Ed25519PrivateKey.generate()
    cp.key_id = keys.fingerprint(other.public_key())
    cp.signature = keys.sign(checkpoints.canonical(checkpoints.document(cp)), other)
    Checkpoint.objects.filter(pk=cp.pk).update(key_id=cp.key_id, signature=cp.signature)
    report = verify.verify_instance(job)
    assert report.first_break.code == "checkpoint_signature" and "不是用本系统的封签密钥签的" in report.first_break.message
    assert report.checkpoint["signature_ok"] is False
    code, out = run("--company", str(world.a.unit.pk))
    assert code == 1 and "不是用本系统的封签密钥签的" in out


def test_a_checkpoint_signed_by_another_key_under_our_key_id_is_caught(job, world):
    cp = checkpoints.seal_company(world.a.unit)
    forged = keys.sign(checkpoints.canonical(checkpoints.document(cp)), Ed25519PrivateKey.generate())
    Checkpoint.objects.filter(pk=cp.pk).update(signature=forged)
    assert [b.code for b in verify.verify_company(world.a.unit).breaks] == ["checkpoint_signature"]


def test_an_altered_checkpoint_head_is_caught(job, world):
    cp = checkpoints.seal_company(world.a.unit)
    Checkpoint.objects.filter(pk=cp.pk).update(head="f" * 64)
    codes = [b.code for b in verify.verify_company(world.a.unit).breaks]
    assert codes == ["checkpoint_signature", "checkpoint_mismatch"]
    code, out = run()
    assert code == 1 and "签名无效" in out


def test_an_altered_leaf_or_a_deleted_checkpoint_is_caught(shop, world):
    job = run_hazard(shop)
    checkpoints.seal_company(world.a.unit)
    second = checkpoints.seal_company(world.a.unit)
    Leaf.objects.filter(instance_id=job.pk).update(hash="e" * 64)
    assert {b.code for b in verify.verify_company(world.a.unit).breaks} == {"checkpoint_mismatch"}
    Leaf.objects.filter(instance_id=job.pk).update(hash=job.last_hash)
    assert verify.verify_company(world.a.unit).ok
    Leaf.objects.filter(checkpoint__number=1).delete()
    Checkpoint.objects.filter(company=world.a.unit, number=1).delete()
    messages = [b.message for b in verify.verify_company(world.a.unit).breaks]
    assert any("序号不连续" in m for m in messages) and any("没有接上前一个封签" in m for m in messages)
    assert second.number == 2


def test_the_cli_says_intact_with_the_latest_seal(job, world):
    code, out = run()
    assert code == 0 and out.startswith("完整：9 条记录，4 个文件，尚未封签")
    checkpoints.seal_company(world.a.unit)
    for args in ((), ("--all",), ("--company", str(world.a.unit.pk)), ("--hazard", job.number), ("--no-files",)):
        code, out = run(*args)
        assert code == 0 and "最新封签 #1" in out and "签名有效" in out, args
    code, out = run("--no-files")
    assert "0 个文件" in out


def test_the_cli_names_the_first_break_and_exits_1(job, world):
    _row, stored = photo_of(job, "before")
    with default_storage.open(stored.file.name, "wb") as out:
        out.write(scene(7))
    code, out = run("--hazard", job.number)
    assert code == 1 and "第一处：" in out and "「before」的文件" in out and "被替换" in out
    assert run("--hazard", job.number, "--no-files")[0] == 0


def test_the_cli_refuses_unknown_targets(job):
    from django.core.management.base import CommandError

    for args in (("--permit", job.number), ("--hazard", "NOPE"), ("--company", "999999")):
        with pytest.raises(CommandError):
            call_command("verify", *args, stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("verify", "--company", "1", "--all", stdout=StringIO())


def test_seal_key_prints_the_pem_and_its_fingerprint():
    out = StringIO()
    call_command("seal_key", stdout=out)
    assert out.getvalue().startswith("-----BEGIN PUBLIC KEY-----") and keys.fingerprint() in out.getvalue()
    out = StringIO()
    call_command("seal_key", "--pem-only", stdout=out)
    assert out.getvalue().strip() == keys.public_pem().strip()


def test_the_key_is_private_to_its_owner_and_can_live_elsewhere(settings, tmp_path):
    path = keys.key_path()
    keys.private_key()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    settings.ANLIAN_SEAL_KEY_FILE = str(tmp_path / "keys" / "seal.pem")
    elsewhere = keys.fingerprint()
    assert (tmp_path / "keys" / "seal.pem").exists() and stat.S_IMODE(os.stat(tmp_path / "keys" / "seal.pem").st_mode) == 0o600
    settings.ANLIAN_SEAL_KEY_FILE = None
    assert keys.fingerprint() != elsewhere


def test_the_daily_task_seals_every_company_changed_or_not(shop, world):
    run_hazard(shop)
    assert tasks.seal_daily.call_local() == {"sealed": 1, "unchanged": 0}  # B has no job: nothing to seal
    assert tasks.seal_daily.call_local() == {"sealed": 1, "unchanged": 0}  # unchanged: the day is attested
    run_hazard(shop, minute=1)
    assert checkpoints.seal_all(force=False) == {"sealed": 1, "unchanged": 0}
    assert checkpoints.seal_all(force=False) == {"sealed": 0, "unchanged": 1}
    assert Checkpoint.objects.filter(company=world.a.unit).count() == 3
    assert verify.verify_all().ok


def test_a_job_s_verification_checks_the_latest_signature_and_every_link(job, world):
    first = checkpoints.seal_company(world.a.unit)
    checkpoints.seal_company(world.a.unit)
    Checkpoint.objects.filter(pk=first.pk).update(signature=keys.sign(b"something else"))
    assert verify.verify_instance(job).ok  # an old signature is the company run's to check…
    assert verify.verify_company(world.a.unit).first_break.code == "checkpoint_signature"
    Checkpoint.objects.filter(pk=first.pk).update(events=1)  # …but an edit of an old checkpoint breaks the link
    found = verify.verify_instance(job).first_break
    assert found.code == "checkpoint_mismatch" and "没有接上前一个封签" in found.message


def _replace_photo(job):
    _row, stored = photo_of(job, "after")
    with default_storage.open(stored.file.name, "wb") as out:
        out.write(scene(98))


def _delete_photo(job):
    _row, stored = photo_of(job, "arrival")
    default_storage.delete(stored.file.name)


def _swap(job):
    Event.objects.filter(instance=job, seq=5).update(seq=1000)
    Event.objects.filter(instance=job, seq=6).update(seq=5)
    Event.objects.filter(instance=job, seq=1000).update(seq=6)


def _resign(job):
    cp = Checkpoint.objects.get(company_id=job.company_id)
    other = Ed25519PrivateKey.generate()
    cp.key_id = keys.fingerprint(other.public_key())
    Checkpoint.objects.filter(pk=cp.pk).update(key_id=cp.key_id, signature=keys.sign(
        checkpoints.canonical(checkpoints.document(cp)), other))


TAMPERS = {
    "payload": (lambda job: Event.objects.filter(instance=job, seq=6).update(payload={"values": {}}), "event_changed"),
    "time": (lambda job: Event.objects.filter(instance=job, seq=3).update(server_time=at(8, 0)), "event_changed"),
    "actor": (lambda job: Event.objects.filter(instance=job, seq=7).update(actor_key="person:1"), "event_changed"),
    "middle event deleted": (lambda job: delete_event(Event.objects.get(instance=job, seq=4)), "event_missing"),
    "last event deleted": (lambda job: delete_event(Event.objects.get(instance=job, seq=9)), "head_mismatch"),
    "last event deleted, head rewritten": (
        lambda job: (delete_event(Event.objects.get(instance=job, seq=9)), rechain(job)), "checkpoint_mismatch"),
    "two events swapped": (_swap, "events_swapped"),
    "photo replaced": (_replace_photo, "file_changed"),
    "photo deleted": (_delete_photo, "file_missing"),
    "checkpoint re-signed with another key": (_resign, "checkpoint_signature"),
    "checkpoint head altered": (lambda job: Checkpoint.objects.update(head="0" * 64), "checkpoint_signature"),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_every_tampering_is_caught_and_named_by_verify_and_the_cli(job, world, name):
    checkpoints.seal_company(world.a.unit)
    assert run("--hazard", job.number)[0] == 0
    tamper, code = TAMPERS[name]
    tamper(job)
    found = verify.verify_instance(job).first_break
    assert found is not None and found.code == code, (name, found)
    for args in (("--hazard", job.number), ("--company", str(world.a.unit.pk)), ()):
        exit_code, out = run(*args)
        assert exit_code == 1 and f"第一处：{found.message}" in out, (name, args, out)
