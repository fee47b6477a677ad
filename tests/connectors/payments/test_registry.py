"""Building adapters from config, and the credential form description."""
from __future__ import annotations

import pytest

from app.connectors.payments import CREDENTIAL_FIELDS, KINDS, InvalidCredentials, adapter_for
from app.connectors.payments.tbank import TBankAdapter
from app.connectors.payments.yookassa import YooKassaAdapter
from app.connectors.payments.yoomoney import YooMoneyAdapter

CREDS = {
    "yoomoney": {"wallet": "410011234567890", "notification_secret": "s3cret", "oauth_token": "tok-123"},
    "yookassa": {"shop_id": "123456", "secret_key": "test_abcdef"},
    "tbank": {"terminal_key": "1234DEMO", "password": "pa55word"},
}


def test_config_drives_urls_and_timeouts():
    """Are base URLs, notification networks and timeouts taken from the config keys?"""
    config = {"YOOMONEY_BASE_URL": "http://s/yoomoney", "YOOMONEY_QUICKPAY_URL": "http://s/yoomoney/quickpay/confirm",
              "YOOKASSA_BASE_URL": "http://s/yookassa/v3/", "TBANK_BASE_URL": "http://s/tbank/v2",
              "YOOKASSA_NOTIFY_IPS": ["127.0.0.1/32"], "PROVIDER_CONNECT_TIMEOUT": 1.5, "PROVIDER_READ_TIMEOUT": 4}
    yoomoney = adapter_for("yoomoney", CREDS["yoomoney"], config)
    yookassa = adapter_for("yookassa", CREDS["yookassa"], config)
    tbank = adapter_for("tbank", CREDS["tbank"], config)
    assert isinstance(yoomoney, YooMoneyAdapter) and yoomoney.quickpay_url == "http://s/yoomoney/quickpay/confirm"
    assert isinstance(yookassa, YooKassaAdapter) and yookassa.base_url == "http://s/yookassa/v3"
    assert [str(n) for n in yookassa.notify_networks] == ["127.0.0.1/32"]
    assert isinstance(tbank, TBankAdapter) and tbank.base_url == "http://s/tbank/v2"
    assert tbank.http.settings.timeout == (1.5, 4.0)


def test_defaults_are_the_real_providers():
    """With no config, do the adapters point at the real APIs with finite timeouts?"""
    tbank = adapter_for("tbank", CREDS["tbank"], {})
    assert tbank.base_url == "https://securepay.tinkoff.ru/v2"
    assert all(t > 0 for t in tbank.http.settings.timeout)
    assert adapter_for("yookassa", CREDS["yookassa"], {}).base_url == "https://api.yookassa.ru/v3"


def test_unknown_kind():
    """Is an unknown provider kind (QIWI is gone) a ValueError?"""
    with pytest.raises(ValueError):
        adapter_for("qiwi", {}, {})


@pytest.mark.parametrize("kind", KINDS)
def test_missing_credentials_name_fields_not_values(kind):
    """Is a missing credential an InvalidCredentials naming the field, never echoing a secret?"""
    partial = dict(CREDS[kind])
    secret_field = next(f.name for f in CREDENTIAL_FIELDS[kind] if f.secret)
    secret_value = partial.pop(secret_field)
    with pytest.raises(InvalidCredentials) as caught:
        adapter_for(kind, partial, {})
    assert secret_field in caught.value.message and secret_value not in caught.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_repr_hides_secrets(kind):
    """Does an adapter's repr (what ends up in logs and tracebacks) leave the secrets out?"""
    text = repr(adapter_for(kind, CREDS[kind], {}))
    for field in CREDENTIAL_FIELDS[kind]:
        if field.secret:
            assert CREDS[kind][field.name] not in text


def test_credential_fields_describe_a_form():
    """Does every kind list its fields with Russian and English labels and a secret flag?"""
    assert set(CREDENTIAL_FIELDS) == set(KINDS)
    for kind, fields in CREDENTIAL_FIELDS.items():
        assert [f.name for f in fields] == list(CREDS[kind])
        assert all(f.label_ru and f.label_en for f in fields)
    secret = {(k, f.name) for k, fs in CREDENTIAL_FIELDS.items() for f in fs if f.secret}
    assert secret == {("yoomoney", "notification_secret"), ("yoomoney", "oauth_token"),
                      ("yookassa", "secret_key"), ("tbank", "password")}


def test_malformed_wallet_number():
    """Is a YooMoney wallet number that is not 11–20 digits refused up front?"""
    with pytest.raises(InvalidCredentials):
        adapter_for("yoomoney", {**CREDS["yoomoney"], "wallet": "4100-12"}, {})
