"""Verifying 1,000,000 hash-chained events (`seal.verify.verify_all(files=False)`) against hashing the
same bytes (prev_hash + canonical JSON of each event) with hashlib in a bare loop, in the same run.

The events live in a real, migrated SQLite database under bench/.data/verify_chain-<N>/ (kept: later
runs reuse it; --fresh rebuilds it). They are written once with raw executemany (the ORM would take
minutes and measures nothing we ship): 50,000 jobs of 20 events, payloads like a permit's steps (form
values, a reading, two photo references on every other step, a location on most), each event hashed
with flows.core.events.chain_hash so the chains verify; each job's cached head set to its last event.

Per repeat, interleaved:
- ours: `verify_all(files=False)` as shipped — for a run this large one process per CPU (up to 8), each
  streaming its range of jobs' events from the database, hashing each event's canonical JSON, checking
  links, seq, heads and the (empty) checkpoints; must say ok. Also timed in one process (workers=1);
- bare: `hashlib.sha256(b).hexdigest()` over the prepared bytes of every event (prepared before the
  timer, in chunks so memory stays small), nothing else.

Ratio = ours / bare (best of the repeats each). Goal (issue 8): ≤ 3. A benchmark reports; it exits 0.

    .venv/bin/python bench/verify_chain.py [--events 1000000] [--repeats 3] [--fresh]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 3.0
PER_JOB = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="rebuild the database")
    args = parser.parse_args()
    data = ROOT / "bench" / ".data" / f"verify_chain-{args.events}"
    if args.fresh:
        shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True, exist_ok=True)
    os.environ.update(DJANGO_SETTINGS_MODULE="anlian.settings", ANLIAN_DATA_DIR=str(data), ANLIAN_LOG_LEVEL="WARNING")
    os.environ.pop("DATABASE_URL", None)
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    run(args)


def build(n: int) -> None:
    from django.db import connection

    from anlian.flows.core.events import Event as CoreEvent
    from anlian.flows.core.events import chain_hash
    from anlian.flows.models import Event, Instance, TemplateVersion
    from anlian.orgs import services as org
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgKind
    from anlian.seal.models import Checkpoint, Leaf

    Leaf.objects.all().delete()
    Checkpoint.objects.all().delete()
    with connection.cursor() as cur:
        cur.execute(f'DELETE FROM "{Event._meta.db_table}"')
        cur.execute(f'DELETE FROM "{Instance.participants.through._meta.db_table}"')
        cur.execute(f'DELETE FROM "{Instance._meta.db_table}"')
    company = org.create_unit(SYSTEM, name=f"基准公司{random.randint(0, 10**6)}", kind=OrgKind.COMPANY, parent=None)
    area = org.save_area(SYSTEM, None, org_unit=company, name="罐区", is_outdoor=True, center_lat=30.0,
                         center_lng=120.0, radius_m=100)
    person = org.save_person(SYSTEM, None, org_unit=company, name="张三", employee_no="B001")
    version = TemplateVersion.objects.filter(status="published").first()
    rng = random.Random(8)
    start = datetime(2026, 5, 19, 1, 0, tzinfo=timezone.utc)
    steps = ["apply", "gas_test", "measures", "approve", "start_work", "patrol", "finish", "signoff"]
    jobs = (n + PER_JOB - 1) // PER_JOB
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("PRAGMA synchronous=OFF")
        for first in range(0, jobs, 2000):
            job_rows, event_rows = [], []
            for j in range(first, min(jobs, first + 2000)):
                pk, prev, when = j + 1, "0" * 64, start + timedelta(minutes=j)
                count = min(PER_JOB, n - j * PER_JOB)
                for seq in range(1, count + 1):
                    step = steps[seq % len(steps)] if seq > 1 else None
                    payload = {} if seq == 1 else {"values": {
                        "content": "动火作业：储罐检修", "o2": round(20.0 + rng.random(), 1),
                        "lel": rng.randint(0, 10), "guardian": [str(person.pk)], "sign": "张三"}}
                    if seq % 2 == 0:
                        payload["photos"] = {"scene": [hashlib.sha256(f"{pk}-{seq}-{k}".encode()).hexdigest()
                                                       for k in range(2)]}
                    location = (30.0 + rng.random() / 1000, 120.0 + rng.random() / 1000) if seq % 5 else None
                    accuracy = round(rng.random() * 20, 1) if location else None
                    ev = CoreEvent(seq=seq, kind="started" if seq == 1 else "step_completed", actor=f"person:{person.pk}",
                                   server_time=when + timedelta(seconds=seq * 37), step=step,
                                   device_time=when + timedelta(seconds=seq * 37 - 2) if seq % 3 else None,
                                   payload=payload, location=location, accuracy=accuracy)
                    digest = chain_hash(prev, ev)
                    event_rows.append((pk, seq, ev.kind, step or "", person.pk, ev.actor,
                                       json.dumps(payload, ensure_ascii=False), ev.server_time.strftime("%Y-%m-%d %H:%M:%S"),
                                       ev.device_time.strftime("%Y-%m-%d %H:%M:%S") if ev.device_time else None,
                                       location[0] if location else None, location[1] if location else None,
                                       accuracy, prev, digest))
                    prev = digest
                job_rows.append((pk, version.pk, company.pk, company.pk, area.pk, person.pk, f"BJ-{pk:07d}", "closed",
                                 when.strftime("%Y-%m-%d %H:%M:%S"), count, prev, f"{pk:032x}"))
            cur.executemany(
                f'INSERT INTO "{Instance._meta.db_table}" (id, version_id, org_unit_id, company_id, area_id, applicant_id, '
                "number, status, started_at, last_seq, last_hash, verify_token, title, current_steps) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '[]')", job_rows)
            cur.executemany(
                f'INSERT INTO "{Event._meta.db_table}" (instance_id, seq, kind, step, actor_id, actor_key, payload, '
                "server_time, device_time, lat, lng, accuracy, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", event_rows)
            print(f"\r  written {min(n, (first + 2000) * PER_JOB):,} events…", end="", file=sys.stderr, flush=True)
        cur.execute("ANALYZE")
    print(f"\nbuilt {n:,} events in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def bare_chunks(chunk: int = 100_000):
    """The exact bytes each event's hash covers, read and prepared outside the timer, a chunk at a time."""
    from anlian.flows.models import Event
    from anlian.flows.services import EVENT_COLUMNS, _core_event

    rows = Event.objects.order_by("instance_id", "seq").values_list(*EVENT_COLUMNS, "prev_hash").iterator(chunk_size=5000)
    batch = []
    for row in rows:
        body = json.dumps(_core_event(*row[:10]).to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        batch.append((row[10] + body).encode("utf-8"))
        if len(batch) == chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from anlian.flows.models import Event
    from anlian.seal.verify import _workers as verify_workers
    from anlian.seal.verify import verify_all

    call_command("migrate", verbosity=0, interactive=False)
    if Event.objects.count() != args.events:
        build(args.events)
    print(f"{args.events:,} events in {Event.objects.values('instance_id').distinct().count():,} jobs; "
          f"SQLite {connection.Database.sqlite_version}, Python {sys.version.split()[0]}")
    workers = verify_workers(Event.objects.all(), None)
    ours, single, bare, size = [], [], [], 0
    for repeat in range(args.repeats):
        t = time.perf_counter()
        report = verify_all(files=False)  # as shipped: one process per CPU for a run this large
        ours.append(time.perf_counter() - t)
        assert report.ok and report.events == args.events, (report.events, report.breaks[:3])
        t = time.perf_counter()
        report = verify_all(files=False, workers=1)
        single.append(time.perf_counter() - t)
        assert report.ok and report.events == args.events, (report.events, report.breaks[:3])
        spent = 0.0
        for batch in bare_chunks():
            if repeat == 0:
                size += sum(map(len, batch))
            t = time.perf_counter()
            for data in batch:
                hashlib.sha256(data).hexdigest()
            spent += time.perf_counter() - t
        bare.append(spent)
        print(f"  repeat {repeat + 1}: ours {ours[-1]:.2f} s ({workers} processes), one process {single[-1]:.2f} s, "
              f"bare {bare[-1]:.2f} s")
    best_ours, best_single, best_bare = min(ours), min(single), min(bare)
    per = 1e6 / args.events
    print(f"ours (verify_all, no files, {workers} processes): {best_ours:.2f} s = {best_ours * per:.2f} µs/event; "
          f"one process: {best_single:.2f} s = {best_single * per:.2f} µs/event; "
          f"bare hashlib: {best_bare:.2f} s = {best_bare * per:.2f} µs/event ({size / args.events:.0f} bytes/event)")
    ratio = best_ours / best_bare
    print(f"ratio ours/bare {ratio:.2f} (one process {best_single / best_bare:.2f}); goal ≤ {GOAL:g}: "
          f"{'PASS' if ratio <= GOAL else 'FAIL'}")
    print(f"RESULT verify_chain value={ratio:.2f} unit=ratio goal={GOAL:g}")


if __name__ == "__main__":
    main()
