"""calsync settings, every value from the environment.

Development (the default, CALSYNC_ENV=development) needs nothing set: SQLite and
a filesystem message broker under ./var, a secret key generated on first start
and kept in ./var. Production (CALSYNC_ENV=production) refuses to start on
missing or unsafe values instead of falling back to them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

CALSYNC_ENV = env.str("CALSYNC_ENV", default="development")
if CALSYNC_ENV not in ("development", "production"):
    raise ImproperlyConfigured("CALSYNC_ENV must be 'development' or 'production'.")
PRODUCTION = CALSYNC_ENV == "production"

VAR_DIR = Path(env.str("CALSYNC_VAR_DIR", default=str(BASE_DIR / "var")))


def _development_secret(name: str) -> str:
    """A random value kept in ./var, so development needs no secret in the repo."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# --- core -------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when CALSYNC_ENV=production.")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when CALSYNC_ENV=production.")
    SECRET_KEY = _development_secret("secret_key")
if PRODUCTION and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when CALSYNC_ENV=production.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The address users type into Apple Calendar and that emails link to.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "events",
    "integrations",
    "sync",
    "dav",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "dav.middleware.BareHostDiscoveryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
]

if PRODUCTION:
    # gunicorn serves the collected static files itself; runserver does so in development.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "calsync.urls"
WSGI_APPLICATION = "calsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if PRODUCTION and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL in production.")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one SQLite file in development.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        # WAL with synchronous=NORMAL: safe against corruption, and no fsync on every commit.
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "events:calendar"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None

# --- i18n, time -------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static files -----------------------------------------------------------

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- sync ------------------------------------------------------------------------

# Automatic integrations sync this often (seconds); the dispatcher looks for due ones every SYNC_DISPATCH_SECONDS.
SYNC_INTERVAL_SECONDS = env.int("SYNC_INTERVAL_SECONDS", default=300)
SYNC_DISPATCH_SECONDS = env.int("SYNC_DISPATCH_SECONDS", default=60)
# A sync holding its lock longer than this is presumed dead (its worker was killed).
SYNC_LOCK_SECONDS = env.int("SYNC_LOCK_SECONDS", default=900)
# Stop instead of deleting every synced item when a side suddenly lists none of at least this many.
SYNC_MASS_DELETE_THRESHOLD = env.int("SYNC_MASS_DELETE_THRESHOLD", default=5)

# What one request (a page, a REPORT) may spend expanding repeating events (events/recurrence.py): occurrences
# handed out, rule steps taken inside or before the range, seconds. Past any of them the answer says it is partial.
RECURRENCE_MAX_OCCURRENCES = env.int("RECURRENCE_MAX_OCCURRENCES", default=1000)
RECURRENCE_MAX_STEPS = env.int("RECURRENCE_MAX_STEPS", default=50_000)
RECURRENCE_TIME_BUDGET = env.float("RECURRENCE_TIME_BUDGET", default=0.5)

# CalDAV servers users may connect: plain http and addresses in our own network are for development.
CALDAV_ALLOW_HTTP = env.bool("CALDAV_ALLOW_HTTP", default=not PRODUCTION)
CALDAV_ALLOW_PRIVATE_ADDRESSES = env.bool("CALDAV_ALLOW_PRIVATE_ADDRESSES", default=not PRODUCTION)

# --- Google Calendar ------------------------------------------------------------------

# With no client id outside production, "Sign in with Google" uses the local emulator (sandbox mode).
GOOGLE_CLIENT_ID = env.str("GOOGLE_CLIENT_ID", default="")
GOOGLE_CLIENT_SECRET = env.str("GOOGLE_CLIENT_SECRET", default="")
GOOGLE_SANDBOX = not GOOGLE_CLIENT_ID and not PRODUCTION
GOOGLE_EMULATOR_URL = env.str("GOOGLE_EMULATOR_URL", default="http://127.0.0.1:8091").rstrip("/")
if GOOGLE_SANDBOX:
    GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET = "calsync-sandbox", "calsync-sandbox-secret"
_google = GOOGLE_EMULATOR_URL if GOOGLE_SANDBOX else ""
GOOGLE_AUTH_URI = env.str("GOOGLE_AUTH_URI", default=f"{_google}/o/oauth2/auth" if _google
                          else "https://accounts.google.com/o/oauth2/auth")  # fmt: skip
