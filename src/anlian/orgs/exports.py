"""File answers for pages: Excel lists, QR labels and person photos."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import segno
from django.http import FileResponse, HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(basename: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    """An .xlsx download with a bold header row; text is always stored as text."""
    book = Workbook()
    sheet = book.active
    sheet.title = basename[:31]
    sheet.append([str(h) for h in headers])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
        for cell in sheet[sheet.max_row]:
            # openpyxl turns any string starting with "=" into a formula: a name typed as
            # "=HYPERLINK(...)" must stay a name when a manager opens the export.
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    for index, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(12, len(str(header)) * 2 + 4)
    out = io.BytesIO()
    book.save(out)
    filename = f"{basename}-{timezone.localdate():%Y%m%d}.xlsx"
    response = HttpResponse(out.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def qr_svg_response(url: str) -> HttpResponse:
    """A QR code of `url` as SVG, locked down so the SVG can never run script in our origin."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="svg", scale=8, border=2, xmldecl=False)
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@cache
def _placeholder_jpeg() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (256, 256), "#e4e7eb")
    draw = ImageDraw.Draw(image)
    draw.ellipse((88, 48, 168, 128), fill="#9aa5b1")       # head
    draw.ellipse((48, 140, 208, 300), fill="#9aa5b1")      # shoulders
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def photo_response(person: Any) -> HttpResponse:
    """The stored (already re-encoded) JPEG of a person, or a neutral silhouette when none."""
    if person.photo:
        response: HttpResponse = FileResponse(person.photo.open("rb"), content_type="image/jpeg")
    else:
        response = HttpResponse(_placeholder_jpeg(), content_type="image/jpeg")
    response["Content-Disposition"] = 'inline; filename="photo.jpg"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=300"
    return response
