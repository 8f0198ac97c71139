"""Checked image intake: the real type from the content, size and pixel limits, re-encoding.

Uploaded bytes are never served back as they came: a display copy is decoded and re-encoded,
so an HTML or SVG file renamed .jpg cannot reach a browser.
"""

from __future__ import annotations

import io
from typing import Any

from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

# MPO is how Pillow names a JPEG with a multi-picture (MPF) block: what many phone cameras write.
ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}
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


def open_checked(data: bytes) -> Image.Image:
    """Decode an upload fully or raise ImageRejected with a reason a worker understands."""
    if not data:
        raise ImageRejected(_("文件是空的"))
    if len(data) > MAX_BYTES:
        raise ImageRejected(_("图片不能超过{mb}MB").format(mb=MAX_BYTES // (1024 * 1024)))
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ALLOWED_FORMATS:
            raise ImageRejected(_("只接受 JPEG、PNG 或 WebP 图片"))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise _too_many_pixels(width * height)
        image.load()
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


def read_upload(upload: Any, max_bytes: int = MAX_BYTES) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise ImageRejected(_("图片不能超过{mb}MB").format(mb=max_bytes // (1024 * 1024)))
    return upload.read(max_bytes + 1)


def reencode_jpeg(upload: Any, *, max_edge: int, quality: int = 85) -> ContentFile:
    image = open_checked(read_upload(upload))
    out = io.BytesIO()
    try:
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((max_edge, max_edge))
        image.info = {}  # Pillow would copy the upload's JPEG comment (any bytes) into the copy
        image.save(out, "JPEG", quality=quality, optimize=True)
    except (OSError, SyntaxError, ValueError):  # e.g. broken EXIF or an exotic pixel mode
        raise ImageRejected(_("图片文件已损坏或不完整")) from None
    return ContentFile(out.getvalue(), name="photo.jpg")
