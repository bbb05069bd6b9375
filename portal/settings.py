"""Django settings for Latchkey. Every tunable value comes from portal.config (the environment)."""

from __future__ import annotations

from datetime import timedelta

from portal import config
from portal.channels import CHANNELS, channel_queues, task_routes
from portal.client_address import parse_networks
from portal.config import BASE_DIR

DEBUG = config.get_bool("DEBUG", False)
# Production (docker-compose.yml sets it): secure defaults below, and no start with a guessable key.
LATCHKEY_PRODUCTION = config.get_bool("LATCHKEY_PRODUCTION", False)
SECRET_KEY = config.get_str("SECRET_KEY", "" if LATCHKEY_PRODUCTION else config.DEV_SECRET_KEY)
# Rotation: earlier SECRET_KEYs still verify sessions and signed links (Django's own mechanism).
SECRET_KEY_FALLBACKS = config.get_list("SECRET_KEY_FALLBACKS", [])
# The key ring for secrets at rest and stay links: comma-separated, newest first (portal.crypto).
# Outside production an empty value derives the key from SECRET_KEY (and its fallbacks).
LATCHKEY_ENCRYPTION_KEYS = config.get_list("LATCHKEY_ENCRYPTION_KEY", [])
if LATCHKEY_PRODUCTION:
    config.check_production_secrets(
        secret_key=SECRET_KEY,
        secret_key_fallbacks=SECRET_KEY_FALLBACKS,
        encryption_keys=LATCHKEY_ENCRYPTION_KEYS,
    )
ALLOWED_HOSTS = config.get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = config.get_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = config.get_url("LATCHKEY_SITE_URL", "http://localhost:8000")
# Where bridges POST their callbacks: plain http on the LAN (bridges cannot do https).
LATCHKEY_BRIDGE_CALLBACK_BASE = config.get_url("LATCHKEY_BRIDGE_CALLBACK_BASE", "") or SITE_URL
# Nuki Web (cloud): OAuth2 client and base URLs; the demo and tests point them at the stand-in.
NUKI_WEB_API_URL = config.get_url("NUKI_WEB_API_URL", "https://api.nuki.io")
NUKI_WEB_OAUTH_URL = config.get_url("NUKI_WEB_OAUTH_URL", "https://api.nuki.io/oauth")
NUKI_WEB_CLIENT_ID = config.get_str("NUKI_WEB_CLIENT_ID", "")
# `make run`: the Procfile's Nuki Web stand-in listens here (loopback); the demo connects to it.
LATCHKEY_DEMO_NUKIWEB_PORT = config.get_int("LATCHKEY_DEMO_NUKIWEB_PORT", 8090)
NUKI_WEB_CLIENT_SECRET = config.get_str("NUKI_WEB_CLIENT_SECRET", "")
NUKI_WEB_SCOPES = config.get_str(
    "NUKI_WEB_SCOPES",
    "account smartlock smartlock.readOnly smartlock.action smartlock.auth smartlock.log "
    "webhook.decentral",
)
# Redis for cross-process locks (one request at a time per bridge); the broker when it is Redis.
LATCHKEY_LOCK_REDIS_URL = config.get_url("LATCHKEY_LOCK_REDIS_URL", "")
# Outgoing fetches of user-typed URLs (iCal feeds): private and loopback targets are refused
# unless this is true (self-hosters with a calendar server on their LAN; tests).
LATCHKEY_ALLOW_PRIVATE_URLS = config.get_bool("LATCHKEY_ALLOW_PRIVATE_URLS", False)
# iCal feeds: how often each is polled, the largest answer read, failures before an alert.
LATCHKEY_ICAL_POLL_SECONDS = config.get_float("LATCHKEY_ICAL_POLL_SECONDS", 900.0)
LATCHKEY_ICAL_MAX_BYTES = config.get_int("LATCHKEY_ICAL_MAX_BYTES", 5_000_000)
LATCHKEY_ICAL_TIMEOUT_SECONDS = config.get_float("LATCHKEY_ICAL_TIMEOUT_SECONDS", 20.0)
LATCHKEY_ICAL_ALERT_AFTER = config.get_int("LATCHKEY_ICAL_ALERT_AFTER", 3)
# Finished routine commands (reconcile rounds, code syncs) replaced by a newer one are deleted
# after this many days (locks.retention.RoutineCommandPrune, in the hourly retention task).
LATCHKEY_COMMAND_RETENTION_DAYS = config.get_float("LATCHKEY_COMMAND_RETENTION_DAYS", 30.0)
# Ended codes (no longer wanted, on no lock) become AccessCodeHistory rows, without digits,
# this many days after their window ended, and never before the guest retention + a week.
LATCHKEY_CODE_HISTORY_DAYS = config.get_float("LATCHKEY_CODE_HISTORY_DAYS", 30.0)
# Beat's tick for the iCal poll: each tick queues the feeds whose slot has come, at most
# ceil(feeds x tick / interval x headroom) (bookings/ical/schedule.py).
LATCHKEY_ICAL_TICK_SECONDS = config.get_float(
    "LATCHKEY_ICAL_TICK_SECONDS", min(60.0, LATCHKEY_ICAL_POLL_SECONDS)
)

VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)
(BASE_DIR / "staticfiles").mkdir(exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files (portal/api_docs.py)
    "django_celery_beat",
    "django_htmx",
    "csp",
    "portal",
    "properties",
    "locks",
    "bookings",
    "web",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.StaticFilesMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.middleware.body_size_limit_middleware",
    "portal.bulkhead.bulkhead_middleware",  # gives back the slot an API request took
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.session_idle_middleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "web.zones.zone_middleware",  # every request starts and ends in UTC
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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

DATABASES = {
    "default": config.get_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'latchkey.sqlite3'}")
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL and a busy timeout let web, worker and beat share the demo database.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = config.get_int("DATABASE_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Names the service in pg_stat_activity (which process holds or waits for what).
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = config.get_str(
        "LATCHKEY_DB_APPLICATION_NAME", "latchkey"
    )
    # Under ASGI (portal/asgi.py sets it) every request runs in a thread of its own, so no
    # thread keeps a connection: each process keeps a pool instead (psycopg_pool, via Django),
    # else every request and every agent poll's re-check would open a PostgreSQL backend.
    if config.get_bool("LATCHKEY_DB_POOL", False):
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool requires it
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2,
            "max_size": config.get_int("LATCHKEY_DB_POOL_MAX", 20),
            "timeout": 10,
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Rate limits count in the cache, so every web process must share it: Redis via CACHE_URL, else
# locked files under var/cache (portal.filecache: atomic across the gunicorn workers of one
# machine). Production refuses to start without a shared one (per-process caches count alone).
CACHE_URL = config.get_url("CACHE_URL", "")
if LATCHKEY_PRODUCTION and (not CACHE_URL or CACHE_URL.startswith(("locmem", "dummy"))):
    raise config.ConfigError(
        "Environment variable CACHE_URL must name a cache every process shares in production "
        "(e.g. redis://redis:6379/1): rate limits count there."
    )
CACHES = {
    "default": config.env.cache_url_config(CACHE_URL)
    if CACHE_URL
    else {"BACKEND": "portal.filecache.LockedFileCache", "LOCATION": str(VAR_DIR / "cache")}
}
if CACHES["default"]["BACKEND"].endswith(".FileBasedCache"):  # filecache://: its incr is not atomic
    CACHES["default"]["BACKEND"] = "portal.filecache.LockedFileCache"
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "portal.rediscache.SharedRedisCache"  # a pool per process

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = config.get_bool("SESSION_COOKIE_SECURE", LATCHKEY_PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# HTTPS, on by default in production (`manage.py check --deploy` is then silent). Behind a proxy
# that terminates TLS, SECURE_PROXY_SSL_HEADER names the header it sets (X-Forwarded-Proto).
SECURE_PROXY_SSL_HEADER = config.get_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = config.get_bool("SECURE_SSL_REDIRECT", LATCHKEY_PRODUCTION)
# Plain http stays for the container health check (http://127.0.0.1:8000/healthz) and for Nuki
# bridges, which can only call back over http on the LAN (LATCHKEY_BRIDGE_CALLBACK_BASE).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^hooks/bridge/"]
_YEAR = 365 * 24 * 3600
SECURE_HSTS_SECONDS = config.get_int("SECURE_HSTS_SECONDS", _YEAR if LATCHKEY_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = config.get_bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", LATCHKEY_PRODUCTION
)
SECURE_HSTS_PRELOAD = config.get_bool("SECURE_HSTS_PRELOAD", LATCHKEY_PRODUCTION)
# Content-Security-Policy on every response (django-csp): scripts and style sheets from this
# origin only, so an injected <script> or on*= handler never runs. Page behaviour lives in
# web/static/latchkey/portal.js; htmx is told not to inject its <style> (templates/base.html).
# Inline style *attributes* stay allowed (style-src-attr): they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
}

# Bodies larger than this answer 413 (portal.middleware).
LATCHKEY_MAX_BODY_BYTES = config.get_int("LATCHKEY_MAX_BODY_BYTES", 256 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LATCHKEY_MAX_BODY_BYTES

# Email: files under var/mail by default (never the console, so codes stay out of process logs),
# SMTP through EMAIL_URL; every message is also kept in the database for the manager.
EMAIL_URL = config.get_url("EMAIL_URL", "")
if EMAIL_URL:
    vars().update(config.env.email_url_config(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = config.get_str("DEFAULT_FROM_EMAIL", "Latchkey <checkin@latchkey.local>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api_auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["portal.permissions.OrganizationAccess"],
    # JSON with a nesting limit and no RecursionError / digit-limit 500s (portal/jsonparse.py).
    "DEFAULT_PARSER_CLASSES": [
        "portal.jsonparse.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.throttling.OrganizationRateThrottle",
        "portal.throttling.StrangerRateThrottle",
        "portal.bulkhead.OrganizationConcurrencyThrottle",  # last: only admitted requests wait
    ],
    "DEFAULT_THROTTLE_RATES": {
        "organization": config.get_str("LATCHKEY_API_RATE", "6000/min"),
        "lock_actions": config.get_str("LATCHKEY_ACTION_RATE", "60/min"),
        "ical_fetch": config.get_str("LATCHKEY_ICAL_FETCH_RATE", "10/min"),
        "anon": config.get_str("LATCHKEY_ANON_RATE", "60/min"),
        "pms_hook": config.get_str("LATCHKEY_PMS_HOOK_RATE", "1200/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "portal.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Latchkey API",
    "DESCRIPTION": "Bookings in, keypad codes out. Send `Authorization: Bearer <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Two choice sets share a field name with others ("status", "kind"): name them.
    "ENUM_NAME_OVERRIDES": {
        "BookingStatusEnum": "bookings.models.BookingStatus",
        "PmsKindEnum": "bookings.pms.models.PmsKind",
    },
    # /api/docs/ and /api/redoc/ load their scripts from our own static files, pinned by
    # requirements.txt (drf-spectacular-sidecar): never from a CDN (portal/api_docs.py).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # "Authorize" once with an API key, and it survives a reload of the page.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": True},
}

# Celery: an embedded filesystem broker by default (no server needed); Redis via CELERY_BROKER_URL.
# The host part names no server (the folders below are the broker) but keeps kombu from logging
# "No hostname was supplied" on every connection.
CELERY_BROKER_URL = config.get_url("CELERY_BROKER_URL", "filesystem://localhost//")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
# A request never waits long for a broker that is down or silent: messages go out after commit
# (portal/aftercommit.py), one publish retry, connect and socket timeouts of a few seconds (a
# refused connection fails at once; a silent broker after about 2 x this). Unsent lock commands
# stay in the outbox for the sweep. Without the socket timeout a publish waits forever.
LATCHKEY_BROKER_TIMEOUT_SECONDS = config.get_float("LATCHKEY_BROKER_TIMEOUT_SECONDS", 3.0)
CELERY_BROKER_CONNECTION_TIMEOUT = LATCHKEY_BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": LATCHKEY_BROKER_TIMEOUT_SECONDS,
        "socket_timeout": LATCHKEY_BROKER_TIMEOUT_SECONDS,
    }
# Queues per channel (portal/channels.py); LATCHKEY_QUEUE prefixes every queue's name.
LATCHKEY_CHANNELS = CHANNELS
LATCHKEY_QUEUES = channel_queues(config.get_str("LATCHKEY_QUEUE", ""))
CELERY_TASK_QUEUES = {
    name: {"exchange": name, "routing_key": name} for name in LATCHKEY_QUEUES.values()
}
CELERY_TASK_DEFAULT_QUEUE = LATCHKEY_QUEUES["codes"]
CELERY_TASK_ROUTES = task_routes(LATCHKEY_QUEUES)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless this
# is set: a new PostgreSQL backend (a process fork and a login) twice per booking, which cost
# more CPU than the tasks themselves (bench/latency.py). Connections are kept instead, and
# Django's own rules (CONN_MAX_AGE, health checks) decide before each task (portal/celery.py).
CELERY_DB_REUSE_MAX = 100_000
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = config.get_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# The sync engine.
LATCHKEY_SWEEP_SECONDS = config.get_float("LATCHKEY_SWEEP_SECONDS", 30.0)
LATCHKEY_COMMAND_LEASE_SECONDS = config.get_float("LATCHKEY_COMMAND_LEASE_SECONDS", 120.0)
LATCHKEY_COMMAND_MAX_ATTEMPTS = config.get_int("LATCHKEY_COMMAND_MAX_ATTEMPTS", 8)
LATCHKEY_RETRY_BASE_SECONDS = config.get_float("LATCHKEY_RETRY_BASE_SECONDS", 5.0)
LATCHKEY_RETRY_MAX_SECONDS = config.get_float("LATCHKEY_RETRY_MAX_SECONDS", 1800.0)
# Every lock's codes are read back once per LATCHKEY_RECONCILE_SECONDS, spread over it: beat
# ticks every LATCHKEY_RECONCILE_TICK_SECONDS and takes the locks due (locks/sync/schedule.py).
LATCHKEY_RECONCILE_SECONDS = config.get_float("LATCHKEY_RECONCILE_SECONDS", 900.0)
LATCHKEY_RECONCILE_TICK_SECONDS = config.get_float("LATCHKEY_RECONCILE_TICK_SECONDS", 60.0)
LATCHKEY_PLAN_SECONDS = config.get_float("LATCHKEY_PLAN_SECONDS", 60.0)
# Per-tenant caps: no organization can crowd out the others (0 = no cap where noted).
LATCHKEY_ORG_RUNNING_COMMANDS = config.get_int("LATCHKEY_ORG_RUNNING_COMMANDS", 8)  # 0: none
LATCHKEY_ICAL_MAX_STAYS = config.get_int("LATCHKEY_ICAL_MAX_STAYS", 2000)
LATCHKEY_ORG_MAX_AGENTS = config.get_int("LATCHKEY_ORG_MAX_AGENTS", 20)
LATCHKEY_AGENT_MAX_LOCKS = config.get_int("LATCHKEY_AGENT_MAX_LOCKS", 50)
LATCHKEY_AGENT_MAX_POLLS = config.get_int("LATCHKEY_AGENT_MAX_POLLS", 2)
# How long a command waits for an on-site agent's answer to one job before the sweep retries it (or,
# out of attempts, fails it in plain words). No worker waits meanwhile: the answer resumes it.
LATCHKEY_AGENT_JOB_DEADLINE_SECONDS = config.get_float("LATCHKEY_AGENT_JOB_DEADLINE_SECONDS", 45.0)
LATCHKEY_ORG_MAX_BRIDGES = config.get_int("LATCHKEY_ORG_MAX_BRIDGES", 20)
# One organization's API requests at work at once per web process (portal/bulkhead.py), so
# it cannot hold the whole database pool; the next waits this long, then gets 429. 0: no cap.
LATCHKEY_ORG_WEB_CONCURRENCY = config.get_int("LATCHKEY_ORG_WEB_CONCURRENCY", 4)
# ... and of its writes (POST, PUT, PATCH, DELETE: a booking plans codes on every lock), apart.
LATCHKEY_ORG_WEB_WRITE_CONCURRENCY = config.get_int("LATCHKEY_ORG_WEB_WRITE_CONCURRENCY", 2)
LATCHKEY_ORG_WEB_WAIT_SECONDS = config.get_float("LATCHKEY_ORG_WEB_WAIT_SECONDS", 10.0)
# Agent long-polls hold no thread (locks/integrations/ble_agent/wake.py): with a Redis cache
# they block on a per-agent Redis list that job creation pushes to; without one (make run's
# embedded defaults) they look at a wake key in the shared cache every
# LATCHKEY_AGENT_POLL_FALLBACK_SECONDS.
LATCHKEY_AGENT_WAKE_URL = config.get_url(
    "LATCHKEY_AGENT_WAKE_URL", CACHE_URL if CACHE_URL.startswith(("redis://", "rediss://")) else ""
)
# With Redis, a poll still re-checks the database this often: a job handed out again after a
# lost answer (locks.integrations.ble_agent.jobs JOB_RESEND_SECONDS) signals nobody.
LATCHKEY_AGENT_POLL_RECHECK_SECONDS = config.get_float("LATCHKEY_AGENT_POLL_RECHECK_SECONDS", 5.0)
LATCHKEY_AGENT_POLL_FALLBACK_SECONDS = config.get_float("LATCHKEY_AGENT_POLL_FALLBACK_SECONDS", 0.5)
# Served without a thread per request (portal.asgi): the agents' job long-poll.
LATCHKEY_LONG_POLL_PATHS = ("/agent/v1/jobs",)
# Request budgets per Nuki Web account and per bridge (locks/budgets.py, docs/budgets.md; 0 = none).
_REDIS_URLS = [u for u in (CACHE_URL, CELERY_BROKER_URL) if u.startswith(("redis://", "rediss://"))]
LATCHKEY_BUDGET_REDIS_URL = config.get_url(
    "LATCHKEY_BUDGET_REDIS_URL", LATCHKEY_LOCK_REDIS_URL or (_REDIS_URLS or [""])[0]
)
LATCHKEY_NUKI_WEB_RATE_PER_MINUTE = config.get_float("LATCHKEY_NUKI_WEB_RATE_PER_MINUTE", 90.0)
LATCHKEY_NUKI_WEB_BURST = config.get_int("LATCHKEY_NUKI_WEB_BURST", 10)
LATCHKEY_BRIDGE_RATE_PER_MINUTE = config.get_float("LATCHKEY_BRIDGE_RATE_PER_MINUTE", 30.0)
LATCHKEY_BRIDGE_BURST = config.get_int("LATCHKEY_BRIDGE_BURST", 5)
LATCHKEY_BUDGET_MAX_WAIT_SECONDS = config.get_float("LATCHKEY_BUDGET_MAX_WAIT_SECONDS", 2.0)
LATCHKEY_NUKI_WEB_LOG_FALLBACK_SECONDS = config.get_float(
    "LATCHKEY_NUKI_WEB_LOG_FALLBACK_SECONDS", 3600.0
)

CELERY_BEAT_SCHEDULE = {
    "sweep-lost-commands": {
        "task": "locks.tasks.sweep_commands",
        "schedule": timedelta(seconds=LATCHKEY_SWEEP_SECONDS),
    },
    "plan-due-codes": {
        "task": "locks.tasks.plan_due_codes",
        "schedule": timedelta(seconds=LATCHKEY_PLAN_SECONDS),
    },
    "sync-bridge-logs": {  # on the bridge queue (CELERY_TASK_ROUTES): it waits on bridges
        "task": "locks.tasks.sync_bridge_logs",
        "schedule": timedelta(seconds=config.get_float("LATCHKEY_BRIDGE_LOG_SECONDS", 300.0)),
    },
    "reconcile-locks": {  # one tick: the locks due now, at most the fleet / ticks per period
        "task": "locks.tasks.reconcile_all",
        "schedule": timedelta(
            seconds=max(1.0, min(LATCHKEY_RECONCILE_TICK_SECONDS, LATCHKEY_RECONCILE_SECONDS))
        ),
    },
    "poll-ical-feeds": {  # queues the feeds that are due; each is due every POLL_SECONDS
        "task": "bookings.ical.tasks.poll_due_feeds",
        "schedule": timedelta(seconds=LATCHKEY_ICAL_TICK_SECONDS),
    },
    "sweep-pms-events": {
        "task": "bookings.pms.tasks.sweep_pms_events",
        "schedule": timedelta(minutes=2),
    },
    "alert-codes-not-set": {
        "task": "bookings.tasks.alert_unset_codes",
        "schedule": timedelta(minutes=10),
    },
    "assign-backup-codes": {
        "task": "bookings.tasks.assign_backup_codes",
        "schedule": timedelta(seconds=LATCHKEY_PLAN_SECONDS),
    },
    "apply-retention": {  # per organization: raw deliveries, lock events, guests' data
        "task": "bookings.tasks.apply_retention",
        "schedule": timedelta(seconds=config.get_float("LATCHKEY_RETENTION_SECONDS", 3600.0)),
    },
}

# The guest's stay page (/stay/<token>/): how long the link lives after check-out, and rate
# limits per link and per client address (N/s, N/m, N/h or N/d).
LATCHKEY_STAY_LINK_GRACE_HOURS = config.get_float("LATCHKEY_STAY_LINK_GRACE_HOURS", 6.0)
LATCHKEY_STAY_OPEN_RATE = config.get_rate("LATCHKEY_STAY_OPEN_RATE", "10/h")
LATCHKEY_STAY_IP_RATE = config.get_rate("LATCHKEY_STAY_IP_RATE", "30/h")
LATCHKEY_STAY_MISS_RATE = config.get_rate("LATCHKEY_STAY_MISS_RATE", "20/h")
LATCHKEY_STAY_VIEW_RATE = config.get_rate("LATCHKEY_STAY_VIEW_RATE", "600/h")

# Limits that hold (issue 12 item 6). X-Forwarded-For is believed only from these proxies
# (addresses or networks, comma-separated; portal.client_address): empty = no proxy in front.
LATCHKEY_TRUSTED_PROXIES = config.get_list("LATCHKEY_TRUSTED_PROXIES", [])
try:
    parse_networks(LATCHKEY_TRUSTED_PROXIES)
except ValueError as exc:
    raise config.ConfigError(f"Environment variable {exc}") from None
# Sign-in (ours and /admin/login/): failed attempts per client address and per username.
LATCHKEY_LOGIN_FAILURES_ALLOWED = config.get_int("LATCHKEY_LOGIN_FAILURES_ALLOWED", 10)
LATCHKEY_LOGIN_WINDOW_SECONDS = config.get_int("LATCHKEY_LOGIN_WINDOW_SECONDS", 300)
# The most rows one API page returns, whatever ?limit= asks (portal.pagination).
LATCHKEY_API_MAX_LIMIT = config.get_int("LATCHKEY_API_MAX_LIMIT", 200)
# A signed-in session ends after this many minutes without a request (portal.middleware).
LATCHKEY_SESSION_IDLE_MINUTES = max(1, config.get_int("LATCHKEY_SESSION_IDLE_MINUTES", 120))
SESSION_COOKIE_AGE = LATCHKEY_SESSION_IDLE_MINUTES * 60

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Request paths in log lines (django.request's "Not Found: /stay/...", runserver) carry
    # tokens: the filter masks them (portal.log_masking; gunicorn: portal.access_log).
    "filters": {
        "mask_tokens": {"()": "portal.log_masking.MaskTokensFilter"},
        # A 403 or 400 is one line, not a traceback (portal/log_quiet.py); 5xx keep theirs.
        "client_errors_quiet": {"()": "portal.log_quiet.ClientErrorsWithoutTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": config.get_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["client_errors_quiet"]},
    },
}
