"""Imp-Gateway settings, read from the environment (see the README's configuration table)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """A string variable, or `default` when unset."""
    return os.environ.get(name, default)


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker and Kubernetes secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {raw!r}")


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer variable, optionally bounded."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}: must be at most {maximum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list variable."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str = "", schemes: tuple[str, ...] = ()) -> str:
    """A URL variable whose scheme is one of `schemes`."""
    raw = os.environ.get(name, default)
    if not raw:
        return ""
    parsed = urlparse(raw)
    if not parsed.scheme or (schemes and parsed.scheme not in schemes):
        allowed = ", ".join(schemes) or "any scheme"
        raise ImproperlyConfigured(f"{name}: expected a URL ({allowed}), got {raw!r}")
    return raw


# --- Core -----------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
DEVELOPMENT_SECRET_KEY = "django-insecure-imp-gateway-development-key-change-me"  # noqa: S105
if not SECRET_KEY:
    # Development only: IMPGATEWAY_HTTPS (production) refuses to start with this key.
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

IMPGATEWAY_DOMAIN = env_str("IMPGATEWAY_DOMAIN", "imprun.dev").strip().lower()
if not IMPGATEWAY_DOMAIN or any(
    not label or len(label) > 63 for label in IMPGATEWAY_DOMAIN.split(".")
):
    raise ImproperlyConfigured(
        f"IMPGATEWAY_DOMAIN: expected a DNS name such as imprun.dev, got {IMPGATEWAY_DOMAIN!r}"
    )

# --- Security behind HTTPS ----------------------------------------------------------------

# IMPGATEWAY_HTTPS=1 is the production switch: secure cookies, HTTPS redirects and HSTS.
HTTPS = env_bool("IMPGATEWAY_HTTPS", False)
if HTTPS and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY: must be set when IMPGATEWAY_HTTPS is on (production)")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# Probes and scrapers talk plain HTTP inside the cluster network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Behind a TLS-terminating proxy or ingress that sets X-Forwarded-Proto and -Host.
if env_bool("TRUST_PROXY_HEADERS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# --- Applications ---------------------------------------------------------------------------

INSTALLED_APPS = [
    "impgateway.apps.ConsoleAdminConfig",  # django.contrib.admin with the console's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "guardian",
    "mozilla_django_oidc",
    "impgateway",
    "catalog",
    "publishing",
    "clusters",
    "agent",
]

MIDDLEWARE = [
    "impgateway.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "impgateway.urls"
WSGI_APPLICATION = "impgateway.wsgi.application"
ASGI_APPLICATION = "impgateway.asgi.application"

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

# --- Database -------------------------------------------------------------------------------

DATABASE_URL = env_url("DATABASE_URL", "", schemes=("sqlite", "postgres", "postgresql", "pgsql"))
# Under ASGI every request runs its database work on a thread of its own, so persistent
# per-thread connections would never be reused: connections close after each request unless
# a psycopg connection pool (shared by all threads of the process) is switched on.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 0, minimum=0, maximum=1000)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASE_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(2, DATABASE_POOL_MAX_SIZE),
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {"timeout": 20},
        }
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

# --- Internationalisation -------------------------------------------------------------------

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
# Static files are served by the application itself (ServeStatic, async under uvicorn, so
# the middleware chain stays async and long-polls hold no thread); without collectstatic they
# are found in the apps, which suits development and tests.
SERVESTATIC_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- REST framework -------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "impgateway.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Imp-Gateway API",
    "DESCRIPTION": "Providers, customers, operators and agents of Imp-Gateway.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Choice sets that share a field name (protocol, status) get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "APIServiceProtocolEnum": "catalog.choices.APIServiceProtocol",
        "ListenerProtocolEnum": "catalog.choices.ListenerProtocol",
        "EnvironmentEnum": "catalog.choices.Environment",
        "APIServiceStatusEnum": "catalog.choices.APIServiceStatus",
        "PublishStatusEnum": "publishing.choices.PublishStatus",
        "AgentStatusEnum": "clusters.choices.AgentStatus",
        "SubscriptionStatusEnum": "catalog.choices.SubscriptionStatus",
        "APIKeyStatusEnum": "catalog.choices.APIKeyStatus",
    },
}

# --- Identity and access ----------------------------------------------------------------------
# Console sign-in with Keycloak (mozilla-django-oidc), Keycloak bearer tokens for the API, and
# role grants turned into object permissions (docs/rbac.md). With no OIDC_RP_CLIENT_ID, local
# Django accounts sign in with a password (development).

OIDC_OP_ISSUER = env_url("OIDC_OP_ISSUER", "", schemes=("http", "https")).rstrip("/")


def _oidc_endpoint(name: str, keycloak_path: str) -> str:
    """An endpoint variable; by default the Keycloak endpoint under OIDC_OP_ISSUER."""
    default = f"{OIDC_OP_ISSUER}/protocol/openid-connect/{keycloak_path}" if OIDC_OP_ISSUER else ""
    return env_url(name, default, schemes=("http", "https"))


OIDC_OP_AUTHORIZATION_ENDPOINT = _oidc_endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT", "auth")
OIDC_OP_TOKEN_ENDPOINT = _oidc_endpoint("OIDC_OP_TOKEN_ENDPOINT", "token")
OIDC_OP_USER_ENDPOINT = _oidc_endpoint("OIDC_OP_USER_ENDPOINT", "userinfo")
OIDC_OP_JWKS_ENDPOINT = _oidc_endpoint("OIDC_OP_JWKS_ENDPOINT", "certs")
OIDC_OP_LOGOUT_ENDPOINT = _oidc_endpoint("OIDC_OP_LOGOUT_ENDPOINT", "logout")
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_secret("OIDC_RP_CLIENT_SECRET")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
if OIDC_ENABLED:
    _oidc_missing = [
        name
        for name in (
            "OIDC_OP_AUTHORIZATION_ENDPOINT",
            "OIDC_OP_TOKEN_ENDPOINT",
            "OIDC_OP_USER_ENDPOINT",
            "OIDC_OP_JWKS_ENDPOINT",
        )
        if not globals()[name]
    ]
    if _oidc_missing:
        raise ImproperlyConfigured(
            f"{_oidc_missing[0]}: needed with OIDC_RP_CLIENT_ID; set OIDC_OP_ISSUER to the "
            "Keycloak realm URL to derive every endpoint"
        )
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
if OIDC_RP_SIGN_ALGO not in {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"}:
    raise ImproperlyConfigured(
        f"OIDC_RP_SIGN_ALGO: expected an asymmetric JWS algorithm such as RS256, "
        f"got {OIDC_RP_SIGN_ALGO!r}"
    )
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
if "openid" not in OIDC_RP_SCOPES.split():
    raise ImproperlyConfigured(f"OIDC_RP_SCOPES: must include openid, got {OIDC_RP_SCOPES!r}")
OIDC_VERIFY_KID = env_bool("OIDC_VERIFY_KID", True)
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10, minimum=1, maximum=120)
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
OIDC_CREATE_USER = env_bool("OIDC_CREATE_USER", True)
# Local passwords stay for development, and for break-glass accounts when an admin turns them on.
OIDC_PASSWORD_LOGIN = env_bool("OIDC_PASSWORD_LOGIN", not OIDC_ENABLED)


def _oidc_grant_rules(raw: str) -> list[dict] | None:
    """OIDC_GRANT_RULES: a JSON list of {claim, match[, role][, tenants]}; unset: the defaults."""
    import json

    if not raw.strip():
        return None
    try:
        rules = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"OIDC_GRANT_RULES: not JSON ({exc})") from None
    if not isinstance(rules, list) or not all(
        isinstance(rule, dict) and {"claim", "match"} <= set(rule) for rule in rules
    ):
        raise ImproperlyConfigured(
            "OIDC_GRANT_RULES: expected a JSON list of objects with 'claim' and 'match'"
        )
    return rules


OIDC_GRANT_RULES = _oidc_grant_rules(env_str("OIDC_GRANT_RULES"))
OIDC_API_TOKEN_VERIFICATION = env_str("OIDC_API_TOKEN_VERIFICATION", "auto")
if OIDC_API_TOKEN_VERIFICATION not in {"auto", "jwt", "userinfo"}:
    raise ImproperlyConfigured(
        "OIDC_API_TOKEN_VERIFICATION: expected auto, jwt or userinfo, "
        f"got {OIDC_API_TOKEN_VERIFICATION!r}"
    )
OIDC_API_AUDIENCE = env_str("OIDC_API_AUDIENCE", OIDC_RP_CLIENT_ID)
if OIDC_ENABLED and not OIDC_OP_ISSUER and OIDC_API_TOKEN_VERIFICATION in {"jwt"}:
    raise ImproperlyConfigured("OIDC_OP_ISSUER: needed to verify JWT access tokens")
OIDC_API_TOKEN_CACHE_SECONDS = env_int("OIDC_API_TOKEN_CACHE_SECONDS", 60, minimum=0, maximum=3600)

OIDC_STORE_ID_TOKEN = True  # the id_token_hint of the logout at Keycloak
OIDC_AUTHENTICATE_CLASS = "impgateway.auth.OIDCLoginView"
OIDC_CALLBACK_CLASS = "impgateway.auth.OIDCCallbackView"
OIDC_OP_LOGOUT_URL_METHOD = "impgateway.auth.provider_logout_url"
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?oidc_error=1"
LOGOUT_REDIRECT_URL = "admin:login"

AUTHENTICATION_BACKENDS = [
    "impgateway.auth.PasswordBackend",
    "impgateway.auth.KeycloakOIDCBackend",
    "impgateway.rbac.RoleGrantBackend",
    "guardian.backends.ObjectPermissionBackend",
]
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "impgateway.auth.KeycloakBearerAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]
# --- End of identity and access ---------------------------------------------------------------

# --- Celery ---------------------------------------------------------------------------------

REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
CELERY_BROKER_URL = env_url(
    "CELERY_BROKER_URL", REDIS_URL, schemes=("redis", "rediss", "amqp", "memory")
)
# Without a broker, tasks run in-process at enqueue time (development, embedded default).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": env_str("CELERY_KEY_PREFIX", ""),
}
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}

# --- Metrics --------------------------------------------------------------------------------
# /metrics on the web processes and, with WORKER_METRICS_PORT, on each Celery worker.
# Several processes (uvicorn --workers, Celery prefork) aggregate through
# PROMETHEUS_MULTIPROC_DIR, read by prometheus_client itself (docs/operations.md).

METRICS_TOKEN = env_secret("METRICS_TOKEN")
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0, minimum=0, maximum=65535)
# Imported by every worker at start: connects the task-outcome signals and the metrics port.
CELERY_IMPORTS = ["impgateway.metrics"]

# --- Logging --------------------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, got {LOG_LEVEL!r}"
    )
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT: expected plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "impgateway.logging.JSONFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Agent protocol -------------------------------------------------------------------------
# In-cluster agents authenticate with short-lived JWTs the control plane signs with an
# asymmetric key (docs/agent-protocol.md). Rotation: add the next key's public half to
# AGENT_JWT_PUBLIC_KEYS everywhere, then make it the signing key and keep the old public key
# listed until every token it signed has expired (AGENT_TOKEN_TTL + AGENT_TOKEN_REFRESH_GRACE).


def _agent_signing_key_pem() -> str:
    """AGENT_JWT_PRIVATE_KEY(_FILE), else a development key generated once and kept on disk."""
    configured = env_secret("AGENT_JWT_PRIVATE_KEY")
    if configured:
        return configured
    if HTTPS:
        raise ImproperlyConfigured(
            "AGENT_JWT_PRIVATE_KEY: must be set when IMPGATEWAY_HTTPS is on (production): "
            "a PEM Ed25519, EC P-256 or RSA private key"
        )
    path = Path(env_str("AGENT_JWT_DEV_KEY_FILE", str(BASE_DIR / "var" / "agent-jwt-dev-key.pem")))
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Several processes may start at once: write aside, then link; the first one wins.
            scratch = path.with_name(f".{path.name}.{os.getpid()}")
            descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            try:
                os.link(scratch, path)
            except FileExistsError:
                pass
            finally:
                scratch.unlink()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"AGENT_JWT_DEV_KEY_FILE: cannot write a development key to {path}: "
                f"{exc.strerror}; set AGENT_JWT_PRIVATE_KEY instead"
            ) from exc
    return path.read_text()


def _agent_key_errors(private_pem: str, public_pems: str) -> None:
    """Refuse keys the token code cannot use, naming the variable."""
    import re

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    def supported(key) -> bool:
        if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            return True
        if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            return isinstance(key.curve, ec.SECP256R1)
        if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            return key.key_size >= 2048
        return False

    try:
        private_key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"AGENT_JWT_PRIVATE_KEY: not an unencrypted PEM private key ({exc})"
        ) from None
    if not supported(private_key):
        raise ImproperlyConfigured(
            "AGENT_JWT_PRIVATE_KEY: expected an Ed25519, EC P-256 or RSA (2048+ bits) key"
        )
    blocks = re.findall(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", public_pems, re.S)
    if public_pems.strip() and not blocks:
        raise ImproperlyConfigured(
            "AGENT_JWT_PUBLIC_KEYS: expected one or more PEM public keys (BEGIN PUBLIC KEY)"
        )
    for number, block in enumerate(blocks, start=1):
        try:
            public_key = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"AGENT_JWT_PUBLIC_KEYS: key {number} is not a PEM public key ({exc})"
            ) from None
        if not supported(public_key):
            raise ImproperlyConfigured(
                f"AGENT_JWT_PUBLIC_KEYS: key {number}: expected Ed25519, EC P-256 or RSA 2048+"
            )


AGENT_JWT_PRIVATE_KEY = _agent_signing_key_pem()
# Extra public keys that verify agent tokens (the previous signing key during a rotation).
AGENT_JWT_PUBLIC_KEYS = env_secret("AGENT_JWT_PUBLIC_KEYS")
_agent_key_errors(AGENT_JWT_PRIVATE_KEY, AGENT_JWT_PUBLIC_KEYS)
AGENT_JWT_ISSUER = env_str("AGENT_JWT_ISSUER", "imp-gateway")
AGENT_TOKEN_TTL = env_int("AGENT_TOKEN_TTL", 900, minimum=60, maximum=86400)
# An expired token may still be exchanged at /token/refresh for this long (an outage longer
# than the TTL must not strand every cluster); 0 turns this off.
AGENT_TOKEN_REFRESH_GRACE = env_int("AGENT_TOKEN_REFRESH_GRACE", 86400, minimum=0)
AGENT_REGISTRATION_TOKEN_TTL = env_int(
    "AGENT_REGISTRATION_TOKEN_TTL", 3600, minimum=60, maximum=30 * 86400
)
AGENT_LONGPOLL_MAX_WAIT = env_int("AGENT_LONGPOLL_MAX_WAIT", 60, minimum=1, maximum=60)
# last_seen is written at most this often per agent, so a no-change poll stays at two queries.
AGENT_SEEN_WRITE_INTERVAL = env_int("AGENT_SEEN_WRITE_INTERVAL", 15, minimum=1, maximum=300)
AGENT_DISCONNECT_AFTER = env_int("AGENT_DISCONNECT_AFTER", 120, minimum=10)
if AGENT_DISCONNECT_AFTER <= AGENT_LONGPOLL_MAX_WAIT + AGENT_SEEN_WRITE_INTERVAL:
    raise ImproperlyConfigured(
        "AGENT_DISCONNECT_AFTER: must be longer than AGENT_LONGPOLL_MAX_WAIT + "
        f"AGENT_SEEN_WRITE_INTERVAL ({AGENT_LONGPOLL_MAX_WAIT + AGENT_SEEN_WRITE_INTERVAL} s), "
        f"got {AGENT_DISCONNECT_AFTER}"
    )
AGENT_DISCONNECT_CHECK_INTERVAL = env_int(
    "AGENT_DISCONNECT_CHECK_INTERVAL", 30, minimum=1, maximum=3600
)
# Long-polls are woken through Redis pub/sub so every web process hears every change;
# with no Redis URL, in-process only (a single web process).
AGENT_WAKEUP_REDIS_URL = env_url(
    "AGENT_WAKEUP_REDIS_URL", REDIS_URL, schemes=("redis", "rediss", "unix")
)
AGENT_WAKEUP_CHANNEL = env_str("AGENT_WAKEUP_CHANNEL", "impgateway:desired-state")
# Threads (each with its own database connection) that serve the async desired-state view's
# queries, and on PostgreSQL the most async connections per event loop for its agent check;
# 0 runs all of them on Django's sync thread instead (the test client does this).
AGENT_DB_THREADS = env_int("AGENT_DB_THREADS", 8, minimum=0, maximum=64)

CELERY_BEAT_SCHEDULE["clusters-mark-silent-agents-disconnected"] = {
    "task": "clusters.tasks.mark_silent_agents_disconnected",
    "schedule": float(AGENT_DISCONNECT_CHECK_INTERVAL),
}
CELERY_BEAT_SCHEDULE["clusters-purge-registration-tokens"] = {
    "task": "clusters.tasks.purge_registration_tokens",
    "schedule": 3600.0,
}
# --- End of agent protocol ------------------------------------------------------------------

# --- API keys -------------------------------------------------------------------------------
# Customers' API keys are stored encrypted (Fernet). API_KEY_ENCRYPTION_KEYS is a
# comma-separated list of Fernet keys: the first encrypts, all decrypt. Rotation: put the new
# key first, keep the old one listed, run `manage.py rotate_api_key_encryption`, then drop it.


def _api_key_encryption_keys() -> list[str]:
    """API_KEY_ENCRYPTION_KEYS(_FILE), else a development key generated once and kept on disk."""
    from cryptography.fernet import Fernet

    configured = [key.strip() for key in env_secret("API_KEY_ENCRYPTION_KEYS").split(",")]
    configured = [key for key in configured if key]
    if not configured:
        if HTTPS:
            raise ImproperlyConfigured(
                "API_KEY_ENCRYPTION_KEYS: must be set when IMPGATEWAY_HTTPS is on (production): "
                "one or more Fernet keys, comma-separated, the first encrypting"
            )
        path = Path(
            env_str("API_KEY_DEV_KEY_FILE", str(BASE_DIR / "var" / "api-key-encryption-dev.key"))
        )
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # Several processes may start at once: write aside, then link; the first wins.
                scratch = path.with_name(f".{path.name}.{os.getpid()}")
                descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(Fernet.generate_key())
                try:
                    os.link(scratch, path)
                except FileExistsError:
                    pass
                finally:
                    scratch.unlink()
            except OSError as exc:
                raise ImproperlyConfigured(
                    f"API_KEY_DEV_KEY_FILE: cannot write a development key to {path}: "
                    f"{exc.strerror}; set API_KEY_ENCRYPTION_KEYS instead"
                ) from exc
        configured = [path.read_text().strip()]
    for number, key in enumerate(configured, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"API_KEY_ENCRYPTION_KEYS: key {number} is not a Fernet key (32 url-safe "
                "base64-encoded bytes; make one with `python -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())'`)"
            ) from None
    return configured


API_KEY_ENCRYPTION_KEYS = _api_key_encryption_keys()
# How long the old secret keeps working after a rotation (seconds; 0: not at all).
API_KEY_ROTATION_GRACE = env_int("API_KEY_ROTATION_GRACE", 86400, minimum=0, maximum=30 * 86400)
# How often expired keys and ended grace periods are taken out of the clusters (seconds).
API_KEY_EXPIRY_CHECK_INTERVAL = env_int(
    "API_KEY_EXPIRY_CHECK_INTERVAL", 60, minimum=5, maximum=3600
)

CELERY_BEAT_SCHEDULE["catalog-expire-api-keys"] = {
    "task": "catalog.tasks.expire_api_keys",
    "schedule": float(API_KEY_EXPIRY_CHECK_INTERVAL),
}
# --- End of API keys ------------------------------------------------------------------------
