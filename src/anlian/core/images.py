"""Checked image intake: the real type from the content, size and pixel limits, re-encoding.

Uploaded bytes are never served back as they came: a display copy is decoded and re-encoded,
so an HTML or SVG file renamed .jpg cannot reach a browser.

The type is what Pillow recognises in the bytes (never the name or the declared content type):
JPEG (and MPO, a JPEG with a multi-picture block), PNG, WebP, and HEIC/HEIF through pillow-heif
(what iPhones write). The pixel count is checked from the header before anything is decoded, so a
small file declaring a huge picture (a decompression bomb) is refused without allocating it; the
whole picture is then decoded, so a truncated or corrupt file is refused too.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF (iPhone photos); a declared dependency, but intake still works for the rest without it
    import pillow_heif
except ImportError:  # pragma: no cover
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

# A truncated file is an error, never a half-grey picture (some code sets this globally: not here).
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Broken EXIF is common on phones and harmless here (read_exif copes): do not fill the logs with it.
warnings.filterwarnings("ignore", message="(?i)corrupt exif", category=UserWarning)

# MPO is how Pillow names a JPEG with a multi-picture (MPF) block: what many phone cameras write.
# HEIF is how pillow-heif names HEIC/HEIF files.
ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "HEIF"}
MIME_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp",
              "HEIF": "image/heif"}
MAX_PIXELS = 50_000_000  # 50 MP: above any phone camera, below a decompression bomb
MAX_BYTES = 25 * 1024 * 1024


class ImageRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _too_many_pixels(pixels: int | None) -> ImageRejected:
    limit = MAX_PIXELS // 1_000_000
    if pixels is None:
        return ImageRejected(_("图片像素过多，最多{limit}百万像素").format(limit=limit))
    return ImageRejected(_("图片像素过多（{mp}百万像素），最多{limit}百万像素").format(
        mp=pixels // 1_000_000, limit=limit))


def open_checked(data: bytes, *, fit: int | None = None) -> Image.Image:
    """Decode an upload fully or raise ImageRejected with a reason a worker understands.

    `fit`: a JPEG may be decoded at a reduced scale (1/2, 1/4, 1/8: libjpeg's DCT scaling) as long
    as the result still covers a `fit`×`fit` box's worth of the long edge. Every byte of the
    compressed data is still read and decoded (a truncated or corrupt file is refused the same),
    it is only several times faster, and callers that want a display copy need no more pixels.
    The image's `original_size` attribute keeps the size before any reduction.
    """
    if not data:
        raise ImageRejected(_("文件是空的"))
    if len(data) > MAX_BYTES:
        raise ImageRejected(_("图片不能超过{mb}MB").format(mb=MAX_BYTES // (1024 * 1024)))
    try:
        with warnings.catch_warnings():
            # Between Pillow's own warning and error thresholds it only warns; our limit is lower anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": EXIF is read apart (read_exif)
            image = Image.open(io.BytesIO(data))
        if image.format not in ALLOWED_FORMATS:
            raise ImageRejected(_("只接受 JPEG、PNG、WebP 或 HEIC 图片"))
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageRejected(_("图片文件已损坏或不完整"))
        if width * height > MAX_PIXELS:
            raise _too_many_pixels(width * height)
        original_size = image.size
        if fit and image.format in ("JPEG", "MPO") and max(width, height) > fit:
            scale = max(width, height) / fit
            image.draft(None, (max(1, int(width / scale)), max(1, int(height / scale))))
        image.load()
        image.original_size = original_size
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        # Pillow refuses to even open images far above its own limit (a decompression bomb).
        raise _too_many_pixels(None) from None
    except UnidentifiedImageError:
        raise ImageRejected(_("无法识别的图片文件")) from None
    except (OSError, SyntaxError, ValueError):
        raise ImageRejected(_("图片文件已损坏或不完整")) from None
    return image


def mime_type(image: Image.Image) -> str:
    """The content type to serve an accepted original under (HEIC files say image/heic or image/heif)."""
    if image.format == "HEIF":
        return image.get_format_mimetype() or MIME_TYPES["HEIF"]
    return MIME_TYPES.get(image.format or "", "application/octet-stream")


def upright(image: Image.Image) -> Image.Image:
    """A new image: the picture as it should be seen (EXIF orientation applied; garbage orientation ignored)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data"
            return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - broken EXIF must never lose a photo: show it as stored
        return image.copy()


_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825


def _gps_degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(v) for v in value)
        degrees = d + m / 60 + s / 3600
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not (0 <= degrees <= 180):
        return None
    return -degrees if str(ref).strip().upper() in ("S", "W") else degrees


def read_exif(image: Image.Image) -> dict[str, Any]:
    """What the checks need from EXIF, never raising: {} when there is none or it is garbage.

    Keys (each only when present and sane): taken_at (the camera's "YYYY:MM:DD HH:MM:SS" text, as
    written: EXIF has no time zone), offset (e.g. "+08:00"), make, model, orientation (1-8), lat, lng.
    """
    out: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data"
            exif = image.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
            gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001 - any EXIF problem means "no EXIF"
        return out
    def text(value: Any) -> str | None:
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if not isinstance(value, str):
            return None
        value = value.strip("\x00 ").strip()
        return value[:64] or None
    taken = text(sub.get(0x9003) or sub.get(0x9004) or exif.get(0x0132))  # DateTimeOriginal, Digitized, DateTime
    if taken and len(taken) >= 19 and taken[4] == ":" and taken[7] == ":":
        out["taken_at"] = taken[:19]
    offset = text(sub.get(0x9011) or sub.get(0x9010))  # OffsetTimeOriginal, OffsetTime
    if offset:
        out["offset"] = offset
    for key, tag in (("make", 0x010F), ("model", 0x0110)):
        if value := text(exif.get(tag)):
            out[key] = value
    orientation = exif.get(0x0112)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        out["orientation"] = orientation
    if gps:
        lat, lng = _gps_degrees(gps.get(2), gps.get(1)), _gps_degrees(gps.get(4), gps.get(3))
        if lat is not None and lng is not None and abs(lat) <= 90:
            out["lat"], out["lng"] = lat, lng
    return out


def read_upload(upload: Any, max_bytes: int = MAX_BYTES) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise ImageRejected(_("图片不能超过{mb}MB").format(mb=max_bytes // (1024 * 1024)))
    return upload.read(max_bytes + 1)


def reencode_jpeg(upload: Any, *, max_edge: int, quality: int = 85) -> ContentFile:
    image = open_checked(read_upload(upload))
    out = io.BytesIO()
    try:
        image = upright(image).convert("RGB")
        image.thumbnail((max_edge, max_edge))
        image.info = {}  # Pillow would copy the upload's JPEG comment (any bytes) into the copy
        image.save(out, "JPEG", quality=quality, optimize=True)
    except (OSError, SyntaxError, ValueError):  # e.g. broken EXIF or an exotic pixel mode
        raise ImageRejected(_("图片文件已损坏或不完整")) from None
    return ContentFile(out.getvalue(), name="photo.jpg")
