"""The dossier as an A4 PDF (fpdf2) with the CJK font the photo watermark uses embedded.

Cover (facts, integrity, chain head, latest checkpoint, QR code to the verify page), the timeline
with every value, signature and watermarked photo, the check findings and AI reminders, then the
hash of every event and every file. Photos are the evidence pipeline's watermarked display copies,
scaled down for print: the originals stay in the evidence store and in the bundle.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from anlian.core import clock
from anlian.dossiers.services import Dossier, display_copy, local, signature_image

# Pixels on the long edge in the PDF, about 300 dpi at 87 mm wide: about half a display copy (2000-2048
# pixels), which libjpeg decodes at 1/2 scale straight away, with no resampling.
PHOTO_EDGE = 1024
PHOTO_QUALITY = 72
MARGIN = 15
RED, GREEN, GREY, BLACK = (180, 35, 24), (27, 127, 59), (110, 110, 110), (20, 20, 20)


class PdfFontMissing(Exception):
    def message(self) -> str:
        return str(_("服务器未安装中文字体，无法生成 PDF；请联系管理员安装 fonts-wqy-microhei"))


def _jpeg_for_print(data: bytes) -> tuple[io.BytesIO, int, int]:
    image = Image.open(io.BytesIO(data))
    if max(image.size) >= 1.5 * PHOTO_EDGE:
        # libjpeg decodes at 1/2 scale directly (a 2000-2048 pixel display copy: ~1000-1024, no resampling)
        image.draft("RGB", ((image.width + 1) // 2, (image.height + 1) // 2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > 1.1 * PHOTO_EDGE:
        image.thumbnail((PHOTO_EDGE, PHOTO_EDGE), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=PHOTO_QUALITY)
    out.seek(0)
    return out, image.width, image.height


def _qr_png(url: str) -> io.BytesIO:
    import segno

    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=6, border=2)
    out.seek(0)
    return out


def render(dossier: Dossier, progress: Callable[[int, int], None] | None = None) -> tuple[bytes, int]:
    """The PDF bytes and the number of pages; `progress(done, total)` is called as photos are placed."""
    from fpdf import FPDF

    from anlian.evidence.watermark import WatermarkFontMissing, font_path

    try:
        font = font_path()
    except WatermarkFontMissing:
        raise PdfFontMissing() from None
    instance, report = dossier.instance, dossier.report
    head = instance.last_hash

    class Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-10)
            self.set_font("cjk", size=7)
            self.set_text_color(*GREY)
            self.cell(0, 5, _("{number} · 第 {page}/{{nb}} 页 · 链头 {head}").format(
                number=instance.number, page=self.page_no(), head=head[:16]), align="C")
            self.set_text_color(*BLACK)

    pdf = Doc(orientation="P", unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("cjk", "", font)
    pdf.set_title(f"{dossier.kind_label} {instance.number}")
    pdf.set_creator("Anlian")
    width = pdf.w - 2 * MARGIN

    photos = [(e.event_id, r) for e in dossier.entries if e.event_id for p in e.photos for r in p["refs"]
              if r not in p.get("videos", ())]
    total, done = len(photos) + len(dossier.entries), 0
    if progress:
        progress(0, total)

    def line(text: str, size: float = 9, color: tuple[int, int, int] = BLACK, h: float = 5) -> None:
        pdf.set_font("cjk", size=size)
        pdf.set_text_color(*color)
        pdf.multi_cell(0, h, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*BLACK)

    def mono(text: str, size: float = 7.5, color: tuple[int, int, int] = GREY) -> None:
        pdf.set_font("Courier", size=size)
        pdf.set_text_color(*color)
        pdf.multi_cell(0, 3.6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*BLACK)

    # --- cover -------------------------------------------------------------------------------------
    pdf.add_page()
    qr_size = 42
    pdf.image(_qr_png(dossier.verify_url), x=pdf.w - MARGIN - qr_size, y=MARGIN, w=qr_size)
    pdf.set_xy(pdf.w - MARGIN - qr_size, MARGIN + qr_size)
    pdf.set_font("cjk", size=7)
    pdf.multi_cell(qr_size, 3.5, _("扫码验证本档案是否完整"), align="C")
    pdf.set_xy(MARGIN, MARGIN)
    pdf.set_font("cjk", size=20)
    pdf.cell(width - qr_size - 5, 11, dossier.kind_label, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=14)
    pdf.cell(width - qr_size - 5, 8, instance.number, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    label_w = 26
    for label, value in dossier.facts:
        pdf.set_font("cjk", size=9)
        pdf.set_text_color(*GREY)
        pdf.cell(label_w, 6, label)
        pdf.set_text_color(*BLACK)
        pdf.multi_cell(width - qr_size - 5 - label_w if pdf.get_y() < MARGIN + qr_size + 8 else width - label_w, 6,
                       value or "—", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), MARGIN + qr_size + 10))
    pdf.ln(4)
    pdf.set_font("cjk", size=13)
    if report.ok:
        pdf.set_text_color(*GREEN)
        pdf.cell(0, 8, _("完整性：完整（哈希链与文件均与记录一致）"), new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.set_text_color(*RED)
        first = report.first_break
        pdf.multi_cell(0, 8, _("完整性：不完整 — {message}").format(message=first.message if first else ""),
                       new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*BLACK)
    line(_("记录数：{events}　文件数：{files}　照片数：{photos}").format(
        events=report.events, files=len(dossier.files), photos=dossier.photos))
    line(_("链头哈希（最后一条记录）："))
    mono(head or "—", size=9, color=BLACK)
    checkpoint = report.checkpoint
    if checkpoint:
        line(_("最新签章：编号 {id}，时间 {at}，签名{ok}").format(
            id=checkpoint.get("id"), at=_when(checkpoint.get("sealed_at")),
            ok=_("有效") if checkpoint.get("signature_ok") else _("无效")))
        mono(str(checkpoint.get("head") or ""), size=8)
    else:
        line(_("最新签章：尚未签章"))
    pdf.ln(2)
    line(_("验证地址："), size=8, color=GREY)
    mono(dossier.verify_url, size=7)
    pdf.ln(2)
    line(_("生成时间：{t}").format(t=local(clock.now())), size=8, color=GREY)
    line(_("照片均为带水印的展示副本；原始文件按 SHA-256 保存，见文末文件哈希表与证据包。"), size=8, color=GREY)

    # --- timeline ------------------------------------------------------------------------------------
    pdf.add_page()
    line(_("作业过程"), size=15, h=9)
    photo_w = (width - 6) / 2
    for entry in dossier.entries:
        if pdf.get_y() > pdf.h - 50:
            pdf.add_page()
        pdf.set_draw_color(200, 205, 210)
        pdf.line(MARGIN, pdf.get_y(), pdf.w - MARGIN, pdf.get_y())
        pdf.ln(1.5)
        title = f"{entry.step_name} · {entry.label}" if entry.step_name else entry.label
        head_line = f"#{entry.seq}  " if entry.seq else ""
        head_line += f"{_local_seconds(entry.at)}  {title}  {entry.actor}"
        if entry.refused:
            head_line += "  " + _("（被拒绝，未记录）")
        line(head_line, size=10.5, color=RED if entry.refused else BLACK, h=6)
        meta = []
        if entry.device_time:
            meta.append(_("手机时间 {t}").format(t=_local_seconds(entry.device_time)))
        if entry.lat is not None and entry.lng is not None:
            meta.append(_("位置 {lat:.5f}, {lng:.5f}").format(lat=entry.lat, lng=entry.lng))
        if meta:
            line("　".join(meta), size=8, color=GREY, h=4.5)
        for value in entry.values:
            if value.get("checks"):
                line(f"{value['label']}：", size=9)
                for label, answer, _code in value["checks"]:
                    line(f"　· {label}：{answer}", size=9)
            else:
                line(f"{value['label']}：{value.get('text', '')}", size=9)
            if value.get("signature") and entry.event_id:
                data = signature_image(instance, entry.event_id, value["signature"])
                if data:
                    try:
                        out, w, h = _jpeg_for_print(_flatten(data))
                        shown_w = 40
                        if pdf.get_y() + shown_w * h / w > pdf.h - 20:
                            pdf.add_page()
                        pdf.image(out, x=MARGIN + 10, y=pdf.get_y(), w=shown_w)
                        pdf.set_y(pdf.get_y() + shown_w * h / w + 1)
                    except (OSError, ValueError, Image.DecompressionBombError):
                        line(_("（签名图片无法读取）"), size=8, color=RED)
        for label, text in entry.notes:
            line(f"{label}：{text}", size=9)
        for flag in entry.flags:
            line(f"! {flag}", size=9, color=RED)
        x_slot = 0
        row_h = 0.0
        for p in entry.photos:
            for ref in p["refs"]:
                if ref in p.get("videos", ()):
                    line(_("视频（{label}）：{sha}").format(label=p["label"], sha=ref[:16]), size=8, color=GREY)
                    continue
                data = display_copy(instance, entry.event_id, ref) if entry.event_id else None
                done += 1
                if progress and (done % 5 == 0):
                    progress(done, total)
                if data is None:
                    line(_("照片无法读取：{sha}").format(sha=ref[:16]), size=8, color=RED)
                    continue
                out, w, h = _jpeg_for_print(data)
                shown_h = photo_w * h / w
                if x_slot == 0:
                    if pdf.get_y() + shown_h + 5 > pdf.h - 15:
                        pdf.add_page()
                    top = pdf.get_y()
                x = MARGIN + x_slot * (photo_w + 6)
                pdf.image(out, x=x, y=top, w=photo_w)
                pdf.set_xy(x, top + shown_h + 0.5)
                pdf.set_font("cjk", size=7)
                pdf.set_text_color(*GREY)
                pdf.cell(photo_w, 3.5, f"{p['label']} · {ref[:16]}")
                pdf.set_text_color(*BLACK)
                row_h = max(row_h, shown_h + 5)
                x_slot += 1
                if x_slot == 2:
                    pdf.set_xy(MARGIN, top + row_h)
                    x_slot, row_h = 0, 0.0
        if x_slot:
            pdf.set_xy(MARGIN, top + row_h)
        if entry.hash:
            mono(_hash_label(entry.hash))
        pdf.ln(2)
        done += 1
        if progress:
            progress(done, total)

    # --- findings --------------------------------------------------------------------------------------
    pdf.add_page()
    line(_("核查发现与 AI 提醒"), size=15, h=9)
    if dossier.flags:
        for seq, step, text in dossier.flags:
            line(f"#{seq} {step}：{text}", size=9, color=RED)
    else:
        line(_("无：所有照片核查均通过，预审未提出疑点。"), size=9)
    if report.breaks:
        pdf.ln(3)
        line(_("完整性问题"), size=12, h=7)
        for b in report.breaks:
            where = _("第{seq}条记录").format(seq=b.seq) if b.seq else (b.file_sha256 or "")[:16]
            line(f"{where}：{b.message}", size=9, color=RED)

    # --- hashes --------------------------------------------------------------------------------------------
    pdf.ln(4)
    line(_("记录哈希"), size=12, h=7)
    pdf.set_font("Courier", size=7)
    for event in instance.events.order_by("seq").only("seq", "kind", "server_time", "hash"):
        pdf.set_font("cjk", size=7)
        pdf.cell(12, 4, f"#{event.seq}")
        pdf.cell(38, 4, _local_seconds(event.server_time))
        pdf.cell(22, 4, event.kind)
        pdf.set_font("Courier", size=7)
        pdf.cell(0, 4, event.hash, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    line(_("文件哈希（SHA-256）"), size=12, h=7)
    for row in dossier.files:
        pdf.set_font("cjk", size=7)
        pdf.cell(12, 4, f"#{row.seq}")
        pdf.cell(12, 4, row.kind)
        pdf.cell(34, 4, row.label[:16])
        pdf.cell(16, 4, _size(row.size))
        pdf.set_font("Courier", size=7)
        pdf.cell(0, 4, row.sha256, new_x="LMARGIN", new_y="NEXT")
    if progress:
        progress(total, total)
    out = io.BytesIO()
    pdf.output(out)
    return out.getvalue(), pdf.pages_count


def _flatten(data: bytes) -> bytes:
    """A signature PNG (transparent strokes) on white, as JPEG bytes for print."""
    image = Image.open(io.BytesIO(data))
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _hash_label(value: str) -> str:
    return f"sha256 {value}"


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} B"


def _local_seconds(moment: Any) -> str:
    if moment is None:
        return "—"
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _when(value: Any) -> str:
    if hasattr(value, "strftime"):
        return _local_seconds(value)
    return str(value or "—")
