"""Re-check the evidence: every event's hash recomputed from its stored fields, the links between
events, each job's cached head, every referenced file's bytes, and the company's signed checkpoints.

Pure reads, no writes. Events are streamed as value tuples (no model objects) in (instance, seq)
order and hashed exactly as flows does (flows.core.events.chain_hash over the engine's Event rebuilt
the way flows.services rebuilds it). A break names what differs; `Report.first_break` is the one a
person reads first.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any

from django.core.files.storage import default_storage
from django.db import connection, connections
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from anlian.evidence.models import StoredFile
from anlian.flows.core.events import _utc, chain_hash
from anlian.flows.models import Event, Instance
from anlian.flows.services import EVENT_COLUMNS, GENESIS, _core_event
from anlian.seal import checkpoints as cps
from anlian.seal import keys, tsa
from anlian.seal.models import Checkpoint

MAX_BREAKS = 200  # past this many, a report lists no more: the first ones say what happened
CHUNK = 5000
ROW = ("instance_id", *EVENT_COLUMNS, "prev_hash", "hash")  # EVENT_COLUMNS: seq kind actor_key server_time …


@dataclass(frozen=True)
class Break:
    code: str
    message: str
    instance_id: int | None = None
    seq: int | None = None
    file_sha256: str = ""


@dataclass(frozen=True)
class Report:
    ok: bool
    events: int
    files: int
    breaks: list[Break]
    checkpoint: dict | None

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None


Progress = Callable[[int, int], None]  # (events checked so far, jobs checked so far)


def _short(digest: str) -> str:
    return f"{digest[:12]}…" if digest else _("（空）")


def _what(seq: int, kind: str, step: str) -> str:
    label = f"{kind} · {step}" if step else kind
    return _("第{seq}条记录（{kind}）").format(seq=seq, kind=label)


@dataclass
class _Run:
    files: bool
    breaks: list[Break] = field(default_factory=list)
    events: int = 0
    jobs: int = 0
    hashed: dict[tuple[int, str], str | None] = field(default_factory=dict)  # (company, sha) → actual sha / None

    def add(self, code: str, message: str, instance_id: int | None = None, seq: int | None = None,
            sha: str = "") -> None:
        if len(self.breaks) < MAX_BREAKS:
            self.breaks.append(Break(code, message, instance_id, seq, sha))


_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode
_sha256 = hashlib.sha256


def _time(value: Any) -> str:
    if value.__class__ is str:  # SQLite keeps naive UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]"
        return '"' + value.replace(" ", "T", 1) + '+00:00"'
    return '"' + _utc(value) + '"'


def _number(value: Any) -> str:
    return repr(value) if value.__class__ is float and value - value == 0 else _encode(value)


def _fast(row: tuple) -> str:
    """The hash of a raw row, building the canonical JSON of flows.core.events.Event.to_dict directly
    from the database's values (no datetime or engine objects). Only a fast path: a row whose result
    differs from its stored hash is recomputed the reference way (_recompute) before it is called a
    break, so a formatting corner this misses can never produce a false alarm."""
    _pk, seq, kind, actor, server_time, step, device_time, payload, lat, lng, accuracy, prev = row[:12]
    if payload.__class__ is str:
        payload = _decode(payload)
    names = _NAMES  # actor, kind and step repeat endlessly: encode each once
    body = "".join((
        prev, '{"accuracy":' + _number(accuracy) + ',"actor":' if accuracy is not None else '{"actor":',
        names.get(actor) or _name(actor), ',"device_time":', _time(device_time) if device_time is not None else "null",
        ',"kind":', names.get(kind) or _name(kind), ',"location":',
        "[" + _number(lat) + "," + _number(lng) + "]" if lat is not None and lng is not None else "null",
        ',"payload":', _encode(payload), ',"seq":', str(seq), ',"server_time":', _time(server_time),
        ',"step":', (names.get(step) or _name(step)) if step else "null", "}"))
    return _sha256(body.encode()).hexdigest()


_NAMES: dict[Any, str] = {}


def _name(value: Any) -> str:
    encoded = _encode(value)
    if len(_NAMES) < 10_000 and value.__class__ is str:
        _NAMES[value] = encoded
    return encoded


def _typed(row: tuple) -> tuple:
    """A raw row with the values Django's converters would give (aware datetimes, payload decoded)."""
    values = list(row)
    for index in (4, 6):
        if isinstance(values[index], str):
            moment = parse_datetime(values[index])
            values[index] = moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment
    if isinstance(values[7], str):
        values[7] = json.loads(values[7])
    return tuple(values)


