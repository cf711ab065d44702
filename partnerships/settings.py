"""One settings module, configured by environment variables.

The defaults make `make run` work on a laptop: a SQLite file next to manage.py, DEBUG off
unless asked for. Production sets DEBUG, SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no variable; a typo must not silently turn a feature on or off."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a yes/no value (use true or false)")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# The development key is public (it is in this file); DEBUG-off deployments must set their own.
DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

# When true, officials can read the dashboard without signing in (the admin always needs it).
DASHBOARD_PUBLIC = env_bool("DASHBOARD_PUBLIC", False)

# Rendered dashboard content is reused until the data changes (partnerships/pagecache.py).
# Each server process keeps its own, bounded by DASHBOARD_CACHE_ENTRIES pages (a page's
# content is 10–500 KB); a restart empties it.
DASHBOARD_CACHE = env_bool("DASHBOARD_CACHE", True)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "dashboard": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "dashboard",
        "TIMEOUT": 24 * 3600,
        "OPTIONS": {"MAX_ENTRIES": int(os.environ.get("DASHBOARD_CACHE_ENTRIES", "200"))},
    },
}

# Served over HTTPS (directly or behind a proxy): secure cookies, redirects and HSTS. On by
# default whenever DEBUG is off; `make run` turns it off to serve plain HTTP on 127.0.0.1.
HTTPS = env_bool("HTTPS", not DEBUG)
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)

INSTALLED_APPS = [
    "partnerships.apps.AdminConfig",  # Django's admin, its index in the order staff work
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",  # the widgets' own templates, for TemplatesSetting below
    "django_htmx",
    "template_partials",
    "simple_history",
    "partnerships.axes_app.AxesConfig",
    "csp",
    "partnerships",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "partnerships.middleware.RequestCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "partnerships.middleware.SessionRenewalMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "partnerships.middleware.NulInAddressIsBadRequestMiddleware",
    "partnerships.middleware.OverflowIsBadRequestMiddleware",
    "partnerships.middleware.BusyDatabaseIsServiceUnavailableMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username/address pair is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Widgets render through TEMPLATES, so templates/ may override one of Django's (the password
# summary's colon in templates/auth/widgets/).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

ROOT_URLCONF = "partnerships.urls"
WSGI_APPLICATION = "partnerships.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "partnerships.context_processors.pairing_scope",
                "partnerships.context_processors.search_box",
                "partnerships.context_processors.session_clock",
            ],
        },
    },
]

# SQLite is the embedded default; PostgreSQL comes in through DATABASE_URL.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The dashboard's aggregates are estimated as costly (a subquery per donor link), which
    # makes PostgreSQL compile them with JIT: 100–300 ms of compiling for a query that runs
    # in 10 ms. Short reporting queries never repay it.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
# A web process stops any one statement after this many seconds (PostgreSQL; 0: never), and
# answers the page with a 503 saying so (partnerships/startup.py, middleware.py): a query the
# planner got badly wrong must not hold a worker and a database backend for minutes. Commands
# (migrate, generate_dataset, rebuild_summary) are not web processes and are not limited.
STATEMENT_TIMEOUT = int(os.environ.get("STATEMENT_TIMEOUT", "60"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and one writer work at once; IMMEDIATE transactions plus a busy timeout
    # make two staff saving at the same moment wait for each other instead of failing with
    # "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL;"
        ),
    }
    # "SQLite does not support indexes with non-key columns": the list order's index carries
    # the region and pairing for PostgreSQL's index-only scans (models.Donation); SQLite
    # builds it on its key columns alone, which is all it needs there. Without this, every
    # migrate on SQLite (`make run`'s among them) printed the warning.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Brute force: lock out a username from one address after repeated failures, for a while.
# Keyed on the pair, so an office sharing one address is not locked out as a whole.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Each failed sign-in is kept (with the address and user name tried), for the admin's
# 登录失败 list; without it that list stays empty.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address: the proxy's X-Forwarded-For entry when behind one, else the peer.
AXES_CLIENT_IP_CALLABLE = "partnerships.access.client_ip"
# The user name tried, cut to what axes' columns hold (a longer one failed on PostgreSQL).
AXES_USERNAME_CALLABLE = "partnerships.access.sign_in_name"
# A revert from the history page would skip the change form's rules (scope, locked years).
SIMPLE_HISTORY_REVERT_DISABLED = True

# Sessions end after this many idle seconds: requests restart the clock, writing the session
# at most once a minute (partnerships.middleware.SessionRenewalMiddleware).
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", "1800"))
SESSION_RENEWAL_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
FORMAT_MODULE_PATH = ["partnerships.formats"]  # an English short date is year first
LOCALE_PATHS = [BASE_DIR / "partnerships" / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env_bool("PLAIN_STATIC_STORAGE", False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Files added since the last collectstatic (in development) are still found, through the
# finders; a deployment serves what collectstatic wrote.
WHITENOISE_USE_FINDERS = True

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# A strict policy: no inline script or style, no eval. htmx is configured to need neither
# (templates/base.html), Chart.js injects no CSS, and chart data travels as JSON blocks.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Sign-ins, failed sign-ins, lockouts and refused access, for the security log.
        "partnerships.security": {"level": "INFO"},
        "axes": {"level": "WARNING"},
        # WeasyPrint reports every step of every PDF at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

ADMIN_SITE_HEADER = _("East–west cooperation records")
