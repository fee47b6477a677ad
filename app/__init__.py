"""PokerPay: a peer-to-peer exchange of poker-room dollars for rubles.

:func:`create_app` is the application factory.  Extensions live unbound in
:mod:`app.extensions`; blueprints are imported inside the factory.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from config import DEFAULT_SECRET_KEY, Config, config_from_env


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete for this environment."""


def _check_production_config(app: Flask, config_class: type) -> None:
    if config_class.__name__ != "ProductionConfig":
        return
    if app.config["SECRET_KEY"] in (None, "", DEFAULT_SECRET_KEY):
        raise ConfigurationError("SECRET_KEY must be set to a long random value in production")
    if not app.config.get("ENCRYPTION_KEYS"):
        raise ConfigurationError("ENCRYPTION_KEYS must be set in production (see `flask keys generate`)")
    if not os.environ.get("DATABASE_URL") and not app.config.get("SQLALCHEMY_DATABASE_URI"):
        raise ConfigurationError("DATABASE_URL must be set in production")


def create_app(config_class: type[Config] | None = None, **overrides) -> Flask:
    config_class = config_class or config_from_env()
    app = Flask(__name__, instance_relative_config=True)
    from app.core.urls import RowIdConverter

    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    app.config.from_object(config_class)
    app.config.update(overrides)
    _check_production_config(app, config_class)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("MAX_CONTENT_LENGTH"):
        # No request needs more than a dispute's evidence file and its form: a larger one is a 413 before any
        # view reads it (a file just over the limit gets the form's own error, app.market.dispute_files)
        app.config["MAX_CONTENT_LENGTH"] = int(app.config["DISPUTE_FILE_MAX_BYTES"]) + 1024 * 1024
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'pokerpay.db'}"

    from app import database  # noqa: F401  (engine events must be registered before use)
    from app.observability.logs import configure_logging

    configure_logging(app)
    _init_extensions(app)
    _register_blueprints(app)

    from app.web import error_pages, request_hooks

    error_pages.register(app)
    request_hooks.register(app)

    from app import cli, money
    from app.ledger import register_cli as register_ledger_cli
    from app.web import filters

    money.init_app(app)
    filters.register(app)
    cli.register(app)
    register_ledger_cli(app)

    from app.jobs import load_job_modules

    load_job_modules()  # every trigger a service may name has its job (app.core.after_commit)

    from app.observability import init_app as init_observability

    init_observability(app)

    from app.web.deposits import fast_poll

    fast_poll.install(app)  # the invoice page's unchanged poll, answered before the Flask stack
    _trust_proxies(app)  # outermost: the fast path sees the client's real address and scheme, as Flask does
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind N trusted proxies the client is the Nth address from the right of X-Forwarded-For."""
    count = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)


def _init_extensions(app: Flask) -> None:
    from flask_talisman import Talisman

    from app import models  # noqa: F401  (register every table with the metadata)
    from app.extensions import babel, csrf, db, limiter, login_manager, migrate
    from app.i18n import select_locale, template_gettext
    from app.redis_client import init_redis, limiter_storage_uri
    from app.web.file_downloads import page_csp

    db.init_app(app)
    from app.database import ping_when_idle, tolerate_dropped_connection_at_teardown

    tolerate_dropped_connection_at_teardown(app, db)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine, app.config["DB_PING_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    app.context_processor(template_gettext)  # after Flask-Babel's: a render looks its catalogue up once
    init_redis(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(app.config["REDIS_URL"]))
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"

    Talisman(
        app,
        force_https=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=page_csp(app.config.get("PUSH_URL")),
        frame_options="DENY",
        referrer_policy="same-origin",
        strict_transport_security=app.config["FORCE_HTTPS"],
    )


def _register_blueprints(app: Flask) -> None:
    from app.web.admin import bp as admin_bp
    from app.web.auth import bp as auth_bp
    from app.web.deposits import bp as deposits_bp
    from app.web.disputes import bp as disputes_bp
    from app.web.main import bp as main_bp
    from app.web.metrics_view import bp as metrics_bp
    from app.web.notifications import bp as notifications_bp
    from app.web.reserves import bp as reserves_bp
    from app.web.seller import bp as seller_bp
    from app.web.telegram_webhook import bp as telegram_hook_bp
    from app.web.wallet import bp as wallet_bp
    from app.web.webhooks import bp as hooks_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(wallet_bp)
    app.register_blueprint(seller_bp)
    app.register_blueprint(hooks_bp)
    app.register_blueprint(deposits_bp)
    app.register_blueprint(disputes_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(reserves_bp)
    app.register_blueprint(telegram_hook_bp)
