"""Per-photo analysis, done once per stored file: perceptual hash, sharpness, brightness, EXIF time
and position; and the near-duplicate look-up over the stored hashes of one company."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone
from functools import lru_cache
from itertools import combinations

import imagehash
import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image, ImageOps

from anlian.trust.models import PhotoFingerprint

ANALYSIS_EDGE = 512  # long edge (pixels) of the greyscale copy every score is computed on
BANDS = 4
BAND_BITS = 16
BAND_MASK = (1 << BAND_BITS) - 1
MAX_DISTANCE = 11  # bands compared within d // 4 bits: 1, 17 or 137 probes per band

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LNG_REF, GPS_LNG = 1, 2, 3, 4


# -- hash arithmetic ---------------------------------------------------------------------
def to_signed(value: int) -> int:
    """The unsigned 64-bit hash as a signed 64-bit integer (what a BIGINT column holds)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    return value & 0xFFFFFFFFFFFFFFFF


def bands(value: int) -> tuple[int, ...]:
    """The four 16-bit bands of a hash (signed or unsigned), low bits first."""
    u = to_unsigned(value)
    return tuple((u >> (BAND_BITS * i)) & BAND_MASK for i in range(BANDS))


def hamming(a: int, b: int) -> int:
    return (to_unsigned(a) ^ to_unsigned(b)).bit_count()


@lru_cache(maxsize=4)
def _flips(radius: int) -> tuple[int, ...]:
    """Every 16-bit mask with at most `radius` bits set."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(BAND_BITS), r)]
    return tuple(masks)


def probes(value: int, distance: int) -> list[list[int]]:
    """Per band, the band values a hash within `distance` must share with `value` in some band."""
    if not 0 <= distance <= MAX_DISTANCE:
        raise ValueError(f"distance must be 0 to {MAX_DISTANCE}")
    masks = _flips(distance // BANDS)
    return [sorted({band ^ m for m in masks}) for band in bands(value)]


# -- analysis ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Analysis:
    phash: int  # signed
    sharpness: float
    brightness: float
    taken_at: datetime | None
    taken_zone_assumed: bool
    gps_lat: float | None
    gps_lng: float | None


def phash_of(image: Image.Image) -> int:
    """The 64-bit DCT perceptual hash (imagehash.phash), as a signed integer."""
    bits = imagehash.phash(image).hash.flatten()
    return to_signed(int("".join("1" if b else "0" for b in bits), 2))


def sharpness_of(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: low on blurred photos."""
    g = grey.astype(np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var()) if lap.size else 0.0


def analyse(data: bytes) -> Analysis:
    with warnings.catch_warnings():  # broken EXIF makes Pillow warn; it is simply no evidence
        warnings.simplefilter("ignore")
        return _analyse(data)


def _analyse(data: bytes) -> Analysis:
    image = Image.open(io.BytesIO(data))
    exif = _safe_exif(image)
    image.draft("L", (ANALYSIS_EDGE, ANALYSIS_EDGE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
    image = ImageOps.exif_transpose(image.convert("L"), in_place=False) if exif else image.convert("L")
    image.thumbnail((ANALYSIS_EDGE, ANALYSIS_EDGE), Image.Resampling.BILINEAR)
    grey = np.asarray(image)
    taken_at, assumed = capture_time(exif)
    lat, lng = gps_position(exif)
    return Analysis(phash_of(image), round(sharpness_of(grey), 2), round(float(grey.mean()), 2),
                    taken_at, assumed, lat, lng)


def _safe_exif(image: Image.Image) -> Image.Exif | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif = image.getexif()
            return exif if len(exif) else None
    except Exception:  # garbage EXIF is no evidence, not an error
        return None


def _ifd(exif: Image.Exif | None, tag: int) -> dict:
    if exif is None:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(exif.get_ifd(tag))
    except Exception:
        return {}


def capture_time(exif: Image.Exif | None) -> tuple[datetime | None, bool]:
    """EXIF DateTimeOriginal as an aware datetime; without OffsetTimeOriginal the site's zone is
    assumed (second value True)."""
    ifd = _ifd(exif, EXIF_IFD)
    text = ifd.get(DATETIME_ORIGINAL)
    if not isinstance(text, str):
        return None, False
    try:
        naive = datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, False
    offset = ifd.get(OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str):
        try:
            sign = -1 if offset.strip().startswith("-") else 1
            hours, minutes = offset.strip().lstrip("+-").split(":")
            zone = dt_timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
            return naive.replace(tzinfo=zone), False
        except ValueError:
            pass
    return timezone.make_aware(naive, timezone.get_default_timezone()), True


def gps_position(exif: Image.Exif | None) -> tuple[float | None, float | None]:
    ifd = _ifd(exif, GPS_IFD)
    try:
        lat, lng = _degrees(ifd[GPS_LAT]), _degrees(ifd[GPS_LNG])
        if str(ifd.get(GPS_LAT_REF, "N")).upper().startswith("S"):
            lat = -lat
        if str(ifd.get(GPS_LNG_REF, "E")).upper().startswith("W"):
            lng = -lng
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None, None
    return lat, lng


def _degrees(value) -> float:
    d, m, s = (float(v) for v in value)
    return d + m / 60 + s / 3600


# -- stored fingerprints -----------------------------------------------------------------
def fingerprint(stored_file) -> PhotoFingerprint:
    """The file's fingerprint, computed and stored on first use."""
    try:
        return stored_file.fingerprint
    except PhotoFingerprint.DoesNotExist:
        pass
    with stored_file.file.open("rb") as handle:
        found = analyse(handle.read())
    row = PhotoFingerprint(company_id=stored_file.company_id, file=stored_file, phash=found.phash,
                           **dict(zip(("band0", "band1", "band2", "band3"), bands(found.phash))),
                           sharpness=found.sharpness, brightness=found.brightness, taken_at=found.taken_at,
                           taken_zone_assumed=found.taken_zone_assumed, gps_lat=found.gps_lat,
                           gps_lng=found.gps_lng)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:  # computed twice at once: keep the first
        return PhotoFingerprint.objects.get(file=stored_file)
    return row


def near_query(company_id: int, phash: int, distance: int):
    """Candidate rows (id, file_id, phash): an OR of four indexed band look-ups, no scan."""
    terms = Q()
    for i, values in enumerate(probes(phash, distance)):
        match = {f"band{i}": values[0]} if len(values) == 1 else {f"band{i}__in": values}
        terms |= Q(company_id=company_id, **match)  # the company in every branch: each is one index range
    return PhotoFingerprint.objects.filter(terms).values_list("id", "file_id", "phash")


def near_duplicates(company_id: int, phash: int, distance: int, exclude_files=()) -> list[tuple[int, int]]:
    """(file_id, distance) of the company's stored photos within `distance` of `phash`, nearest first."""
    skip = set(exclude_files)
    found = {}
    for _id, file_id, other in near_query(company_id, phash, distance):
        d = hamming(phash, other)
        if d <= distance and file_id not in skip:
            found[file_id] = min(d, found.get(file_id, 64))
    return sorted(found.items(), key=lambda item: (item[1], item[0]))
