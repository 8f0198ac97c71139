"""Checks on step photos: each gives a Finding (ok / warn / fail) with a reason a worker understands.

A template's photo slot chooses its checks (``checks:`` in the YAML, see flows.core.schema):

    checks: {freshness: {max_age: 10m, hard: true}, reuse: {hard: true}, quality: {},
             place: {within: 30}, before_after: {before: site_before, within: 10}}

`run_checks` runs them on the slot's photos; a failed hard check refuses the submission (the caller
raises with `refusal(findings)`), everything else is kept by `store_findings` for the approver.
Missing evidence (no capture time, no position) is a warning, or a failure when the check is hard:
a hard check must be proven, so switching off the phone's location is no way around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.evidence.models import StoredFile
from anlian.orgs import geo
from anlian.trust.fingerprints import fingerprint, hamming, near_duplicates
from anlian.trust.models import Level, PhotoFinding

OK, WARN, FAIL = Level.OK.value, Level.WARN.value, Level.FAIL.value
CHECKS = ("freshness", "reuse", "quality", "place", "before_after")

DEFAULTS: dict[str, dict[str, Any]] = {
    "freshness": {"max_age": timedelta(minutes=10), "skew": timedelta(minutes=2)},
    "reuse": {"distance": 10},
    "quality": {"min_sharpness": 40.0, "min_brightness": 40.0},
    "place": {"within": 0.0, "of": "area"},
    "before_after": {"before": None, "within": None, "min_distance": 10},
}


@dataclass(frozen=True)
class Finding:
    check: str
    level: str  # ok | warn | fail
    reason: str
    details: dict = field(default_factory=dict)
    hard: bool = False
    ref: str = ""  # SHA-256 of the photo the finding is about

    @property
    def refuses(self) -> bool:
        return self.hard and self.level == FAIL


@dataclass
class CheckContext:
    """What the caller knows about the submission; every item may be missing."""

    server_time: datetime
    device_time: datetime | None = None
    job_started_at: datetime | None = None  # photos must not be older than the job
    window_start: datetime | None = None  # e.g. when the step became available, if later
    area: Any = None  # orgs.Area of the job
    lat: float | None = None  # the browser's position at submission
    lng: float | None = None
    point: tuple[float, float] | None = None  # place: {of: point} — e.g. the reported fault's position
    before_refs: tuple[str, ...] = ()  # photos of the slot named by before_after.before
    before_lat: float | None = None  # the browser's position when the before photos were submitted
    before_lng: float | None = None
    earlier_refs: frozenset[str] = frozenset()  # SHA-256 of this company's photos used in other events


def options(slot_checks: Any) -> dict[str, dict[str, Any]]:
    """{check: {option: value, hard: bool}} from a plain mapping or schema PhotoCheck objects,
    with the defaults filled in."""
    if isinstance(slot_checks, Mapping):
        items = [(name, dict(opts or {})) for name, opts in slot_checks.items()]
    else:
        items = [(c.name, {**dict(c.options), "hard": c.hard}) for c in slot_checks or ()]
    out = {}
    for name, opts in items:
        if name not in DEFAULTS:
            raise ValueError(f"unknown photo check {name!r}")
        out[name] = {**DEFAULTS[name], "hard": False, **{k: v for k, v in opts.items() if v is not None}}
    return out


def run_checks(company, slot_checks: Any, refs: Iterable[str], context: CheckContext) -> list[Finding]:
    """Every configured check on every photo of one slot, in the order configured."""
    config = options(slot_checks)
    refs = list(dict.fromkeys(refs))
    if not config or not refs:
        return []
    company_id = getattr(company, "pk", company)
    wanted = set(refs) | set(context.before_refs if "before_after" in config else ())
    files = {f.sha256: f for f in StoredFile.objects.filter(company_id=company_id, sha256__in=wanted)}
    prints = {sha: fingerprint(f) for sha, f in files.items()}
    own_files = {files[r].pk for r in refs if r in files}
    findings = []
    for ref in refs:
        if ref not in prints:
            continue
        for name, opts in config.items():
            finding = CHECK_FUNCTIONS[name](opts, prints[ref], context, company_id=company_id, prints=prints,
                                            own_files=own_files, ref=ref)
            findings.append(Finding(name, finding[0], finding[1], finding[2], bool(opts["hard"]), ref))
    return findings


def refusal(findings: Iterable[Finding]) -> Finding | None:
    """The first finding that must refuse the submission, if any."""
    return next((f for f in findings if f.refuses), None)


def store_findings(findings: Iterable[Finding], event, instance, slot: str) -> list[PhotoFinding]:
    """Keep the findings of one slot of a recorded step (ok ones too: they show what was checked)."""
    findings = list(findings)
    if not findings:
        return []
    company_id = instance.company_id if instance is not None else None
    files = StoredFile.objects.filter(sha256__in={f.ref for f in findings})
    if company_id is not None:
        files = files.filter(company_id=company_id)
    ids = {f.sha256: f.pk for f in files}
    rows = [PhotoFinding(file_id=ids[f.ref], instance=instance, event=event, slot=slot, check_name=f.check,
                         level=f.level, reason=f.reason, details=f.details, hard=f.hard)
            for f in findings if f.ref in ids]
    with transaction.atomic():
        return PhotoFinding.objects.bulk_create(rows)


# -- the checks: each returns (level, reason, details) -----------------------------------------
def _missing(opts) -> str:
    return FAIL if opts["hard"] else WARN


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def check_freshness(opts, fp, ctx: CheckContext, **_kw):
    if fp.taken_at is not None:
        taken, source = fp.taken_at, "exif"
    elif ctx.device_time is not None:
        taken, source = ctx.device_time, "device"
    else:
        return _missing(opts), _("照片没有拍摄时间，无法确认是现场拍摄"), {"source": None}
    details = {"taken_at": taken.isoformat(), "source": source, "zone_assumed": fp.taken_zone_assumed,
               "server_time": ctx.server_time.isoformat()}
    age = ctx.server_time - taken
    details["age_s"] = int(age.total_seconds())
    skew = opts["skew"]
    if age > opts["max_age"]:
        minutes = int(opts["max_age"].total_seconds() // 60)
        return FAIL, _("照片拍摄于{time}，已超过{minutes}分钟，请现场重新拍摄").format(
            time=_local(taken), minutes=minutes), details
    starts = [t for t in (ctx.job_started_at, ctx.window_start) if t is not None]
    if starts and taken < max(starts) - skew:
        return FAIL, _("照片拍摄于{time}，早于本步骤可以开始的时间{start}，请现场重新拍摄").format(
            time=_local(taken), start=_local(max(starts))), details
    if age < -skew:
        return WARN, _("照片拍摄时间{time}晚于服务器时间，请检查手机时间").format(time=_local(taken)), details
    return OK, _("拍摄时间{time}，符合要求").format(time=_local(taken)), details


def check_reuse(opts, fp, ctx: CheckContext, *, company_id, own_files, ref, **_kw):
    if ref in ctx.earlier_refs:
        return FAIL, _("这张照片已在其他记录中使用过，请现场重新拍摄"), {"match": ref, "distance": 0, "exact": True}
    distance = int(opts["distance"])
    found = near_duplicates(company_id, fp.phash, distance, exclude_files=own_files)
    if found:
        file_id, d = found[0]
        other = StoredFile.objects.filter(pk=file_id).values_list("sha256", "created_at").first()
        details = {"match": other[0], "distance": d, "exact": False, "matches": len(found)}
        return FAIL, _("这张照片与{date}上传的一张照片几乎相同，疑似旧照片，请现场重新拍摄").format(
            date=timezone.localtime(other[1]).strftime("%Y-%m-%d")), details
    return OK, _("未发现重复使用的照片"), {"distance": distance}


def check_quality(opts, fp, ctx: CheckContext, **_kw):
    details = {"sharpness": fp.sharpness, "brightness": fp.brightness,
               "min_sharpness": opts["min_sharpness"], "min_brightness": opts["min_brightness"]}
    problems = []
    if fp.brightness is not None and fp.brightness < opts["min_brightness"]:
        problems.append(_("照片太暗，请打开照明或闪光灯重新拍摄"))
    if fp.sharpness is not None and fp.sharpness < opts["min_sharpness"]:
        problems.append(_("照片模糊，请拿稳手机、对准目标重新拍摄"))
    if problems:
        return FAIL, "；".join(problems), details
    return OK, _("照片清晰度和亮度正常"), details


def _position(fp, lat, lng) -> tuple[float, float, str] | None:
    if fp.gps_lat is not None and fp.gps_lng is not None:
        return fp.gps_lat, fp.gps_lng, "exif"
    if lat is not None and lng is not None:
        return lat, lng, "browser"
    return None


def area_distance_m(area, lat: float, lng: float) -> float | None:
    """Metres from a position to the area's geofence (0 inside); None when it has no fence."""
    if area is None:
        return None
    if area.polygon:
        return geo.distance_to_polygon_m(lat, lng, area.polygon)
    if area.center_lat is not None and area.center_lng is not None and area.radius_m:
        return max(0.0, geo.distance_m(lat, lng, area.center_lat, area.center_lng) - area.radius_m)
    return None


