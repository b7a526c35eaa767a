"""One settings module, read from the environment (12-factor). Every variable is listed in the README."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The default only suits a laptop; `check --deploy` flags it, production sets SECRET_KEY.
SECRET_KEY = env("SECRET_KEY", default="django-insecure-rewardhub-local-development-only-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Production behind a TLS-terminating proxy sets HTTPS=true: redirects to https, HSTS, secure cookies, and
# trusts the proxy's X-Forwarded-Proto (the proxy must set it and strip any value sent by clients).
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP

INSTALLED_APPS = [
    "rewardhub.admin_site.RewardHubAdminConfig",  # django.contrib.admin with its NUL guard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # the console's big figures: 10,000,000
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "catalog",
    "ledger",
    "postbacks",
    "giveaways",
    "rewardhub",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "rewardhub.middleware.DatabaseUnavailableMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: turns a lockout into its 429 page
]

ROOT_URLCONF = "rewardhub.urls"
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

# Unset DATABASE_URL means the embedded PostgreSQL a pip package ships (rewardhub.embedded_db), so a fresh clone
# runs with nothing else installed, on the SQL production runs.
EMBEDDED_DATABASE = "DATABASE_URL" not in env  # `check --deploy` refuses it (rewardhub.checks)
if EMBEDDED_DATABASE:
    from rewardhub.embedded_db import embedded_database_url

    os.environ["DATABASE_URL"] = embedded_database_url(BASE_DIR / "var" / "postgres")  # subprocesses use it too
DATABASES = {"default": env.db("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: a new PostgreSQL connection per request would cost more than the request.
    # No per-request health check (a SELECT 1 round trip): a dead connection fails its request with 503
    # (DatabaseUnavailableMiddleware) and Django replaces it before the next one.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=600)
    # Server-side parameters let psycopg prepare a statement a connection runs repeatedly (the hot paths),
    # so PostgreSQL plans it once per connection instead of once per request.
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
# DATABASE_URL points at a transaction-mode pooler (PgBouncer): each transaction may run on another server
# connection, so nothing may outlive one. No prepared statements (PgBouncer before 1.21, Debian 12's 1.18, does
# not carry them across connections) and no server-side cursors (Django's iterator()). README, Operating at scale.
DB_TRANSACTION_POOLER = env.bool("DB_TRANSACTION_POOLER", default=False)
if DB_TRANSACTION_POOLER:
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# Each worker (rewardhub.asgi) serves the fast lane (rewardhub.urls.HOT_PATHS) from a pool of this many async
# connections (rewardhub.db); a request waits at most DB_POOL_TIMEOUT seconds for one, then answers 503. Four, fewer
# than a worker's client connections: a statement waiting in the worker for a connection costs less than one more
# backend contending for PostgreSQL's cores (with 8, a 2-core machine spent a fifth more PostgreSQL CPU per offer
# callback and served ~8% fewer; README, Performance).
DB_POOL_SIZE = env.int("DB_POOL_SIZE", default=4)
DB_POOL_TIMEOUT = env.float("DB_POOL_TIMEOUT", default=3.0)
# Every other request runs Django's WSGI handler in one of this many threads per worker.
DJANGO_THREADS = env.int("DJANGO_THREADS", default=4)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Failed-authentication counters (rewardhub.auth_throttle) and DRF throttles live here. The default is
# per process; with several gunicorn workers set CACHE_URL=redis://127.0.0.1:6379/1 so they share one count.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # A Redis that hangs costs a request at most this long; auth_throttle then lets requests through
    # unthrottled for a few seconds. The hot paths' async client (auth_throttle) bounds each check by it too.
    CACHES["default"].setdefault("OPTIONS", {}).update(socket_timeout=0.2, socket_connect_timeout=0.2)
# Under ASGI the hot paths check the throttle on one async Redis client per worker, with this many connections
# (a check takes a connection for one round trip; a request waits at most the timeout above for one).
CACHE_POOL_SIZE = env.int("CACHE_POOL_SIZE", default=4)

# Every API refuses a client IP (429 + Retry-After) for AUTH_FAILURE_WINDOW seconds once it has failed to
# authenticate AUTH_FAILURE_LIMIT times within that many seconds (rewardhub.auth_throttle).
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=20)
AUTH_FAILURE_WINDOW = env.int("AUTH_FAILURE_WINDOW", default=60)

# Refused partner postbacks and giveaway callbacks (rewardhub.refused_calls) and offer deliveries that recorded no
# conversion (postbacks.retention) are kept this many days; `manage.py prune_logs`, run daily, deletes older ones.
REFUSED_CALL_RETENTION_DAYS = env.int("REFUSED_CALL_RETENTION_DAYS", default=30)
OFFER_DELIVERY_RETENTION_DAYS = env.int("OFFER_DELIVERY_RETENTION_DAYS", default=90)

# Admin login brute-force protection (django-axes): after AXES_FAILURE_LIMIT failed logins from one client IP
# (whatever usernames it tries) that IP is locked out for AXES_COOLOFF_TIME hours, even with the right
# password. Lockouts are listed in the admin under Axes ("Access attempts", "Access failures"); an operator
# clears one by deleting its access attempt, or with `manage.py axes_reset_ip <ip>`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_TIME", default=1.0)  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "rewardhub.auth_throttle.client_ip"  # honours TRUSTED_PROXY_HOPS like the APIs
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failed login, not only the current counters
AXES_LOCKOUT_CALLABLE = "rewardhub.views.admin_lockout"  # a page saying how long, not axes' bare text

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["rewardhub.formats"]  # dates with their time zone, sortable: 2026-12-02 16:10:32 UTC

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# Scheme and host RewardHub is reached at from outside; signed callback URLs are rebuilt from it.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Reverse proxies in front of RewardHub whose X-Forwarded-For entries are trusted when deciding a caller's IP
# (offer-network IP allowlists, per-IP throttles): the client is that many entries from the right.
# 0: use the connecting address (REMOTE_ADDR), so a client cannot pick its own IP with X-Forwarded-For.
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)

# Key for values we must read back (giveaway API keys, offer-network secrets). Comma-separated:
# the first encrypts, all decrypt, so a key can be rotated (see `rotate_encryption_key`).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Every API refuses bodies larger than this (413): partner, app, giveaway and offer-callback (rewardhub.inputs).
API_MAX_BODY_BYTES = 16 * 1024

# What the production server (rewardhub.http_protocol, rewardhub.hot_paths) accepts of a request. A request's body
# is read in the event loop before Django's handler gets a thread, so it is held in memory: the largest form the
# admin posts, a giveaway reward's image, fits HTTP_MAX_BODY_BYTES (413 above it). A body must arrive within
# HTTP_BODY_TIMEOUT seconds of the end of its headers (408), and a request's line and headers within
# HTTP_HEADER_TIMEOUT seconds of its first byte (the connection is closed). The header limits are gunicorn's own
# defaults (a request line over its limit gets 414, headers over theirs 431).
HTTP_MAX_BODY_BYTES = env.int("HTTP_MAX_BODY_BYTES", default=5 * 1024 * 1024)
HTTP_BODY_TIMEOUT = env.float("HTTP_BODY_TIMEOUT", default=30.0)
HTTP_HEADER_TIMEOUT = env.float("HTTP_HEADER_TIMEOUT", default=10.0)
HTTP_LIMIT_REQUEST_LINE = env.int("HTTP_LIMIT_REQUEST_LINE", default=4094)
HTTP_LIMIT_REQUEST_FIELDS = env.int("HTTP_LIMIT_REQUEST_FIELDS", default=100)
HTTP_LIMIT_REQUEST_FIELD_SIZE = env.int("HTTP_LIMIT_REQUEST_FIELD_SIZE", default=8190)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON is the only format: `?format=xml` made DRF's negotiation raise Http404 before a renderer was chosen, and
    # the error then had none to render it (a 500). Without the override the parameter is just ignored.
    "URL_FORMAT_OVERRIDE": None,
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "rewardhub.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Reward app registration, per client IP. Counters live in the default cache (per-process LocMemCache
    # unless CACHES is configured), so with several workers the effective limit is this times the workers.
    # Mobile carriers put many phones behind one IP, hence a generous rate.
    "DEFAULT_THROTTLE_RATES": {"app_register": env("APP_REGISTER_RATE", default="60/minute")},
    "NUM_PROXIES": TRUSTED_PROXY_HOPS,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "RewardHub API",
    "DESCRIPTION": (
        "Coins for reward apps: partner game postbacks, offer-network callbacks and giveaway "
        "task verification. Every error body carries a stable machine-readable code and a message."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The fast lane's routes are not DRF views: their table entries say what to publish.
    "PREPROCESSING_HOOKS": ["rewardhub.schema.document_hot_paths"],
    # Swagger UI's assets are served by us, so /api/docs/ works without a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "PartnerBearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The partner API secret: `Authorization: Bearer <secret>`.",
            },
            "PartnerApiSecretHeader": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Reward-Api-Secret",
                "description": "The same partner API secret in its own header.",
            },
        }
    },
}

# Prometheus metrics (rewardhub.metrics): GET /metrics with `Authorization: Bearer <METRICS_TOKEN>`, and/or served by
# each gunicorn master on an internal address (METRICS_BIND, e.g. 10.0.0.5:9100). Neither set: not exposed.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_BIND = env.str("METRICS_BIND", default="")

# LOG_FORMAT=json: one JSON object per line (rewardhub.logs); both formats carry the request's id.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "rewardhub.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "rewardhub.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # django-axes announces itself ("AXES: BEGIN …") at INFO when each process starts: every manage.py command
    # printed it. Its lockout warnings still show.
    "loggers": {"axes.apps": {"level": "WARNING"}},
}