def _recompute(row: tuple) -> str:
    row = _typed(row)
    return chain_hash(row[11], _core_event(*row[1:11]))


def _swap_of(rows: list[tuple], i: int) -> bool:
    """Rows i and i+1 are two genuine events in the wrong order: their seq numbers were exchanged
    (each still chains to the other's predecessor) or their contents were (each hashes as the other)."""
    if i + 1 >= len(rows):
        return False
    a, b = rows[i], rows[i + 1]
    prev = rows[i - 1][12] if i else GENESIS
    if a[11] == b[12] and b[11] == prev:
        return True
    try:
        a, b = _typed(a), _typed(b)
        return (chain_hash(b[11], _core_event(b[1], *a[2:11])) == b[12]
                and chain_hash(a[11], _core_event(a[1], *b[2:11])) == a[12])
    except Exception:  # noqa: BLE001 — garbage in a tampered row is a break, never a crash
        return False


def _check_chain(run: _Run, job: tuple, rows: list[tuple], sealed: tuple[int, str] | None,
                 cp: Checkpoint | None) -> None:
    """One job: rows are its events in seq order; job = (id, company_id, last_seq, last_hash, number)."""
    pk, company_id, last_seq, last_hash, number = job
    run.jobs += 1
    run.events += len(rows)
    prev, expected, swapped_at = GENESIS, 1, -1
    after_swap: tuple[str, ...] = ()  # either hash of a swapped pair may be what the next event chains to
    by_seq: dict[int, str] = {}
    for i, row in enumerate(rows):
        seq, kind, step = row[1], row[2], row[5]
        by_seq[seq] = row[12]
        if i == swapped_at:
            pass  # named with the row before
        elif seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}–{seq - 1}"
            run.add("event_missing", _("作业 {number} 的第{missing}条记录缺失：记录编号从第{before}条跳到第{seq}条")
                    .format(number=number, missing=missing, before=expected - 1, seq=seq), pk, expected)
        elif row[11] != prev and row[11] not in after_swap and _swap_of(rows, i):
            run.add("events_swapped", _("作业 {number} 的第{a}条和第{b}条记录被调换了顺序")
                    .format(number=number, a=seq, b=rows[i + 1][1]), pk, seq)
            swapped_at = i + 1
        elif row[11] != prev and row[11] not in after_swap:
            run.add("prev_hash_mismatch",
                    _("作业 {number} 的{what}没有接上前一条：它记录的前一哈希 {stored} 与前一条的哈希 {actual} 不符"
                      "（中间的记录可能被删除或替换）").format(number=number, what=_what(seq, kind, step),
                                                  stored=_short(row[11]), actual=_short(prev)), pk, seq)
        else:
            try:
                actual = _fast(row)
                if actual != row[12]:
                    actual = _recompute(row)
            except Exception:  # noqa: BLE001 — a field edited into something the engine cannot read
                actual = ""
            if actual != row[12]:
                if _swap_of(rows, i):
                    run.add("events_swapped", _("作业 {number} 的第{a}条和第{b}条记录被调换了顺序")
                            .format(number=number, a=seq, b=rows[i + 1][1]), pk, seq)
                    swapped_at = i + 1
                else:
                    run.add("event_changed", _("作业 {number} 的{what}的内容被改动：记录的哈希 {stored} 与重新计算的 {actual} 不符")
                            .format(number=number, what=_what(seq, kind, step), stored=_short(row[12]),
                                    actual=_short(actual)), pk, seq)
        after_swap = (rows[i - 1][12], row[12]) if i == swapped_at else ()
        prev, expected = row[12], seq + 1
    tail_seq, tail_hash = (rows[-1][1], rows[-1][12]) if rows else (0, "")
    if (last_seq, last_hash or "") != (tail_seq, tail_hash) and not (last_seq == 0 and not rows):
        run.add("head_mismatch", _("作业 {number} 记下的最新记录（第{seq}条，哈希 {head}）与记录链的末尾（第{tail}条，哈希 {tail_hash}）不符："
                                   "最后的记录可能被删除或改动").format(number=number, seq=last_seq, head=_short(last_hash),
                                                          tail=tail_seq, tail_hash=_short(tail_hash)), pk, tail_seq)
    if sealed is not None and cp is not None:
        seq, head = sealed
        if seq not in by_seq:
            run.add("checkpoint_mismatch", _("封签 #{n}（{at}）记录了作业 {number} 的第{seq}条记录，但它已不存在：封签后被删除")
                    .format(n=cp.number, at=_when(cp), number=number, seq=seq), pk, seq)
        elif by_seq[seq] != head:
            run.add("checkpoint_mismatch", _("作业 {number} 的第{seq}条记录与封签 #{n} 不符：封签时的哈希 {sealed}，现在 {now}（封签后被改动）")
                    .format(number=number, seq=seq, n=cp.number, sealed=_short(head), now=_short(by_seq[seq])), pk, seq)
    if run.files:
        _check_files(run, company_id, pk, number, rows)


