"""Photo checks on real images made here: reuse (exact and near-duplicate), quality, freshness, place,
before/after; and the banded near-duplicate look-up against a brute-force scan."""

from __future__ import annotations

import hashlib
import io
import random
from datetime import UTC, timedelta

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from anlian.evidence.models import StoredFile
from anlian.trust import fingerprints as fp
from anlian.trust.checks import CheckContext, Finding, refusal, run_checks, store_findings
from anlian.trust.models import PhotoFingerprint, PhotoFinding

NOW = timezone.now().replace(microsecond=0)
AREA_LAT, AREA_LNG = 30.0, 120.0  # the conftest area: centre 30.0, 120.0, radius 100 m


def scene(seed: int, w: int = 800, h: int = 600) -> Image.Image:
    """A photo-like picture: coloured shapes with sharp edges and a little sensor noise."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), tuple(int(x) for x in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = [x0, y0, x0 + int(rng.integers(30, 350)), y0 + int(rng.integers(30, 250))]
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour)
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype("uint8"))


def exif(taken=None, offset=None, gps=None) -> Image.Exif:
    data = Image.Exif()
    if taken is not None:
        data[0x8769] = {0x9003: taken.strftime("%Y:%m:%d %H:%M:%S"), **({0x9011: offset} if offset else {})}
    if gps is not None:
        lat, lng = gps

        def dms(v):
            v = abs(v)
            d, m = int(v), int(abs(v) * 60 % 60)
            return (float(d), float(m), round((v * 3600) % 60, 4))

        data[0x8825] = {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lng >= 0 else "W", 4: dms(lng)}
    return data


def jpeg(img: Image.Image, quality: int = 90, meta: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, **({"exif": meta} if meta is not None else {}))
    return out.getvalue()


def store(company, data: bytes) -> str:
    """Keep the bytes as the evidence app does (once per company under the SHA-256)."""
    digest = hashlib.sha256(data).hexdigest()
    found = StoredFile.objects.filter(company=company, sha256=digest).first()
    if found is None:
        image = Image.open(io.BytesIO(data))
        found = StoredFile(sha256=digest, company=company, content_type="image/jpeg", size=len(data),
                           width=image.width, height=image.height)
        found.file.save(digest, ContentFile(data), save=True)
    return digest


def context(**kw) -> CheckContext:
    return CheckContext(server_time=kw.pop("server_time", NOW), **kw)


def one(findings: list[Finding], check: str) -> Finding:
    found = [f for f in findings if f.check == check]
    assert len(found) == 1, findings
    return found[0]


def crop(img: Image.Image, left: float, top: float, right: float = 0, bottom: float = 0) -> Image.Image:
    w, h = img.size
    return img.crop((int(w * left), int(h * top), w - int(w * right), h - int(h * bottom)))


# -- reuse -------------------------------------------------------------------------------------
def test_reused_photo_cropped_and_recompressed_is_caught(world):
    company = world.a.unit
    old = scene(1)
    original = store(company, jpeg(old, 92))
    fp.fingerprint(StoredFile.objects.get(sha256=original))  # it was checked when it was first used
    for i, variant in enumerate([crop(old, 0.03, 0.03), crop(old, 0, 0, 0.03, 0.03),
                                 crop(old, 0.015, 0.015, 0.015, 0.015).resize((640, 480))]):
        again = store(company, jpeg(variant, 60 + 5 * i))
        finding = one(run_checks(company, {"reuse": {"hard": True}}, [again], context()), "reuse")
        assert finding.level == "fail" and finding.refuses, finding
        assert finding.details["match"] == original and not finding.details["exact"]
        assert "几乎相同" in finding.reason


def test_a_different_scene_is_not_a_duplicate(world):
    company = world.a.unit
    for seed in range(2, 8):
        fp.fingerprint(StoredFile.objects.get(sha256=store(company, jpeg(scene(seed)))))
    new = store(company, jpeg(scene(42)))
    finding = one(run_checks(company, {"reuse": {}}, [new], context()), "reuse")
    assert finding.level == "ok", finding


def test_reuse_is_per_company(world):
    old = scene(1)
    fp.fingerprint(StoredFile.objects.get(sha256=store(world.b.unit, jpeg(old))))
    again = store(world.a.unit, jpeg(crop(old, 0.03, 0.03), 70))
    assert one(run_checks(world.a.unit, {"reuse": {}}, [again], context()), "reuse").level == "ok"


def test_exact_reuse_from_earlier_refs(world):
    ref = store(world.a.unit, jpeg(scene(3)))
    finding = one(run_checks(world.a.unit, {"reuse": {"hard": True}}, [ref],
                             context(earlier_refs=frozenset({ref}))), "reuse")
    assert finding.refuses and finding.details["exact"] and "已在其他记录中使用过" in finding.reason
    # the same file is no near-duplicate of itself, nor are two shots sent together
    twin = store(world.a.unit, jpeg(scene(3), 70))
    assert {f.level for f in run_checks(world.a.unit, {"reuse": {}}, [ref, twin], context())} == {"ok"}


# -- quality -----------------------------------------------------------------------------------
def test_blurred_photo_is_flagged_and_sharp_one_passes(world):
    sharp = store(world.a.unit, jpeg(scene(4)))
    blurred = store(world.a.unit, jpeg(scene(4).filter(ImageFilter.GaussianBlur(4))))
    findings = run_checks(world.a.unit, {"quality": {}}, [sharp, blurred], context())
    assert [f.level for f in findings] == ["ok", "fail"], findings
    assert "模糊" in findings[1].reason and not findings[1].refuses  # soft unless the template says hard
    assert findings[1].details["sharpness"] < findings[0].details["sharpness"] / 5


def test_dark_photo_is_flagged(world):
    dark = store(world.a.unit, jpeg(ImageEnhance.Brightness(scene(5)).enhance(0.12)))
    finding = one(run_checks(world.a.unit, {"quality": {"hard": True}}, [dark], context()), "quality")
    assert finding.refuses and "太暗" in finding.reason and finding.details["brightness"] < 40


# -- freshness ---------------------------------------------------------------------------------
def test_old_exif_capture_time_is_flagged(world):
    local = timezone.localtime(NOW)
    old = store(world.a.unit, jpeg(scene(6), meta=exif(local - timedelta(hours=3))))
    fresh = store(world.a.unit, jpeg(scene(7), meta=exif(local - timedelta(minutes=2))))
    checks = {"freshness": {"max_age": timedelta(minutes=10), "hard": True}}
    stale, ok = run_checks(world.a.unit, checks, [old, fresh], context())
    assert stale.refuses and "已超过10分钟" in stale.reason and stale.details["source"] == "exif"
    assert stale.details["zone_assumed"] is True  # no OffsetTimeOriginal: the site's zone
    assert ok.level == "ok", ok


def test_exif_offset_is_honoured(world):
    # 3 minutes ago in UTC, written with its +00:00 offset: fresh although 8 h off the site's clock
    utc = (NOW - timedelta(minutes=3)).astimezone(UTC)
    ref = store(world.a.unit, jpeg(scene(8), meta=exif(utc, "+00:00")))
    finding = one(run_checks(world.a.unit, {"freshness": {}}, [ref], context()), "freshness")
    assert finding.level == "ok" and finding.details["zone_assumed"] is False


def test_photo_taken_before_the_job_started_is_flagged(world):
    local = timezone.localtime(NOW)
    ref = store(world.a.unit, jpeg(scene(9), meta=exif(local - timedelta(minutes=8))))
    finding = one(run_checks(world.a.unit, {"freshness": {}}, [ref],
                             context(job_started_at=NOW - timedelta(minutes=4))), "freshness")
    assert finding.level == "fail" and "早于本步骤可以开始的时间" in finding.reason


def test_device_time_when_no_exif_and_nothing_at_all(world):
    ref = store(world.a.unit, jpeg(scene(10)))
    stale = one(run_checks(world.a.unit, {"freshness": {}}, [ref],
                           context(device_time=NOW - timedelta(hours=1))), "freshness")
    assert stale.level == "fail" and stale.details["source"] == "device"
    soft = one(run_checks(world.a.unit, {"freshness": {}}, [ref], context()), "freshness")
    hard = one(run_checks(world.a.unit, {"freshness": {"hard": True}}, [ref], context()), "freshness")
    assert (soft.level, hard.level) == ("warn", "fail") and "没有拍摄时间" in hard.reason


# -- place -------------------------------------------------------------------------------------
def test_gps_far_from_the_area_fails_within(world):
    area = world.a.area
    far = store(world.a.unit, jpeg(scene(11), meta=exif(gps=(AREA_LAT + 0.01, AREA_LNG))))  # ~1.1 km north
    near = store(world.a.unit, jpeg(scene(12), meta=exif(gps=(AREA_LAT + 0.0005, AREA_LNG))))  # ~55 m: inside
    bad, good = run_checks(world.a.unit, {"place": {"within": 30, "hard": True}}, [far, near], context(area=area))
    assert bad.refuses and bad.details["source"] == "exif" and 950 < bad.details["distance_m"] < 1050
    assert "超出要求的30米" in bad.reason
    assert good.level == "ok" and good.details["distance_m"] == 0


def test_browser_position_when_the_photo_has_none(world):
    ref = store(world.a.unit, jpeg(scene(13)))
    checks = {"place": {"within": 30, "hard": True}}
    outside = one(run_checks(world.a.unit, checks, [ref],
                             context(area=world.a.area, lat=AREA_LAT, lng=AREA_LNG + 0.002)), "place")
    assert outside.level == "fail" and outside.details["source"] == "browser"  # ~193 m from centre: 93 m out
    nowhere = one(run_checks(world.a.unit, checks, [ref], context(area=world.a.area)), "place")
    assert nowhere.refuses and "没有位置信息" in nowhere.reason
    world.a.area.radius_m = None
    unfenced = one(run_checks(world.a.unit, checks, [ref], context(area=world.a.area, lat=1, lng=1)), "place")
    assert unfenced.level == "warn"  # the area's missing fence is not the worker's fault


def test_within_metres_of_a_point(world):
    ref = store(world.a.unit, jpeg(scene(14), meta=exif(gps=(AREA_LAT, AREA_LNG + 0.00005))))  # ~4.8 m east
    checks = {"place": {"within": 3, "of": "point"}}
    assert one(run_checks(world.a.unit, checks, [ref], context(point=(AREA_LAT, AREA_LNG))), "place").level == "fail"
    checks = {"place": {"within": 6, "of": "point"}}
    assert one(run_checks(world.a.unit, checks, [ref], context(point=(AREA_LAT, AREA_LNG))), "place").level == "ok"


# -- before / after ----------------------------------------------------------------------------
def test_before_after_identical_fails_and_different_at_the_same_place_passes(world):
    here = (AREA_LAT, AREA_LNG)
    before_img = scene(20)
    before = store(world.a.unit, jpeg(before_img, meta=exif(gps=here)))
    same = store(world.a.unit, jpeg(before_img, 75, meta=exif(gps=here)))  # re-saved: other bytes, same picture
    fixed_img = scene(21)
    fixed = store(world.a.unit, jpeg(fixed_img, meta=exif(gps=(AREA_LAT + 0.00003, AREA_LNG))))  # ~3 m away
    elsewhere = store(world.a.unit, jpeg(scene(22), meta=exif(gps=(AREA_LAT + 0.001, AREA_LNG))))  # ~111 m
    checks = {"before_after": {"before": "site_before", "within": 10, "hard": True}}
    ctx = context(before_refs=(before,))
    identical, changed, moved = run_checks(world.a.unit, checks, [same, fixed, elsewhere], ctx)
    assert identical.refuses and "几乎相同" in identical.reason and identical.details["hash_distance"] < 10
    assert changed.level == "ok" and changed.details["place_distance_m"] < 10, changed
    assert moved.refuses and "请在同一位置拍摄" in moved.reason


def test_before_after_uses_the_submission_positions_without_exif(world):
    before = store(world.a.unit, jpeg(scene(23)))
    after = store(world.a.unit, jpeg(scene(24)))
    checks = {"before_after": {"before": "b", "within": 10}}
    far = context(before_refs=(before,), before_lat=AREA_LAT, before_lng=AREA_LNG, lat=AREA_LAT + 0.001,
                  lng=AREA_LNG)
    assert one(run_checks(world.a.unit, checks, [after], far), "before_after").level == "fail"
    unknown = context(before_refs=(before,))  # no positions: only the change is checked
    assert one(run_checks(world.a.unit, checks, [after], unknown), "before_after").level == "ok"


# -- runner, storage ---------------------------------------------------------------------------
def test_schema_slot_checks_run_and_findings_are_stored(world):
    from anlian.flows.core import load_template

    tpl = load_template({"key": "t", "name": "测试", "kind": "hazard", "steps": [{"key": "a", "photos": [
        {"key": "p", "checks": {"quality": {}, "freshness": {"max_age": "5m"}}}]}]})
    dark = store(world.a.unit, jpeg(ImageEnhance.Brightness(scene(30)).enhance(0.1)))
    findings = run_checks(world.a.unit, tpl.steps[0].photos[0].checks, [dark], context())
    assert [(f.check, f.level) for f in findings] == [("quality", "fail"), ("freshness", "warn")]
    assert refusal(findings) is None  # both soft: the approver sees them
    rows = store_findings(findings, None, None, "p")
    stored = PhotoFinding.objects.order_by("id")
    assert [(r.check_name, r.level, r.slot, r.hard) for r in stored] == [
        ("quality", "fail", "p", False), ("freshness", "warn", "p", False)]
    assert len(rows) == 2 and stored[0].file.sha256 == dark and "太暗" in stored[0].reason


def test_fingerprint_is_computed_once(world, django_assert_num_queries):
    ref = store(world.a.unit, jpeg(scene(31)))
    file = StoredFile.objects.get(sha256=ref)
    first = fp.fingerprint(file)
    assert PhotoFingerprint.objects.count() == 1
    again = StoredFile.objects.get(sha256=ref)
    with django_assert_num_queries(1):  # one look-up, no image work
        assert fp.fingerprint(again).phash == first.phash
    assert tuple(fp.bands(first.phash)) == (first.band0, first.band1, first.band2, first.band3)


def test_garbage_exif_is_no_evidence(world):
    data = bytearray(jpeg(scene(32), meta=exif(timezone.localtime(NOW))))
    at = data.find(b"Exif")
    data[at + 20:at + 60] = b"\xff" * 40
    result = fp.analyse(bytes(data))
    assert result.phash and result.gps_lat is None


# -- banded look-up == brute force ---------------------------------------------------------------
def test_hash_arithmetic():
    for value in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1):
        signed = fp.to_signed(value)
        assert -(1 << 63) <= signed < 1 << 63 and fp.to_unsigned(signed) == value
    assert fp.bands(fp.to_signed(0x1234_5678_9ABC_DEF0)) == (0xDEF0, 0x9ABC, 0x5678, 0x1234)
    assert fp.hamming(-1, 0) == 64
    assert [len(p) for p in fp.probes(0, 3)] == [1] * 4
    assert [len(p) for p in fp.probes(0, 7)] == [17] * 4
    assert [len(p) for p in fp.probes(0, 11)] == [137] * 4
    with pytest.raises(ValueError):
        fp.probes(0, 12)


@pytest.mark.parametrize("distance", [0, 3, 7, 10, 11])
def test_band_lookup_finds_what_a_brute_force_scan_finds(world, distance):
    rng = random.Random(distance)
    company = world.a.unit
    queries = [rng.getrandbits(64) for _ in range(20)]
    hashes = [rng.getrandbits(64) for _ in range(2000)]
    for q in queries:  # plant neighbours at every distance up to 14 bits
        for d in range(15):
            hashes.append(q ^ sum(1 << b for b in rng.sample(range(64), d)))
    rows = []
    for i, h in enumerate(hashes):
        stored = StoredFile(sha256=f"{i:064x}", company=company, content_type="image/jpeg", size=1, file="x")
        rows.append(stored)
    StoredFile.objects.bulk_create(rows)
    ids = dict(StoredFile.objects.filter(company=company).values_list("sha256", "id"))
    PhotoFingerprint.objects.bulk_create([
        PhotoFingerprint(company=company, file_id=ids[f"{i:064x}"], phash=fp.to_signed(h),
                         **dict(zip(("band0", "band1", "band2", "band3"), fp.bands(h))))
        for i, h in enumerate(hashes)])
    for q in queries:
        brute = sorted((ids[f"{i:064x}"], fp.hamming(q, h)) for i, h in enumerate(hashes)
                       if fp.hamming(q, h) <= distance)
        banded = sorted(fp.near_duplicates(company.pk, fp.to_signed(q), distance))
        assert banded == brute
        assert len(brute) >= distance + 1  # the planted ones at least
