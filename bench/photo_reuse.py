"""Near-duplicate photo look-up among 1,000,000 stored perceptual hashes, with the product's code.

A fresh SQLite database in a temporary folder is migrated with the real migrations; one company gets
N stored files with random 64-bit pHashes (rows written straight into the real models' tables with
executemany: the ORM's bulk_create would take minutes for a million rows and measures nothing we
ship). Then `anlian.trust.fingerprints.near_duplicates` — the function the reuse check calls — is
timed for 200 look-ups: half of them for a hash with a planted neighbour (some bits flipped, up to
the distance) that must be found, half for fresh random hashes.

The look-up is multi-index hashing: four 16-bit bands, each in an index (company, band, phash);
a hash within distance d shares at least one band within d // 4 bits, so the query is an OR of four
index look-ups (IN lists of 1, 17 or 137 values for d ≤ 3, ≤ 7, ≤ 11), then exact Hamming in Python.
The plan is printed to show there is no full scan.

Goal (issue 4): ≤ 50 ms per look-up. A benchmark reports; it always exits 0. Run:
    .venv/bin/python bench/photo_reuse.py [--hashes 1000000] [--lookups 200] [--distance 10]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--distance", type=int, default=10, help="Hamming distance (the reuse check's default)")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="anlian-bench-"))
    os.environ.update(DJANGO_SETTINGS_MODULE="anlian.settings", ANLIAN_DATA_DIR=str(data),
                      ANLIAN_LOG_LEVEL="WARNING")
    os.environ.pop("DATABASE_URL", None)
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    try:
        run(args)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from anlian.evidence.models import StoredFile
    from anlian.orgs import services as org
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgKind
    from anlian.trust import fingerprints as fp
    from anlian.trust.models import PhotoFingerprint

    call_command("migrate", verbosity=0, interactive=False)
    company = org.create_unit(SYSTEM, name="基准公司", kind=OrgKind.COMPANY, parent=None)
    other = org.create_unit(SYSTEM, name="另一公司", kind=OrgKind.COMPANY, parent=None)
    rng = random.Random(4)
    queries = [rng.getrandbits(64) for _ in range(args.lookups)]
    planted = {}
    for q in queries[: args.lookups // 2]:  # a stored neighbour 1..distance bits away
        planted[q] = q ^ sum(1 << b for b in rng.sample(range(64), rng.randint(1, max(1, args.distance))))

    started = time.perf_counter()
    files, prints = StoredFile._meta.db_table, PhotoFingerprint._meta.db_table
    with connection.cursor() as cur:
        cur.execute("PRAGMA synchronous=OFF")
        batch = 50_000
        hashes_left = list(planted.values())
        for start in range(0, args.hashes, batch):
            n = min(batch, args.hashes - start)
            hashes = [rng.getrandbits(64) for _ in range(n)]
            if hashes_left:
                hashes[: len(hashes_left)], hashes_left = hashes_left, []
            owner = [company.pk if rng.random() < 0.9 else other.pk for _ in range(n)]  # 10 % another company
            cur.executemany(
                f'INSERT INTO "{files}" (id, sha256, company_id, content_type, size, file, created_at) '
                "VALUES (?, ?, ?, 'image/jpeg', 1, 'x', '2026-01-01 00:00:00')",
                [(start + i + 1, f"{start + i:064x}", owner[i]) for i in range(n)])
            cur.executemany(
                f'INSERT INTO "{prints}" (company_id, file_id, phash, band0, band1, band2, band3, '
                "taken_zone_assumed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, '2026-01-01 00:00:00')",
                [(owner[i], start + i + 1, fp.to_signed(h), *fp.bands(h)) for i, h in enumerate(hashes)])
        cur.execute("ANALYZE")
    for h in planted.values():  # the planted neighbours must belong to the company searched
        PhotoFingerprint.objects.filter(phash=fp.to_signed(h)).update(company=company)
    loaded = time.perf_counter() - started
    print(f"loaded {args.hashes:,} hashes in {loaded:.1f} s (SQLite {connection.Database.sqlite_version})")

    sql, params = fp.near_query(company.pk, fp.to_signed(queries[0]), args.distance).query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row[-1] for row in cur.fetchall()]
    print("plan:\n  " + "\n  ".join(plan))
    scans = [line for line in plan if line.startswith("SCAN") and "INDEX" not in line]

    def lookup(q: int, d: int) -> tuple[float, list]:
        t = time.perf_counter()
        found = fp.near_duplicates(company.pk, fp.to_signed(q), d)
        return (time.perf_counter() - t) * 1000, found

    for q in queries[:10]:  # warm the page cache and the statement path
        lookup(q, args.distance)
    results = {}
    for d in sorted({3, 7, args.distance}):
        times, missed, candidates = [], 0, []
        for q in queries:
            spent, found = lookup(q, d)
            times.append(spent)
            if q in planted and fp.hamming(q, planted[q]) <= d:
                missed += not any(dist == fp.hamming(q, planted[q]) for _f, dist in found)
            if len(candidates) < 20:
                candidates.append(len(list(fp.near_query(company.pk, fp.to_signed(q), d))))
        results[d] = statistics.median(times)
        times.sort()
        print(f"distance ≤ {d:2}: median {results[d]:.2f} ms, p95 {times[int(len(times) * 0.95)]:.2f} ms, "
              f"max {times[-1]:.2f} ms per look-up; ~{statistics.mean(candidates):.0f} candidate rows; "
              f"planted neighbours missed: {missed}")
    value = results[args.distance]
    verdict = "PASS" if value <= GOAL_MS and not scans else "FAIL"
    print(f"goal ≤ {GOAL_MS:g} ms per look-up at distance {args.distance}, no full scan: {verdict}"
          + (f" (full scan: {scans})" if scans else ""))
    print(f"RESULT photo_reuse value={value:.2f} unit=ms goal={GOAL_MS:g}")


if __name__ == "__main__":
    main()
