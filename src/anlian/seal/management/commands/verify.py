"""anlian verify [--company ID | --permit NUMBER | --hazard NUMBER | --all] [--no-files]

Exit 0 and a one-line summary when the evidence is intact; exit 1 with the first break named (and
the next few) when it is not. Progress goes to stderr on long runs, so stdout stays the verdict.
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from anlian.flows.models import Instance
from anlian.orgs.models import OrgUnit
from anlian.seal import verify

SHOWN = 10


def merge(reports: list[verify.Report]) -> verify.Report:
    breaks = [b for r in reports for b in r.breaks]
    sealed = [r.checkpoint for r in reports if r.checkpoint]
    return verify.Report(ok=not breaks, events=sum(r.events for r in reports), files=sum(r.files for r in reports),
                         breaks=breaks, checkpoint=max(sealed, key=lambda c: c["sealed_at"]) if sealed else None)


class Command(BaseCommand):
    help = "Recompute the evidence chains and file hashes; exit 1 naming the first break."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--company", type=int, metavar="ID", help="one company (org unit id)")
        which.add_argument("--permit", metavar="NUMBER", help="one permit by its number")
        which.add_argument("--hazard", metavar="NUMBER", help="one hazard by its number")
        which.add_argument("--all", action="store_true", help="every company (the default)")
        parser.add_argument("--no-files", action="store_true", help="skip re-hashing the stored files")
        parser.add_argument("--workers", type=int, metavar="N",
                            help="processes (default: one per CPU, up to 8, from 200,000 events on)")

    def handle(self, *args, **opts):
        files = not opts["no_files"]
        started = time.monotonic()
        if opts["company"] is not None:
            if not OrgUnit.objects.filter(pk=opts["company"]).exists():
                raise CommandError(_("公司 {id} 不存在").format(id=opts["company"]))
            report = verify.verify_company(opts["company"], files=files, progress=self._progress,
                                           workers=opts["workers"])
        elif opts["permit"] or opts["hazard"]:
            number = opts["permit"] or opts["hazard"]
            jobs = Instance.objects.filter(number=number, hazard__isnull=not opts["hazard"]).order_by("pk")
            if not jobs:
                raise CommandError(_("编号为 {n} 的{what}不存在").format(
                    n=number, what=_("隐患") if opts["hazard"] else _("作业票")))
            report = merge([verify.verify_instance(job, files=files) for job in jobs])
        else:
            report = verify.verify_all(files=files, progress=self._progress, workers=opts["workers"])
        self._end_progress()
        seconds = time.monotonic() - started
        if report.ok:
            self.stdout.write(_("完整：{events} 条记录，{files} 个文件，{seal}（用时 {s:.1f} 秒）").format(
                events=report.events, files=report.files, seal=self._seal(report.checkpoint), s=seconds))
            return
        first = report.first_break
        self.stdout.write(_("发现 {n} 处不一致（已检查 {events} 条记录，{files} 个文件）。第一处：{message}").format(
            n=len(report.breaks), events=report.events, files=report.files, message=first.message))
        for more in report.breaks[1:SHOWN]:
            self.stdout.write(f"  - [{more.code}] {more.message}")
        if len(report.breaks) > SHOWN:
            self.stdout.write(_("  … 另有 {n} 处").format(n=len(report.breaks) - SHOWN))
        sys.stdout.flush()
        raise SystemExit(1)

    _shown = False

    def _progress(self, events: int, jobs: int) -> None:
        if events < 50_000 and not self._shown:
            return
        self._shown = True
        self.stderr.write(_("\r已检查 {events} 条记录，{jobs} 个作业…").format(events=events, jobs=jobs), ending="")
        self.stderr.flush()

    def _end_progress(self) -> None:
        if self._shown:
            self.stderr.write("")

    @staticmethod
    def _seal(checkpoint: dict | None) -> str:
        if not checkpoint:
            return _("尚未封签")
        at = timezone.localtime(checkpoint["sealed_at"]).strftime("%Y-%m-%d %H:%M")
        state = _("签名有效") if checkpoint["signature_ok"] else _("签名无效")
        return _("最新封签 #{n}（{at}，{state}）").format(n=checkpoint["number"], at=at, state=state)
