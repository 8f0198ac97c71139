"""Checked video intake for slots that accept a short clip (≤ 60 s by default).

A clip is opened with PyAV (FFmpeg's demuxers and decoders): the container must be MP4/MOV or
WebM/Matroska, hold a video stream, last no longer than the limit, and its first frame must decode
— a renamed file or a truncated upload is refused with a reason a worker understands. The original
is kept byte for byte like a photo; the first frame becomes the poster shown in lists.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

MAX_BYTES = 60 * 1024 * 1024
# Magic numbers: an ISO base media file (MP4/MOV) names its brand in an `ftyp` box at byte 4;
# WebM/Matroska starts with the EBML header.
_FTYP, _EBML = b"ftyp", b"\x1a\x45\xdf\xa3"
# HEIC/HEIF/AVIF photos are ISO base media files too: their brands mark them as still images.
_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


class VideoRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Clip:
    content_type: str
    seconds: float
    width: int
    height: int
    poster_jpeg: bytes


def looks_like_video(data: bytes) -> bool:
    if data[4:8] == _FTYP:
        return data[8:12] not in _IMAGE_BRANDS
    return data[:4] == _EBML


def max_seconds() -> int:
    return int(getattr(settings, "ANLIAN_VIDEO_MAX_SECONDS", 60))


def check_clip(data: bytes) -> Clip:
    """Open the clip fully enough to trust it, or raise VideoRejected."""
    import av  # imported here: only slots that take video need FFmpeg loaded

    if not data:
        raise VideoRejected(_("文件是空的"))
    if len(data) > MAX_BYTES:
        raise VideoRejected(_("视频不能超过{mb}MB").format(mb=MAX_BYTES // (1024 * 1024)))
    if not looks_like_video(data):
        raise VideoRejected(_("只接受 MP4 或 WebM 视频"))
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            kind = container.format.name
            if not any(name in kind.split(",") for name in ("mp4", "mov", "webm", "matroska")):
                raise VideoRejected(_("只接受 MP4 或 WebM 视频"))
            if not container.streams.video:
                raise VideoRejected(_("文件中没有视频画面"))
            stream = container.streams.video[0]
            seconds = _seconds(container, stream)
            if seconds is None:
                raise VideoRejected(_("无法读取视频时长，文件可能已损坏"))
            if seconds > max_seconds():
                raise VideoRejected(_("视频不能超过{limit}秒（此视频{seconds}秒）").format(
                    limit=max_seconds(), seconds=round(seconds)))
            frame = next(container.decode(stream), None)
            if frame is None:
                raise VideoRejected(_("视频无法播放，文件可能已损坏"))
            poster = io.BytesIO()
            frame.to_image().convert("RGB").save(poster, "JPEG", quality=80)
            content_type = "video/webm" if "webm" in kind or "matroska" in kind else "video/mp4"
            return Clip(content_type, seconds, stream.codec_context.width, stream.codec_context.height,
                        poster.getvalue())
    except VideoRejected:
        raise
    except (av.error.FFmpegError, ValueError, StopIteration, OSError):
        raise VideoRejected(_("视频无法播放，文件可能已损坏")) from None


def _seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None
