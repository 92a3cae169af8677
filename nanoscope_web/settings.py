"""Django settings for nanoscope.

Every value comes from the environment (see the configuration table in README.md).
With nothing set, the *embedded* default serves one laptop: an SQLite file and the data
root under ``var/``, and a Celery broker on the local file system (no server to install).
``NANOSCOPE_MODE=production`` refuses to start with the default secret key or DEBUG on.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("NANOSCOPE_VAR_DIR", str(BASE_DIR / "var")))

MODE = env_str("NANOSCOPE_MODE", "embedded")
if MODE not in {"embedded", "production"}:
    raise ImproperlyConfigured(f"NANOSCOPE_MODE must be 'embedded' or 'production', got {MODE!r}")

_DEFAULT_SECRET_KEY = "embedded-only-insecure-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

if MODE == "production":
    if SECRET_KEY == _DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "Production needs its own SECRET_KEY (at least 32 characters) in the environment."
        )
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production (NANOSCOPE_MODE=production).")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "nanoscope_web",
    "studies",
    "acquisition",
    "recon",
    "analysis",
    "frontend",
]

MIDDLEWARE = [
    "nanoscope_web.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "studies.audit.AuditContextMiddleware",
]

ROOT_URLCONF = "nanoscope_web.urls"
WSGI_APPLICATION = "nanoscope_web.wsgi.application"
ASGI_APPLICATION = "nanoscope_web.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database ------------------------------------------------------------------------
_SQLITE_PATH = VAR_DIR / "nanoscope.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{_SQLITE_PATH}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web process and the worker share the file: wait for locks instead of failing,
    # and take the write lock at BEGIN so two writers never deadlock on an upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# The embedded server serves static files straight from the apps; production collects them.
WHITENOISE_USE_FINDERS = MODE == "embedded"
if WHITENOISE_USE_FINDERS:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "frontend:dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Bulk data -----------------------------------------------------------------------
NANOSCOPE_DATA_ROOT = Path(env_str("NANOSCOPE_DATA_ROOT", str(VAR_DIR / "data")))
NANOSCOPE_UPLOAD_MAX_BYTES = env_int("NANOSCOPE_UPLOAD_MAX_BYTES", 8 * 1024**3)

# --- Instrument drivers --------------------------------------------------------------
# Driver name → dotted class path. NANOSCOPE_DRIVERS adds a lab's own drivers as
# comma-separated `name=package.module.Class` pairs (acquisition/drivers/base.py).
_DRIVER_PAIRS = env_list("NANOSCOPE_DRIVERS", [])
if any("=" not in pair for pair in _DRIVER_PAIRS):
    raise ImproperlyConfigured(
        f"NANOSCOPE_DRIVERS must be name=package.module.Class pairs, got {_DRIVER_PAIRS!r}"
    )
NANOSCOPE_DRIVERS = {
    "simulated": "acquisition.drivers.simulated.SimulatedXrayMicroscope",
    **{k.strip(): v.strip() for k, v in (pair.split("=", 1) for pair in _DRIVER_PAIRS)},
}

# --- REST API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "nanoscope_web.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
        "nanoscope_web.renderers.CSVRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "nanoscope API",
    "DESCRIPTION": (
        "Longitudinal in-vivo X-ray microscopy of bone remodelling: studies, animals, "
        "treatments, scan sessions, acquisitions, reconstructions and analyses."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery --------------------------------------------------------------------------
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
    # Above the longest task (a full-size reconstruction), so an unacknowledged
    # long task is not re-delivered while it still runs.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 12 * 3600),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(_BROKER_DIR / "queue"),
            "data_folder_out": str(_BROKER_DIR / "queue"),
            "processed_folder": str(_BROKER_DIR / "processed"),
            "control_folder": str(_BROKER_DIR / "control"),
            "store_processed": False,
        }
    )
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Periodic jobs live in the database (django-celery-beat), editable in the admin;
# `manage.py install_schedules` adds nanoscope's own (studies/schedules.py).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- Metrics -------------------------------------------------------------------------
# `/metrics` (Prometheus text format); with a token set, scrapers send
# `Authorization: Bearer <token>`.
NANOSCOPE_METRICS_TOKEN = env_str("NANOSCOPE_METRICS_TOKEN", "")

# --- Logging -------------------------------------------------------------------------
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "nanoscope_web.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        # One JSON object per line; naming the module also connects the task-id signals.
        "json": {"()": "nanoscope_web.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
