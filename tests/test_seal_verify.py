"""Tamper tests: edit the database and the stored files directly, behind the application's back, and
check that seal.verify names each change (which job, which event, what differs); an untouched chain
passes. A job here is the machine-shop hazard of issue 6, run to its close (7 events, a clip and
four photos): started, report, dispatch, receive, on site, rectify, verify, close, closed."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from anlian.evidence.models import StoredFile
from anlian.flows.models import Event, EventPhoto, Instance
from anlian.hazards.models import Hazard
from anlian.seal import verify
from tests.flows.test_photo_checks_in_steps import scene
from tests.test_hazards_example import Shop, at

pytestmark = pytest.mark.django_db


def run_hazard(shop: Shop, minute: int = 0) -> Instance:
    """Report → dispatch → receive → on site (photo) → rectify (2 photos) → verify → close."""
    hid = shop.report(at(9, 23 + minute))["id"]
    shop.ok(shop.fitter, hid, at(9, 25 + minute), kind="complete", step="receive")
    arrival = shop.upload(shop.fitter, scene(41 + 10 * minute))
    shop.ok(shop.fitter, hid, at(9, 38 + minute), kind="complete", step="on_site", photos={"arrival": [arrival]})
    before, after = shop.upload(shop.fitter, scene(42 + 10 * minute)), shop.upload(shop.fitter, scene(43 + 10 * minute))
    shop.ok(shop.fitter, hid, at(10, 12 + minute), kind="complete", step="rectify",
            values={"measures": "加装防护罩并固定", "rectifier_sign": "李师傅"},
            photos={"before": [before], "after": [after]})
    shop.ok(shop.officer, hid, at(10, 15 + minute), kind="approve", step="verify", values={"verify_sign": "安全员"})
    shop.ok(shop.officer, hid, at(10, 17 + minute), kind="complete", step="close")
    return Hazard.objects.get(pk=hid).instance


@pytest.fixture
def shop(world) -> Shop:
    return Shop(world)


@pytest.fixture
def job(shop) -> Instance:
    return run_hazard(shop)


def event(job: Instance, seq: int) -> Event:
    return Event.objects.get(instance=job, seq=seq)


def delete_event(row: Event) -> None:
    EventPhoto.objects.filter(event=row).delete()
    Event.objects.filter(pk=row.pk).delete()


def photo_of(job: Instance, slot: str) -> tuple[Event, StoredFile]:
    use = EventPhoto.objects.select_related("event", "file").get(event__instance=job, slot=slot)
    return use.event, use.file


def only(report: verify.Report) -> verify.Break:
    assert not report.ok
    return report.first_break


def test_an_untouched_chain_passes(job, world):
    report = verify.verify_instance(job)
    assert report.ok and report.breaks == [] and report.first_break is None
    assert report.events == 9 and job.last_seq == 9
    assert report.files == 4  # the clip, the arrival, before and after photos
    assert report.checkpoint is None  # nothing sealed yet
    assert verify.verify_company(world.a.unit).ok and verify.verify_all().ok
    assert verify.verify_company(world.b.unit).events == 0


def test_a_changed_payload_is_named(job):
    row = event(job, 6)
    payload = row.payload
    payload["values"]["measures"] = "什么也没做"
    Event.objects.filter(pk=row.pk).update(payload=payload)
    found = only(verify.verify_instance(job, files=False))
    assert (found.code, found.instance_id, found.seq) == ("event_changed", job.pk, 6)
    assert f"作业 {job.number} 的第6条记录（step_completed · rectify）的内容被改动" in found.message
    assert row.hash[:12] in found.message  # the stored hash and the recomputed one are both shown


@pytest.mark.parametrize("change", [
    {"server_time": at(10, 20)},
    {"actor_key": "person:999"},
    {"device_time": at(8, 0)},
    {"lat": 31.0},
    {"kind": "rejected"},
])
def test_a_changed_time_actor_place_or_kind_is_named(job, change):
    Event.objects.filter(instance=job, seq=6).update(**change)
    found = only(verify.verify_instance(job))
    assert (found.code, found.seq) == ("event_changed", 6)


def test_a_deleted_middle_event_is_named(job):
    delete_event(event(job, 3))
    report = verify.verify_instance(job, files=False)
    found = only(report)
    assert (found.code, found.seq) == ("event_missing", 3)
    assert "第3条记录缺失" in found.message and "从第2条跳到第4条" in found.message


def test_a_deleted_and_renumbered_middle_event_does_not_chain(job):
    delete_event(event(job, 3))
    for seq in range(4, 10):
        Event.objects.filter(instance=job, seq=seq).update(seq=seq - 1)
    Instance.objects.filter(pk=job.pk).update(last_seq=8)
    found = only(verify.verify_instance(job, files=False))
    assert (found.code, found.seq) == ("prev_hash_mismatch", 3)
    assert "没有接上前一条" in found.message


def test_a_deleted_last_event_is_named_by_the_job_head(job):
    delete_event(event(job, 9))
    found = only(verify.verify_instance(job))
    assert (found.code, found.seq) == ("head_mismatch", 8)
    assert "第9条" in found.message and "第8条" in found.message


def _swap(job: Instance, a: int, b: int) -> None:
    # Through a free number: the unique (instance, seq) index would refuse the direct exchange.
    Event.objects.filter(instance=job, seq=a).update(seq=1000)
    Event.objects.filter(instance=job, seq=b).update(seq=a)
    Event.objects.filter(instance=job, seq=1000).update(seq=b)


def test_two_swapped_events_are_named_as_such(job):
    _swap(job, 4, 5)
    report = verify.verify_instance(job)
    found = only(report)
    assert (found.code, found.seq) == ("events_swapped", 4)
    assert "第4条和第5条记录被调换了顺序" in found.message
    assert len(report.breaks) == 1  # the events after the pair still chain: nothing else is blamed


def test_the_last_two_events_swapped_are_named_as_such(job):
    _swap(job, 8, 9)
    report = verify.verify_instance(job)
    assert [(b.code, b.seq) for b in report.breaks] == [("events_swapped", 8), ("head_mismatch", 9)]


def test_two_events_whose_contents_were_swapped_are_named_as_such(job):
    columns = ("kind", "step", "actor_key", "payload", "server_time", "device_time", "lat", "lng", "accuracy")
    three, four = (Event.objects.filter(instance=job, seq=s).values(*columns).get() for s in (3, 4))
    Event.objects.filter(instance=job, seq=3).update(**four)
    Event.objects.filter(instance=job, seq=4).update(**three)
    report = verify.verify_instance(job, files=False)
    assert [(b.code, b.seq) for b in report.breaks] == [("events_swapped", 3)]


def test_a_replaced_photo_is_named_with_its_event_and_slot(job):
    row, stored = photo_of(job, "after")
    with default_storage.open(stored.file.name, "wb") as out:
        out.write(scene(99))
    found = only(verify.verify_instance(job))
    assert (found.code, found.seq, found.file_sha256) == ("file_changed", row.seq, stored.sha256)
    assert "「after」的文件" in found.message and stored.sha256[:12] in found.message
    assert verify.verify_instance(job, files=False).ok  # --no-files skips the bytes


def test_a_deleted_file_is_named(job):
    row, stored = photo_of(job, "arrival")
    Path(default_storage.path(stored.file.name)).unlink()
    found = only(verify.verify_instance(job))
    assert (found.code, found.seq, found.file_sha256) == ("file_missing", row.seq, stored.sha256)
    assert "已丢失" in found.message


def test_a_file_whose_record_is_gone_is_missing(job):
    _row, stored = photo_of(job, "before")
    with connection.cursor() as cursor:  # behind the ORM's PROTECT: an administrator with SQL
        cursor.execute("DELETE FROM flows_eventphoto WHERE file_id = %s", [stored.pk])
        cursor.execute("DELETE FROM trust_photofingerprint WHERE file_id = %s", [stored.pk])
        cursor.execute("DELETE FROM evidence_derivedfile WHERE original_id = %s", [stored.pk])
        cursor.execute("DELETE FROM evidence_storedfile WHERE id = %s", [stored.pk])
    found = only(verify.verify_instance(job))
    assert (found.code, found.file_sha256) == ("file_missing", stored.sha256)


def test_breaks_of_one_job_do_not_hide_another_and_company_b_is_untouched(shop, world):
    first, second = run_hazard(shop), run_hazard(shop, minute=1)
    Event.objects.filter(instance=second, seq=2).update(step="tampered")
    report = verify.verify_company(world.a.unit, files=False)
    assert report.events == 18 and [(b.instance_id, b.seq) for b in report.breaks] == [(second.pk, 2)]
    assert verify.verify_instance(first).ok
    assert verify.verify_company(world.b.unit).ok
    assert not verify.verify_all(files=False).ok


def test_garbage_in_a_row_is_a_break_not_a_crash(job):
    Event.objects.filter(instance=job, seq=2).update(payload=["not", "a", "dict"])
    Event.objects.filter(instance=job, seq=3).update(payload={"photos": "nonsense"})
    report = verify.verify_instance(job)
    assert [(b.code, b.seq) for b in report.breaks] == [("event_changed", 2), ("event_changed", 3)]


def test_progress_is_reported(job, world):
    seen = []
    verify.verify_all(progress=lambda events, jobs: seen.append((events, jobs)))
    assert seen[-1] == (9, 1)


def test_the_fast_path_hashes_every_intact_row_like_the_engine(job, shop):
    """verify hashes raw database values without building engine objects; for intact rows it must give
    exactly flows' chain_hash (a mismatch would only cost the slow re-check, but would hide a slow path)."""
    run_hazard(shop, minute=1)
    Event.objects.filter(instance=job, seq=2).update(
        payload={"values": {"名称": "储罐 \"A\"\n", "n": 1.5e-7, "big": 10**20, "t": True, "none": None,
                            "emoji": "🔥", "nested": [{"b": 1, "a": [2.0, -0.0]}]}}, accuracy=3.25,
        lat=30.000001, lng=-120.5, server_time=at(9, 24).replace(microsecond=123456), step="repört")
    from tests.test_seal_checkpoints import rechain

    rechain(job)
    rows = list(verify._rows(Event.objects.all()))
    assert len(rows) == 18
    assert [verify._fast(row) for row in rows] == [row[12] for row in rows]
    assert [verify._recompute(row) for row in rows] == [row[12] for row in rows]
    assert verify.verify_all().ok


@pytest.mark.django_db(transaction=True)
def test_several_processes_find_the_same_breaks_in_the_same_order(shop, world):
    jobs = [run_hazard(shop, minute=m) for m in range(3)]
    Event.objects.filter(instance=jobs[2], seq=4).update(step="x")
    delete_event(Event.objects.get(instance=jobs[0], seq=9))
    one = verify.verify_all(workers=1)
    seen = []
    two = verify.verify_all(workers=2, progress=lambda events, done: seen.append(done))
    assert [(b.code, b.instance_id, b.seq) for b in two.breaks] == [(b.code, b.instance_id, b.seq) for b in one.breaks] == [
        ("head_mismatch", jobs[0].pk, 8), ("event_changed", jobs[2].pk, 4)]
    assert (two.events, two.files) == (one.events, one.files) == (26, 10) and seen[-1] == 3  # one clip shared by the three reports