def check_place(opts, fp, ctx: CheckContext, **_kw):
    where = _position(fp, ctx.lat, ctx.lng)
    if where is None:
        return _missing(opts), _("照片没有位置信息，无法确认拍摄地点，请打开定位后重新拍摄"), {"source": None}
    lat, lng, source = where
    within = float(opts["within"])
    details = {"lat": lat, "lng": lng, "source": source, "within": within, "of": opts["of"]}
    if opts["of"] == "point":
        if ctx.point is None:
            return WARN, _("没有可对照的位置，无法核对拍摄地点"), details
        distance = geo.distance_m(lat, lng, *ctx.point)
        target = _("指定位置")
    else:
        distance = area_distance_m(ctx.area, lat, lng)
        if distance is None:  # not the worker's fault: never refuse for it
            return WARN, _("区域未设置电子围栏，无法核对拍摄地点"), details
        target = _("区域“{area}”").format(area=ctx.area.name)
    details["distance_m"] = round(distance, 1)
    if distance > within:
        return FAIL, _("拍摄地点距离{target}{distance}米，超出要求的{within}米，请到现场拍摄").format(
            target=target, distance=round(distance), within=_num(within)), details
    return OK, _("拍摄地点符合要求（距离{target}{distance}米）").format(target=target, distance=round(distance)), details


