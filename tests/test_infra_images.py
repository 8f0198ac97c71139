"""core.images: only real JPEG/PNG/WebP pictures get in, re-encoded; everything else is refused with a reason."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from anlian.core import images
from anlian.core.images import ImageRejected, open_checked, reencode_jpeg


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def photo(size=(64, 48), mode="RGB") -> Image.Image:
    image = Image.new(mode, size)
    for x in range(size[0]):  # some content, so the encoders have something to keep
        image.putpixel((x, x % size[1]), (255, 0, 0) if mode == "RGB" else 255)
    return image


def png_claiming(width: int, height: int) -> bytes:
    """A small, valid PNG whose header claims another size (how a decompression bomb looks)."""
    data = bytearray(encode(Image.new("1", (8, 8)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def upload(data: bytes, name: str = "photo.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def rejected(data: bytes) -> str:
    with pytest.raises(ImageRejected) as exc:
        reencode_jpeg(upload(data), max_edge=1024)
    assert exc.value.reason
    return exc.value.reason


# --- refusals --------------------------------------------------------------------------------------


def test_zero_bytes():
    assert "空" in rejected(b"")


def test_truncated_jpeg():
    data = encode(photo((400, 300)), "JPEG", quality=95)
    assert "损坏" in rejected(data[: len(data) // 2])


def test_truncated_png():
    data = encode(photo((400, 300)), "PNG")
    assert rejected(data[: len(data) - 40])


def test_text_file():
    assert "无法识别" in rejected("这不是图片，只是一段文字。\n".encode() * 20)


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    b"<!doctype html><html><body><script>document.location='//evil'</script></body></html>",
    b"\xff\xd8\xff<html><script>alert(1)</script></html>",  # a JPEG signature in front of HTML
])
def test_markup_named_jpg(payload):
    assert rejected(payload)


def test_other_image_formats_are_refused():
    assert "JPEG" in rejected(encode(photo(), "GIF"))
    assert "JPEG" in rejected(encode(photo(), "BMP"))
    assert "JPEG" in rejected(encode(photo(), "TIFF"))


def test_decompression_bomb():
    bomb = png_claiming(20_000, 20_000)
    assert len(bomb) < 200  # tiny on disk, 400 megapixels claimed
    assert "像素" in rejected(bomb)


def test_sixty_megapixels():
    data = encode(Image.new("1", (10_000, 6_000)), "PNG")  # a real 60 MP picture, small on disk
    reason = rejected(data)
    assert "60" in reason and "50" in reason
    assert "像素" in rejected(png_claiming(8_000, 7_500))


def test_too_many_bytes():
    big = b"\xff\xd8" + b"\0" * images.MAX_BYTES
    assert "MB" in rejected(big)
    with pytest.raises(ImageRejected):
        open_checked(big)


# --- accepted pictures -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, mode, options", [
    ("JPEG", "RGB", {}),
    ("JPEG", "CMYK", {}),
    ("JPEG", "L", {}),
    ("PNG", "RGBA", {}),
    ("PNG", "P", {}),
    ("PNG", "1", {}),
    ("PNG", "I;16", {}),
    ("WEBP", "RGB", {}),
    ("WEBP", "RGBA", {"lossless": True}),
    ("MPO", "RGB", {"save_all": True, "append_images": [Image.new("RGB", (64, 48))]}),  # many phones write MPO
])
def test_real_pictures_are_reencoded_to_jpeg(fmt, mode, options):
    source = Image.new(mode, (64, 48))
    result = reencode_jpeg(upload(encode(source, fmt, **options)), max_edge=1024)
    assert result.name.endswith(".jpg")
    out = Image.open(io.BytesIO(result.read()))
    assert out.format == "JPEG" and out.mode == "RGB" and out.size == (64, 48)


def test_reencoding_shrinks_to_max_edge_and_drops_metadata():
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    source = encode(photo((1600, 1200)), "JPEG", exif=exif, comment=b"<script>")
    result = Image.open(io.BytesIO(reencode_jpeg(upload(source), max_edge=800).read()))
    assert result.size == (800, 600)
    assert 0x010F not in result.getexif()
    assert b"<script>" not in result.info.get("comment", b"")


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    source = encode(photo((80, 40)), "JPEG", exif=exif)
    result = Image.open(io.BytesIO(reencode_jpeg(upload(source), max_edge=1024).read()))
    assert result.size == (40, 80)


def test_the_bytes_served_are_never_the_bytes_uploaded():
    data = encode(photo(), "JPEG")
    assert reencode_jpeg(upload(data), max_edge=1024).read() != data
