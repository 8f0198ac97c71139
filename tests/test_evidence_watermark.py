"""Watermarked display copies: burned into a derived JPEG, never into the original; Chinese really drawn;
made once per photo and event; served only to people who may see the job's company and the job."""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from anlian.evidence.services import watermark_event
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

import anlian.flows.core as core
from anlian.evidence import services, watermark
from anlian.evidence.models import DerivedFile, DerivedKind, StoredFile
from anlian.evidence.watermark import Stamp
from anlian.flows import services as flows
from anlian.flows.models import FlowTemplate
from tests.conftest import client_for

CST = timezone(timedelta(hours=8))
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # a font without Chinese, to prove the check


def scene(size=(1600, 1200), seed: int = 1) -> Image.Image:
    """A made-up site photo: sky, ground, a tank, a pipe, sensor noise."""
    w, h = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(h):
        t = y / h
        draw.line([(0, y), (w, y)], fill=(int(120 + 80 * t), int(160 + 50 * t), 230) if t < 0.55
                  else (int(110 - 40 * t), int(100 - 30 * t), int(80 - 20 * t)))
    draw.ellipse([w * 0.2, h * 0.3, w * 0.5, h * 0.8], fill=(190, 190, 185), outline=(60, 60, 60), width=6)
    draw.rectangle([w * 0.55, h * 0.45, w * 0.95, h * 0.5], fill=(200, 40 + seed * 20 % 200, 30))
    noise = Image.effect_noise(size, 18).convert("RGB")
    return Image.blend(image, noise, 0.12).filter(ImageFilter.GaussianBlur(0.6))


def jpeg(image: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, **options)
    return out.getvalue()


@pytest.fixture
def shot(world):
    """A zero-process job of company A whose first step carries two photos, with time and place."""
    a = world.a
    originals = {}
    for slot, seed in (("of_partner", 1), ("of_self", 2)):
        data = jpeg(scene(seed=seed))
        stored = services.store_photo(a.worker.user, a.unit, SimpleUploadedFile("p.jpg", data, "image/jpeg"))
        originals[slot] = (stored, data)
    version = FlowTemplate.objects.get(key="zero-process", owner=None).published()
    now = datetime(2025, 5, 19, 8, 55, 2, tzinfo=CST)
    job = flows.start(a.worker.user, version, a.area, now=now)
    event = flows.act(a.worker.user, job, core.Action(
        "complete", step="enter", values={"partner": str(a.officer.pk), "place": "1号泵房"},
        photos={slot: [stored.sha256] for slot, (stored, _d) in originals.items()},
        device_time=now - timedelta(seconds=7), location=(30.123456, 120.654321)), now=now)
    return event, originals


def display_of(stored: StoredFile, event) -> DerivedFile:
    return DerivedFile.objects.get(original=stored, kind=DerivedKind.DISPLAY, event=event)


def picture(derived: DerivedFile) -> Image.Image:
    with derived.file.open("rb") as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
    return image


def files_in_storage() -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# --- the font --------------------------------------------------------------------------------------


def test_a_cjk_font_is_found_and_draws_chinese_not_boxes():
    path = watermark.font_path()  # fails loudly here when no CJK font is installed
    font = watermark.ImageFont.truetype(path, 40)
    an = watermark.glyph_bitmap(font, "安")
    missing = watermark.glyph_bitmap(font, watermark.MISSING_PROBE)
    assert any(an[1]) and an != missing  # a real glyph for 安, not the .notdef box
    assert watermark.glyph_bitmap(font, "链") not in (an, missing)


def test_the_check_tells_a_font_without_chinese(settings):
    assert os.path.isfile(DEJAVU), "DejaVu Sans is missing: run scripts/system-deps.sh (make test does)"
    assert not watermark.is_cjk_font(DEJAVU)  # 安 comes out as DejaVu's box: the probe sees it
    font = watermark.ImageFont.truetype(DEJAVU, 40)
    assert watermark.glyph_bitmap(font, "安") == watermark.glyph_bitmap(font, watermark.MISSING_PROBE)
    settings.ANLIAN_WATERMARK_FONT = DEJAVU
    with pytest.raises(watermark.WatermarkFontMissing, match="no Chinese glyphs"):
        watermark.font_path()
    settings.ANLIAN_WATERMARK_FONT = "/nonexistent/font.ttc"
    with pytest.raises(watermark.WatermarkFontMissing):
        watermark.font_path()


