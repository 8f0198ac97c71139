"""One alarm to 1,000 recipients through the delivery engine, against a bare HTTP client posting
the same requests, in the same run.

A local HTTP/1.1 server (a separate process, keep-alive, answers 200 to everything) stands in for
the services. Per round:

- ours: `notify()` one critical alarm to N people with an outbound webhook channel and an HTTP
  SMS gateway channel (each person has a phone), then `send_due()` until nothing is due: the
  Message, 2N+1 Delivery rows, N in-app notices (the inbox transport), N signed SMS-gateway
  POSTs and one signed webhook POST, each outcome recorded on its row;
- bare: one `httpx.Client` (keep-alive) posting the same N+1 JSON bodies with the same headers,
  and nothing else (no database, no inbox).

The ratio is ours / bare per HTTP request (both totals divided by N+1), so ours also carries the
database work and the N in-app notices the bare client does not do. Goal (issue 7): ≤ 1.5.
A benchmark reports; it always exits 0.

    .venv/bin/python bench/notify_fanout.py [--recipients 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.5

SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the services are
    # One segment per answer (headers and body buffered together, no Nagle): otherwise a
    # keep-alive client waits out the 40 ms delayed ACK on every request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    count = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Handler.count += 1
        self._answer(b'{"ok":true}')

    def do_GET(self):
        self._answer(str(Handler.count).encode())

    def _answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def setup_django(data: Path) -> None:
    os.environ["ANLIAN_DATA_DIR"] = str(data)
    os.environ["DJANGO_SETTINGS_MODULE"] = "anlian.settings"
    os.environ["ANLIAN_LOG_LEVEL"] = "WARNING"
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build(recipients: int, base: str):
    from anlian.notify.models import Channel
    from anlian.orgs import services as org
    from anlian.orgs.access import SYSTEM
    from anlian.orgs.models import OrgKind, Person

    company = org.create_unit(SYSTEM, name="基准公司", kind=OrgKind.COMPANY, parent=None)
    team = org.create_unit(SYSTEM, name="基准班组", kind=OrgKind.TEAM, parent=company)
    Person.objects.bulk_create(Person(org_unit=team, company=company, name=f"工人{i}", employee_no=f"W{i:05}",
                                      phone=f"139{i:08}") for i in range(recipients))
    people = list(Person.objects.filter(company=company))
    channels = [
        Channel.objects.create(company=company, kind="webhook", name="值班系统",
                               config={"url": f"{base}/hook", "secret": "bench-secret"}),
        Channel.objects.create(company=company, kind="sms_http", name="短信网关",
                               config={"url": f"{base}/sms", "token": "bench-token"}),
    ]
    return company, people, channels


def ours(company, people, channels, key: str) -> tuple[float, dict]:
    from anlian.notify import delivery

    started = time.perf_counter()
    delivery.notify(company, key=key, event="gas_alarm", title="可燃气体报警：1号罐区",
                    body="1号罐区 LEL 25%，请立即撤离并检查泄漏点。", url="/hazards/1/", severity="critical",
                    to=people, channels=channels)
    counts: dict = {}
    while True:
        done = delivery.send_due(limit=10_000)
        if not done:
            break
        for status, n in done.items():
            counts[status] = counts.get(status, 0) + n
    return time.perf_counter() - started, counts


def bare(people, base: str, key: str) -> float:
    """The same requests from one keep-alive client: the webhook's signed body and each SMS."""
    import hashlib
    import hmac

    import httpx

    started = time.perf_counter()
    with httpx.Client(timeout=10) as client:
        stamp = str(int(time.time()))
        body = json.dumps({"id": key, "event": "gas_alarm", "title": "可燃气体报警：1号罐区",
                           "text": "1号罐区 LEL 25%，请立即撤离并检查泄漏点。", "url": "http://x/hazards/1/",
                           "severity": "critical", "sent_at": stamp}, ensure_ascii=False, separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(b"bench-secret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        client.post(f"{base}/hook", content=body, headers={
            "Content-Type": "application/json; charset=utf-8", "X-Anlian-Timestamp": stamp,
            "X-Anlian-Signature": signature, "Idempotency-Key": key}).raise_for_status()
        for person in people:
            client.post(f"{base}/sms", json={"phone": person.phone, "text": "可燃气体报警：1号罐区", "id": key},
                        headers={"Authorization": "Bearer bench-token", "Idempotency-Key": key}).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="anlian-bench-"))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        wait_up(port)
        setup_django(data)
        import httpx

        base = f"http://127.0.0.1:{port}"
        company, people, channels = build(args.recipients, base)
        requests = args.recipients + 1
        bare(people[:20], base, "warm-up")  # imports and the first connection, on both sides
        ours_times, bare_times = [], []
        for n in range(args.rounds):
            spent, counts = ours(company, people, channels, f"alarm-{n}")
            expected = 2 * args.recipients + 1
            if counts.get("sent") != expected:
                raise SystemExit(f"ours did not send everything: {counts} (expected {expected} sent)")
            ours_times.append(spent)
            bare_times.append(bare(people, base, f"alarm-{n}"))
        received = int(httpx.get(f"{base}/count").text)
        ours_ms = statistics.median(ours_times) / requests * 1000
        bare_ms = statistics.median(bare_times) / requests * 1000
        ratio = ours_ms / bare_ms
        print(f"python {sys.version.split()[0]}, SQLite, {args.recipients} recipients × (inbox + SMS gateway) "
              f"+ 1 webhook = {2 * args.recipients + 1} deliveries, {requests} HTTP requests per round, "
              f"{args.rounds} rounds; the server received {received} requests in all")
        print(f"ours (notify + send_due)        {ours_ms:7.3f} ms/request   round median "
              f"{statistics.median(ours_times):6.2f} s  ({', '.join(f'{t:.2f}' for t in ours_times)})")
        print(f"bare httpx client (keep-alive)  {bare_ms:7.3f} ms/request   round median "
              f"{statistics.median(bare_times):6.2f} s  ({', '.join(f'{t:.2f}' for t in bare_times)})")
        print(f"ratio ours/bare: {ratio:.2f}  (goal ≤ {GOAL:g}: {'PASS' if ratio <= GOAL else 'FAIL'})")
        print(f"RESULT notify_fanout ratio={ratio:.2f} goal={GOAL:g}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
