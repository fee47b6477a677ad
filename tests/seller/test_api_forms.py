"""Sellers' API forms through the web: add (checked live), edit, disable, delete; secrets stay secret."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from app import crypto, ledger
from app.connectors.payments import failure_reasons
from app.extensions import db
from app.market import form_health, payment_forms
from app.models import AuditEvent, PaymentForm, User
from app.models.market import WithdrawalRequest
from app.people import accounts
from tests.helpers import csrf_from
from tests.provider_sandbox import add_form, quick_user, sign_in

KINDS = ["yoomoney", "yookassa", "tbank"]
SECRET_FIELD = {"yoomoney": "oauth_token", "yookassa": "secret_key", "tbank": "password"}
REJECTED = "Провайдер отклонил эти данные"


class Web:
    """A signed-in seller's browser; remembers every page it was shown."""

    def __init__(self, app, email: str):
        self.app = app
        self.client = app.test_client()
        with app.app_context():
            sign_in(self.client, quick_user(email))
        self.token = csrf_from(self.client.get("/account").get_data(as_text=True))
        self.seen: list[str] = []

    def _keep(self, response):
        self.seen.append(response.get_data(as_text=True))
        return response

    def get(self, path: str, **kwargs):
        return self._keep(self.client.get(path, **kwargs))

    def post(self, path: str, data: dict | None = None, **kwargs):
        return self._keep(self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs))

    def assert_never_shown(self, *secrets: str) -> None:
        for page in self.seen:
            for secret in secrets:
                assert secret not in page


@pytest.fixture
def seller(seller_app):
    return Web(seller_app, "seller@example.com")


def _forms() -> list[PaymentForm]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(PaymentForm).order_by(PaymentForm.id)))


def _form_id(response) -> int:
    return int(re.search(r"/seller/api-forms/(\d+)$", response.headers["Location"]).group(1))


@pytest.mark.parametrize("kind", KINDS)
def test_seller_adds_a_form_checked_live_and_sees_its_notification_url(seller, providers, kind):
    """Does a seller add each kind with good credentials, checked live, and see the notification URL to copy?"""
    credentials = providers.credentials(kind)
    assert "name=" in seller.get(f"/seller/api-forms/new?kind={kind}").get_data(as_text=True)
    response = seller.post(f"/seller/api-forms/new?kind={kind}", {"name": "Основная", **credentials})
    assert response.status_code == 302
    form_id = _form_id(response)
    page = seller.get(f"/seller/api-forms/{form_id}").get_data(as_text=True)
    with seller.app.app_context():
        form = db.session.get(PaymentForm, form_id)
        assert (form.kind, form.name, form.enabled, form.circuit) == (kind, "Основная", True, "closed")
        assert form.last_checked_at is not None
        assert payment_forms.credentials_of(form) == credentials
        url = f"https://pokerpay.test/hooks/{kind}/{form.hook_token}"
    assert f'data-copy="{url}"' in page and "Работает" in page
    assert "type=\"password\"" in seller.get(f"/seller/api-forms/new?kind={kind}").get_data(as_text=True)
    listing = seller.get("/seller/api-forms").get_data(as_text=True)
    assert "Основная" in listing
    assert "Основная" in seller.get("/seller/").get_data(as_text=True)
    secrets = [v for f, v in credentials.items() if f in ("notification_secret", "oauth_token", "secret_key", "password")]
    assert secrets
    seller.assert_never_shown(*secrets)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_credentials_are_a_clear_form_error_and_nothing_is_written(seller, providers, kind):
    """Does a credential the provider refuses show a clear form error and store nothing?"""
    credentials = providers.credentials(kind)
    credentials[SECRET_FIELD[kind]] = "wrong-" + credentials[SECRET_FIELD[kind]]
    response = seller.post(f"/seller/api-forms/new?kind={kind}", {"name": "x", **credentials})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and REJECTED in page
    assert 'value="wrong-' not in page  # a typed secret is not sent back either
    # the refusal is said in Russian (app.market.provider_messages), not in the connector's English log text
    error = re.search(r"Провайдер отклонил эти данные \(([^)]*)\)", page).group(1)
    assert error and not re.search(r"[A-Za-z]{3,}", error.replace("OAuth", "")), error
    with seller.app.app_context():
        assert _forms() == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action.like("payment_form.%"))) == 0


