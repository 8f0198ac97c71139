"""Settings read from the environment, the generated secret key, and a real S3 round trip."""

from __future__ import annotations

import os
import runpy
import stat
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile

# runpy re-executes the already imported settings module on purpose
pytestmark = pytest.mark.filterwarnings("ignore:'anlian.settings' found in sys.modules:RuntimeWarning")

ENV_PREFIXES = ("ANLIAN_",)
ENV_NAMES = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SECRET_KEY_FILE"}


def load_settings(monkeypatch, data_dir: Path, **env: str) -> dict:
    """Execute anlian/settings.py afresh with exactly this environment; return its namespace."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIXES) or key in ENV_NAMES:
            monkeypatch.delenv(key)
    monkeypatch.setenv("ANLIAN_DATA_DIR", str(data_dir))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_module("anlian.settings", run_name="anlian_settings_probe")


# --- database, cache, queue, storage from the environment -----------------------------------------


def test_embedded_defaults(monkeypatch, tmp_path):
    s = load_settings(monkeypatch, tmp_path, SECRET_KEY="k" * 60)
    db = s["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "anlian.sqlite3")
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"] and db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert s["HUEY"]["huey_class"] == "huey.SqliteHuey" and s["HUEY"]["immediate"] is False
    assert s["HUEY"]["filename"] == str(tmp_path / "queue.sqlite3")
    assert s["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")
    assert s["STORAGES"]["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert s["MEDIA_ROOT"] == tmp_path / "media"
    assert s["DEBUG"] is False and s["SESSION_COOKIE_SECURE"] is False


def test_postgres_database_url(monkeypatch, tmp_path):
    s = load_settings(monkeypatch, tmp_path, SECRET_KEY="k" * 60,
                      DATABASE_URL="postgres://anlian:s%40cret@db.example.com:5433/anlian_prod")
    db = s["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "anlian_prod", "anlian", "s@cret", "db.example.com", 5433)
    assert db["CONN_MAX_AGE"] == 60
    assert "init_command" not in db.get("OPTIONS", {})  # the SQLite pragmas are not sent to PostgreSQL


def test_redis_url_switches_queue_and_cache(monkeypatch, tmp_path):
    s = load_settings(monkeypatch, tmp_path, SECRET_KEY="k" * 60, REDIS_URL="redis://127.0.0.1:6379/3",
                      ANLIAN_QUEUE_NAME="site-a")
    assert s["HUEY"]["huey_class"] == "huey.RedisHuey"
    assert s["HUEY"]["url"] == "redis://127.0.0.1:6379/3" and s["HUEY"]["name"] == "site-a"
    assert s["HUEY"]["immediate"] is False
    assert s["CACHES"]["default"] == {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                      "LOCATION": "redis://127.0.0.1:6379/3"}


def test_the_redis_cache_really_works():
    import redis
    from django.core.cache.backends.redis import RedisCache

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {url} ({exc}); start it with `bash scripts/services.sh`")
    cache = RedisCache(url, {"KEY_PREFIX": f"anlian-test-{uuid.uuid4().hex}"})
    cache.set("答", {"n": 42}, 30)
    assert cache.get("答") == {"n": 42}
    cache.delete("答")
    assert cache.get("答") is None


def test_s3_bucket_switches_default_storage(monkeypatch, tmp_path):
    s = load_settings(monkeypatch, tmp_path, SECRET_KEY="k" * 60, ANLIAN_S3_BUCKET="evidence",
                      ANLIAN_S3_ENDPOINT_URL="http://minio.local:9000", ANLIAN_S3_REGION="cn-east-1",
                      ANLIAN_S3_ACCESS_KEY="AK", ANLIAN_S3_SECRET_KEY_FILE=str(_write(tmp_path / "sk", "SK\n")))
    default = s["STORAGES"]["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    options = default["OPTIONS"]
    assert options["bucket_name"] == "evidence" and options["endpoint_url"] == "http://minio.local:9000"
    assert options["region_name"] == "cn-east-1"
    assert (options["access_key"], options["secret_key"]) == ("AK", "SK")  # *_FILE secrets are read
    assert options["file_overwrite"] is False and options["default_acl"] is None


def test_https_switches_on_secure_cookies_and_hsts(monkeypatch, tmp_path):
    s = load_settings(monkeypatch, tmp_path, SECRET_KEY="k" * 60, ANLIAN_HTTPS="true")
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SECURE_SSL_REDIRECT"]
    assert s["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert s["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")


def test_bad_values_are_refused(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured):
        load_settings(monkeypatch, tmp_path, SECRET_KEY="k" * 60, ANLIAN_DEBUG="yes please")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the generated secret key ----------------------------------------------------------------------


def test_secret_key_is_generated_private_and_reused(monkeypatch, tmp_path):
    first = load_settings(monkeypatch, tmp_path)["SECRET_KEY"]
    key_file = tmp_path / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == first and len(first) >= 50
    assert load_settings(monkeypatch, tmp_path)["SECRET_KEY"] == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret_key")] == []  # no temp files left
    # another installation gets another key
    other = tmp_path / "other"
    assert load_settings(monkeypatch, other)["SECRET_KEY"] != first


def test_given_secret_key_wins(monkeypatch, tmp_path):
    assert load_settings(monkeypatch, tmp_path, SECRET_KEY="given-" + "x" * 60)["SECRET_KEY"] == "given-" + "x" * 60
    assert not (tmp_path / "secret_key").exists()
    key_file = _write(tmp_path / "mounted", "from-a-file-" + "y" * 50 + "\n")
    assert load_settings(monkeypatch, tmp_path, SECRET_KEY_FILE=str(key_file))["SECRET_KEY"] == "from-a-file-" + "y" * 50


def test_an_empty_secret_key_file_is_refused(monkeypatch, tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(ImproperlyConfigured):
        load_settings(monkeypatch, tmp_path)


def test_processes_starting_together_share_one_key(tmp_path):
    """Web and worker start at the same moment on a new installation: they must agree on the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANLIAN_") and k not in ENV_NAMES}
    env["ANLIAN_DATA_DIR"] = str(tmp_path)
    code = "import anlian.settings as s; print(s.SECRET_KEY)"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(8)]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert keys == {(tmp_path / "secret_key").read_text().strip()}


