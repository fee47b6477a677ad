"""The payment providers' sandbox: YooMoney, YooKassa and T-Bank in one Flask app.

Paths mirror the real APIs under a prefix per provider, so the platform's
adapters only swap their base URL:

* ``/tbank/v2/…``   — T-Bank Acquiring API v2 (Token-signed JSON)
* ``/yookassa/v3/…`` — YooKassa API v3 (Basic auth, Idempotence-Key)
* ``/yoomoney/…``   — YooMoney quickpay form and wallet API (Bearer)
* ``/_sandbox/providers/…`` — the cabinet: accounts, payments, the payer, notifications
* ``/_sandbox/faults`` — shared misbehaviour (latency, 5xx, hangs, lost/duplicated/reordered notifications)

State lives in memory: one process is one sandbox.
"""
from __future__ import annotations

from types import SimpleNamespace

from flask import Flask

from .. import faults as faults_module
from . import cabinet, glitches
from .notifier import Notifier
from .state import Store
from .tbank import TBankSandbox
from .yookassa import YooKassaSandbox
from .yoomoney import YooMoneySandbox


def create_providers_app(seed: int = 0, *, notify_attempts: int = 5, notify_backoff: float = 0.05) -> Flask:
    """A fresh sandbox; ``seed`` makes ids and fault rolls reproducible."""
    app = Flask(__name__)
    faults = faults_module.Faults(seed=seed)
    faults_module.install(app, faults)
    armed = glitches.Glitches()
    glitches.install(app, armed)
    store = Store(seed)
    notifier = Notifier(faults, attempts=notify_attempts, backoff=notify_backoff)
    providers = {cls.name: cls(store, notifier) for cls in (YooMoneySandbox, YooKassaSandbox, TBankSandbox)}
    for provider in providers.values():
        app.register_blueprint(provider.blueprint())
    app.register_blueprint(cabinet.blueprint(providers, notifier, armed))
    app.extensions["sandbox_providers"] = SimpleNamespace(
        store=store, notifier=notifier, providers=providers, glitches=armed, faults=faults)
    return app


__all__ = ["create_providers_app"]
