"""Anlian settings: one file, read from environment variables with safe embedded defaults.

Every variable is documented in README.md ("Configuration") and docs/deploy.md. With no variables
set, Anlian runs on SQLite (WAL), local media files and a huey queue on SQLite, all under
ANLIAN_DATA_DIR (default: ./var).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

PACKAGE_DIR = Path(__file__).resolve().parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envsecret(name: str) -> str | None:
    """Read NAME_FILE when set (container secrets), else NAME."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name) or None


DATA_DIR = Path(os.environ.get("ANLIAN_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key() -> str:
    # A single-site install must not ship a known key: generate one on first start and keep it.
    # Web and worker processes may start together: the key file appears atomically (link of a
    # complete private temp file, which fails if another process won the race) and is never
    # readable by others, not even for a moment.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        tmp = DATA_DIR / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
            try:
                os.link(tmp, key_file)
            except FileExistsError:
                pass  # another process created it first: use theirs
            except OSError:  # a file system without hard links
                if not key_file.exists():
                    os.replace(tmp, key_file)
        finally:
            tmp.unlink(missing_ok=True)
    key = key_file.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{key_file} is empty: delete it to generate a new key, or set SECRET_KEY")
    return key


DEBUG = envbool("ANLIAN_DEBUG", False)
SECRET_KEY = envsecret("SECRET_KEY") or _embedded_secret_key()
ALLOWED_HOSTS = envlist("ANLIAN_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("ANLIAN_CSRF_TRUSTED_ORIGINS", "")
# Absolute address used in QR codes and messages: what a phone scanning a label must reach.
SITE_URL = os.environ.get("ANLIAN_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "huey.contrib.djhuey",
    "anlian.core",
    "anlian.accounts",
    "anlian.orgs",
    "anlian.evidence",
    "anlian.trust",
    "anlian.flows",
    "anlian.permits",
    "anlian.training",
    "anlian.workforce",
    "anlian.hazards",
    "anlian.notify",
    "anlian.seal",
    "anlian.audit",
    "anlian.dossiers",
    "anlian.sensors",
]

MIDDLEWARE = [
    "anlian.core.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "anlian.audit.middleware.AuditMiddleware",
    "anlian.dossiers.middleware.ReadOnlyAccountsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "anlian.core.middleware.IdempotencyMiddleware",
    "anlian.core.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "anlian.urls"
WSGI_APPLICATION = "anlian.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "anlian.core.context.shell",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
SQLITE_PATH = DATA_DIR / "anlian.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}", conn_max_age=60
    )
}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connections are kept (per worker thread) like PostgreSQL's: opening one costs more than most
    # requests' queries, with the PRAGMAs below run on each.
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the worker write while pages read; IMMEDIATE avoids "database is locked"
        # upgrades from read to write transactions under concurrent requests.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- cache and task queue --------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL") or None
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": os.environ.get("ANLIAN_QUEUE_NAME", "anlian"),
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "anlian",
        "filename": str(DATA_DIR / "queue.sqlite3"),
        # Like the main database (WAL, synchronous=NORMAL): huey offers only FULL or OFF, and FULL makes
        # every enqueue wait for the disk. OFF in WAL mode survives a crash of the process; a power
        # loss may drop the last queued tasks, whose work is re-done on demand (display copies).
        "fsync": False,
        # djhuey would run tasks inline when DEBUG is on; the worker must always be real.
        "immediate": False,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

# --- evidence photos -------------------------------------------------------------------------
# Phones downscale photos to this long edge before upload (weak networks); the server keeps what arrives.
ANLIAN_PHOTO_MAX_EDGE = int(os.environ.get("ANLIAN_PHOTO_MAX_EDGE", "2560"))
# Slots that take video accept clips up to this length (MP4 or WebM, checked with PyAV).
ANLIAN_VIDEO_MAX_SECONDS = int(os.environ.get("ANLIAN_VIDEO_MAX_SECONDS", "60"))
# A CJK font for watermarks; empty: the system fonts scripts/system-deps.sh installs (WenQuanYi Micro Hei).
ANLIAN_WATERMARK_FONT = os.environ.get("ANLIAN_WATERMARK_FONT", "")
# Image pre-review by a vision-language model behind an OpenAI-compatible chat API (e.g. Qwen-VL via
# DashScope's compatible mode); no URL or key: only the rule-based pre-review runs.
ANLIAN_VISION_BASE_URL = os.environ.get("ANLIAN_VISION_BASE_URL", "")
ANLIAN_VISION_MODEL = os.environ.get("ANLIAN_VISION_MODEL", "qwen-vl-max")
ANLIAN_VISION_API_KEY = envsecret("ANLIAN_VISION_API_KEY") or ""
ANLIAN_VISION_TIMEOUT = float(os.environ.get("ANLIAN_VISION_TIMEOUT", "20"))
# An external certificate registry (docs/workforce.md); no verifier: certificates are checked by people.
ANLIAN_CERT_VERIFIER = os.environ.get("ANLIAN_CERT_VERIFIER", "")
ANLIAN_CERT_REGISTRY_URL = os.environ.get("ANLIAN_CERT_REGISTRY_URL", "")
ANLIAN_CERT_REGISTRY_TOKEN = envsecret("ANLIAN_CERT_REGISTRY_TOKEN") or ""
ANLIAN_CERT_REGISTRY_TIMEOUT = float(os.environ.get("ANLIAN_CERT_REGISTRY_TIMEOUT", "10"))
# Monthly contractor red/black list: black above this many violations per 100 workers, or below
# these percentages of on-time rectification and training completion.
ANLIAN_REDLIST_BLACK_RATE = float(os.environ.get("ANLIAN_REDLIST_BLACK_RATE", "10"))
ANLIAN_REDLIST_BLACK_TIMELINESS = float(os.environ.get("ANLIAN_REDLIST_BLACK_TIMELINESS", "80"))
ANLIAN_REDLIST_BLACK_TRAINING = float(os.environ.get("ANLIAN_REDLIST_BLACK_TRAINING", "80"))
# A hazard of the same category at the same place within this many days is linked as a recurrence.
ANLIAN_HAZARD_RECURRENCE_DAYS = int(os.environ.get("ANLIAN_HAZARD_RECURRENCE_DAYS", "90"))
# Retention of ended jobs per template kind (anlian.flows.retention): never below 365 days.
ANLIAN_RETENTION_DAYS = {
    "permit": int(os.environ.get("ANLIAN_RETENTION_PERMIT_DAYS", "1095")),
    "hazard": int(os.environ.get("ANLIAN_RETENTION_HAZARD_DAYS", "1095")),
}
ANLIAN_RETENTION_AUTO = envbool("ANLIAN_RETENTION_AUTO", False)  # the worker deletes due jobs daily

# --- files ------------------------------------------------------------------------------------
MEDIA_ROOT = Path(os.environ.get("ANLIAN_MEDIA_ROOT", DATA_DIR / "media")).resolve()
MEDIA_URL = "/media/"  # never served directly: files go through permission-checked views
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start when it is missing
STATIC_URL = "/static/"
S3_BUCKET = os.environ.get("ANLIAN_S3_BUCKET") or None
if S3_BUCKET:
    _media = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": os.environ.get("ANLIAN_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("ANLIAN_S3_REGION") or None,
            "access_key": envsecret("ANLIAN_S3_ACCESS_KEY"),
            "secret_key": envsecret("ANLIAN_S3_SECRET_KEY"),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _media = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _media,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # pages work without collectstatic on a single site
WHITENOISE_AUTOREFRESH = DEBUG

# Request bodies: JSON and forms stay small; file uploads are checked per field.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 500
PERSON_PHOTO_MAX_BYTES = 8 * 1024 * 1024

# --- authentication and security ---------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Login rate limiting: 5 failures for one account from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("ANLIAN_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("ANLIAN_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "anlian.accounts.views.locked_out"
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("ANLIAN_PROXY_COUNT", "0")) or None
AXES_VERBOSE = False

HTTPS = envbool("ANLIAN_HTTPS", False)
SESSION_COOKIE_AGE = 12 * 3600  # one shift plus hand-over
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = HTTPS
CSRF_FAILURE_VIEW = "anlian.core.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_SSL_REDIRECT = envbool("ANLIAN_SSL_REDIRECT", True)
    # Load balancers and container probes ask /healthz over plain HTTP on the inside.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("ANLIAN_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = False
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # HSTS preload is a site owner's decision

API_TOKEN_DEFAULT_DAYS = 365
IDEMPOTENCY_TTL = timedelta(hours=24)

# --- language and time ---------------------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("ANLIAN_LANGUAGE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = os.environ.get("ANLIAN_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- logging: one JSON object per line on stderr -------------------------------------------------
LOG_LEVEL = os.environ.get("ANLIAN_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        # With a handler of its own, the worker keeps huey's logs as JSON lines instead of adding
        # its plain-text handler beside ours (every line twice).
        "huey": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}

NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_MAX_LIMIT = 500

if (PACKAGE_DIR / "local_settings.py").exists():  # pragma: no cover - site overrides
    from .local_settings import *  # noqa: F403
