"""Screenshots of the Excel import pages (desktop, Chinese; the error list on a phone too): the
list of batches, the upload form, a batch being checked, a batch with per-row errors and one
ready to confirm.

Self-contained: builds a throw-away database with the demo organisation and three uploaded sheets
(checked by calling the worker's task here), serves it on loopback, and drives headless Chromium
through Playwright (the system Chromium: CHROMIUM, default /usr/bin/chromium).

    python scripts/screenshots_imports.py [--out docs/screenshots]
"""

from __future__ import annotations

import io
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots_permits import DESKTOP, PHONE, chromium, live_server, login, prepare, shoot  # noqa: E402


def sheet(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    from anlian.workforce.importing import PeopleSheet

    book = Workbook(write_only=True)
    data = book.create_sheet()
    data.append([c.header for c in PeopleSheet.columns])
    for row in rows:
        data.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def people(count: int, path: str) -> list[list]:
    from anlian.core.codes import id18_check_char

    rows = []
    for n in range(count):
        first17 = f"330203{date(1975, 1, 1) + timedelta(days=n * 37):%Y%m%d}{n % 1000:03d}"
        rows.append([path, f"新员工{n:03d}", f"N{n:04d}", f"139{n:08d}", first17 + id18_check_char(first17),
                     date(2025, 6, 1) + timedelta(days=n % 20), "装卸工", ""])
    return rows


def build_data() -> dict[str, str]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from anlian.orgs import demo
    from anlian.orgs.models import OrgUnit, Person
    from anlian.workforce import importing
    from anlian.workforce.models import ImportBatch, ImportStatus

    demo.load()
    admin = Person.objects.get(user__username="port-admin")
    company = OrgUnit.objects.get(name="临海港务股份有限公司")
    team = OrgUnit.objects.filter(path__startswith=company.path, kind="team").order_by("path").first()
    path = importing.Units(company).path_of[team.pk]

    def upload(name: str, rows: list[list]) -> ImportBatch:
        batch = importing.upload(admin.user, kind="people", org_unit=company,
                                 file=SimpleUploadedFile(name, sheet(rows), content_type=importing.XLSX))
        importing.check_import.call_local(batch.pk)  # no worker runs here: check in this process
        batch.refresh_from_db()
        return batch

    ready = upload("三月新员工.xlsx", people(240, path))
    rows = people(300, path)
    rows[4][5] = "2025-13-01"
    rows[9][0] = "五号码头/夜班"
    rows[15][2] = rows[14][2]
    rows[22][4] = rows[22][4][:17] + ("0" if rows[22][4][17] != "0" else "1")
    rows[30][1] = ""
    rows[41][3] = "139-0000-1111"
    rows[57][7] = "某某劳务公司"
    rows[63][5] = "下周一"
    invalid = upload("四月新员工（有错）.xlsx", rows)
    checking = upload("全员名册.xlsx", people(60, path))
    ImportBatch.objects.filter(pk=checking.pk).update(status=ImportStatus.CHECKING, total_rows=10_000,
                                                      processed_rows=3_500)
    return {
        "list": reverse("workforce:imports"),
        "new": reverse("workforce:import_new") + "?kind=people",
        "ready": reverse("workforce:import", args=[ready.pk]),
        "invalid": reverse("workforce:import", args=[invalid.pk]),
        "checking": reverse("workforce:import", args=[checking.pk]),
    }


def main() -> None:
    out = prepare(__doc__.splitlines()[0])
    urls = build_data()

    with live_server() as base, chromium() as browser:
        page = browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page()
        login(page, base, "port-admin")
        shoot(page, base, urls["list"], out, "import-list", full=False)
        shoot(page, base, urls["new"], out, "import-upload", full=False)
        shoot(page, base, urls["checking"], out, "import-checking", full=False)
        shoot(page, base, urls["invalid"], out, "import-errors", full=True)
        shoot(page, base, urls["ready"], out, "import-ready", full=False)

        phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                    locale="zh-CN").new_page()
        login(phone, base, "port-admin")
        shoot(phone, base, urls["invalid"], out, "import-errors-phone", full=False)


if __name__ == "__main__":
    main()
