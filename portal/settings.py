"""Django settings for Latchkey. Every tunable value comes from portal.config (the environment)."""

from __future__ import annotations

from datetime import timedelta

from portal import config
from portal.config import BASE_DIR

DEBUG = config.get_bool("DEBUG", False)
SECRET_KEY = config.get_str("SECRET_KEY", "insecure-dev-key-change-me-in-production-0123456789")
if (
    not DEBUG
    and SECRET_KEY.startswith("insecure-")
    and config.get_bool("LATCHKEY_PRODUCTION", False)
):
    raise config.ConfigError("Environment variable SECRET_KEY must be set in production.")
ALLOWED_HOSTS = config.get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = config.get_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = config.get_url("LATCHKEY_SITE_URL", "http://localhost:8000")
# Key for secrets at rest (bridge tokens, OAuth tokens); derived from SECRET_KEY when unset.
LATCHKEY_ENCRYPTION_KEY = config.get_str("LATCHKEY_ENCRYPTION_KEY", "")
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
    "django_celery_beat",
    "django_htmx",
    "portal",
    "properties",
    "locks",
    "bookings",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
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
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = config.get_url("CACHE_URL", "locmemcache://")
CACHES = {"default": config.env.cache_url_config(CACHE_URL)}

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
SESSION_COOKIE_SECURE = config.get_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

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
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.throttling.OrganizationRateThrottle",
        "portal.throttling.StrangerRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "organization": config.get_str("LATCHKEY_API_RATE", "6000/min"),
        "lock_actions": config.get_str("LATCHKEY_ACTION_RATE", "60/min"),
        "ical_fetch": config.get_str("LATCHKEY_ICAL_FETCH_RATE", "10/min"),
        "anon": config.get_str("LATCHKEY_ANON_RATE", "60/min"),
        "pms_hook": config.get_str("LATCHKEY_PMS_HOOK_RATE", "1200/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Latchkey API",
    "DESCRIPTION": "Bookings in, keypad codes out. Send `Authorization: Bearer <key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Celery: an embedded filesystem broker by default (no server needed); Redis via CELERY_BROKER_URL.
CELERY_BROKER_URL = config.get_url("CELERY_BROKER_URL", "filesystem://")
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
CELERY_TASK_DEFAULT_QUEUE = config.get_str("LATCHKEY_QUEUE", "latchkey")
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
LATCHKEY_RECONCILE_SECONDS = config.get_float("LATCHKEY_RECONCILE_SECONDS", 900.0)
LATCHKEY_PLAN_SECONDS = config.get_float("LATCHKEY_PLAN_SECONDS", 60.0)

CELERY_BEAT_SCHEDULE = {
    "sweep-lost-commands": {
        "task": "locks.tasks.sweep_commands",
        "schedule": timedelta(seconds=LATCHKEY_SWEEP_SECONDS),
    },
    "plan-due-codes": {
        "task": "locks.tasks.plan_due_codes",
        "schedule": timedelta(seconds=LATCHKEY_PLAN_SECONDS),
    },
    "sync-bridge-logs": {
        "task": "locks.tasks.sync_bridge_logs",
        "schedule": timedelta(seconds=config.get_float("LATCHKEY_BRIDGE_LOG_SECONDS", 300.0)),
    },
    "reconcile-locks": {
        "task": "locks.tasks.reconcile_all",
        "schedule": timedelta(seconds=LATCHKEY_RECONCILE_SECONDS),
    },
    "poll-ical-feeds": {  # queues the feeds that are due; each is due every POLL_SECONDS
        "task": "bookings.ical.tasks.poll_due_feeds",
        "schedule": timedelta(seconds=min(60.0, LATCHKEY_ICAL_POLL_SECONDS)),
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
}

# The guest's stay page (/stay/<token>/): how long the link lives after check-out, and rate
# limits per link and per client address (N/s, N/m, N/h or N/d).
LATCHKEY_STAY_LINK_GRACE_HOURS = config.get_float("LATCHKEY_STAY_LINK_GRACE_HOURS", 6.0)
LATCHKEY_STAY_OPEN_RATE = config.get_rate("LATCHKEY_STAY_OPEN_RATE", "10/h")
LATCHKEY_STAY_IP_RATE = config.get_rate("LATCHKEY_STAY_IP_RATE", "30/h")
LATCHKEY_STAY_MISS_RATE = config.get_rate("LATCHKEY_STAY_MISS_RATE", "20/h")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": config.get_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
