"""Retention: ended jobs past their kind's period are deleted only by the policy, each leaving a
chained tombstone; files still used elsewhere stay; the chain stays verifiable afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models import ProtectedError

from anlian.core import clock
from anlian.evidence.models import StoredFile
from anlian.evidence.services import store_photo
from anlian.flows import core, retention
from anlian.flows import services as flows
from anlian.flows.models import Event, EventPhoto, Instance, Tombstone
from anlian.orgs.access import SYSTEM
from anlian.permits.models import Refusal
from tests.flows.port import jpeg
from tests.test_scoping_matrix import zero_source

pytestmark = pytest.mark.django_db
T0 = datetime(2022, 3, 1, 9, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def job_with_photo(company, seed: int, when: datetime, cancel: bool = True, photo=None):
    """A zero-process job started at `when`, its first step with a photo, then cancelled."""
    clock.set_now(when)
    version = flows.save_version(SYSTEM, None, zero_source(f"ret-{company.unit.pk}", "留存测试"), owner=company.unit,
                                 publish=True)
    job = flows.start(company.worker.user, version, company.area, now=when)
    photo = photo or store_photo(company.worker.user, company.unit,
                                 SimpleUploadedFile("p.jpg", jpeg(seed), content_type="image/jpeg"))
    flows.act(company.worker.user, job, core.Action("complete", step="enter", values={
        "partner": str(company.admin.pk), "place": "1号皮带机"},
        photos={"of_partner": [photo.sha256], "of_self": [photo.sha256]}), now=when + timedelta(minutes=5))
    if cancel:
        flows.act(company.worker.user, job, core.Action("cancel", reason="作业取消"), now=when + timedelta(minutes=9))
    job.refresh_from_db()
    return job, photo


def test_only_ended_jobs_past_their_period_are_due(world):
    old, _p = job_with_photo(world.a, 1, T0)
    recent, _p = job_with_photo(world.a, 2, NOW - timedelta(days=300))
    running, _p = job_with_photo(world.a, 3, T0, cancel=False)
    assert [d.instance_id for d in retention.due(NOW)] == [old.pk]
    # Exactly at the period's end it becomes due, not a minute before.
    ended = Event.objects.filter(instance=old).latest("seq").server_time
    assert retention.due(ended + timedelta(days=1095) - timedelta(minutes=1)) == []
    assert [d.instance_id for d in retention.due(ended + timedelta(days=1095))] == [old.pk]
    assert {recent.pk, running.pk} & {d.instance_id for d in retention.due(NOW)} == set()


def test_applying_deletes_the_job_its_events_and_unused_files_and_leaves_a_chained_tombstone(
        world, django_capture_on_commit_callbacks):
    first, photo = job_with_photo(world.a, 1, T0)
    second, other_photo = job_with_photo(world.a, 2, T0 + timedelta(days=1))
    Refusal.objects.create(instance=first, version=first.version, area=first.area, action="complete", code="x",
                           message="旧拒绝", at=T0)
    stored_name = photo.file.name
    facts = (first.pk, first.number, first.last_seq, first.last_hash)
    with pytest.raises(ProtectedError):  # nothing but the policy deletes a job's events
        Event.objects.filter(instance=first).delete()
    with django_capture_on_commit_callbacks(execute=True):
        stones = retention.apply(NOW)
    assert [s.instance_id for s in stones] == [first.pk, second.pk]
    assert not Instance.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not Event.objects.filter(instance_id__in=[first.pk, second.pk]).exists()
    assert not EventPhoto.objects.exists() and not StoredFile.objects.filter(pk__in=[photo.pk, other_photo.pk]).exists()
    assert not photo.file.storage.exists(stored_name)
    assert not Refusal.objects.filter(message="旧拒绝").exists()  # the job's refusal log goes with it
    one, two = Tombstone.objects.order_by("pk")
    assert (one.instance_id, one.number, one.events, one.last_hash) == facts
    assert one.kind == "loto" and one.status == "cancelled" and one.retention_days == 1095  # zero process: LOTO
    assert one.prev_hash == retention.GENESIS and two.prev_hash == one.hash
    assert one.hash == retention.stone_hash(one.prev_hash, retention.stone_fields(one))
    assert retention.apply(NOW) == []  # nothing left to do


def test_photo_findings_of_the_job_go_with_it(world, django_capture_on_commit_callbacks):
    from anlian.trust.models import PhotoFinding

    job, photo = job_with_photo(world.a, 1, T0)
    event = Event.objects.filter(instance=job, step="enter").get()
    PhotoFinding.objects.create(file=photo, instance=job, event=event, slot="of_self", check_name="sharpness",
                                level="warn", reason="模糊")
    with django_capture_on_commit_callbacks(execute=True):
        assert len(retention.apply(NOW)) == 1
    assert not PhotoFinding.objects.exists() and not StoredFile.objects.filter(pk=photo.pk).exists()


def test_a_file_another_job_still_uses_stays(world, django_capture_on_commit_callbacks):
    old, photo = job_with_photo(world.a, 1, T0)
    job_with_photo(world.a, 9, NOW - timedelta(days=10), photo=photo)
    with django_capture_on_commit_callbacks(execute=True):
        retention.apply(NOW)
    assert StoredFile.objects.filter(pk=photo.pk).exists() and photo.file.storage.exists(photo.file.name)


def test_the_same_picture_kept_by_another_company_keeps_its_bytes(world, django_capture_on_commit_callbacks):
    old, photo = job_with_photo(world.a, 1, T0)
    theirs = store_photo(world.b.worker.user, world.b.unit,
                         SimpleUploadedFile("p.jpg", jpeg(1), content_type="image/jpeg"))
    with django_capture_on_commit_callbacks(execute=True):
        retention.apply(NOW)
    assert not StoredFile.objects.filter(pk=photo.pk).exists()
    assert theirs.file.storage.exists(theirs.file.name)


def test_one_company_at_a_time_and_tombstones_chained_per_company(world):
    a_job, _p = job_with_photo(world.a, 1, T0)
    b_job, _p = job_with_photo(world.b, 2, T0)
    assert [s.instance_id for s in retention.apply(NOW, company_id=world.b.unit.pk)] == [b_job.pk]
    assert Instance.objects.filter(pk=a_job.pk).exists()
    retention.apply(NOW)
    a_stone, b_stone = Tombstone.objects.get(company=world.a.unit), Tombstone.objects.get(company=world.b.unit)
    assert a_stone.prev_hash == b_stone.prev_hash == retention.GENESIS


def test_the_chain_verifies_after_a_retention_deletion(world):
    from anlian.seal.checkpoints import seal_company

    job_with_photo(world.a, 1, T0)
    kept, _p = job_with_photo(world.a, 2, NOW - timedelta(days=5))
    seal_company(world.a.unit)
    retention.apply(NOW)
    call_command("verify", "--company", str(world.a.unit.pk))  # exit 0: no SystemExit
    assert Instance.objects.filter(pk=kept.pk).exists()


def test_a_period_below_a_year_is_refused_and_never_used(settings):
    settings.ANLIAN_RETENTION_DAYS = {"permit": 30, "hazard": 400}
    errors = retention.check_retention_days(None)
    assert [e.id for e in errors] == ["anlian.E010"] and "permit" in errors[0].msg
    assert retention.days_for("permit") == retention.MIN_DAYS and retention.days_for("hazard") == 400
    assert retention.days_for("loto") == 1095  # an unknown kind: the default


def test_the_command_lists_then_applies(world, capsys):
    job, _p = job_with_photo(world.a, 1, T0)
    clock.set_now(NOW)
    call_command("retention")
    out = capsys.readouterr().out
    assert job.number in out and "到期可删除：1 项" in out and Instance.objects.filter(pk=job.pk).exists()
    call_command("retention", "--apply")
    assert "已删除 1 项" in capsys.readouterr().out and not Instance.objects.filter(pk=job.pk).exists()