# --- a real S3-compatible server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_options(s3_endpoint, monkeypatch):
    import boto3

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    bucket = f"anlian-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=bucket)
    # the same options settings.py builds from ANLIAN_S3_* variables
    return {"bucket_name": bucket, "endpoint_url": s3_endpoint, "region_name": "us-east-1",
            "access_key": "test", "secret_key": "test", "default_acl": None, "querystring_auth": True,
            "file_overwrite": False}


def test_s3_storage_round_trip(s3_options):
    from storages.backends.s3 import S3Storage

    storage = S3Storage(**s3_options)
    data = "安链证据".encode() + os.urandom(2048)
    name = storage.save("evidence/2026/photo.jpg", ContentFile(data))
    assert name == "evidence/2026/photo.jpg"
    assert storage.exists(name) and storage.size(name) == len(data)
    with storage.open(name, "rb") as handle:
        assert handle.read() == data
    # no overwrite: the same name gets a new one, the first object stays as it was
    second = storage.save("evidence/2026/photo.jpg", ContentFile(b"other"))
    assert second != name and second.startswith("evidence/2026/photo")
    with storage.open(name, "rb") as handle:
        assert handle.read() == data
    # a signed, expiring address that the server honours
    url = storage.url(name)
    assert "X-Amz-Signature=" in url or "Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data
    storage.delete(name)
    storage.delete(second)
    assert not storage.exists(name) and not storage.exists(second)


@pytest.mark.django_db
def test_healthz_checks_s3_storage(s3_options, settings, client):
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options}}
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["storage"] == {"ok": True, "backend": "S3Storage"}
    # and a bucket that does not exist is reported, by name of the failing part
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {**s3_options, "bucket_name": "no-such-bucket"}}}
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["storage"]["ok"] is False and "error" in body["storage"]
    assert body["database"]["ok"] is True
