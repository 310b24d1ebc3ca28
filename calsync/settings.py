"""calsync settings, every value from the environment.

Development (the default, CALSYNC_ENV=development) needs nothing set: SQLite and
a filesystem message broker under ./var, a secret key generated on first start
and kept in ./var. Production (CALSYNC_ENV=production) refuses to start on
missing or unsafe values instead of falling back to them.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from calsync.queue import SYNC_QUEUES

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
if PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")):
    # What `check --deploy` would only warn about (security.W009), refused at start.
    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 characters in production, and random: "
        "python -c 'import secrets; print(secrets.token_urlsafe(60))'."
    )

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
    "scheduling",
    "meetings",
    "business",
    "reports",
    "operations",
    "axes",
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
    "csp.middleware.CSPMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "sync.middleware.OwnerActivityMiddleware",
    # Last, so it sees the sign-in a locked-out client attempted and answers with the sign-in page and why.
    "axes.middleware.AxesMiddleware",
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
                "operations.context.credential_warnings",
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
    # reports.TimeEntry's covering index lists INCLUDE columns for PostgreSQL; SQLite builds it without them
    # (same rows, read from the table), which is all development needs: no warning on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out sign-in before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "accounts.backends.EmailBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "events:calendar"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Web sign-in throttling (django-axes). Failures are counted per email *and* address together: an attacker
# guessing one person's password is stopped, yet colleagues behind the same office NAT, and the same person
# on another network, still sign in. CalDAV has its own throttle (dav/services.py), with app passwords only.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int("LOGIN_MAX_FAILURES", default=10)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("LOGIN_LOCKOUT_SECONDS", default=900))
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "calsync.http.client_address"
AXES_USERNAME_CALLABLE = "accounts.views.login_username"
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked_out"

SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# A form refused by the CSRF check says why in the site's own 403 page (calsync.errors).
CSRF_FAILURE_VIEW = "calsync.errors.csrf_failure"
# Behind the TLS-terminating proxy, which must set X-Forwarded-Proto (and overwrite any the client sent).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Load balancers check health over plain http: answer them rather than redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# A year of HSTS, as `check --deploy` asks; the preload flag only allows submitting the domain to browsers' lists.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)

# Content-Security-Policy on every page (django-csp): no inline script or style, nothing from elsewhere.
# Calendar colours are set from data-color by static/js/app.js, which CSP allows (CSSOM, not markup).
# Forms post only here: "Sign in with Google/Microsoft" and admin consent are links, not forms, to the provider.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Pico draws its form icons as data: SVGs
        # FullCalendar (the calendar grid) adds one EMPTY <style> element and fills it through CSSOM insertRule,
        # which CSP does not govern; this hash is the empty string's, so it admits no inline style with content.
        "style-src": ["'self'", "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"],
        "font-src": ["'self'", "data:"],  # FullCalendar's arrow icons are a small data: font in its CSS
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

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
# The dispatcher claims and queues due integrations this many at a time (one UPDATE ... RETURNING, one broker
# connection per batch); each batch ranks every due integration by tenant (fair share), so fewer, larger batches
# cost less. `manage.py dispatch` sleeps SYNC_DISPATCH_IDLE_SECONDS whenever nothing is due.
SYNC_DISPATCH_BATCH = env.int("SYNC_DISPATCH_BATCH", default=5000)
SYNC_DISPATCH_IDLE_SECONDS = env.float("SYNC_DISPATCH_IDLE_SECONDS", default=1.0)
# Polled syncs queued to a message: the dispatcher's cost is per message (Celery builds each one), a worker runs a
# message's syncs one after another. 1 gives every sync a message of its own.
SYNC_DISPATCH_PER_MESSAGE = env.int("SYNC_DISPATCH_PER_MESSAGE", default=20)
# A running sync renews its lock (its heartbeat) every SYNC_HEARTBEAT_SECONDS; one silent for SYNC_STALE_SECONDS is
# presumed dead (its worker was killed) and the sweep, every SYNC_SWEEP_SECONDS, ends it and frees the integration.
SYNC_HEARTBEAT_SECONDS = env.int("SYNC_HEARTBEAT_SECONDS", default=20)
SYNC_STALE_SECONDS = env.int("SYNC_STALE_SECONDS", default=120)
SYNC_SWEEP_SECONDS = env.int("SYNC_SWEEP_SECONDS", default=60)
# A queued sync no worker has started this long after it was due lost its task (a broker restarted empty).
SYNC_QUEUED_TIMEOUT_SECONDS = env.int("SYNC_QUEUED_TIMEOUT_SECONDS", default=600)
if SYNC_STALE_SECONDS < 3 * SYNC_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("SYNC_STALE_SECONDS must be at least three heartbeats (SYNC_HEARTBEAT_SECONDS).")
# Adaptive polling of calendars without push (CalDAV, ICS; sync/polling.py): every SYNC_POLL_MIN_SECONDS while the
# calendar is busy or its owner is using calsync (a page or CalDAV request within SYNC_OWNER_ACTIVE_SECONDS), the
# interval doubling after each check that found nothing, up to SYNC_POLL_MAX_SECONDS (also the safety-net poll of a
# calendar whose server pushes its changes: WebDAV-Push).
SYNC_POLL_MIN_SECONDS = env.int("SYNC_POLL_MIN_SECONDS", default=60)
SYNC_POLL_MAX_SECONDS = env.int("SYNC_POLL_MAX_SECONDS", default=900)
SYNC_OWNER_ACTIVE_SECONDS = env.int("SYNC_OWNER_ACTIVE_SECONDS", default=600)
if not 1 <= SYNC_POLL_MIN_SECONDS <= SYNC_POLL_MAX_SECONDS:
    raise ImproperlyConfigured("SYNC_POLL_MIN_SECONDS must be at least 1 and at most SYNC_POLL_MAX_SECONDS.")
# Stop instead of deleting every synced item when a side suddenly lists none of at least this many.
SYNC_MASS_DELETE_THRESHOLD = env.int("SYNC_MASS_DELETE_THRESHOLD", default=5)
# A preview (sync/previews.py) older than this is made again before the user's confirmation is acted on.
PREVIEW_VALID_SECONDS = env.int("PREVIEW_VALID_SECONDS", default=15 * 60)
# A preview has no heartbeat: one still being worked out this long after it was asked for lost its worker (the sweep
# fails it, and the page offers to preview again). Longer than the longest honest preview (bench/operability_preview).
PREVIEW_STALE_SECONDS = env.int("PREVIEW_STALE_SECONDS", default=30 * 60)

# --- retention -----------------------------------------------------------------

# How long finished sync runs, their log entries (with the losing versions of conflicts) and other finished history
# are kept: each organisation chooses within the operator's limits, else the operator's default (sync/retention.py).
RETENTION_DEFAULT_DAYS = env.int("RETENTION_DEFAULT_DAYS", default=90)
RETENTION_MIN_DAYS = env.int("RETENTION_MIN_DAYS", default=7)
RETENTION_MAX_DAYS = env.int("RETENTION_MAX_DAYS", default=3650)
if not 1 <= RETENTION_MIN_DAYS <= RETENTION_DEFAULT_DAYS <= RETENTION_MAX_DAYS:
    raise ImproperlyConfigured("Retention days must be 1 <= RETENTION_MIN_DAYS <= DEFAULT <= RETENTION_MAX_DAYS.")
# Pruning (beat, every RETENTION_PRUNE_SECONDS) deletes at most this many rows per statement, and at most
# RETENTION_PRUNE_BUDGET rows per beat run: a backlog is worked off over several runs, never in one long one.
RETENTION_PRUNE_SECONDS = env.int("RETENTION_PRUNE_SECONDS", default=900)
RETENTION_PRUNE_BATCH = env.int("RETENTION_PRUNE_BATCH", default=1000)
RETENTION_PRUNE_BUDGET = env.int("RETENTION_PRUNE_BUDGET", default=100_000)

# What one request (a page, a REPORT) may spend expanding repeating events (events/recurrence.py): occurrences
# handed out, rule steps taken inside or before the range, seconds. Past any of them the answer says it is partial.
RECURRENCE_MAX_OCCURRENCES = env.int("RECURRENCE_MAX_OCCURRENCES", default=1000)
RECURRENCE_MAX_STEPS = env.int("RECURRENCE_MAX_STEPS", default=50_000)
RECURRENCE_TIME_BUDGET = env.float("RECURRENCE_TIME_BUDGET", default=0.5)
# The events list page (events/views.py calendar_list) shows at most this many days at once, with next/previous
# links; what it expanded for each event is cached this long (keyed by the event's change sequence).
EVENTS_LIST_MAX_DAYS = env.int("EVENTS_LIST_MAX_DAYS", default=92)
EVENTS_LIST_CACHE_SECONDS = env.int("EVENTS_LIST_CACHE_SECONDS", default=24 * 3600)
# The reports' time index (reports/index.py) expands each series this far ahead (beat moves it along), and at
# most this many occurrences of one series (a daily series is 366 a year).
REPORTS_HORIZON_DAYS = env.int("REPORTS_HORIZON_DAYS", default=731)
REPORTS_MAX_OCCURRENCES = env.int("REPORTS_MAX_OCCURRENCES", default=5000)
# After a client, project or activity is renamed, its events are re-spelled by a Celery task this many items at a
# time (each batch one short transaction per calendar, then the next batch is queued).
BUSINESS_RENAME_BATCH = env.int("BUSINESS_RENAME_BATCH", default=200)
# How long a person's busy time (calsync calendars and their providers' free/busy) is reused for one range;
# any change to their calendars, or a sync that writes, drops it sooner.
SCHEDULING_FREE_BUSY_SECONDS = env.int("SCHEDULING_FREE_BUSY_SECONDS", default=120)

# CalDAV servers users may connect: plain http and addresses in our own network are for development.
CALDAV_ALLOW_HTTP = env.bool("CALDAV_ALLOW_HTTP", default=not PRODUCTION)
CALDAV_ALLOW_PRIVATE_ADDRESSES = env.bool("CALDAV_ALLOW_PRIVATE_ADDRESSES", default=not PRODUCTION)
# Networks user-entered servers (CalDAV, Exchange) may be in although they are not public, e.g. "10.20.0.0/16" for
# an Exchange server calsync is meant to reach inside the company; everything else non-public is refused.
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
try:
    [ipaddress.ip_network(_net) for _net in OUTBOUND_ALLOWED_NETWORKS]
except ValueError as _exc:
    raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {_exc}") from None

# ICS subscriptions (integrations/ics/): a feed's fetch timeout; how often a feed is polled (feeds change rarely);
# the longest a server's Cache-Control max-age may hold calsync back from asking again. Their size limit is
# ICS_IMPORT_MAX_BYTES, as for an imported file.
ICS_FEED_TIMEOUT_SECONDS = env.int("ICS_FEED_TIMEOUT_SECONDS", default=30)
ICS_POLL_SECONDS = env.int("ICS_POLL_SECONDS", default=900)
ICS_MAX_FRESH_SECONDS = env.int("ICS_MAX_FRESH_SECONDS", default=86400)
# The subscribe page's "Check" (and "Subscribe") fetch an address a user typed, while the user waits: each user
# may have this many fetched per hour, each given up after this many seconds (per wait; the body 4 times that).
ICS_CHECKS_PER_HOUR = env.int("ICS_CHECKS_PER_HOUR", default=20)
ICS_CHECK_TIMEOUT_SECONDS = env.int("ICS_CHECK_TIMEOUT_SECONDS", default=10)

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
# The credential radar (operations/radar.py). Service-account keys do not expire unless an organisation policy says
# so, but Google recommends rotating them: the radar warns as a key nears this age. An OAuth app still in "Testing"
# gets refresh tokens that lapse 7 days after sign-in, instead of after 6 months unused.
GOOGLE_KEY_ROTATION_DAYS = env.int("GOOGLE_KEY_ROTATION_DAYS", default=90)
if GOOGLE_KEY_ROTATION_DAYS < 1:
    raise ImproperlyConfigured("GOOGLE_KEY_ROTATION_DAYS must be at least 1.")
GOOGLE_OAUTH_TESTING = env.bool("GOOGLE_OAUTH_TESTING", default=False)
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
# Where browsers reach the sandbox emulator (its plain-http twin, no certificate warning): admin consent, and its
# page that changes events on the "Outlook" side. Empty outside the sandbox.
_ms_emulator = urlsplit(MICROSOFT_EMULATOR_URL)
MICROSOFT_EMULATOR_BROWSER_URL = env.str(
    "MICROSOFT_EMULATOR_BROWSER_URL",
    default=f"http://{_ms_emulator.hostname}:{(_ms_emulator.port or 443) + 1}" if MICROSOFT_SANDBOX else "",
).rstrip("/")
# The emulator's self-signed certificate in the sandbox; a CA bundle for Microsoft's endpoints otherwise (or none).
MICROSOFT_CA_BUNDLE = env.str(
    "MICROSOFT_CA_BUNDLE",
    default=str(VAR_DIR / "microsoft-emulator" / "microsoft-emulator.pem") if MICROSOFT_SANDBOX else "",
)
# Graph change notifications need an https address Graph can reach (calsync's public base URL); without one,
# polling goes on as before. In the sandbox the emulator calls calsync directly.
MICROSOFT_WEBHOOK_BASE_URL = env.str(
    "MICROSOFT_WEBHOOK_BASE_URL", default=SITE_URL if MICROSOFT_SANDBOX else ""
).rstrip("/")
# A subscription on Outlook events lives at most 10,080 minutes; calsync asks for this many and renews those
# ending within MICROSOFT_PUSH_RENEW_BEFORE_HOURS (hourly beat, in batches of MICROSOFT_PUSH_RENEW_BATCH).
MICROSOFT_PUSH_MINUTES = env.int("MICROSOFT_PUSH_MINUTES", default=10_000)
MICROSOFT_PUSH_RENEW_BEFORE_HOURS = env.int("MICROSOFT_PUSH_RENEW_BEFORE_HOURS", default=24)
MICROSOFT_PUSH_RENEW_BATCH = env.int("MICROSOFT_PUSH_RENEW_BATCH", default=500)
# One hourly renewal run stops after this long (what it left is still due at the next run).
MICROSOFT_PUSH_RENEW_SECONDS = env.int("MICROSOFT_PUSH_RENEW_SECONDS", default=1800)
MICROSOFT_RETRIES = env.int("MICROSOFT_RETRIES", default=3)
MICROSOFT_MAX_WAIT_SECONDS = env.int("MICROSOFT_MAX_WAIT_SECONDS", default=30)
MICROSOFT_TIMEOUT_SECONDS = env.int("MICROSOFT_TIMEOUT_SECONDS", default=30)
# The rolling window calendarView/delta reads: events moving into it arrive as it moves.
# Exchange on-premises over EWS: http:// servers only outside production (the password would travel in clear).
EXCHANGE_ALLOW_HTTP = env.bool("EXCHANGE_ALLOW_HTTP", default=not PRODUCTION)
# Set by `make run` when it starts the local EWS emulator; the connect page then offers its sandbox login.
EXCHANGE_SANDBOX_URL = "" if PRODUCTION else env.str("EXCHANGE_SANDBOX_URL", default="")
# Seconds calsync waits for an answer from an Exchange server before the run is retried later.
EXCHANGE_TIMEOUT_SECONDS = env.int("EXCHANGE_TIMEOUT_SECONDS", default=30)
# EWS notifications (`manage.py ews_listen`): how many integrations one listener process holds, how long its
# claim on them lasts unless renewed (another process takes them over after), how often it renews and claims.
EXCHANGE_LISTEN_CAPACITY = env.int("EXCHANGE_LISTEN_CAPACITY", default=2000)
EXCHANGE_LISTEN_LEASE_SECONDS = env.int("EXCHANGE_LISTEN_LEASE_SECONDS", default=90)
EXCHANGE_LISTEN_TICK_SECONDS = env.float("EXCHANGE_LISTEN_TICK_SECONDS", default=15)
# GetStreamingEvents' ConnectionTimeout, 1 to 30 minutes: a connection is reopened this often, and a subscription
# made meanwhile joins it then at the latest (sooner at a heartbeat), well within the 30 minutes Exchange keeps a
# subscription no connection carries.
EXCHANGE_STREAM_MINUTES = env.int("EXCHANGE_STREAM_MINUTES", default=10)
# GetStreamingEvents connections one listener keeps open per Exchange login (200 calendars each): Exchange's default
# throttling policy allows 10 (HangingConnectionLimit). Calendars past that are polled.
EXCHANGE_STREAMS_PER_LOGIN = env.int("EXCHANGE_STREAMS_PER_LOGIN", default=10)
# Where streaming is refused: GetEvents every this many seconds; the pull subscription lapses after its timeout.
EXCHANGE_PULL_SECONDS = env.float("EXCHANGE_PULL_SECONDS", default=10)
EXCHANGE_PULL_TIMEOUT_MINUTES = env.int("EXCHANGE_PULL_TIMEOUT_MINUTES", default=10)
# A calendar whose server refused both kinds of subscription is polled, and asked again after this long.
EXCHANGE_PUSH_RETRY_SECONDS = env.int("EXCHANGE_PUSH_RETRY_SECONDS", default=3600)
if not 1 <= EXCHANGE_STREAM_MINUTES <= 30 or not 1 <= EXCHANGE_PULL_TIMEOUT_MINUTES <= 1440:
    raise ImproperlyConfigured("EXCHANGE_STREAM_MINUTES is 1 to 30, EXCHANGE_PULL_TIMEOUT_MINUTES 1 to 1440.")
if EXCHANGE_LISTEN_LEASE_SECONDS < 2 * EXCHANGE_LISTEN_TICK_SECONDS:
    raise ImproperlyConfigured("EXCHANGE_LISTEN_LEASE_SECONDS must be at least twice EXCHANGE_LISTEN_TICK_SECONDS.")
MICROSOFT_SYNC_PAST_DAYS = env.int("MICROSOFT_SYNC_PAST_DAYS", default=90)
MICROSOFT_SYNC_FUTURE_DAYS = env.int("MICROSOFT_SYNC_FUTURE_DAYS", default=365)
if PRODUCTION and (MICROSOFT_GRAPH_URL.startswith("http://") or MICROSOFT_AUTHORITY_HOST.startswith("http://")):
    raise ImproperlyConfigured("Microsoft endpoints must be https:// in production.")
if PRODUCTION and MICROSOFT_WEBHOOK_BASE_URL.startswith("http://"):
    # https://learn.microsoft.com/graph/change-notifications-delivery-webhooks: Graph posts only to https.
    raise ImproperlyConfigured("MICROSOFT_WEBHOOK_BASE_URL must be https:// (or empty) in production.")

# --- calsync's own CalDAV server ------------------------------------------------

# Failed CalDAV logins allowed per (user, client address) and per client address within the window before
# answering 429. An address over its limit still serves users who signed in from it within DAV_KNOWN_ADDRESS_SECONDS.
DAV_MAX_FAILURES_PER_USER_AND_ADDRESS = env.int("DAV_MAX_FAILURES_PER_USER_AND_ADDRESS", default=10)
DAV_MAX_FAILURES_PER_ADDRESS = env.int("DAV_MAX_FAILURES_PER_ADDRESS", default=30)
DAV_FAILURE_WINDOW_SECONDS = env.int("DAV_FAILURE_WINDOW_SECONDS", default=900)
DAV_KNOWN_ADDRESS_SECONDS = env.int("DAV_KNOWN_ADDRESS_SECONDS", default=7 * 24 * 3600)
# The largest body a CalDAV client may send (one event, or one REPORT), in bytes.
DAV_MAX_BODY_BYTES = env.int("DAV_MAX_BODY_BYTES", default=2 * 1024 * 1024)

# --- what one calendar item may hold (events/limits.py; every way in: CalDAV, import, forms, provider syncs) ----
# Advertised to CalDAV clients as max-instances, max-attendees-per-instance, min- and max-date-time (RFC 4791 5.2).
ICAL_MAX_INSTANCES = env.int("ICAL_MAX_INSTANCES", default=10_000)  # a rule's COUNT: 27 years of daily events
ICAL_MAX_OVERRIDES = env.int("ICAL_MAX_OVERRIDES", default=1_000)  # changed occurrences of one series
ICAL_MAX_RECURRENCE_DATES = env.int("ICAL_MAX_RECURRENCE_DATES", default=1_000)  # EXDATEs, and RDATEs, per item
ICAL_MAX_ATTENDEES = env.int("ICAL_MAX_ATTENDEES", default=1_000)  # Google Workspace's own ceiling
# Dates outside these years are refused: no meeting is planned there, and a rule started in year 1 costs a
# reader millions of steps before it reaches today.
ICAL_EARLIEST_YEAR = env.int("ICAL_EARLIEST_YEAR", default=1900)
ICAL_LATEST_YEAR = env.int("ICAL_LATEST_YEAR", default=2200)
if not 1 < ICAL_EARLIEST_YEAR < ICAL_LATEST_YEAR < 9999:  # a day of margin: a zone's offset must not overflow
    raise ImproperlyConfigured("ICAL_EARLIEST_YEAR and ICAL_LATEST_YEAR must be in order, within 2..9998.")

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

# --- WebDAV-Push (dav/push.py) ---------------------------------------------------

# calsync's CalDAV server pushes calendar changes to registered clients (draft-bitfire-webdav-push over Web Push).
# A registration lasts what the client asked, at most DAV_PUSH_MAX_DAYS (the draft's floor is 3); changes within
# DAV_PUSH_DELAY_SECONDS of each other make one message; a calendar takes at most DAV_PUSH_MAX_PER_CALENDAR.
DAV_PUSH_MAX_DAYS = env.int("DAV_PUSH_MAX_DAYS", default=7)
DAV_PUSH_DELAY_SECONDS = env.float("DAV_PUSH_DELAY_SECONDS", default=2.0)
DAV_PUSH_MAX_PER_CALENDAR = env.int("DAV_PUSH_MAX_PER_CALENDAR", default=20)
DAV_PUSH_TIMEOUT_SECONDS = env.float("DAV_PUSH_TIMEOUT_SECONDS", default=10.0)
# Push resources are addresses clients hand calsync: private ones (this network, cloud metadata) are refused unless
# this says otherwise, whatever CALDAV_ALLOW_PRIVATE_ADDRESSES allows for servers a user enters.
DAV_PUSH_ALLOW_PRIVATE_ADDRESSES = env.bool("DAV_PUSH_ALLOW_PRIVATE_ADDRESSES", default=False)
if DAV_PUSH_MAX_DAYS < 3:
    raise ImproperlyConfigured("DAV_PUSH_MAX_DAYS must be at least 3 (draft-bitfire-webdav-push, Expiration).")
# calsync's CalDAV client registers for WebDAV-Push where a server offers it, and renews that many hours before the
# registration ends.
CALDAV_PUSH_ENABLED = env.bool("CALDAV_PUSH_ENABLED", default=True)
CALDAV_PUSH_RENEW_HOURS = env.int("CALDAV_PUSH_RENEW_HOURS", default=24)

# --- provider quotas (integrations/quota.py) ------------------------------------------

# Every worker's requests to a provider count against one shared token bucket per scope, in this Redis (by default
# the broker's); without one (development) each process keeps its own. Each limit is what the provider publishes.
QUOTA_REDIS_URL = env.str("QUOTA_REDIS_URL", default=REDIS_URL)
QUOTA_KEY_PREFIX = env.str("QUOTA_KEY_PREFIX", default="calsync:quota:")
# A request that would wait longer than this for room is not sent: the run is retried later ("throttled").
QUOTA_MAX_WAIT_SECONDS = env.float("QUOTA_MAX_WAIT_SECONDS", default=2.0)
# A concurrency slot frees itself after this long, so a worker killed mid-request cannot hold it (longer than the
# slowest request: the providers' timeouts are 30 s).
QUOTA_SLOT_SECONDS = env.float("QUOTA_SLOT_SECONDS", default=120.0)
# https://developers.google.com/workspace/calendar/api/guides/quota: per minute per project, per user per project.
GOOGLE_QUOTA_PER_PROJECT_PER_MINUTE = env.int("GOOGLE_QUOTA_PER_PROJECT_PER_MINUTE", default=10_000)
GOOGLE_QUOTA_PER_USER_PER_MINUTE = env.int("GOOGLE_QUOTA_PER_USER_PER_MINUTE", default=600)
# https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits: per app per mailbox.
MICROSOFT_QUOTA_PER_MAILBOX_PER_10_MINUTES = env.int("MICROSOFT_QUOTA_PER_MAILBOX_PER_10_MINUTES", default=10_000)
MICROSOFT_QUOTA_CONCURRENT_PER_MAILBOX = env.int("MICROSOFT_QUOTA_CONCURRENT_PER_MAILBOX", default=4)
# EWS budgets are server time and connections per login, set by each server's throttling policy
# (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange); these
# keep calsync well inside the default policy and an admin can lower them for a stricter one.
EXCHANGE_QUOTA_PER_LOGIN_PER_MINUTE = env.int("EXCHANGE_QUOTA_PER_LOGIN_PER_MINUTE", default=600)
EXCHANGE_QUOTA_CONCURRENT_PER_LOGIN = env.int("EXCHANGE_QUOTA_CONCURRENT_PER_LOGIN", default=10)

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
else:
    # A broker that does not answer must fail a web request in seconds, not hang it (redis-py waits forever by default).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 3}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Publishing: one quick retry (a dropped pooled connection), then the caller hears the queue is unreachable.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 0.5}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Prepended to the sync queues' names (calsync.queue): a test's worker listens on a set of its own.
CELERY_QUEUE_PREFIX = env.str("CELERY_QUEUE_PREFIX", default="")
# A worker started without -Q takes every queue; give workers to one queue each with
# `celery -A calsync worker -Q sync_manual` (README, "Dispatch and queues").
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name)
    for name in ["celery", *(f"{CELERY_QUEUE_PREFIX}{queue}" for queue in SYNC_QUEUES)]
]
# Every periodic task, in one place.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "dispatch-due-syncs": {"task": "sync.tasks.dispatch_due", "schedule": float(SYNC_DISPATCH_SECONDS)},
    "sweep-stale-syncs": {"task": "sync.tasks.sweep", "schedule": float(SYNC_SWEEP_SECONDS)},
    "renew-google-push-channels": {"task": "integrations.google_renew_channels", "schedule": 3600.0},
    "renew-microsoft-subscriptions": {"task": "integrations.microsoft_renew_subscriptions", "schedule": 3600.0},
    # Hourly on the 1st and 2nd: a saved report's month ends at midnight in its organisation's zone (UTC-12 to
    # UTC+14), and each is sent once (reports.services.monthly_report_send claims the month).
    "email-monthly-reports": {
        "task": "reports.tasks.send_monthly_reports",
        "schedule": crontab(minute="7", day_of_month="1,2"),
    },
    # The reports' time index reaches REPORTS_HORIZON_DAYS ahead: series without an end get their next day.
    "extend-reports-horizon": {"task": "reports.extend_horizon", "schedule": 86400.0},
    # Old sync runs, their logs and other finished history, in bounded batches (sync/retention.py).
    "prune-history": {"task": "sync.tasks.prune", "schedule": float(RETENTION_PRUNE_SECONDS)},
    "prune-tombstones": {"task": "events.tasks.prune_tombstones", "schedule": 3600.0},
    # Expired WebDAV-Push registrations of calsync's CalDAV server (dav/push.py).
    "prune-push-registrations": {"task": "dav.tasks.prune_push_registrations", "schedule": 3600.0},
    # Expiring credentials: re-read the Microsoft 365 apps' dates, email admins 30 and 7 days before (operations).
    "credential-radar": {"task": "operations.tasks.radar_notify", "schedule": crontab(minute="17", hour="6")},
}

# Deleted items are reported to sync tokens (CalDAV clients, calsync's own sync cursors) for as long as the
# organisation keeps its sync history (events.tombstones.tombstone_retention); an older token is refused and its
# client lists the calendar again. Pruning deletes at most a batch per transaction.
TOMBSTONE_PRUNE_BATCH = env.int("TOMBSTONE_PRUNE_BATCH", default=1000)
if TOMBSTONE_PRUNE_BATCH < 1:
    raise ImproperlyConfigured("TOMBSTONE_PRUNE_BATCH must be at least 1.")

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
EMAIL_HOST = _email.get("EMAIL_HOST") or ""
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
if EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
    # django-environ drops the leading "/" of filemail:///var/mail; the directory is the URL's whole path.
    _mail_url = urlsplit(env.str("EMAIL_URL"))
    if _mail_url.netloc or not _mail_url.path.startswith("/"):
        raise ImproperlyConfigured("EMAIL_URL=filemail:// needs an absolute directory, e.g. filemail:///var/mail.")
    EMAIL_FILE_PATH = _mail_url.path
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="calsync <noreply@localhost>")

# Meetings (meetings/): how long an invitation's answer link works; the address iMIP replies come back to (each
# meeting's is replies+<signed tag>@domain; "" = replies go to the owner's own address); a shared secret the
# inbound endpoint also requires when set (the MTA or webhook sends it as X-Calsync-Inbound-Secret).
MEETINGS_ANSWER_LINK_DAYS = env.int("MEETINGS_ANSWER_LINK_DAYS", default=90)
MEETINGS_REPLY_ADDRESS = env.str("MEETINGS_REPLY_ADDRESS", default="")
MEETINGS_INBOUND_SECRET = env.str("MEETINGS_INBOUND_SECRET", default="")

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
    "filters": {"forbidden_without_traceback": {"()": "calsync.logformat.ForbiddenWithoutTraceback"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # exchangelib logs whole SOAP requests and responses (people's events) at DEBUG: keep it to warnings.
        "exchangelib": {"level": "WARNING"},
        # urllib3 logs request paths and queries at DEBUG (connectionpool, util.retry, poolmanager): an ICS feed's
        # address may be its only credential. The parent logger covers every one of them.
        "urllib3": {"level": "INFO"},
        # An ordinary 403 is one warning line, not a traceback (calsync.logformat).
        "django.request": {"filters": ["forbidden_without_traceback"]},
    },
}