def test_a_provider_that_does_not_answer_is_a_form_error(app_factory, sandbox_config, providers):
    """When the provider is down, is the seller told to retry, with nothing saved?"""
    app = app_factory(**{**sandbox_config, "TBANK_BASE_URL": "http://127.0.0.1:9/tbank/v2"})
    web = Web(app, "seller@example.com")
    response = web.post("/seller/api-forms/new?kind=tbank", providers.credentials("tbank"))
    assert response.status_code == 200 and "Провайдер не ответил" in response.get_data(as_text=True)
    with app.app_context():
        assert _forms() == []


def test_missing_fields_and_unknown_kinds_are_refused(seller, providers):
    """Is a blank field a form error, and an unknown provider kind a 404?"""
    credentials = providers.credentials("yookassa")
    response = seller.post("/seller/api-forms/new?kind=yookassa", {"shop_id": credentials["shop_id"]})
    assert response.status_code == 200 and "field-errors" in response.get_data(as_text=True)
    assert seller.get("/seller/api-forms/new?kind=paypal").status_code == 404
    assert seller.get("/seller/api-forms/new").status_code == 404
    with seller.app.app_context():
        assert _forms() == []


def test_edit_renames_keeps_blank_secrets_and_checks_new_ones(seller, providers):
    """On edit, does a blank secret keep the stored one, and is a new one checked live (bad one refused)?"""
    account = providers.account("tbank")
    credentials = account["credentials"]
    form_id = _form_id(seller.post("/seller/api-forms/new?kind=tbank", credentials))
    page = seller.get(f"/seller/api-forms/{form_id}").get_data(as_text=True)
    assert f'value="{credentials["terminal_key"]}"' in page  # identifiers are shown for editing
    assert "••••" in page  # the secret, masked

    response = seller.post(f"/seller/api-forms/{form_id}", {"name": "Т-Банк 2",
                                                            "terminal_key": credentials["terminal_key"],
                                                            "password": ""})
    assert response.status_code == 302
    with seller.app.app_context():
        form = db.session.get(PaymentForm, form_id)
        assert form.name == "Т-Банк 2" and payment_forms.credentials_of(form) == credentials

    response = seller.post(f"/seller/api-forms/{form_id}", {"terminal_key": credentials["terminal_key"],
                                                            "password": "not-the-password"})
    assert response.status_code == 200 and REJECTED in response.get_data(as_text=True)
    with seller.app.app_context():
        assert payment_forms.credentials_of(db.session.get(PaymentForm, form_id)) == credentials

    providers.account("tbank", terminal_key=credentials["terminal_key"], password="New-Password-42")
    with seller.app.app_context():  # the old password now fails: the circuit opens
        for _ in range(3):
            form_health.record_failure(form_id, failure_reasons.CREDENTIALS_REJECTED)
        db.session.commit()
    assert "Приостановлена" in seller.get(f"/seller/api-forms/{form_id}").get_data(as_text=True)
    response = seller.post(f"/seller/api-forms/{form_id}", {"terminal_key": credentials["terminal_key"],
                                                            "password": "New-Password-42"})
    assert response.status_code == 302
    with seller.app.app_context():
        form = db.session.get(PaymentForm, form_id)
        assert payment_forms.credentials_of(form)["password"] == "New-Password-42"
        assert (form.circuit, form.consecutive_failures, form.circuit_reason) == ("closed", 0, None)
    seller.assert_never_shown(credentials["password"], "New-Password-42")


def test_disable_and_enable(seller, providers):
    """Can a seller disable a form (and see it disabled) and enable it again?"""
    form_id = _form_id(seller.post("/seller/api-forms/new?kind=yookassa", providers.credentials("yookassa")))
    page = seller.post(f"/seller/api-forms/{form_id}/disable", follow_redirects=True).get_data(as_text=True)
    assert "Форма отключена" in page
    with seller.app.app_context():
        assert db.session.get(PaymentForm, form_id).enabled is False
    seller.post(f"/seller/api-forms/{form_id}/enable")
    with seller.app.app_context():
        assert db.session.get(PaymentForm, form_id).enabled is True
        actions = list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["payment_form.disabled", "payment_form.enabled"]


def _withdrawal_request(form: PaymentForm, status: str = "active") -> WithdrawalRequest:
    escrow = ledger.escrow_of(900_000 + form.id, form.user_id)
    request = WithdrawalRequest(
        seller_id=form.user_id, payment_form_id=form.id, kind=form.kind, status=status, amount=100_00,
        escrow_account_id=escrow.id, min_invoice_kopecks=100_00, max_invoice_kopecks=5_000_00,
        max_open_invoices=3, request_key=uuid.uuid4().hex,
    )
    db.session.add(request)
    db.session.commit()
    return request


