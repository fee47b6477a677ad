"""The circuit breaker of API forms: consecutive failures open it, a probe closes it."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.connectors.payments import failure_reasons
from app.connectors.payments.base import InvalidCredentials, ProviderError, ProviderUnavailable
from app.database import utcnow
from app.extensions import db
from app.jobs import form_health as form_health_jobs
from app.market import form_health
from app.models import AuditEvent, PaymentForm
from tests.provider_sandbox import add_form


def _form(form_id: int) -> PaymentForm:
    db.session.expire_all()
    return db.session.get(PaymentForm, form_id)


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def _age(form_id: int, seconds: int) -> None:
    """Pretend the circuit opened (and was last probed) ``seconds`` ago."""
    form = _form(form_id)
    form.circuit_opened_at = utcnow() - timedelta(seconds=seconds)
    form.last_checked_at = form.circuit_opened_at
    db.session.commit()


def test_consecutive_failures_open_the_circuit_once(seller_ctx, providers):
    """Do exactly THRESHOLD consecutive failures open the circuit, with an actionable reason and one audit entry?"""
    _, form, _ = add_form(providers, "tbank")
    assert [form_health.record_failure(form.id, InvalidCredentials("refused")) for _ in range(2)] == [False, False]
    db.session.commit()
    assert _form(form.id).circuit == "closed" and _form(form.id).healthy
    assert form_health.record_failure(form.id, InvalidCredentials("refused")) is True
    assert form_health.record_failure(form.id, ProviderUnavailable("down")) is False  # already open
    db.session.commit()
    opened = _form(form.id)
    assert (opened.circuit, opened.consecutive_failures) == ("open", 4)
    assert opened.circuit_reason == failure_reasons.CREDENTIALS_REJECTED and opened.circuit_opened_at
    assert not opened.healthy
    health = form_health.health_of(opened)
    assert health.state == "open" and "Проверьте их в кабинете провайдера" in health.reason
    [event] = _audit("payment_form.circuit_opened")
    assert event.target_id == str(form.id) and event.details == {"why": "credentials_rejected"}


def test_a_success_in_between_resets_the_count(seller_ctx, providers):
    """Does a successful call reset the count, so failures must be consecutive to open the circuit?"""
    _, form, _ = add_form(providers, "yookassa")
    for _ in range(2):
        form_health.record_failure(form.id, ProviderUnavailable("down"))
    form_health.record_success(form.id)
    for _ in range(2):
        form_health.record_failure(form.id, ProviderUnavailable("down"))
    db.session.commit()
    assert (_form(form.id).circuit, _form(form.id).consecutive_failures) == ("closed", 2)


def test_the_threshold_comes_from_configuration(app_factory, sandbox_config, providers):
    """Does FORM_FAILURE_THRESHOLD set how many failures open the circuit?"""
    app = app_factory(**sandbox_config, FORM_FAILURE_THRESHOLD=1)
    with app.app_context(), app.test_request_context():
        _, form, _ = add_form(providers, "tbank")
        assert form_health.record_failure(form.id, "provider_unavailable") is True


def test_reasons_are_said_in_words_the_seller_can_act_on(seller_ctx):
    """Is each kind of failure stored as a reason and shown in the seller's language, with the provider's words?"""
    assert failure_reasons.reason_of(InvalidCredentials("x")) == "credentials_rejected"
    assert failure_reasons.reason_of(ProviderUnavailable("timeout")) == "provider_unavailable"
    stored = failure_reasons.reason_of(ProviderError("T-Bank Init refused: error 1006 Терминал заблокирован", "1006"))
    assert stored.startswith("provider_refused: ")
    text = failure_reasons.reason_text(stored)
    assert "Провайдер отклоняет запросы" in text and "Терминал заблокирован" in text
    assert "не отвечает" in failure_reasons.reason_text("provider_unavailable")
    assert failure_reasons.reason_text("something else") == "something else"


def test_a_probe_closes_the_circuit_when_the_check_passes(seller_ctx, providers):
    """After the probe interval, does the probe job re-check the credentials and close the circuit?"""
    _, form, _ = add_form(providers, "yoomoney")
    for _ in range(3):
        form_health.record_failure(form.id, ProviderUnavailable("down"))
    db.session.commit()
    assert form_health.due_for_probe() == []  # just opened: not yet
    assert form_health_jobs.probe_open_circuits_once() == {"probed": 0, "closed": 0}
    _age(form.id, 61)
    assert form_health.due_for_probe() == [form.id]
    db.session.rollback()  # the job runs in its own app context and session
    assert form_health_jobs.probe_open_circuits() == {"probed": 1, "closed": 1}
    closed = _form(form.id)
    assert (closed.circuit, closed.consecutive_failures, closed.circuit_reason) == ("closed", 0, None)
    assert closed.healthy and closed.last_checked_at is not None
    assert len(_audit("payment_form.circuit_closed")) == 1


def test_a_failing_probe_keeps_it_open_until_the_provider_accepts_again(seller_ctx, providers):
    """While the credentials are still refused, does the probe keep the circuit open (saying why), and close it after?"""
    _, form, credentials = add_form(providers, "tbank")
    providers.account("tbank", terminal_key=credentials["terminal_key"], password="Changed-at-the-bank-1")
    for _ in range(3):
        form_health.record_failure(form.id, ProviderUnavailable("down"))
    db.session.commit()
    _age(form.id, 120)
    assert form_health.probe(form.id) is False
    db.session.commit()
    still = _form(form.id)
    assert still.circuit == "open" and still.circuit_reason == "credentials_rejected"
    assert form_health.due_for_probe() == []  # just probed: waits for the next interval

    providers.account("tbank", terminal_key=credentials["terminal_key"], password=credentials["password"])
    _age(form.id, 120)
    assert form_health_jobs.probe_open_circuits_once() == {"probed": 1, "closed": 1}
    assert _form(form.id).circuit == "closed"


def test_disabled_and_deleted_forms_are_not_probed(seller_ctx, providers):
    """Are disabled or deleted forms left out of probing (no calls made for them)?"""
    _, disabled, _ = add_form(providers, "yookassa")
    _, deleted, _ = add_form(providers, "yookassa")
    for form in (disabled, deleted):
        for _ in range(3):
            form_health.record_failure(form.id, ProviderUnavailable("down"))
    db.session.commit()
    _form(disabled.id).enabled = False
    _form(deleted.id).deleted_at = utcnow()
    db.session.commit()
    _age(disabled.id, 120)
    _age(deleted.id, 120)
    assert form_health.due_for_probe() == []
    assert form_health.probe(deleted.id) is None


def test_a_probe_of_unreadable_credentials_says_so(app_factory, sandbox_config, providers):
    """If the stored credentials cannot be decrypted, does the probe keep the circuit open and say to re-enter them?"""
    from cryptography.fernet import Fernet

    app = app_factory(**sandbox_config)
    with app.app_context(), app.test_request_context():
        _, form, _ = add_form(providers, "tbank")
        for _ in range(3):
            form_health.record_failure(form.id, ProviderUnavailable("down"))
        db.session.commit()
        form_id = form.id
    other_keys = app_factory(**sandbox_config, ENCRYPTION_KEYS=[Fernet.generate_key().decode()])
    with other_keys.app_context():
        assert form_health.probe(form_id) is False
        db.session.commit()
        assert _form(form_id).circuit_reason == "credentials_unreadable"