GOOGLE_TOKEN_URI = env.str("GOOGLE_TOKEN_URI", default=f"{_google}/token" if _google
                           else "https://oauth2.googleapis.com/token")  # fmt: skip
GOOGLE_REVOKE_URI = env.str("GOOGLE_REVOKE_URI", default=f"{_google}/revoke" if _google
                            else "https://oauth2.googleapis.com/revoke")  # fmt: skip
GOOGLE_API_ENDPOINT = env.str("GOOGLE_API_ENDPOINT", default=f"{_google}/calendar/v3/" if _google
                              else "https://www.googleapis.com/calendar/v3/")  # fmt: skip
GOOGLE_BATCH_URI = env.str("GOOGLE_BATCH_URI", default=f"{_google}/batch/calendar/v3" if _google
                           else "https://www.googleapis.com/batch/calendar/v3")  # fmt: skip
GOOGLE_CA_BUNDLE = env.str("GOOGLE_CA_BUNDLE", default="")
GOOGLE_TIMEOUT_SECONDS = env.int("GOOGLE_TIMEOUT_SECONDS", default=30)
# Each request retries rate limits and server errors this often, with exponential backoff and jitter.
GOOGLE_RETRIES = env.int("GOOGLE_RETRIES", default=5)
# Push notifications need an https address Google can reach; without one, polling every 5 minutes goes on.
# In the sandbox the emulator calls calsync directly, so a change on the "Google" side shows within seconds.
GOOGLE_WEBHOOK_BASE_URL = env.str("GOOGLE_WEBHOOK_BASE_URL", default=SITE_URL if GOOGLE_SANDBOX else "").rstrip("/")
if PRODUCTION and any(u.startswith("http://") for u in (GOOGLE_AUTH_URI, GOOGLE_TOKEN_URI, GOOGLE_API_ENDPOINT)):
    raise ImproperlyConfigured("Google endpoints must be https:// in production.")
if not PRODUCTION and GOOGLE_TOKEN_URI.startswith("http://127.0.0.1"):
    # oauthlib refuses http:// unless told; only ever for the local emulator outside production.
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

# --- Microsoft 365 / Outlook (Graph) ------------------------------------------------

MICROSOFT_CLIENT_ID = env.str("MICROSOFT_CLIENT_ID", default="")
MICROSOFT_CLIENT_SECRET = env.str("MICROSOFT_CLIENT_SECRET", default="")
MICROSOFT_SANDBOX = not MICROSOFT_CLIENT_ID and not PRODUCTION
MICROSOFT_EMULATOR_URL = env.str("MICROSOFT_EMULATOR_URL", default="https://127.0.0.1:8093").rstrip("/")
if MICROSOFT_SANDBOX:
    MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET = "calsync-sandbox", "calsync-sandbox-secret"
MICROSOFT_AUTHORITY_HOST = env.str(
    "MICROSOFT_AUTHORITY_HOST",
    default=MICROSOFT_EMULATOR_URL if MICROSOFT_SANDBOX else "https://login.microsoftonline.com",
).rstrip("/")
MICROSOFT_GRAPH_URL = env.str(
    "MICROSOFT_GRAPH_URL",
    default=f"{MICROSOFT_EMULATOR_URL}/v1.0" if MICROSOFT_SANDBOX else "https://graph.microsoft.com/v1.0",
).rstrip("/")
# The emulator's self-signed certificate in the sandbox; a CA bundle for Microsoft's endpoints otherwise (or none).
MICROSOFT_CA_BUNDLE = env.str(
    "MICROSOFT_CA_BUNDLE",
    default=str(VAR_DIR / "microsoft-emulator" / "microsoft-emulator.pem") if MICROSOFT_SANDBOX else "",
)
MICROSOFT_RETRIES = env.int("MICROSOFT_RETRIES", default=3)
MICROSOFT_MAX_WAIT_SECONDS = env.int("MICROSOFT_MAX_WAIT_SECONDS", default=30)
MICROSOFT_TIMEOUT_SECONDS = env.int("MICROSOFT_TIMEOUT_SECONDS", default=30)
# The rolling window calendarView/delta reads: events moving into it arrive as it moves.
# Exchange on-premises over EWS: http:// servers only outside production (the password would travel in clear).
EXCHANGE_ALLOW_HTTP = env.bool("EXCHANGE_ALLOW_HTTP", default=not PRODUCTION)
# Set by `make run` when it starts the local EWS emulator; the connect page then offers its sandbox login.
EXCHANGE_SANDBOX_URL = "" if PRODUCTION else env.str("EXCHANGE_SANDBOX_URL", default="")
MICROSOFT_SYNC_PAST_DAYS = env.int("MICROSOFT_SYNC_PAST_DAYS", default=90)
MICROSOFT_SYNC_FUTURE_DAYS = env.int("MICROSOFT_SYNC_FUTURE_DAYS", default=365)
if PRODUCTION and (MICROSOFT_GRAPH_URL.startswith("http://") or MICROSOFT_AUTHORITY_HOST.startswith("http://")):
    raise ImproperlyConfigured("Microsoft endpoints must be https:// in production.")

