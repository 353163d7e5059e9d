"""The only settings file. Every knob is a WORKBENCH_* environment variable, read strictly (see workbench/env.py).

Defaults are the embedded single-machine setup: SQLite and a file-system Celery broker under the data directory,
so `scripts/start` needs no server. docs/configuration.md lists every variable.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from workbench.env import env_bool, env_int, env_list, env_path, env_rate, env_str, env_url
from workbench.private_files import private_dir, private_sqlite_file

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = env_path("WORKBENCH_DATA_DIR", BASE_DIR / "var")
private_dir(DATA_DIR)  # 0700: it holds the secret key, the database, uploads and exports
DEBUG = env_bool("WORKBENCH_DEBUG", False)

_secret = env_str("WORKBENCH_SECRET_KEY", "")
if not _secret:
    if not DEBUG and env_bool("WORKBENCH_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("WORKBENCH_SECRET_KEY must be set when WORKBENCH_REQUIRE_SECRET_KEY is on")
    # Embedded mode: a random key kept in the data directory, so sessions survive restarts without a secret
    # ever being committed. Several web processes on several hosts must set WORKBENCH_SECRET_KEY instead.
    _key_file = DATA_DIR / "secret_key"
    if _key_file.exists():
        _secret = _key_file.read_text().strip()
    else:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        _secret = secrets.token_urlsafe(50)
        _key_file.write_text(_secret)
        _key_file.chmod(0o600)
SECRET_KEY = _secret

ALLOWED_HOSTS = env_list("WORKBENCH_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("WORKBENCH_CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "workbench.errors.csrf_failure"  # the site's layout and a way back, not Django's bare page

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_htmx",
    "template_partials",
    "workbench",
    "annotation",
    "rewards",
    "axes",  # login lockout (below)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workbench.middleware.ApplicationErrorMiddleware",
    "workbench.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page
]

ROOT_URLCONF = "workbench.urls"
WSGI_APPLICATION = "workbench.wsgi.application"

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
    }
]

DATABASE_URL = env_url(
    "WORKBENCH_DATABASE_URL",
    f"sqlite:///{DATA_DIR / 'workbench.sqlite3'}",
    schemes={"sqlite", "postgres", "postgresql", "pgsql"},
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("WORKBENCH_DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    private_sqlite_file(Path(DATABASES["default"]["NAME"]))  # 0600, not sqlite's 0644
    # WAL lets the worker write while the web process reads; IMMEDIATE transactions take the write lock up
    # front, so two writers queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# Password of the demo users made by `manage.py load_demo`; empty = generate one and keep it in the data directory.
WORKBENCH_ADMIN_PASSWORD = env_str("WORKBENCH_ADMIN_PASSWORD", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Logins and API throttles (docs/security.md) ---
# Proxies in front of the app that append the client address to X-Forwarded-For (0: clients connect directly,
# and X-Forwarded-For is ignored so nobody can forge their address).
WORKBENCH_TRUSTED_PROXIES = env_int("WORKBENCH_TRUSTED_PROXIES", 0, minimum=0, maximum=5)
# django-axes: after this many failed logins for one username from one address, that combination is refused
# (HTTP 429, before any password hashing) for the lockout time; other users and other addresses still log in.
# 0 turns the lockout off.
WORKBENCH_LOGIN_FAILURE_LIMIT = env_int("WORKBENCH_LOGIN_FAILURE_LIMIT", 5, minimum=0)
WORKBENCH_LOGIN_LOCKOUT_MINUTES = env_int("WORKBENCH_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = WORKBENCH_LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = max(1, WORKBENCH_LOGIN_FAILURE_LIMIT)
AXES_COOLOFF_TIME = timedelta(minutes=WORKBENCH_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one NAT's other users are not locked out
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "workbench.throttles.login_lockout_response"
AXES_CLIENT_IP_CALLABLE = "workbench.throttles.client_ip"
AXES_VERBOSE = False
# The token API: per-user and anonymous request rates (DRF throttles, counted in the shared cache), and failed
# token keys per address within the login lockout time.
WORKBENCH_API_USER_RATE = env_rate("WORKBENCH_API_USER_RATE", "1200/minute")
WORKBENCH_API_ANON_RATE = env_rate("WORKBENCH_API_ANON_RATE", "60/minute")
WORKBENCH_API_TOKEN_FAILURE_LIMIT = env_int("WORKBENCH_API_TOKEN_FAILURE_LIMIT", 100, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "workbench.tokens.RevokeTokensOnPasswordChange"},  # a password change revokes the user's API tokens
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("WORKBENCH_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
MEDIA_ROOT = DATA_DIR / "uploads"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotation:project_list"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
# Sessions are read on every request: from the shared cache (files or Redis, below), written through to the
# database, so a cache miss or restart loses nothing and a logout ends the session for every process.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_HTTPONLY = False  # htmx reads nothing from it: base.html sends the token in hx-headers instead
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("WORKBENCH_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind TLS (docs/security.md, "Deploying behind TLS"): HSTS, redirect plain HTTP, and trust the proxy's
# X-Forwarded-Proto only when told that a proxy sets it (otherwise a client could claim https itself).
SECURE_HSTS_SECONDS = env_int("WORKBENCH_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("WORKBENCH_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("WORKBENCH_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("WORKBENCH_SSL_REDIRECT", False)
if env_bool("WORKBENCH_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Uploads: the import page streams the file to disk, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
WORKBENCH_MAX_UPLOAD_MB = env_int("WORKBENCH_MAX_UPLOAD_MB", 2048, minimum=1)
# Uploaded files are deleted this long after their import finished (kept so a failed import can be retried).
WORKBENCH_UPLOAD_RETENTION_HOURS = env_int("WORKBENCH_UPLOAD_RETENTION_HOURS", 168, minimum=0)
# Files above this size are imported by a Celery worker; smaller ones inside the request.
WORKBENCH_INLINE_IMPORT_MAX_KB = env_int("WORKBENCH_INLINE_IMPORT_MAX_KB", 0, minimum=0)
# Import limits (docs/security.md): a file past one is refused while it is read, before it costs memory or time.
WORKBENCH_IMPORT_MAX_DEPTH = env_int("WORKBENCH_IMPORT_MAX_DEPTH", 100, minimum=2, maximum=500)  # json recurses
WORKBENCH_IMPORT_MAX_COLUMNS = env_int("WORKBENCH_IMPORT_MAX_COLUMNS", 1000, minimum=1)
WORKBENCH_IMPORT_MAX_ROW_MB = env_int("WORKBENCH_IMPORT_MAX_ROW_MB", 16, minimum=1, maximum=1024)
WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB = env_int("WORKBENCH_IMPORT_MAX_DECOMPRESSED_MB", 10240, minimum=1)
WORKBENCH_IMPORT_TIME_LIMIT_S = env_int("WORKBENCH_IMPORT_TIME_LIMIT_S", 3600, minimum=1)
# Exports of projects with up to this many judgments run right after the request; bigger ones on a worker.
WORKBENCH_INLINE_EXPORT_MAX_JUDGMENTS = env_int("WORKBENCH_INLINE_EXPORT_MAX_JUDGMENTS", 5000, minimum=0)
# torch CPU threads in training and scoring processes without a GPU (torch's default is slow on busy small hosts).
WORKBENCH_TORCH_THREADS = env_int("WORKBENCH_TORCH_THREADS", 1, minimum=1)

# --- REST API (/api/v1/, annotation/apis/): token or session auth, one error body, OpenAPI at /api/schema/ ---
INSTALLED_APPS += ["django_filters", "drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with `WWW-Authenticate: Token`. The session class enforces
    # CSRF on unsafe methods.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workbench.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # KnownFieldsOnly: a write carrying a field its operation does not define is a 400 naming it (known_fields.py).
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "workbench.known_fields.KnownFieldsOnly",
    ],
    "DEFAULT_PAGINATION_CLASS": "workbench.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["workbench.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "workbench.api.AutoSchema",
    "EXCEPTION_HANDLER": "workbench.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["workbench.throttles.AnonRateThrottle", "workbench.throttles.UserRateThrottle"],
    "NUM_PROXIES": WORKBENCH_TRUSTED_PROXIES or None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preference Workbench API",
    "DESCRIPTION": "Projects, prompts, judges, judgments, assignments for external front ends, imports and exports. "
    "Authenticate with `Authorization: Token <key>` or `Bearer <key>` (keys from /account/tokens/) or the browser "
    'session (send the CSRF token on unsafe methods). Every 4xx has the body `{"error": {"message", "details"}}`; '
    "a write carrying a field its operation does not define is a 400 naming it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
    # Swagger UI and its assets come from drf-spectacular-sidecar (static files, no CDN): the page works offline
    # and under the site's `script-src 'self'` policy (SpectacularSwaggerSplitView serves its init script as a file).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False, "tryItOutEnabled": False},
    "TAGS": [
        {"name": "projects", "description": "Projects and their settings."},
        {"name": "prompts", "description": "Prompts with their responses and comparisons."},
        {"name": "judges", "description": "Who judged: people, reward models, LLM judges, imported sources."},
        {"name": "judgments", "description": "Orderings of a comparison's responses, one per judge."},
        {"name": "assignments", "description": "The annotation queue, for external front ends."},
        {"name": "imports", "description": "Upload files of prompts, responses and judgments."},
        {"name": "exports", "description": "TRL pairs, lists and raw judgments as files."},
        {"name": "training", "description": "Reward-model training runs: launch, watch, cancel, restart."},
        {"name": "noise", "description": "Noisy-label detector runs: launch, watch, cancel, retry."},
        {"name": "review", "description": "Noisy labels: flagged judgments, review actions and their undo."},
    ],
    "ENUM_NAME_OVERRIDES": {
        "JudgmentStatusEnum": "annotation.models.Judgment.Status",
        "JobStatusEnum": "annotation.models.ImportJob.Status",
        "ProjectKindEnum": "annotation.models.Project.Kind",
        "JudgeKindEnum": "annotation.models.Judge.Kind",
        "ExternalJudgeKindEnum": "annotation.apis.judgments.EXTERNAL_KIND_CHOICES",
        "MessageRoleEnum": "annotation.messages.ROLES",
        # Training runs and noise runs share these statuses.
        "RunStatusEnum": "annotation.models.NoiseRun.Status",
        "LabelFlagStatusEnum": "annotation.models.LabelFlag.Status",
        "ReviewActionEnum": "annotation.models.ReviewAction.Action",
    },
}

# The cache carries live job progress between processes (a running import's transaction hides its row updates).
# Embedded default: files under the data directory, shared by the web and worker processes of one machine.
CACHE_URL = env_url("WORKBENCH_CACHE_URL", "file://", schemes={"file", "redis", "rediss"})
if CACHE_URL.startswith("file://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}

# Celery: the embedded default is kombu's file-system transport, which needs no server and answers
# `celery inspect`. WORKBENCH_BROKER_URL=redis://... switches to Redis.
BROKER_URL = env_url(
    "WORKBENCH_BROKER_URL", "filesystem://", schemes={"filesystem", "redis", "rediss", "amqp", "sqla+sqlite"}
)
CELERY_BROKER_URL = BROKER_URL
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if BROKER_URL.startswith("filesystem://"):
    _queue_dir = env_path("WORKBENCH_BROKER_DIR", DATA_DIR / "broker")
    for _sub in ("queue", "processed", "control"):
        (_queue_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        # Broadcast (inspect/control) exchanges; kombu's default is ./control in the working directory.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
# The database row of a job is the source of truth for its state; Celery keeps no results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("WORKBENCH_CELERY_EAGER", False)
CELERY_TASK_ROUTES = {"rewards.tasks.*": {"queue": "gpu"}, "rewards.noise_crossfit": {"queue": "gpu"}}
CELERY_TASK_DEFAULT_QUEUE = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("WORKBENCH_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
