"""All server processing of one 12-megapixel phone photo, against a bare Pillow decode + re-encode.

Per image, in the same process, interleaved:

- ours: `evidence.services.store_photo` (read the upload, check the real type, size and pixel limits,
  decode every byte of it, SHA-256, write the original byte for byte, insert its row), the EXIF read
  the checks use (`core.images.read_exif`), then `evidence.services.watermark_event` for an event that
  carries the photo (decode the original again, upright it, scale it to the display size, burn the
  Chinese watermark band, encode the display JPEG and the thumbnail, write both, insert their rows);
- bare: `Image.open(...).load()` and `save(..., "JPEG", quality=85)` of the same bytes, to memory.

Recording the event itself (flows) is not timed: it is not photo processing. The 12 MP JPEG is made
here: a drawn site scene with sensor-like noise (so it compresses like a photo, ~4-5 MB at quality 92)
and EXIF (camera, capture time, GPS); each repetition changes one EXIF byte so that every upload is a
new file (storage de-duplicates by hash).

Goal (issue 4): ours at most 2× bare. A benchmark reports; it always exits 0. Run:
    .venv/bin/python bench/photo_pipeline.py [--images 15] [--screenshot docs/screenshots/evidence-watermark.jpg]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 2.0
SIZE = (4000, 3000)


def scene(size: tuple[int, int] = SIZE):
    """A made-up photo of a site: sky, tank, pipes, railing, ground, with sensor noise and soft focus."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    sky = Image.linear_gradient("L").resize((w, h))
    image = Image.merge("RGB", (sky.point(lambda v: 150 + v // 3), sky.point(lambda v: 180 + v // 5),
                                sky.point(lambda v: 235 - v // 8)))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, int(h * 0.62), w, h], fill=(96, 92, 84))  # concrete ground
    for x in range(0, w, max(1, w // 40)):  # joints in the concrete
        draw.line([(x, int(h * 0.62)), (x - w // 8, h)], fill=(80, 77, 70), width=max(1, w // 800))
    draw.rectangle([int(w * .18), int(h * .22), int(w * .46), int(h * .66)], fill=(214, 214, 206),
                   outline=(90, 90, 90), width=w // 400)  # a storage tank
    draw.ellipse([int(w * .18), int(h * .17), int(w * .46), int(h * .28)], fill=(200, 200, 194),
                 outline=(90, 90, 90), width=w // 400)
    for i in range(6):  # tank rings
        y = int(h * (.28 + i * .065))
        draw.line([(int(w * .18), y), (int(w * .46), y)], fill=(160, 160, 152), width=w // 1000 + 1)
    draw.rectangle([int(w * .5), int(h * .44), int(w * .98), int(h * .48)], fill=(196, 60, 40))  # a red pipe
    draw.rectangle([int(w * .5), int(h * .52), int(w * .98), int(h * .545)], fill=(230, 190, 40))  # a yellow pipe
    for x in range(int(w * .5), w, w // 30):  # railing posts
        draw.rectangle([x, int(h * .36), x + w // 300, int(h * .63)], fill=(240, 200, 30))
    draw.rectangle([int(w * .62), int(h * .30), int(w * .70), int(h * .40)], fill=(250, 250, 245),
                   outline=(200, 20, 20), width=w // 300)  # a sign
    draw.text((int(w * .635), int(h * .33)), "DANGER", fill=(200, 20, 20), font_size=w // 60)
    image = image.filter(ImageFilter.GaussianBlur(w / 2500))
    noise = Image.merge("RGB", [Image.effect_noise((w, h), 30) for _ in range(3)])
    return Image.blend(image, noise, 0.16)


def photo_jpeg(size: tuple[int, int] = SIZE) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Xiaomi", "23127PN0CC"  # Make, Model
    exif[0x0112] = 1  # Orientation
    exif[0x0132] = "2025:05:19 08:55:02"
    exif.get_ifd(0x8769).update({0x9003: "2025:05:19 08:55:02", 0x9011: "+08:00", 0xA420: "0" * 32})
    exif.get_ifd(0x8825).update({1: "N", 2: (30.0, 7.0, 24.44), 3: "E", 4: (120.0, 39.0, 15.56)})
    out = io.BytesIO()
    scene(size).save(out, "JPEG", quality=92, exif=exif, subsampling="4:2:0")
    return out.getvalue()


def variant(data: bytes, i: int) -> bytes:
    """The same photo with another ImageUniqueID (same length): a new file, the same pixels."""
    marker = b"0" * 32
    return data.replace(marker, f"{i:032x}".encode(), 1)


def django_setup(data_dir: Path) -> None:
    os.environ["ANLIAN_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anlian.settings")
    os.environ.setdefault("ANLIAN_LOG_LEVEL", "WARNING")
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=15)
    parser.add_argument("--screenshot", type=Path, help="also save one watermarked display copy here")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="anlian-bench-photo-"))
    try:
        django_setup(data_dir)
        run(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run(args) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    import anlian.flows.core as core
    from anlian.core.images import read_exif
    from anlian.evidence.models import DerivedFile
    from anlian.evidence.services import store_photo, watermark_event
    from anlian.evidence.watermark import font_path
    from anlian.flows import services as flows
    from anlian.flows.models import FlowTemplate
    from anlian.orgs import services as org
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgKind, Role

    company = org.create_unit(SYSTEM, name="安链化工有限公司", kind=OrgKind.COMPANY, parent=None)
    team = org.create_unit(SYSTEM, name="储运一班", kind=OrgKind.TEAM, parent=company)
    area = org.save_area(SYSTEM, None, org_unit=team, name="东区罐区 T-102", center_lat=30.1234, center_lng=120.6543,
                         radius_m=100)
    worker = org.save_person(SYSTEM, None, org_unit=team, name="张伟", employee_no="W1")
    partner = org.save_person(SYSTEM, None, org_unit=team, name="李强", employee_no="W2")
    org.grant_role(SYSTEM, worker, Role.objects.get(code="applicant", owner=None), team)
    org.set_login(SYSTEM, worker, username="bench", password="bench-password-123")
    version = FlowTemplate.objects.get(key="zero-process", owner=None).published()
    font_path()  # fail before timing if no CJK font

    t = time.perf_counter()
    original = photo_jpeg()
    made_ms = (time.perf_counter() - t) * 1000
    probe = Image.open(io.BytesIO(original))
    print(f"python {sys.version.split()[0]}, Pillow {Image.__version__}, SQLite, files on local disk")
    print(f"photo: {probe.size[0]}×{probe.size[1]} JPEG, {len(original) / 1e6:.2f} MB, EXIF {len(probe.info.get('exif', b''))} B"
          f" (made in {made_ms:.0f} ms)")

    def bare(data: bytes) -> float:
        start = time.perf_counter()
        image = Image.open(io.BytesIO(data))
        image.load()
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        return time.perf_counter() - start

    def ours(data: bytes, i: int) -> tuple[float, float, int]:
        start = time.perf_counter()
        stored = store_photo(worker.user, company, SimpleUploadedFile("IMG.jpg", data, "image/jpeg"))
        exif = read_exif(Image.open(io.BytesIO(data)))
        intake = time.perf_counter() - start
        assert exif.get("taken_at") and "lat" in exif, exif
        job = flows.start(worker.user, version, area)  # not timed: recording the step is not photo work
        event = flows.act(worker.user, job, core.Action(
            "complete", step="enter", values={"partner": str(partner.pk), "place": "T-102 罐顶人孔"},
            photos={"of_partner": [stored.sha256], "of_self": [stored.sha256]},
            device_time=job.started_at, location=(30.123456, 120.654321)))
        start = time.perf_counter()
        made = watermark_event(event.pk)
        derive = time.perf_counter() - start
        assert len(made) == 1
        return intake, derive, event.pk

    ours(variant(original, 10_000), 10_000)  # warm up: imports, font, prepared queries
    bare(original)
    bare_s, intake_s, derive_s, last_event = [], [], [], None
    for i in range(args.images):
        data = variant(original, i)
        bare_s.append(bare(data))
        intake, derive, last_event = ours(data, i)
        intake_s.append(intake)
        derive_s.append(derive)
    ours_s = [a + b for a, b in zip(intake_s, derive_s)]

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:7.1f} ms  best {min(values) * 1000:7.1f} ms"

    print(f"{args.images} images, interleaved")
    print(f"ours (all server processing)     {ms(ours_s)}")
    print(f"  intake: check + hash + store + EXIF   {ms(intake_s)}")
    print(f"  display copy + watermark + thumbnail  {ms(derive_s)}")
    print(f"bare Pillow decode + re-encode   {ms(bare_s)}")
    ratio = statistics.median(ours_s) / statistics.median(bare_s)
    print(f"ratio ours/bare: {ratio:.2f}  (goal ≤ {GOAL:g}: {'PASS' if ratio <= GOAL else 'FAIL'})")
    if args.screenshot:
        display = DerivedFile.objects.get(kind="display", event_id=last_event)
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        with display.file.open("rb") as handle:
            args.screenshot.write_bytes(handle.read())
        print(f"display copy saved to {args.screenshot} ({display.width}×{display.height})")
    print(f"RESULT photo_pipeline ratio={ratio:.2f} goal={GOAL:g}")


if __name__ == "__main__":
    main()