def test_delete_is_refused_while_in_use_then_erases_the_secrets(seller, providers):
    """Is deleting refused while an active withdrawal request uses the form, and allowed (secrets erased) after?"""
    credentials = providers.credentials("yoomoney")
    form_id = _form_id(seller.post("/seller/api-forms/new?kind=yoomoney", credentials))
    with seller.app.app_context():
        form = db.session.get(PaymentForm, form_id)
        request_id = _withdrawal_request(form).id
        token, ciphertext = form.hook_token, form.credentials_encrypted

    page = seller.post(f"/seller/api-forms/{form_id}/delete", follow_redirects=True).get_data(as_text=True)
    assert "нельзя удалить" in page
    with seller.app.app_context():
        form = db.session.get(PaymentForm, form_id)
        assert form.deleted_at is None and form.credentials_encrypted == ciphertext

    with seller.app.app_context():
        db.session.get(WithdrawalRequest, request_id).status = "completed"
        db.session.commit()
    response = seller.post(f"/seller/api-forms/{form_id}/delete", follow_redirects=True)
    assert "удалена" in response.get_data(as_text=True)
    with seller.app.app_context():
        form = db.session.get(PaymentForm, form_id)
        assert form.deleted_at is not None and form.enabled is False and form.display == ""
        assert form.credentials_encrypted != ciphertext
        assert payment_forms.credentials_of(form) == {}
    assert seller.get(f"/seller/api-forms/{form_id}").status_code == 404
    assert "yoomoney form" not in seller.get("/seller/api-forms").get_data(as_text=True)
    assert seller.client.post(f"/hooks/yoomoney/{token}", data=b"a=b").status_code == 404


def test_another_users_form_is_not_found_on_every_route(seller, providers, seller_app):
    """Does every API-form route answer 404 for a form of another seller, changing nothing?"""
    form_id = _form_id(seller.post("/seller/api-forms/new?kind=tbank", providers.credentials("tbank")))
    with seller_app.app_context():
        before = db.session.get(PaymentForm, form_id)
        snapshot = (before.name, before.enabled, before.credentials_encrypted, before.deleted_at)
    other = Web(seller_app, "other@example.com")
    assert other.get(f"/seller/api-forms/{form_id}").status_code == 404
    assert other.post(f"/seller/api-forms/{form_id}", {"name": "mine", "terminal_key": "x",
                                                       "password": "y"}).status_code == 404
    for action in ("enable", "disable", "delete"):
        assert other.post(f"/seller/api-forms/{form_id}/{action}").status_code == 404
    assert "tbank form" not in other.get("/seller/api-forms").get_data(as_text=True)
    with seller_app.app_context():
        after = db.session.get(PaymentForm, form_id)
        assert (after.name, after.enabled, after.credentials_encrypted, after.deleted_at) == snapshot


def _text_values(table: sa.Table):
    """Every value of every text-like column of ``table`` (JSON included), as text."""
    columns = [c for c in table.columns if isinstance(c.type, (sa.String, sa.Text, sa.JSON))]
    if not columns:
        return
    for row in db.session.execute(sa.select(*columns)):
        for value in row:
            if value is not None:
                yield value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def test_secrets_are_encrypted_at_rest_everywhere(seller_ctx, providers):
    """Is there no plaintext secret in the raw column, nor in any text column of any table (audit included)?"""
    secrets = []
    for kind in KINDS:
        user, form, credentials = add_form(providers, kind)
        secrets += [credentials[f.name] for f in payment_forms.credential_fields(kind) if f.secret]
        payment_forms.set_enabled(user, form.id, False)
        payment_forms.update_form(user, form.id, "renamed", credentials)
        db.session.commit()
    raw = db.session.execute(sa.text("SELECT credentials_encrypted FROM payment_form")).scalars().all()
    assert len(raw) == 3
    for value in raw:
        assert value.startswith("gAAAAA")  # a Fernet token
        assert all(secret not in value for secret in secrets)
    for table in db.metadata.sorted_tables:
        for value in _text_values(table):
            assert all(secret not in value for secret in secrets), table.name