def test_the_setting_chooses_the_font(settings, tmp_path):
    copy = tmp_path / "my-cjk-font.ttc"
    copy.write_bytes(Path(watermark.font_path()).read_bytes())
    settings.ANLIAN_WATERMARK_FONT = str(copy)
    assert watermark.font_path() == str(copy)


# --- burning ---------------------------------------------------------------------------------------


STAMP = Stamp(company="甲公司", number="三步零流程 LT-20250519-001", step="进入：互拍照片", person="甲公司工人",
              server_time=datetime(2025, 5, 19, 0, 55, 2, tzinfo=timezone.utc),
              device_time=datetime(2025, 5, 19, 8, 54, 55, tzinfo=CST), lat=30.123456, lng=120.654321,
              area="甲公司罐区", slot="本人拍同伴")


def test_the_stamp_says_everything_in_chinese_in_local_time():
    text = "\n".join(STAMP.lines())
    for part in ("甲公司", "LT-20250519-001", "进入：互拍照片", "本人拍同伴", "甲公司工人", "甲公司罐区",
                 "服务器时间：2025-05-19 08:55:02", "设备时间：2025-05-19 08:54:55", "30.123456, 120.654321"):
        assert part in text, part
    bare = Stamp(company="甲", number="X-1", step="巡检", person="乙", server_time=STAMP.server_time)
    assert "设备时间：未记录" in "\n".join(bare.lines()) and "坐标：未记录" in "\n".join(bare.lines())


def test_chinese_text_is_drawn_in_the_band():
    base = Image.new("RGB", (1600, 1200), (120, 130, 140))
    with_text = watermark.burn(base.copy(), STAMP.lines())
    blank = watermark.burn(base.copy(), ["　"] * len(STAMP.lines()))  # the same band, ideographic spaces
    band = (0, 900, 1600, 1200)
    assert ImageChops.difference(base, blank).getbbox()[1] > 800  # the band darkens only the bottom
    diff = ImageChops.difference(with_text.crop(band), blank.crop(band)).convert("L")
    changed = sum(diff.point(lambda v: 255 if v > 64 else 0).histogram()[255:])
    assert changed > 5000  # glyph strokes, not a few stray pixels
    bright = with_text.crop(band).convert("L").point(lambda v: 255 if v > 200 else 0).histogram()[255]
    assert bright > 3000  # white text on the dark band
    assert ImageChops.difference(with_text.crop((0, 0, 1600, 600)), base.crop((0, 0, 1600, 600))).getbbox() is None


def test_the_font_grows_with_the_picture():
    small = watermark.burn(Image.new("RGB", (800, 600), "gray"), STAMP.lines())
    large = watermark.burn(Image.new("RGB", (1600, 1200), "gray"), STAMP.lines())

    def band_height(image):
        column = [image.getpixel((image.width - 1, y)) for y in range(image.height)]
        return sum(1 for p in column if p != (128, 128, 128))

    assert 1.8 < band_height(large) / band_height(small) < 2.2


# --- the service and the task ----------------------------------------------------------------------


def test_the_task_makes_a_watermarked_display_copy_and_keeps_the_original(shot):
    event, originals = shot
    watermark_event(event.pk)  # what the worker's sweep does (flows.tasks)
    for slot, (stored, data) in originals.items():
        with stored.file.open("rb") as handle:
            assert handle.read() == data  # the original, untouched
        shown = picture(display_of(stored, event))
        assert shown.format == "JPEG" and shown.size == (1600, 1200)
        plain = watermark.prepare(Image.open(io.BytesIO(data)))
        top = ImageStat.Stat(ImageChops.difference(shown.crop((0, 0, 1600, 700)), plain.crop((0, 0, 1600, 700))))
        bottom = ImageStat.Stat(ImageChops.difference(shown.crop((0, 1000, 1600, 1200)),
                                                      plain.crop((0, 1000, 1600, 1200))))
        assert max(top.mean) < 3  # only JPEG noise above the band
        assert min(bottom.mean) > 20  # the band is there
        thumb = DerivedFile.objects.get(original=stored, kind=DerivedKind.THUMB, event=None)
        assert max(picture(thumb).size) == watermark.THUMB_EDGE
    assert DerivedFile.objects.count() == 4


def test_a_large_photo_gets_a_display_copy_of_bounded_size():
    exif = Image.Exif()
    exif[0x0112] = 6  # taken sideways: shown upright
    big = Image.open(io.BytesIO(jpeg(scene((4000, 3000)), exif=exif)))
    assert watermark.prepare(big).size == (1536, 2048)
    shown, thumb = watermark.display_and_thumb(big, STAMP)
    assert shown.size == (1536, 2048) and thumb.size == (240, 320)


