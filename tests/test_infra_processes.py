"""Real processes: the huey worker (SQLite and Redis queues), `anlian serve`, `check --deploy`.

Each test starts `anlian …` as a subprocess with its own data folder and its own migrated SQLite
database, so it is independent of the database the rest of the suite runs on.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ANLIAN = str(Path(sys.executable).with_name("anlian"))
REDIS_URL = "redis://127.0.0.1:6379/15"


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh installation: nothing from the test run's own settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANLIAN_", "DJANGO_", "PYTEST_"))
           and k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SECRET_KEY_FILE"}}
    env.update(ANLIAN_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="anlian.settings",
               DATABASE_URL=f"sqlite:///{data_dir / 'anlian.sqlite3'}", ANLIAN_LOG_LEVEL="WARNING",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([ANLIAN, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory) -> Path:
    """A migrated SQLite database file, made once and copied into each test's data folder."""
    data = tmp_path_factory.mktemp("template")
    result = run(["migrate", "--noinput", "-v", "0"], clean_env(data), timeout=120)
    assert result.returncode == 0, result.stderr
    return data / "anlian.sqlite3"


@pytest.fixture
def data_dir(tmp_path, migrated_db) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(migrated_db, data / "anlian.sqlite3")
    return data


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); start it with `bash scripts/services.sh`")


# --- the task queue --------------------------------------------------------------------------------

ROUND_TRIP = """
import os, time
from django.utils import timezone
from anlian.core.models import WorkerHeartbeat
from anlian.core.tasks import heartbeat, ping
from huey.contrib.djhuey import HUEY

print("HUEY", type(HUEY).__name__, HUEY.immediate)
print("PING", ping("往返-{token}").get(blocking=True, timeout=30))

before = timezone.now()
heartbeat()  # a periodic task, enqueued by hand instead of waiting for the next minute
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    beat = WorkerHeartbeat.objects.filter(name="worker", beat_at__gte=before).first()
    if beat:
        break
    time.sleep(0.1)
print("BEAT", beat is not None)
"""


def queue_round_trip(env: dict[str, str], log: Path) -> str:
    token = secrets.token_hex(4)
    with open(log, "wb") as out:
        worker = subprocess.Popen([ANLIAN, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        result = run(["shell", "-c", ROUND_TRIP.replace("{token}", token)], env, timeout=90)
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n--- worker log ---\n{log_tail(log)}"
        assert worker.poll() is None, f"the worker died:\n{log_tail(log)}"
        lines = result.stdout.splitlines()
        assert f"PING 往返-{token}" in lines, result.stdout
        assert "BEAT True" in lines, f"{result.stdout}\n--- worker log ---\n{log_tail(log)}"
        return result.stdout
    finally:
        stop(worker)
    # (the worker's exit code after SIGTERM is not part of the contract)


def test_sqlite_queue_with_a_real_worker(data_dir, tmp_path):
    out = queue_round_trip(clean_env(data_dir), tmp_path / "worker.log")
    assert "HUEY SqliteHuey False" in out.splitlines()
    assert (data_dir / "queue.sqlite3").exists()


def test_redis_queue_with_a_real_worker(data_dir, tmp_path):
    import redis

    require_redis()
    name = f"anlian-test-{secrets.token_hex(6)}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        out = queue_round_trip(clean_env(data_dir, REDIS_URL=REDIS_URL, ANLIAN_QUEUE_NAME=name),
                               tmp_path / "worker.log")
        assert "HUEY RedisHuey False" in out.splitlines()
        assert not (data_dir / "queue.sqlite3").exists()  # the queue really lived in Redis
    finally:
        keys = list(client.scan_iter(match=f"*{name}*"))
        if keys:
            client.delete(*keys)
        client.close()


# --- anlian serve ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> set[int]:
    """Direct children of a process, read from /proc (no psutil needed)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_runs_web_and_worker_and_stops_both(data_dir, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen([ANLIAN, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                                 env=clean_env(data_dir), stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    family: set[int] = set()
    try:
        # the web answers, and the worker beside it has written its heartbeat (it runs the
        # periodic tasks once at start)
        deadline = time.monotonic() + 60
        report = None
        while time.monotonic() < deadline:
            assert serve.poll() is None, f"anlian serve exited early:\n{log_tail(log)}"
            try:
                status, body = get(f"{base}/healthz")
            except OSError:
                time.sleep(0.2)
                continue
            report = json.loads(body)
            if status == 200 and report["queue"].get("worker_ok"):
                break
            time.sleep(0.2)
        assert report is not None and report["ok"], f"{report}\n{log_tail(log)}"
        assert report["queue"]["worker_ok"] is True, f"no worker heartbeat: {report}\n{log_tail(log)}"
        assert report["database"] == {"ok": True, "engine": "sqlite"}
        assert report["storage"]["ok"] and report["queue"]["backend"] == "SqliteHuey"

        status, body = get(f"{base}/login/")
        assert status == 200 and b'name="username"' in body
        status, _body = get(f"{base}/")
        assert status in (200, 302)

        direct = children(serve.pid)
        assert len(direct) == 2, f"expected gunicorn and the worker under serve, found {direct}"
        family = set(direct)
        for pid in direct:
            family |= children(pid)  # gunicorn's own workers
        assert len(family) >= 3
        cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in direct]
        assert any(b"gunicorn" in c for c in cmdlines) and any(b"worker" in c for c in cmdlines), cmdlines

        serve.send_signal(signal.SIGTERM)
        code = serve.wait(timeout=30)
        assert code == 0, log_tail(log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(pid) for pid in family):
            time.sleep(0.1)
        assert not [pid for pid in family if alive(pid)], f"orphans left behind:\n{log_tail(log)}"
        leftover = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True)
        assert leftover.stdout.strip() == "", leftover.stdout
        with pytest.raises(OSError):
            get(f"{base}/healthz")
    finally:
        if serve.poll() is None:
            serve.kill()
        try:
            os.killpg(serve.pid, signal.SIGKILL)  # whatever is left of the process group
        except ProcessLookupError:
            pass
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- check --deploy --------------------------------------------------------------------------------


def production_env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    env = clean_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(60)[:60], ANLIAN_HTTPS="true",
                    ANLIAN_ALLOWED_HOSTS="anlian.example.com", ANLIAN_DEBUG="false")
    del env["DATABASE_URL"]
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def test_check_deploy_passes_with_the_documented_production_settings(tmp_path):
    result = run(["check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert not (tmp_path / "secret_key").exists()  # the given key is used, none generated


def test_check_deploy_fails_without_https(tmp_path):
    result = run(["check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path, ANLIAN_HTTPS=None))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output, output


def test_check_deploy_fails_with_debug_on(tmp_path):
    result = run(["check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path, ANLIAN_DEBUG="true"))
    assert result.returncode != 0 and "security.W018" in result.stdout + result.stderr


def test_a_bad_boolean_is_refused_clearly(tmp_path):
    result = run(["check"], production_env(tmp_path, ANLIAN_HTTPS="maybe"))
    assert result.returncode != 0
    assert "ANLIAN_HTTPS must be true or false" in result.stderr
