"""Settings for every environment, read entirely from the environment (see .env.example).

Local and production run the same code; they differ only in the values below.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from huntaze.core.env import (
    env_bool,
    env_float,
    env_header_pair,
    env_int,
    env_list,
    env_optional,
    env_rate,
    env_str,
    redis_url_from_endpoint,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str(
    "DJANGO_SECRET_KEY",
    "insecure-local-development-only-key-never-use-in-production" if DEBUG else None,
)
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("PORT", 8000, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "onlyfans",
    "crm",
]

MIDDLEWARE = [
    # First: a load balancer's health checks answer before host checks and HTTPS redirects.
    "huntaze.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "huntaze.urls"
WSGI_APPLICATION = "huntaze.wsgi.application"
# The API's paths have no trailing slash; the URL patterns accept both, so no redirect is needed.
APPEND_SLASH = False

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
    "default": environ.Env.db_url_config(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server, the worker and beat share one SQLite file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Persistent connections, SQLite's too: the consumer closes what is stale after every step
# (`close_old_connections`), and with 0 that is a new connection, its PRAGMAs run again, for every
# delivery.
DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("DATABASE_CONN_MAX_AGE", 60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
# whitenoise serves the collected files (`manage.py collectstatic`, the Procfile's release step)
# compressed and with hashed names in production; with DEBUG on, runserver serves them as is.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or not env_bool("DJANGO_STATIC_MANIFEST", True)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security: production defaults, relaxed only with DEBUG on (the local stack) -------------
# TLS usually ends at a load balancer that forwards plain HTTP: name the header it sets, as
# `X-Forwarded-Proto=https`, so that Django knows which requests came over HTTPS.
SECURE_PROXY_SSL_HEADER = env_header_pair("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)

# The pages: session login (the same users as the API), then the inbox.
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/messages/onlyfans"
LOGOUT_REDIRECT_URL = "/login"

# --- Redis: the token bucket, the API throttles and the Celery broker ---------------------
_redis_endpoint = env_optional("REDIS_URL") or env_optional("REDIS_ENDPOINT")
REDIS_URL = redis_url_from_endpoint(_redis_endpoint or "redis://127.0.0.1:6379/0")
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 2.0, minimum=0.05)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "huntaze"),
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
        },
    }
}

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "huntaze.core.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "huntaze.core.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "huntaze.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # camelCase in errors too: a JSON array body answers details.nonFieldErrors.
    "NON_FIELD_ERRORS_KEY": "nonFieldErrors",
    # Reverse proxies in front of the app (a load balancer: 1). The login limit per client IP
    # then reads the client's address from X-Forwarded-For; 0 trusts only REMOTE_ADDR.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 60, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Huntaze OnlyFans CRM API",
    "DESCRIPTION": (
        "Fans, conversations and a rate-limited outbound message pipeline for OnlyFans accounts. "
        'Every error answers `{"error": {"code", "message", "details"?}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from the project's own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["huntaze.core.openapi.document_paths_without_trailing_slash"],
}

# Per-user limit on the send endpoints, and per-IP limit on login attempts (django-ratelimit).
SEND_RATE_LIMIT = env_rate("SEND_RATE_LIMIT", "60/m")
LOGIN_RATE_LIMIT = env_rate("LOGIN_RATE_LIMIT", "10/m")
RATELIMIT_USE_CACHE = "default"

# --- The outbound pipeline -------------------------------------------------------------------
RATE_LIMITER_ENABLED = env_bool("RATE_LIMITER_ENABLED", True)
AWS_REGION = env_str("AWS_REGION", "us-east-1")
SQS_RATE_LIMITER_QUEUE_URL = env_optional("SQS_RATE_LIMITER_QUEUE_URL")
SQS_RATE_LIMITER_DLQ_URL = env_optional("SQS_RATE_LIMITER_DLQ_URL")
SQS_QUEUE_NAME = env_str("SQS_QUEUE_NAME", "huntaze-rate-limiter-queue")
SQS_DLQ_NAME = env_str("SQS_DLQ_NAME", "huntaze-rate-limiter-queue-dlq")
# Local SQS (moto server) or any SQS-compatible endpoint; unset means AWS itself.
SQS_ENDPOINT_URL = env_optional("SQS_ENDPOINT_URL")
SQS_MAX_RECEIVE_COUNT = env_int("SQS_MAX_RECEIVE_COUNT", 5, minimum=1)
SQS_VISIBILITY_TIMEOUT = env_int("SQS_VISIBILITY_TIMEOUT", 90, minimum=1)
# An API request never waits on SQS for longer than this; the relay publishes what it missed.
SQS_REQUEST_TIMEOUT = env_float("SQS_REQUEST_TIMEOUT", 0.5, minimum=0.05)
SQS_OUTAGE_BACKOFF_SECONDS = env_float("SQS_OUTAGE_BACKOFF_SECONDS", 5.0, minimum=0)
CLOUDWATCH_NAMESPACE = env_str("CLOUDWATCH_NAMESPACE", "Huntaze/OnlyFans")
CLOUDWATCH_ENDPOINT_URL = env_optional("CLOUDWATCH_ENDPOINT_URL")
CLOUDWATCH_ENABLED = env_bool("CLOUDWATCH_ENABLED", True)
# Metrics leave from a background thread so that CloudWatch never slows a request.
CLOUDWATCH_ASYNC = env_bool("CLOUDWATCH_ASYNC", True)

ONLYFANS_RATE_LIMIT_PER_MINUTE = env_int("ONLYFANS_RATE_LIMIT_PER_MINUTE", 10, minimum=1)
# The window the limit applies to; shorter only in time-compressed tests and simulations.
ONLYFANS_RATE_WINDOW_SECONDS = env_float("ONLYFANS_RATE_WINDOW_SECONDS", 60.0, minimum=0.001)
# Slots are spaced window/limit apart, stretched by this fraction so that network jitter
# between the bucket and the gateway can never squeeze limit+1 calls into one window.
ONLYFANS_RATE_GUARD = env_float("ONLYFANS_RATE_GUARD", 0.03, minimum=0)
ONLYFANS_MAX_ATTEMPTS = env_int("ONLYFANS_MAX_ATTEMPTS", 5, minimum=1)
# A consumer keeps an account whose next slot is at most this far away on a timer; a later one
# goes back to SQS as a delayed wake-up.
ONLYFANS_HOLD_HORIZON_SECONDS = env_float("ONLYFANS_HOLD_HORIZON_SECONDS", 60.0, minimum=0)
# A message whose claim lease ran out this many times (the consumer sending it died or stalled,
# no outcome recorded: a crash loop) is dead-lettered with that reason instead of looping forever.
ONLYFANS_MAX_LOST_CLAIMS = env_int("ONLYFANS_MAX_LOST_CLAIMS", 10, minimum=1)
ONLYFANS_CLAIM_LEASE_SECONDS = env_int("ONLYFANS_CLAIM_LEASE_SECONDS", 60, minimum=1)
ONLYFANS_RETRY_BASE_SECONDS = env_float("ONLYFANS_RETRY_BASE_SECONDS", 2.0, minimum=0)
ONLYFANS_RETRY_MAX_SECONDS = env_float("ONLYFANS_RETRY_MAX_SECONDS", 300.0, minimum=0)
# Delivery v2 (onlyfans/limiter.py, onlyfans/pacing.py): at least this long between two gateway
# calls on one OnlyFans account (OnlyFans' own "allow 3 seconds" floor).
ONLYFANS_MIN_GAP_SECONDS = env_float("ONLYFANS_MIN_GAP_SECONDS", 3.0, minimum=0)
# Slots of each window only the interactive lane (replies) may use; bulk is paced evenly over
# the rest: one bulk call per window / (limit - reserve).
ONLYFANS_INTERACTIVE_RESERVE = env_int("ONLYFANS_INTERACTIVE_RESERVE", 2, minimum=0)
# Gateway 429s are waiting, not failing: they count towards ONLYFANS_MAX_ATTEMPTS only once a
# message has been rate limited for longer than this.
ONLYFANS_RATE_LIMITED_BUDGET_SECONDS = env_float(
    "ONLYFANS_RATE_LIMITED_BUDGET_SECONDS", 3600.0, minimum=0
)
# An account's wake-up this late is taken as lost (SQS purged, the local SQS restarted): the
# relay arms a new one.
ONLYFANS_WAKE_GRACE_SECONDS = env_float("ONLYFANS_WAKE_GRACE_SECONDS", 10.0, minimum=0.1)
# Threads of one `manage.py consume_messages` process, each delivering for a different account.
CONSUMER_CONCURRENCY = env_int("CONSUMER_CONCURRENCY", 4, minimum=1)
_gateway_url = env_optional("ONLYFANS_API_BASE_URL")
# The placeholder is the sandbox's key only: a real gateway answers it with 401, and every
# message would fail permanently instead of the process refusing to start.
ONLYFANS_API_KEY = env_str("ONLYFANS_API_KEY", "sandbox-key" if _gateway_url is None else None)
ONLYFANS_CONNECT_TIMEOUT = env_float("ONLYFANS_CONNECT_TIMEOUT", 3.0, minimum=0.01)
ONLYFANS_READ_TIMEOUT = env_float("ONLYFANS_READ_TIMEOUT", 10.0, minimum=0.01)
# A hard wall-clock limit on one gateway call (requests' timeouts bound each socket read, not the
# call). The consumer also ends every call a quarter of the claim lease before the lease runs out,
# so that no other consumer can claim the message while the call may still be under way.
ONLYFANS_CALL_DEADLINE_SECONDS = env_float("ONLYFANS_CALL_DEADLINE_SECONDS", 30.0, minimum=0.1)
# The sandbox gateway (same contract, records deliveries, reaches no one) stands in for a real
# one on the local stack only: with DEBUG off it must be asked for explicitly, so that a
# production deployment missing its gateway URL refuses to start instead of "delivering" nowhere.
ONLYFANS_SANDBOX_ENABLED = env_bool("ONLYFANS_SANDBOX_ENABLED", DEBUG and _gateway_url is None)
if _gateway_url is None and not ONLYFANS_SANDBOX_ENABLED:
    raise ImproperlyConfigured(
        "ONLYFANS_API_BASE_URL is required: the OnlyFans gateway that delivers messages "
        "(set ONLYFANS_SANDBOX_ENABLED=true to use the built-in sandbox gateway, "
        "which reaches no one)."
    )
ONLYFANS_API_BASE_URL: str = _gateway_url or f"http://127.0.0.1:{PORT}/sandbox/onlyfans"
ONLYFANS_WEBHOOK_SECRET = env_optional("ONLYFANS_WEBHOOK_SECRET")
ONLYFANS_WEBHOOK_TOLERANCE_SECONDS = env_int("ONLYFANS_WEBHOOK_TOLERANCE_SECONDS", 300, minimum=1)

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_optional("CELERY_RESULT_BACKEND")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CONSUMER_TASK_SECONDS = env_float("CONSUMER_TASK_SECONDS", 20.0, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "publish-pending-messages": {
        "task": "onlyfans.tasks.publish_pending",
        "schedule": env_float("PUBLISH_PENDING_EVERY_SECONDS", 5.0, minimum=0.5),
        "options": {"expires": 30},
    },
    # Campaigns: scheduled launches within one slot, launches pushed on, finished ones closed.
    "campaigns-tick": {
        "task": "crm.tasks.campaigns_tick",
        "schedule": env_float("CAMPAIGNS_TICK_SECONDS", 2.0, minimum=0.5),
        "options": {"expires": 10},
    },
}
# The Celery-driven consumer (beat starts a consume task every few seconds; each worker runs one
# at a time). Off where `manage.py consume_messages` processes deliver instead (make run, Procfile).
CELERY_CONSUMER_ENABLED = env_bool("CELERY_CONSUMER_ENABLED", True)
if CELERY_CONSUMER_ENABLED:
    CELERY_BEAT_SCHEDULE["consume-messages"] = {
        "task": "onlyfans.tasks.consume_messages",
        "schedule": env_float("CONSUME_EVERY_SECONDS", 5.0, minimum=0.5),
        "options": {"expires": 30},
    }

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FILE = env_optional("LOG_FILE")
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
_log_handlers: dict[str, dict] = {
    "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
}
if LOG_FILE:
    Path(LOG_FILE).parent.mkdir(parents=True, exist_ok=True)
    _log_handlers["file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": LOG_FILE,
        "formatter": "json",
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "huntaze.core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": _log_handlers,
    "root": {"handlers": list(_log_handlers), "level": LOG_LEVEL},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
    },
}

# Key prefix of the token buckets in Redis (tests swap it per test).
TOKEN_BUCKET_KEY_PREFIX = env_str("TOKEN_BUCKET_KEY_PREFIX", "huntaze:onlyfans")

# Uploaded files (CSV imports and their failed-rows reports).
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "media/"

# --- CSV import ------------------------------------------------------------------------------
# Fans CSV uploads larger than this are refused with a 413 (100,000 fans are about 15 MB).
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1)
# Uploads larger than this run as a background job (202 + the job's URL); smaller ones at once.
IMPORT_ASYNC_MIN_BYTES = env_int("IMPORT_ASYNC_MIN_BYTES", 1024 * 1024, minimum=0)