def _payload(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value) if '"photos"' in value or '"sig:' in value else None
        except ValueError:
            return None
    return value


SIGNATURE_PREFIX = "sig:"  # a drawn signature in the form values: "sig:<sha256>:<typed name>"


def _refs(payload: Any) -> Iterator[tuple[str, str]]:
    """(slot or field, sha256) of every file an event's payload refers to: photos and clips by slot,
    drawn signatures by form field."""
    if not isinstance(payload, dict):
        return
    photos = payload.get("photos")
    if isinstance(photos, dict):
        for slot, refs in photos.items():
            if isinstance(refs, list):
                for ref in refs:
                    if isinstance(ref, str):
                        yield slot, ref
    values = payload.get("values")
    if isinstance(values, dict):
        for key, value in values.items():
            if isinstance(value, str) and value.startswith(SIGNATURE_PREFIX):
                sha = value[len(SIGNATURE_PREFIX):].split(":", 1)[0]
                if len(sha) == 64:
                    yield key, sha


def _check_files(run: _Run, company_id: int, pk: int, number: str, rows: list[tuple]) -> None:
    uses = [(row, slot, ref) for row in rows for slot, ref in _refs(_payload(row[7]))]
    todo = {ref for _row, _slot, ref in uses if (company_id, ref) not in run.hashed}
    if todo:
        names = dict(StoredFile.objects.filter(company_id=company_id, sha256__in=todo).values_list("sha256", "file"))
        for ref in todo:
            run.hashed[(company_id, ref)] = _hash_file(names.get(ref))
    named: set[str] = set()
    for row, slot, ref in uses:
        actual = run.hashed[(company_id, ref)]
        if actual == ref or ref in named:
            continue
        named.add(ref)
        what = _what(row[1], row[2], row[5])
        if actual is None:
            run.add("file_missing", _("作业 {number} 的{what}「{slot}」引用的文件 {sha} 已丢失")
                    .format(number=number, what=what, slot=slot, sha=_short(ref)), pk, row[1], ref)
        else:
            run.add("file_changed", _("作业 {number} 的{what}「{slot}」的文件 {sha} 被替换：文件内容的哈希为 {actual}")
                    .format(number=number, what=what, slot=slot, sha=_short(ref), actual=_short(actual)),
                    pk, row[1], ref)


