"""`anlian serve`: the web server (gunicorn) and, unless told otherwise, the task worker beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Anlian on HOST:PORT with gunicorn, and start the task worker next to it."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("ANLIAN_BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("ANLIAN_WEB_WORKERS", "2")))
        parser.add_argument("--no-worker", action="store_true", help="do not start the task worker")

    def handle(self, *args, bind: str, workers: int, no_worker: bool, **options):
        worker = None
        if not no_worker:
            worker = subprocess.Popen([sys.executable, "-m", "anlian", "worker"])
        web_cmd = [
            sys.executable, "-m", "gunicorn", "anlian.wsgi:application", "--bind", bind,
            "--workers", str(workers), "--threads", "4", "--access-logfile", "-",
            "--forwarded-allow-ips", os.environ.get("ANLIAN_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        ]
        self.stdout.write(f"Anlian on http://{bind}/ (database: {settings.DATABASES['default']['ENGINE']})")
        web = subprocess.Popen(web_cmd)

        def stop(signum, frame):
            for proc in (web, worker):
                if proc and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        code = web.wait()
        stop(None, None)
        if worker:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:  # never leave an orphan worker behind
                worker.kill()
                worker.wait()
        sys.exit(code)
