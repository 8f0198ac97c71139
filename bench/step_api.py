"""Step submissions per second through the real HTTP stack, against a bare Django JSON view.

Both run in the same gunicorn server (one sync worker, the product's settings and middleware, a
fresh SQLite database in a temporary folder), called over TCP by one client, one request at a time:

- ours: POST /api/v1/instances/{id}/actions completing a step of the three-step zero process
  (token auth, JSON parsing, scope check, row lock, engine decide/apply with photo and person
  references checked, one hash-chained event appended, cached status refreshed);
- floor: POST /bench/bare parsing the same JSON body and answering a small JSON object;
- for reference only: POST /bench/record/{id}, the least a hand-written Django endpoint recording
  a step does (token look-up, row lock, one event row, one update; no checks) — it shows how much
  of our time is the database work any recording endpoint pays.

Goal (issue 3): ours at most 3× the floor's time per request. A benchmark reports; it always
exits 0. Run:  .venv/bin/python bench/step_api.py [--jobs 100]
"""

from __future__ import annotations

import argparse
import http.client
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
SETTINGS = "bench.step_settings"
GOAL = 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(env: dict[str, str], jobs: int) -> dict:
    """Migrate, then create the people, a photo and `jobs` started zero-process jobs."""
    script = f"""
import django, io, json
django.setup()
from PIL import Image
from django.core.files.uploadedfile import SimpleUploadedFile
from anlian.accounts.tokens import issue_token
from anlian.evidence.services import store_photo
from anlian.flows import services
from anlian.flows.models import FlowTemplate
from anlian.orgs import services as org
from anlian.orgs.access import SYSTEM
from anlian.orgs.models import OrgKind, Role

company = org.create_unit(SYSTEM, name="基准公司", kind=OrgKind.COMPANY, parent=None)
team = org.create_unit(SYSTEM, name="基准班组", kind=OrgKind.TEAM, parent=company)
area = org.save_area(SYSTEM, None, org_unit=team, name="基准区域")
worker = org.save_person(SYSTEM, None, org_unit=team, name="工人", employee_no="W1")
partner = org.save_person(SYSTEM, None, org_unit=team, name="同伴", employee_no="W2")
org.grant_role(SYSTEM, worker, Role.objects.get(code="applicant", owner=None), team)
org.set_login(SYSTEM, worker, username="bench", password="bench-password-123")
buf = io.BytesIO(); Image.new("RGB", (64, 48), (10, 20, 30)).save(buf, "JPEG")
photo = store_photo(worker.user, company, SimpleUploadedFile("p.jpg", buf.getvalue(), content_type="image/jpeg"))
version = FlowTemplate.objects.get(key="zero-process", owner=None).published()
ids = [services.start(worker.user, version, area).pk for _ in range({jobs})]
spare = [services.start(worker.user, version, area).pk for _ in range({jobs})]
_token, secret = issue_token(worker.user, "bench")
print(json.dumps({{"ids": ids, "spare": spare, "token": secret, "photo": photo.sha256,
                  "partner": str(partner.pk)}}))
"""
    subprocess.run([sys.executable, "-m", "anlian", "migrate", "--noinput", "-v", "0"], env=env, check=True,
                   cwd=ROOT)
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=ROOT, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def wait_up(port: int) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def post(port: int, path: str, body: dict, token: str) -> tuple[int, float]:
    data = json.dumps(body).encode()
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", path, data, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - started


def steps(ctx: dict) -> list[tuple[int, dict]]:
    photo = [ctx["photo"]]
    bodies = [
        {"kind": "complete", "step": "enter", "values": {"partner": ctx["partner"], "place": "1号皮带机"},
         "photos": {"of_partner": photo, "of_self": photo}},
        {"kind": "complete", "step": "lock", "photos": {"lock": photo}},
        {"kind": "complete", "step": "exit", "photos": {"of_partner": photo, "of_self": photo}},
    ]
    return [(job, body) for body in bodies for job in ctx["ids"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100, help="jobs; each gets 3 step submissions")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="anlian-bench-"))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS, "ANLIAN_DATA_DIR": str(data),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), "ANLIAN_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    server = None
    try:
        ctx = setup(env, args.jobs)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "anlian.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--log-level", "warning"], env=env, cwd=ROOT)
        wait_up(port)
        work = steps(ctx)
        # Warm both paths (imports, template parse cache, SQLite pages) before measuring.
        for _ in range(20):
            post(port, "/bench/bare", work[0][1], ctx["token"])
        ours, floor, recording = [], [], []
        spare = iter(ctx["spare"] * 3)
        for job, body in work:
            status, spent = post(port, f"/api/v1/instances/{job}/actions", body, ctx["token"])
            if status != 201:
                raise SystemExit(f"step submission failed: HTTP {status}")
            ours.append(spent)
            status, spent = post(port, "/bench/bare", body, ctx["token"])
            assert status == 200
            floor.append(spent)
            status, spent = post(port, f"/bench/record/{next(spare)}", body, ctx["token"])
            assert status == 201
            recording.append(spent)
        mean_ours, mean_floor, mean_record = (statistics.fmean(x) for x in (ours, floor, recording))
        ratio = mean_ours / mean_floor

        def line(name: str, times: list[float]) -> str:
            mean = statistics.fmean(times)
            return (f"{name:<34} {mean * 1000:7.2f} ms/request  median {statistics.median(times) * 1000:6.2f}"
                    f"  → {1 / mean:6.1f}/s")

        print(f"python {sys.version.split()[0]}, SQLite, gunicorn 1 sync worker, {len(ours)} step submissions")
        print(line("ours (step API)", ours))
        print(line("floor: bare JSON view", floor))
        print(line("for reference: bare recording view", recording)
              + f"  (ours is {mean_ours / mean_record:.2f}× this)")
        print(f"ratio ours/floor: {ratio:.2f}  (goal ≤ {GOAL:.2f}: {'PASS' if ratio <= GOAL else 'FAIL'})")
        print(f"RESULT step_api ratio={ratio:.2f} goal={GOAL:g}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
