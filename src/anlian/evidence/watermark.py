"""The watermark burned into a photo's display copy, and its thumbnail.

The original is never touched: the display copy is a new JPEG, at most DISPLAY_EDGE pixels on the
long edge, with a semi-transparent band at the bottom saying in Chinese who took it for which job and
step, where and when (server and device time). The font size follows the picture's width, so the
text stays about the same size on a phone screen whatever the photo's resolution.

A CJK font is required: ANLIAN_WATERMARK_FONT (setting or environment variable) names one, otherwise
the first of FONT_CANDIDATES that exists and really has Chinese glyphs is used (the project installs
fonts-wqy-microhei: scripts/system-deps.sh). Without one, WatermarkFontMissing is raised: a
watermark of empty boxes would look like evidence and say nothing.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

from anlian.core.images import upright

DISPLAY_EDGE = 2048  # the display copy's long edge at most: sharp on any phone, a fraction of a 12 MP original
# A JPEG original is decoded at 1/2, 1/4 or 1/8 scale as long as its long edge stays at least this
# (a 4000×3000 photo: decoded at 2000×1500, used as it is, no resampling).
DISPLAY_MIN_EDGE = 1600
THUMB_EDGE = 320
DISPLAY_QUALITY = 82
THUMB_QUALITY = 78
BAND_OPACITY = 0.55  # how dark the band behind the text is (0: clear, 1: black)
FONT_PER_WIDTH = 34  # the font is 1/34 of the picture's width: ~11-12 CSS px when shown across a phone

# Where Linux distributions, macOS and Windows keep a CJK font (data, not project paths).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu fonts-wqy-microhei
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora, Arch
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
CJK_PROBE = "安"
MISSING_PROBE = "\U0010fffd"  # a private-use code point no font draws: it shows the font's .notdef box


class WatermarkFontMissing(ImproperlyConfigured):
    pass


def glyph_bitmap(font: ImageFont.FreeTypeFont, text: str) -> tuple[tuple[int, int], bytes]:
    """The pixels `font` draws for `text` (size and bytes), to compare glyphs with each other."""
    mask = font.getmask(text)
    return mask.size, bytes(mask)


def is_cjk_font(path: str) -> bool:
    """Whether the font at `path` draws a real glyph for 安 (not empty, not its missing-glyph box)."""
    try:
        font = ImageFont.truetype(path, 32)
    except OSError:
        return False
    size, pixels = glyph_bitmap(font, CJK_PROBE)
    return any(pixels) and (size, pixels) != glyph_bitmap(font, MISSING_PROBE)


def configured_font() -> str:
    return str(getattr(settings, "ANLIAN_WATERMARK_FONT", "") or os.environ.get("ANLIAN_WATERMARK_FONT", ""))


def font_path() -> str:
    """The CJK font to draw with, or WatermarkFontMissing saying what to install or set."""
    return _font_path(configured_font())


@lru_cache(maxsize=8)
def _font_path(configured: str) -> str:
    if configured:
        if not os.path.isfile(configured):
            raise WatermarkFontMissing(f"ANLIAN_WATERMARK_FONT={configured!r}: no such font file")
        if not is_cjk_font(configured):
            raise WatermarkFontMissing(f"ANLIAN_WATERMARK_FONT={configured!r} has no Chinese glyphs")
        return configured
    for candidate in FONT_CANDIDATES:
        if os.path.isfile(candidate) and is_cjk_font(candidate):
            return candidate
    raise WatermarkFontMissing(
        "No CJK font found for photo watermarks: install fonts-wqy-microhei (scripts/system-deps.sh) "
        "or set ANLIAN_WATERMARK_FONT to a .ttf/.ttc/.otf with Chinese glyphs")


@lru_cache(maxsize=32)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class Stamp:
    """What the band says about one photo of one event."""

    company: str
    number: str  # the job (permit, hazard) number, with the template's name before it
    step: str
    person: str
    server_time: datetime
    device_time: datetime | None = None
    lat: float | None = None
    lng: float | None = None
    area: str = ""
    slot: str = ""

    def lines(self) -> list[str]:
        def when(moment: datetime | None) -> str:
            if moment is None:
                return _("未记录")
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return moment.strftime("%Y-%m-%d %H:%M:%S")

        step = f"{self.step}（{self.slot}）" if self.slot else self.step
        place = (_("未记录") if self.lat is None or self.lng is None
                 else f"{self.lat:.6f}, {self.lng:.6f}")
        return [
            f"{self.company}　{self.number}",
            _("步骤：{step}　人员：{person}").format(step=step, person=self.person),
            _("服务器时间：{server}　设备时间：{device}").format(server=when(self.server_time),
                                                            device=when(self.device_time)),
            _("区域：{area}　坐标：{place}").format(area=self.area or _("未记录"), place=place),
        ]


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """Break `text` into lines no wider than `width` (by character: Chinese has no spaces)."""
    out, line = [], ""
    for char in text:
        if line and draw.textlength(line + char, font=font) > width:
            out.append(line.rstrip())
            line = char.lstrip()
        else:
            line += char
    if line:
        out.append(line)
    return out


def burn(image: Image.Image, lines: list[str]) -> Image.Image:
    """Draw `lines` on a darkened band at the bottom of `image` (RGB), in place; returns `image`."""
    width, height = image.size
    size = max(12, round(width / FONT_PER_WIDTH))
    font = _font(font_path(), size)
    draw = ImageDraw.Draw(image)
    margin = round(size * 0.6)
    wrapped = [part for line in lines for part in _wrap(draw, line, font, width - 2 * margin)]
    step = round(size * 1.3)
    band = min(height, len(wrapped) * step + 2 * margin - (step - size))
    box = (0, height - band, width, height)
    region = image.crop(box)
    image.paste(Image.blend(region, Image.new("RGB", region.size), BAND_OPACITY), box)
    y = height - band + margin
    for line in wrapped:
        draw.text((margin, y), line, font=font, fill=(255, 255, 255))
        y += step
    return image


def prepare(image: Image.Image, edge: int = DISPLAY_EDGE) -> Image.Image:
    """An upright RGB copy of a decoded original, at most `edge` on the long side."""
    image = upright(image)  # always a new image: drawing on it leaves the caller's alone
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))  # transparent areas show as white, not black
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image.thumbnail((edge, edge), Image.Resampling.LANCZOS, reducing_gap=2.0)
    image.info = {}  # nothing of the upload's metadata (comments, EXIF) goes into a copy
    return image


def display_and_thumb(image: Image.Image, stamp: Stamp) -> tuple[Image.Image, Image.Image]:
    """From one decoded original: the watermarked display copy and the (clean) thumbnail."""
    display = prepare(image)
    thumb = display.copy()
    thumb.thumbnail((THUMB_EDGE, THUMB_EDGE), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return burn(display, stamp.lines()), thumb


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
