"""`anlian retention`: list the ended jobs past their retention; `--apply` deletes them, each
leaving a tombstone in its company's chain (anlian.flows.retention)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand

from anlian.flows import retention


class Command(BaseCommand):
    help = "List (or with --apply delete) ended jobs past their retention period, leaving tombstones."

    def add_arguments(self, parser):
        parser.add_argument("--apply", action="store_true", help="delete them (default: only list)")
        parser.add_argument("--company", type=int, help="only this company (org unit id)")

    def handle(self, *args, **options):
        items = retention.due(company_id=options["company"])
        for item in items:
            self.stdout.write(f"{item.number}\t{item.kind}\t{item.ended_at:%Y-%m-%d}\t"
                              f"保留{retention.days_for(item.kind)}天")
        if not options["apply"]:
            self.stdout.write(f"到期可删除：{len(items)} 项（加 --apply 删除）")
            return

        def progress(done: int, total: int) -> None:
            sys.stderr.write(f"\r已删除 {done}/{total}")

        stones = retention.apply(company_id=options["company"], progress=progress)
        if stones:
            sys.stderr.write("\n")
        self.stdout.write(f"已删除 {len(stones)} 项，留下删除记录并重新封签")