# --- calsync's own CalDAV server ------------------------------------------------

# Failed CalDAV logins allowed per user and per client address within the window before answering 429.
DAV_MAX_FAILURES_PER_USER = env.int("DAV_MAX_FAILURES_PER_USER", default=10)
DAV_MAX_FAILURES_PER_ADDRESS = env.int("DAV_MAX_FAILURES_PER_ADDRESS", default=30)
DAV_FAILURE_WINDOW_SECONDS = env.int("DAV_FAILURE_WINDOW_SECONDS", default=900)
# The largest body a CalDAV client may send (one event, or one REPORT), in bytes.
DAV_MAX_BODY_BYTES = env.int("DAV_MAX_BODY_BYTES", default=2 * 1024 * 1024)

# How many proxies in front of calsync append to X-Forwarded-For (0: none, use the connection's address).
# Failed logins are counted per client address, so behind a proxy this must be set, or all clients share one.
PROXY_HOPS = env.int("PROXY_HOPS", default=0)

# --- cache --------------------------------------------------------------------

# Shared by every web process (the CalDAV login throttle, rendered iCalendar of served items): Redis when configured.
REDIS_URL = env.str("REDIS_URL", default="")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("Set REDIS_URL in production.")
# Another Redis database than the broker's keeps the two apart (the test suite clears the cache).
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL, "KEY_PREFIX": "calsync"}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 20_000}}
    )
}

# --- Celery -----------------------------------------------------------------

# Redis in production; in development a filesystem broker needs no server at all.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if PRODUCTION and CELERY_BROKER_URL.startswith("filesystem"):
    raise ImproperlyConfigured("Set REDIS_URL (or CELERY_BROKER_URL) in production.")
if CELERY_BROKER_URL.startswith("filesystem"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Every periodic task, in one place.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "dispatch-due-syncs": {"task": "sync.tasks.dispatch_due", "schedule": float(SYNC_DISPATCH_SECONDS)},
    "renew-google-push-channels": {"task": "integrations.google_renew_channels", "schedule": 3600.0},
}

# --- secrets at rest ----------------------------------------------------------

# Fernet keys, newest first (see calsync/crypto.py). Development generates one into ./var.
ENCRYPTION_KEYS = env.list("ENCRYPTION_KEYS", default=[])
if not ENCRYPTION_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured("ENCRYPTION_KEYS is required when CALSYNC_ENV=production.")
    from cryptography.fernet import Fernet

    _key_file = VAR_DIR / "encryption_key"
    if not _key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        _key_file.write_text(Fernet.generate_key().decode())
        _key_file.chmod(0o600)
    ENCRYPTION_KEYS = [_key_file.read_text().strip()]

# --- email ------------------------------------------------------------------

_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="calsync <noreply@localhost>")

# --- limits -----------------------------------------------------------------

# The largest ICS file a user may import (bytes).
ICS_IMPORT_MAX_BYTES = env.int("ICS_IMPORT_MAX_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ICS_IMPORT_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- logging ----------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "calsync.logformat.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.str("LOG_FORMAT", default="json" if PRODUCTION else "plain"),
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # exchangelib logs whole SOAP requests and responses (people's events) at DEBUG: keep it to warnings.
    "loggers": {"exchangelib": {"level": "WARNING"}},
}