def _hash_file(name: str | None) -> str | None:
    if not name:
        return None
    digest = hashlib.sha256()
    try:
        with default_storage.open(name, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _when(cp: Checkpoint) -> str:
    from django.utils import timezone

    return timezone.localtime(cp.sealed_at).strftime("%Y-%m-%d %H:%M")


@dataclass
class _Seal:
    """A company's checkpoints, checked: the latest one and the job heads it sealed."""

    latest: Checkpoint | None
    leaves: dict[int, tuple[int, str]]
    signature_ok: bool

    def summary(self) -> dict | None:
        cp = self.latest
        if cp is None:
            return None
        return {"id": cp.pk, "number": cp.number, "company_id": cp.company_id, "sealed_at": cp.sealed_at,
                "signature_ok": self.signature_ok, "head": cp.head, "tsa": bool(cp.tsa_token)}


def _check_seals(run: _Run, company_id: int, *, deep: bool = True) -> _Seal:
    """The company's checkpoints: numbered 1, 2, … and each chained to the one before (always: a digest
    each, cheap); signed by this install's key and timestamp tokens valid (every checkpoint when deep,
    else the latest); the latest one's Merkle root recomputed from the leaves it sealed — every job's
    latest sealed head, which is all a job's verification compares with. An older checkpoint's root is
    covered by its signature and by the digest the next checkpoint chains to."""
    checkpoints, own = cps.leaves_by_checkpoint(company_id)
    public, key_id = keys.public_key(), keys.fingerprint()
    leaves: dict[int, tuple[int, str]] = {}
    prev_digest, signature_ok = cps.GENESIS, True
    for index, cp in enumerate(checkpoints):
        for instance_id, leaf in own.get(cp.pk, {}).items():
            if leaf[0]:
                leaves[instance_id] = leaf
            else:
                leaves.pop(instance_id, None)
        label = _("封签 #{n}（{at}）").format(n=cp.number, at=_when(cp))
        latest = index == len(checkpoints) - 1
        doc = cps.canonical(cps.document(cp))
        if deep or latest:
            ok = cp.key_id == key_id and keys.signature_ok(doc, cp.signature, public)
            if cp.key_id != key_id:
                run.add("checkpoint_signature", _("{cp}不是用本系统的封签密钥签的：密钥指纹 {theirs}，本系统为 {ours}")
                        .format(cp=label, theirs=_short(cp.key_id), ours=_short(key_id)))
            elif not ok:
                run.add("checkpoint_signature", _("{cp}的签名无效：签名后内容被改动，或签名被替换").format(cp=label))
            if cp.tsa_token:
                try:
                    tsa.token_of(cp)
                except tsa.TsaError as exc:
                    run.add("checkpoint_timestamp", _("{cp}的可信时间戳与封签不符或无效：{reason}").format(cp=label, reason=exc))
            if latest:
                signature_ok = ok
        if cp.number != index + 1:
            run.add("checkpoint_mismatch", _("{cp}的序号不连续：应为第{n}个封签（前面的封签可能被删除）")
                    .format(cp=label, n=index + 1))
        if cp.prev_digest != prev_digest:
            run.add("checkpoint_mismatch", _("{cp}没有接上前一个封签：前一封签的摘要 {stored}，实际为 {actual}")
                    .format(cp=label, stored=_short(cp.prev_digest), actual=_short(prev_digest)))
        if latest:
            root = cps.merkle_root(cps.sorted_leaves(leaves))
            if root != cp.merkle_root or cps.head_of(cp.prev_digest, cp.merkle_root) != cp.head:
                run.add("checkpoint_mismatch", _("{cp}的封签值与它封存的作业记录不符：记录的 {stored}，重新计算为 {actual}")
                        .format(cp=label, stored=_short(cp.head), actual=_short(cps.head_of(cp.prev_digest, root))))
        prev_digest = hashlib.sha256(doc).hexdigest()
    return _Seal(checkpoints[-1] if checkpoints else None, leaves, signature_ok)


def _rows(events) -> Iterator[tuple]:
    """The events' raw database values, in (instance, seq) order: the SQL of the ORM query, run on a plain
    cursor so that no converter parses a datetime or a JSON document the hash does not need parsed."""
    columns: tuple[Any, ...] = ROW
    if connection.vendor == "sqlite":  # the stored text as is: sqlite3's own datetime converter is slow
        events = events.annotate(server_time_text=Cast("server_time", TextField()),
                                 device_time_text=Cast("device_time", TextField()))
        columns = tuple(f"{name}_text" if name in ("server_time", "device_time") else name for name in ROW)
    query = events.order_by("instance_id", "seq").values_list(*columns)
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(CHUNK):
            yield from batch


def _walk(run: _Run, jobs: Iterable[tuple], events: Iterator[tuple], seals: Callable[[int], _Seal],
          progress: Progress | None) -> None:
    """Merge the jobs (by id) with their events (by instance id, seq): one pass over each."""
    pending = next(events, None)
    step = 0
    for job in jobs:
        rows = []
        while pending is not None and pending[0] < job[0]:
            run.add("event_missing", _("记录属于不存在的作业 #{pk}").format(pk=pending[0]), pending[0], pending[1])
            pending = next(events, None)
        while pending is not None and pending[0] == job[0]:
            rows.append(pending)
            pending = next(events, None)
        seal = seals(job[1])
        _check_chain(run, job, rows, seal.leaves.get(job[0]), seal.latest)
        if progress and run.events >= step:
            progress(run.events, run.jobs)
            step = run.events + 50_000
    if progress:
        progress(run.events, run.jobs)


JOB = ("pk", "company_id", "last_seq", "last_hash", "number")


def _report(run: _Run, checkpoint: dict | None) -> Report:
    return Report(ok=not run.breaks, events=run.events, files=len(run.hashed), breaks=list(run.breaks),
                  checkpoint=checkpoint)


def verify_instance(instance: Instance, *, files: bool = True) -> Report:
    run = _Run(files=files)
    seal = _check_seals(run, instance.company_id, deep=False)  # the job's own seal; a company run checks all
    job = Instance.objects.filter(pk=instance.pk).values_list(*JOB).get()
    _walk(run, [job], _rows(Event.objects.filter(instance_id=instance.pk)), lambda _c: seal, None)
    covered = seal if instance.pk in seal.leaves else None
    return _report(run, covered.summary() if covered else None)


def _scope(company_ids: list[int] | None, lo: int | None = None, hi: int | None = None):
    jobs, events = Instance.objects.order_by("pk"), Event.objects.all()
    if company_ids is not None:
        jobs, events = jobs.filter(company_id__in=company_ids), events.filter(instance__company_id__in=company_ids)
    if lo is not None:
        jobs, events = jobs.filter(pk__gte=lo), events.filter(instance_id__gte=lo)
    if hi is not None:
        jobs, events = jobs.filter(pk__lt=hi), events.filter(instance_id__lt=hi)
    return jobs, events


def _verify_companies(run: _Run, company_ids: list[int] | None, progress: Progress | None,
                      workers: int | None = None) -> _Seal | None:
    seals: dict[int, _Seal] = {}

    def seal_of(company_id: int) -> _Seal:
        if company_id not in seals:
            seals[company_id] = _check_seals(run, company_id)
        return seals[company_id]

    jobs, events = _scope(company_ids)
    workers = _workers(events, workers)
    if workers > 1:
        _walk_parallel(run, company_ids, workers, seal_of, progress)
    else:
        _walk(run, jobs.values_list(*JOB).iterator(chunk_size=CHUNK), _rows(events), seal_of, progress)
    sealed_companies = set(Checkpoint.objects.values_list("company_id", flat=True).distinct())
    for company_id in sorted(sealed_companies if company_ids is None else sealed_companies & set(company_ids)):
        seal = seal_of(company_id)
        existing = set(Instance.objects.filter(company_id=company_id).values_list("pk", flat=True))
        for gone in sorted(set(seal.leaves) - existing)[:MAX_BREAKS]:
            run.add("checkpoint_mismatch", _("封签 #{n} 封存的作业 #{pk} 已不存在（封签后被删除）")
                    .format(n=seal.latest.number, pk=gone), gone)
    latest = [s for s in seals.values() if s.latest is not None]
    return max(latest, key=lambda s: s.latest.sealed_at) if latest else None


PARALLEL_FROM = 200_000  # events: below this, starting processes costs more than it saves


def _workers(events, asked: int | None) -> int:
    """Processes to verify with: as asked, else one per CPU (at most 8) for large runs. Never inside a
    transaction: other processes would not see its rows (tests), and forking mid-transaction is unsafe."""
    if connection.in_atomic_block or (asked is not None and asked <= 1):
        return 1
    if asked is None:
        cpus = min(os.cpu_count() or 1, 8)
        if cpus <= 1 or events.count() < PARALLEL_FROM:
            return 1
        return cpus
    return asked


def _slice(task: tuple) -> tuple[int, int, list[Break], set]:
    """One worker process: the jobs with lo ≤ id < hi. Checkpoint breaks are the parent's to report;
    here the checkpoints are only read, for the heads they sealed."""
    company_ids, lo, hi, files = task
    run, seals = _Run(files=files), {}

    def seal_of(company_id: int) -> _Seal:
        if company_id not in seals:
            seals[company_id] = _check_seals(_Run(files=False), company_id)
        return seals[company_id]

    jobs, events = _scope(company_ids, lo, hi)
    _walk(run, jobs.values_list(*JOB).iterator(chunk_size=CHUNK), _rows(events), seal_of, None)
    connection.close()
    return run.events, run.jobs, run.breaks, set(run.hashed)


def _walk_parallel(run: _Run, company_ids: list[int] | None, workers: int, seal_of: Callable[[int], _Seal],
                   progress: Progress | None) -> None:
    """Split the jobs into id ranges of about equal size, verified by `workers` forked processes; the
    results are merged in id order, so breaks come in the same order as in one process."""
    import multiprocessing

    jobs, _events = _scope(company_ids)
    ids = list(jobs.values_list("pk", flat=True))
    for company_id in sorted(set(jobs.values_list("company_id", flat=True).distinct())):
        seal_of(company_id)  # checkpoint breaks first, as one process reports them
    parts = workers * 4
    bounds = [ids[len(ids) * i // parts] for i in range(1, parts)] if ids else []
    edges = [None, *sorted(set(bounds)), None]
    tasks = [(company_ids, edges[i], edges[i + 1], run.files) for i in range(len(edges) - 1)]
    connections.close_all()  # each process opens its own
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for events, jobs_done, breaks, hashed in pool.imap(_slice, tasks):
            run.events += events
            run.jobs += jobs_done
            for found in breaks:
                if len(run.breaks) < MAX_BREAKS:
                    run.breaks.append(found)
            run.hashed.update(dict.fromkeys(hashed))
            if progress:
                progress(run.events, run.jobs)


def verify_company(company, *, files: bool = True, progress: Progress | None = None,
                   workers: int | None = None) -> Report:
    """workers: processes (default: one per CPU for runs of PARALLEL_FROM events or more)."""
    run = _Run(files=files)
    company_id = company if isinstance(company, int) else company.pk
    seal = _verify_companies(run, [company_id], progress, workers)
    return _report(run, seal.summary() if seal else None)


def verify_all(*, files: bool = True, progress: Progress | None = None, workers: int | None = None) -> Report:
    run = _Run(files=files)
    seal = _verify_companies(run, None, progress, workers)
    return _report(run, seal.summary() if seal else None)