def check_before_after(opts, fp, ctx: CheckContext, *, prints, **_kw):
    befores = [prints[r] for r in ctx.before_refs if r in prints]
    if not befores:
        return _missing(opts), _("找不到用于对比的之前照片，无法核对"), {"before": opts["before"]}
    nearest = min(hamming(fp.phash, b.phash) for b in befores)
    details = {"before": opts["before"], "hash_distance": nearest, "min_distance": opts["min_distance"]}
    if nearest < int(opts["min_distance"]):
        return FAIL, _("这张照片与之前拍的对比照片几乎相同，请拍摄处理后的实际情况"), details
    within = opts["within"]
    here = _position(fp, ctx.lat, ctx.lng)
    there = [p for p in (_position(b, ctx.before_lat, ctx.before_lng) for b in befores) if p]
    if within is not None and here and there:
        gap = min(geo.distance_m(here[0], here[1], p[0], p[1]) for p in there)
        details.update(place_distance_m=round(gap, 1), within=float(within))
        if gap > float(within):
            return FAIL, _("这张照片的拍摄地点距离之前照片{distance}米，超出{within}米，请在同一位置拍摄").format(
                distance=round(gap), within=_num(within)), details
    elif within is not None:
        details["place"] = "unknown"
    return OK, _("与之前照片相比有变化，拍摄地点一致"), details


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


CHECK_FUNCTIONS = {"freshness": check_freshness, "reuse": check_reuse, "quality": check_quality,
                   "place": check_place, "before_after": check_before_after}
