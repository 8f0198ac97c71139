"""The dossier PDF of a permit with 40 photos: seconds to render, pages and size.

A throw-away installation (its own data folder, SQLite) gets a company, its people and one closed
hot-work permit whose steps carry 40 real JPEG photos (12 MP site scenes with sensor noise drawn with
Pillow as bench/photo_pipeline.py does, ~4-5 MB each, all distinct),
a drawn signature, gas readings and an approval (anlian.dossiers.demo). Then, in the process:

- cold: the PDF made when no watermarked display copy exists yet (the PDF makes all 40 of them);
- warm: the PDF again, display copies present (the usual case: the worker watermarks each step's
  photos when it is recorded).

Each render is the worker's whole job (`dossiers.services.run_export`: collect the events, verify
the chain and files, render, keep the PDF and its SHA-256). A benchmark reports; it always exits 0.
    .venv/bin/python bench/dossier_pdf.py [--photos 40] [--width 4000 --height 3000] [--keep out.pdf]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--keep", help="copy the warm PDF here")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="anlian-bench-dossier-"))
    try:
        django_setup(data_dir)
        run(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def phone_photos(size: tuple[int, int]):
    """Photo-like JPEGs as a phone makes them (bench/photo_pipeline's site scene with sensor noise,
    quality 92, ~4-5 MB at 12 MP), each made distinct by a numbered patch."""
    import io

    from PIL import ImageDraw

    from bench.photo_pipeline import scene

    base = scene(size)

    def make(index: int, label: str) -> bytes:
        image = base.copy()
        draw = ImageDraw.Draw(image)
        w, h = size
        x = (index * 97) % (w - w // 5)
        draw.rectangle([x, h // 12, x + w // 5, h // 12 + h // 8], fill=(20 + index * 5 % 200, 80, 160))
        draw.text((x + w // 60, h // 12 + h // 40), f"{label} #{index}", fill=(255, 255, 255), font_size=w // 40)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=92, subsampling="4:2:0")
        return out.getvalue()

    return make


def run(args: argparse.Namespace) -> None:
    import logging

    from anlian.core import clock
    from anlian.dossiers import demo, services
    from anlian.dossiers.models import DossierExport
    from anlian.orgs import services as orgs
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgKind, Role

    logging.getLogger("fontTools").setLevel(logging.WARNING)
    company = orgs.create_unit(SYSTEM, name="基准港务公司", kind=OrgKind.COMPANY, parent=None)
    plant = orgs.create_unit(SYSTEM, name="一号码头", kind=OrgKind.PLANT, parent=company)
    area = orgs.save_area(SYSTEM, None, org_unit=plant, name="2号罐区", is_outdoor=True, center_lat=30.0,
                          center_lng=120.0, radius_m=200)
    worker = orgs.save_person(SYSTEM, None, org_unit=plant, name="焊工张伟", employee_no="B001")
    orgs.grant_role(SYSTEM, worker, Role.objects.get(code="applicant", owner=None), plant)
    orgs.set_login(SYSTEM, worker, username="bench-worker", password="bench-Password-123")
    worker.refresh_from_db()
    started = time.perf_counter()
    job = demo.make_job(worker, area, photos=args.photos, photo_bytes=phone_photos((args.width, args.height)))
    made = time.perf_counter() - started
    print(f"job {job.number}: {job.events.count()} events, {args.photos} photos of {args.width}x{args.height} "
          f"(made in {made:.1f} s, not timed)")
    results = []
    for label in ("cold (display copies made by the PDF)", "warm (display copies present)"):
        export = DossierExport.objects.create(instance=job, created_at=clock.now(), created_by=worker.user)
        started = time.perf_counter()
        export = services.run_export(export.pk)
        seconds = time.perf_counter() - started
        assert export.status == "done", export.error
        results.append((label, seconds, export))
        print(f"{label}: {seconds:.2f} s, {export.pages} pages, {export.size / 1e6:.1f} MB, sha256 {export.sha256[:16]}…")
    if args.keep:
        with results[-1][2].file.open("rb") as handle:
            Path(args.keep).write_bytes(handle.read())
        print(f"kept {args.keep}")


if __name__ == "__main__":
    main()
