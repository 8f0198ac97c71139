"""Photo intake through POST /api/v1/files: bad files get a clear 4xx in Chinese and leave nothing behind.

Every file is made here. "Nothing stored" means: no StoredFile row and not one path added to (or
removed from) the storage folder. Decision on garbage EXIF: the picture is what matters, so a JPEG
whose APP1 (EXIF) segment is garbage is accepted and stored byte for byte, its EXIF read as empty; a
segment whose length runs past the end of the file makes the JPEG itself corrupt, and it is refused.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError
from PIL import Image, ImageFilter

from anlian.core import images
from anlian.evidence.models import StoredFile
from tests.conftest import client_for

CJK = re.compile(r"[\u4e00-\u9fff]")


# --- files made here -------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def photo(size=(800, 600)) -> Image.Image:
    """Noise over a gradient, softened: compresses like a photo, not like a flat colour."""
    noise = Image.effect_noise(size, 60)
    ramp = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (Image.blend(noise, ramp, 0.5), ramp, noise)).filter(ImageFilter.GaussianBlur(0.7))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header declares another size: how a decompression bomb looks."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) declares another size."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "gray"), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def with_app1(jpeg: bytes, body: bytes, declared: int | None = None) -> bytes:
    """`jpeg` with an APP1 segment holding `body` inserted after SOI (declared length optional)."""
    length = declared if declared is not None else len(body) + 2
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", length) + body + jpeg[2:]


def heic(size=(640, 480)) -> bytes:
    pytest.importorskip("pillow_heif")
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    return encode(photo(size), "HEIF", quality=80, exif=exif.tobytes())


# --- helpers ---------------------------------------------------------------------------------------


def storage_tree() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def post(person, data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    return client_for(person).post("/api/v1/files", {"file": SimpleUploadedFile(name, data, content_type)})


def refused(world, data: bytes, name: str = "photo.jpg", *words: str, status: int = 422) -> str:
    before = storage_tree()
    response = post(world.a.worker, data, name)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["field"] == "file"
    assert CJK.search(body["message"]), body
    for word in words:
        assert word in body["message"], body
    assert not StoredFile.objects.exists()
    assert storage_tree() == before
    return body["message"]


def accepted(world, data: bytes, name: str = "photo.jpg") -> StoredFile:
    response = post(world.a.worker, data, name)
    assert response.status_code == 201, response.content
    stored = StoredFile.objects.get(sha256=response.json()["sha256"])
    with stored.file.open("rb") as handle:
        assert handle.read() == data  # the original, byte for byte
    return stored


# --- refused ---------------------------------------------------------------------------------------


def test_zero_bytes(world):
    refused(world, b"", "empty.jpg", "空")


def test_truncated_jpeg(world):
    data = encode(photo(), "JPEG", quality=90)
    refused(world, data[: len(data) // 2], "cut.jpg", "损坏")
    refused(world, data[:-200], "cut.jpg", "损坏")  # only the last bit missing


def test_decompression_bomb_png(world):
    bomb = png_claiming(100_000, 100_000)
    assert len(bomb) < 200  # tiny on disk, ten gigapixels declared
    refused(world, bomb, "bomb.jpg", "像素")


def test_decompression_bomb_jpeg(world):
    refused(world, jpeg_claiming(60_000, 60_000), "bomb.jpg", "像素")


def test_a_real_hundred_megapixel_image(world):
    data = encode(Image.new("L", (10_000, 10_000), 128), "JPEG", quality=50)  # a real 100 MP JPEG
    message = refused(world, data, "huge.jpg", "像素")
    assert "100" in message and str(images.MAX_PIXELS // 1_000_000) in message
    refused(world, encode(Image.new("1", (12_000, 8_400)), "PNG"), "huge.png", "像素")


@pytest.mark.parametrize("name, data", [
    ("report.jpg", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"),
    ("archive.jpg", b"PK\x03\x04" + b"\0" * 26 + b"payload.exe" + os.urandom(200)),
    ("notes.jpg", "这不是照片，是一段文字。\n".encode() * 30),
    ("noise.jpg", os.urandom(4096)),
])
def test_renamed_non_images(world, name, data):
    refused(world, data, name, "无法识别")


@pytest.mark.parametrize("data", [
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<script>alert(document.cookie)</script><rect width="100" height="100"/></svg>',
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>",  # a JPEG signature in front of HTML
])
def test_svg_and_html_named_jpg(world, data):
    refused(world, data, "photo.jpg")


def test_other_image_types_are_refused_by_content(world):
    refused(world, encode(photo((64, 48)), "GIF"), "photo.jpg", "JPEG")
    refused(world, encode(photo((64, 48)), "BMP"), "photo.jpg", "JPEG")
    refused(world, encode(photo((64, 48)), "TIFF"), "photo.jpg", "JPEG")


def test_too_many_bytes(world, monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 1024 * 1024)
    refused(world, encode(photo((1600, 1200)), "PNG"), "big.png", "MB")


def test_garbage_exif_segment_overrunning_the_file_is_refused(world):
    data = with_app1(encode(photo(), "JPEG"), b"Exif\0\0garbage", declared=0xFFF0)
    assert refused(world, data, "photo.jpg") in ("无法识别的图片文件", "图片文件已损坏或不完整")


def test_truncated_heic(world):
    data = heic()
    refused(world, data[: len(data) // 2], "IMG_0001.HEIC")


# --- accepted --------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"Exif\0\0" + bytes(range(256)) * 2,  # not TIFF at all
    b"Exif\0\0MM\0*\0\0\0\x08\xff\xff" + b"\x01" * 100,  # a TIFF header claiming 65535 entries
    b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x2c\x01\0\0",  # Orientation = 300
    b"Exif",  # cut short
])
def test_garbage_exif_is_accepted_and_read_as_nothing(world, body):
    data = with_app1(encode(photo(), "JPEG"), body)
    stored = accepted(world, data)
    assert (stored.width, stored.height) == (800, 600)
    with stored.file.open("rb") as handle:
        image = images.open_checked(handle.read())
        assert images.read_exif(image) == {}  # nothing sane in it: no time, no place, no orientation
        assert images.upright(image).size == (800, 600)


def test_a_valid_heic_is_kept_byte_for_byte_and_shown_as_jpeg(world):
    data = heic((640, 480))
    stored = accepted(world, data, "IMG_0001.HEIC")
    assert stored.content_type in ("image/heic", "image/heif")
    assert (stored.width, stored.height) == (640, 480)
    from django.urls import reverse

    response = client_for(world.a.officer).get(reverse("evidence:thumb", args=[stored.sha256]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).format == "JPEG"


def test_jpeg_png_webp_are_accepted_with_their_real_type(world):
    for fmt, mime in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        stored = accepted(world, encode(photo((320, 240)), fmt), "whatever.bin")
        assert stored.content_type == mime and (stored.width, stored.height) == (320, 240)


def test_a_large_photo_keeps_its_full_size_although_checked_at_reduced_scale(world):
    stored = accepted(world, encode(photo((4000, 3000)), "JPEG", quality=85))
    assert (stored.width, stored.height) == (4000, 3000)


# --- nothing partial when storing fails ------------------------------------------------------------


class FailingContent:
    """Wraps ContentFile so its second chunk fails: a disk that fills up half-way through a write."""

    def __init__(self, real):
        self.real = real

    def __call__(self, data, name=None):
        content = self.real(data, name)
        chunks = content.chunks

        def failing(chunk_size=None):
            for i, chunk in enumerate(chunks(chunk_size=16)):
                if i == 1:
                    raise OSError(28, "No space left on device")
                yield chunk

        content.chunks = failing
        return content


def test_a_write_failing_half_way_leaves_no_file_and_no_row(world):
    before = {p for p in storage_tree() if (Path(settings.MEDIA_ROOT) / p).is_file()}
    from anlian.evidence import services

    with mock.patch.object(services, "ContentFile", FailingContent(services.ContentFile)):
        with pytest.raises(OSError):
            services.store_photo(world.a.worker.user, world.a.unit,
                                 SimpleUploadedFile("p.jpg", encode(photo(), "JPEG"), "image/jpeg"))
    assert not StoredFile.objects.exists()
    assert {p for p in storage_tree() if (Path(settings.MEDIA_ROOT) / p).is_file()} == before


def test_a_failing_row_insert_leaves_no_file(world):
    from anlian.evidence import services

    before = {p for p in storage_tree() if (Path(settings.MEDIA_ROOT) / p).is_file()}
    with mock.patch.object(StoredFile, "save", side_effect=DatabaseError("disk I/O error")):
        with pytest.raises(DatabaseError):
            services.store_photo(world.a.worker.user, world.a.unit,
                                 SimpleUploadedFile("p.jpg", encode(photo(), "JPEG"), "image/jpeg"))
    assert not StoredFile.objects.exists()
    assert {p for p in storage_tree() if (Path(settings.MEDIA_ROOT) / p).is_file()} == before
    # and a photo goes in fine afterwards
    stored = services.store_photo(world.a.worker.user, world.a.unit,
                                  SimpleUploadedFile("p.jpg", encode(photo(), "JPEG"), "image/jpeg"))
    assert stored.pk


def test_the_same_photo_in_another_company_is_a_separate_file_and_row(world):
    data = encode(photo(), "JPEG")
    a = accepted(world, data)
    response = post(world.b.worker, data)
    assert response.status_code == 201
    b = StoredFile.objects.get(company=world.b.unit)
    assert a.sha256 == b.sha256 and a.file.name != b.file.name