def test_key_rotation_reencrypts_every_secret(app_factory, sandbox_config, providers):
    """After `flask keys rotate` with keys [B, A], does everything decrypt with B alone and nothing with A alone?"""
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = app_factory(**sandbox_config, ENCRYPTION_KEYS=[key_a])
    with old.app_context(), old.test_request_context():
        _, form, credentials = add_form(providers, "yookassa")
        user = quick_user("staff@example.com")
        accounts.start_totp_enrolment(user)
        db.session.commit()
        form_id, user_id = form.id, user.id
        seed = crypto.decrypt(user.totp_secret_encrypted)

    both = app_factory(**sandbox_config, ENCRYPTION_KEYS=[key_b, key_a])
    result = both.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 secret(s)" in result.output

    new = app_factory(**sandbox_config, ENCRYPTION_KEYS=[key_b])
    with new.app_context():
        assert payment_forms.credentials_of(db.session.get(PaymentForm, form_id)) == credentials
        assert crypto.decrypt(db.session.get(User, user_id).totp_secret_encrypted) == seed

    only_old = app_factory(**sandbox_config, ENCRYPTION_KEYS=[key_a])
    with only_old.app_context():
        with pytest.raises(crypto.SecretUnreadable):
            payment_forms.credentials_of(db.session.get(PaymentForm, form_id))
        with pytest.raises(crypto.SecretUnreadable):
            crypto.decrypt(db.session.get(User, user_id).totp_secret_encrypted)


def test_rotation_without_the_old_key_changes_nothing(app_factory, sandbox_config, providers):
    """Does rotating without the key that can read the secrets fail plainly and leave them as they were?"""
    key_a = Fernet.generate_key().decode()
    old = app_factory(**sandbox_config, ENCRYPTION_KEYS=[key_a])
    with old.app_context(), old.test_request_context():
        _, form, _ = add_form(providers, "tbank")
        form_id, ciphertext = form.id, form.credentials_encrypted
    wrong = app_factory(**sandbox_config, ENCRYPTION_KEYS=[Fernet.generate_key().decode()])
    result = wrong.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code != 0 and "cannot be decrypted" in result.output
    with old.app_context():
        assert db.session.get(PaymentForm, form_id).credentials_encrypted == ciphertext


def test_dashboard_shows_why_a_form_is_paused(seller, providers):
    """When a form's circuit is open, does the seller's dashboard say so, and why, in words they can act on?"""
    form_id = _form_id(seller.post("/seller/api-forms/new?kind=yookassa", providers.credentials("yookassa")))
    with seller.app.app_context():
        for _ in range(3):
            form_health.record_failure(form_id, failure_reasons.CREDENTIALS_REJECTED)
        db.session.commit()
    page = seller.get("/seller/").get_data(as_text=True)
    assert "приостановлена" in page and "Провайдер отклоняет данные этой формы" in page


def test_credential_checks_are_rate_limited_per_user_across_both_views(app_factory, sandbox_config, providers):
    """Past the per-user budget, do saves (new and edit alike) answer 429 without calling the provider or writing?"""
    app = app_factory(CREDENTIAL_CHECK_RATE_LIMIT="3 per minute", **sandbox_config)
    seller = Web(app, "prober@example.com")
    good = providers.credentials("yookassa")
    created = seller.post("/seller/api-forms/new?kind=yookassa", {"name": "Main", **good})
    assert created.status_code == 302
    form_id = _form_id(created)
    codes = [seller.post(f"/seller/api-forms/{form_id}", {"name": "Renamed", "shop_id": good["shop_id"]}).status_code,
             seller.post("/seller/api-forms/new?kind=yookassa", {"name": "Second", **good}).status_code]
    assert codes == [302, 302]
    refused = seller.post("/seller/api-forms/new?kind=yookassa", {"name": "Third", **good})
    assert refused.status_code == 429
    assert seller.get(f"/seller/api-forms/{form_id}").status_code == 200, "reading is not limited"
    other = Web(app, "honest@example.com")
    assert other.post("/seller/api-forms/new?kind=yookassa", {"name": "Own", **good}).status_code == 302
    with app.app_context():
        assert sorted(f.name for f in _forms()) == ["Own", "Renamed", "Second"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_edit_page_shows_no_character_of_a_secret(seller, providers, kind):
    """Does the credentials list show a stored secret as dots only — not its last characters, not its length?"""
    from app.connectors.payments.base import CREDENTIAL_FIELDS

    credentials = providers.account(kind)["credentials"]
    form_id = _form_id(seller.post(f"/seller/api-forms/new?kind={kind}", credentials))
    page = seller.get(f"/seller/api-forms/{form_id}").get_data(as_text=True)
    shown = dict(re.findall(r"<dt>([^<]+)</dt><dd><code>([^<]*)</code></dd>", page))
    secrets = [f for f in CREDENTIAL_FIELDS[kind] if f.secret]
    assert secrets, f"{kind} has no secret field"
    for spec in secrets:
        value = credentials[spec.name]
        assert shown[spec.label_ru] == payment_forms.SECRET_SHOWN, shown
        assert value not in page, spec.name