def test_running_again_makes_nothing_new(shot):
    event, _originals = shot
    watermark_event(event.pk)  # what the worker's sweep does (flows.tasks)
    names = sorted(DerivedFile.objects.values_list("file", flat=True))
    before = files_in_storage()
    watermark_event(event.pk)  # what the worker's sweep does (flows.tasks)
    services.watermark_event(event.pk)
    assert sorted(DerivedFile.objects.values_list("file", flat=True)) == names
    assert files_in_storage() == before


def test_events_without_photos_and_unknown_events_are_nothing_to_do(shot):
    event, _originals = shot
    start = event.instance.events.get(seq=1)
    assert services.watermark_event(start.pk) == []
    assert services.watermark_event(999_999) == []
    assert not DerivedFile.objects.exists()


def test_a_heic_photo_gets_a_jpeg_display_copy(world):
    pytest.importorskip("pillow_heif")
    a = world.a
    out = io.BytesIO()
    scene((1200, 900)).save(out, "HEIF", quality=70)
    stored = services.store_photo(a.worker.user, a.unit, SimpleUploadedFile("IMG.HEIC", out.getvalue(), "image/heic"))
    version = FlowTemplate.objects.get(key="zero-process", owner=None).published()
    job = flows.start(a.worker.user, version, a.area)
    other = services.store_photo(a.worker.user, a.unit, SimpleUploadedFile("p.jpg", jpeg(scene(seed=5)), "image/jpeg"))
    event = flows.act(a.worker.user, job, core.Action(
        "complete", step="enter", values={"partner": str(a.officer.pk), "place": "泵房"},
        photos={"of_partner": [stored.sha256], "of_self": [other.sha256]}))
    services.watermark_event(event.pk)
    shown = picture(display_of(stored, event))
    assert shown.format == "JPEG" and shown.size == (1200, 900)
    with stored.file.open("rb") as handle:
        assert handle.read() == out.getvalue()


# --- the view --------------------------------------------------------------------------------------


def test_the_display_copy_is_served_locked_down(world, shot):
    event, originals = shot
    watermark_event(event.pk)  # what the worker's sweep does (flows.tasks)
    stored, _data = originals["of_self"]
    url = reverse("evidence:display", kwargs={"sha256": stored.sha256, "event_id": event.pk})
    response = client_for(world.a.officer).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'"
    assert response["Content-Disposition"].startswith("inline")
    with display_of(stored, event).file.open("rb") as handle:
        assert response.content == handle.read()
    thumb = client_for(world.a.worker).get(reverse("evidence:thumb", args=[stored.sha256]))
    assert max(Image.open(io.BytesIO(thumb.content)).size) == watermark.THUMB_EDGE


def test_a_missing_display_copy_is_made_on_demand(world, shot):
    event, originals = shot
    stored, _data = originals["of_partner"]
    url = reverse("evidence:display", kwargs={"sha256": stored.sha256, "event_id": event.pk})
    assert client_for(world.a.worker).get(url).status_code == 200
    assert display_of(stored, event)


def test_another_company_strangers_and_wrong_pairs_get_nothing(world, shot):
    event, originals = shot
    watermark_event(event.pk)  # what the worker's sweep does (flows.tasks)
    stored, _data = originals["of_partner"]
    url = reverse("evidence:display", kwargs={"sha256": stored.sha256, "event_id": event.pk})
    assert client_for(world.b.admin).get(url).status_code == 404
    assert client_for(world.b.worker).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client = client_for(world.a.officer)
    start = event.instance.events.get(seq=1)  # an event of the same job that does not carry this photo
    for sha, event_id in ((stored.sha256, start.pk), (stored.sha256, 999_999), ("0" * 64, event.pk),
                          ("abc", event.pk)):
        assert client.get(f"/files/{sha}/display/{event_id}/").status_code == 404
    assert DerivedFile.objects.filter(event=start).count() == 0


def test_the_same_photo_in_company_b_is_not_a_way_into_company_a(world, shot):
    """B stores the very same bytes: B has a file with that hash, but A's event stays A's."""
    event, originals = shot
    stored, data = originals["of_partner"]
    services.store_photo(world.b.worker.user, world.b.unit, SimpleUploadedFile("p.jpg", data, "image/jpeg"))
    url = reverse("evidence:display", kwargs={"sha256": stored.sha256, "event_id": event.pk})
    assert client_for(world.b.admin).get(url).status_code == 404
    assert not DerivedFile.objects.exists()
