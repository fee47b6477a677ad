"""The YooMoney wallet adapter against the sandbox over real HTTP."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from app.connectors.payments import InsufficientScope, InvalidCredentials, NotificationRejected, ProviderUnavailable
from app.connectors.payments.signatures import yoomoney_sha1
from app.connectors.payments.yoomoney import YooMoneyAdapter, map_operation_status


@pytest.fixture
def wallet(cabinet, receiver):
    return cabinet.wallet(notification_url=receiver.url)


@pytest.fixture
def yoomoney(adapter, wallet):
    return adapter("yoomoney", wallet)


def test_check_credentials(yoomoney, adapter, wallet, cabinet):
    """Is a good token accepted, and a bad token or another wallet's token refused as InvalidCredentials?"""
    yoomoney.check_credentials()
    with pytest.raises(InvalidCredentials):
        adapter("yoomoney", {"credentials": {**wallet["credentials"], "oauth_token": "bogus"}}).check_credentials()
    other = cabinet.wallet()
    with pytest.raises(InvalidCredentials, match="another"):
        adapter("yoomoney", {"credentials": {**wallet["credentials"],
                                             "oauth_token": other["oauth_token"]}}).check_credentials()


def test_invoice_is_built_locally(wallet, invoice):
    """Is the quickpay link built without any call, with receiver, exact sum, label and return URL?"""
    offline = YooMoneyAdapter("http://127.0.0.1:9", wallet["credentials"],
                              quickpay_url="https://yoomoney.ru/quickpay/confirm")
    req = invoice(amount=30_005)
    created = offline.create_invoice(req, "k")
    query = parse_qs(urlsplit(created.pay_url).query)
    assert created.pay_url.startswith("https://yoomoney.ru/quickpay/confirm?")
    assert query["receiver"] == [wallet["wallet"]] and query["sum"] == ["300.05"]
    assert query["label"] == [req.order_id] and query["successURL"] == [req.return_url]
    assert query["quickpay-form"] == ["button"] and query["paymentType"] == ["AC"]
    assert created.provider_payment_id == req.order_id


def test_unpaid_is_pending(yoomoney, cabinet, invoice):
    """Before any transfer (even with the page open), is the status pending?"""
    created = yoomoney.create_invoice(invoice(), "k")
    cabinet.open_quickpay(created.pay_url)
    status = yoomoney.get_status(created.provider_payment_id)
    assert (status.status, status.amount_paid) == ("pending", None)


def test_pay_then_paid(yoomoney, cabinet, invoice):
    """After the buyer pays through the quickpay page, does the history by label say paid with the amount?"""
    req = invoice(amount=50_000)
    created = yoomoney.create_invoice(req, "k")
    cabinet.pay("yoomoney", cabinet.open_quickpay(created.pay_url))
    status = yoomoney.get_status(order_id=req.order_id)
    assert (status.status, status.amount_paid, status.raw_status) == ("paid", 50_000, "success")


def test_two_transfers_are_summed(yoomoney, cabinet, invoice):
    """If the buyer pays twice under one label (e.g. a short payment topped up), is the total reported?"""
    created = yoomoney.create_invoice(invoice(amount=50_000), "k")
    cabinet.pay("yoomoney", cabinet.open_quickpay(created.pay_url), amount=20_000)
    cabinet.pay("yoomoney", cabinet.open_quickpay(created.pay_url), amount=30_100)
    assert yoomoney.get_status(created.provider_payment_id).amount_paid == 50_100


def test_decline_leaves_it_pending(yoomoney, cabinet, invoice):
    """After a declined card, is the status still pending (a refusal leaves no operation in the wallet)?"""
    created = yoomoney.create_invoice(invoice(), "k")
    cabinet.pay("yoomoney", cabinet.open_quickpay(created.pay_url), action="decline")
    assert yoomoney.get_status(created.provider_payment_id).status == "pending"


def test_operation_statuses():
    """Is only "success" paid, "refused" failed, and anything else (unknown) pending?"""
    assert [map_operation_status(s) for s in ("success", "refused", "in_progress", "whatever")] == \
        ["paid", "failed", "pending", "pending"]


def test_no_cancel_or_expiry_at_the_provider(yoomoney, invoice):
    """Is cancel a read (a wallet cannot refuse transfers), so expiry stays the platform's job?"""
    created = yoomoney.create_invoice(invoice(), "k")
    assert yoomoney.cancel(created.provider_payment_id).status == "pending"


def test_history_unavailable(yoomoney, cabinet):
    """Does a 5xx history read surface as ProviderUnavailable?"""
    cabinet.faults(error_rate=1.0)
    with pytest.raises(ProviderUnavailable):
        yoomoney.get_status("inv-1")


# --- notifications ------------------------------------------------------------------------------


def _fields(wallet: dict, **changes) -> dict:
    fields = {"notification_type": "card-incoming", "operation_id": "904035776918098009", "amount": "97.00",
              "withdraw_amount": "100.00", "currency": "643", "datetime": "2026-11-28T10:00:00.000+03:00",
              "sender": "", "codepro": "false", "label": "inv-42", "unaccepted": "false"}
    fields.update(changes)
    fields["sha1_hash"] = yoomoney_sha1(fields, wallet["notification_secret"])
    return fields


def test_notification_valid(yoomoney, wallet):
    """Is a correctly hashed card notification accepted, reporting the signed net amount grossed up by the
    card's 3 % fee (97.00 received pays a 100.00 invoice) and the operation as event key?"""
    note = yoomoney.parse_notification({}, urlencode(_fields(wallet)).encode(), "1.2.3.4")
    assert (note.provider_payment_id, note.order_id, note.status, note.amount) == ("inv-42", "inv-42", "paid", 10000)
    assert note.event_key == "yoomoney:904035776918098009" and not note.needs_refetch


def test_notification_forged(yoomoney, wallet):
    """Is a notification whose fields were changed after hashing (or hashed with another secret) rejected?"""
    fields = _fields(wallet)
    fields["amount"] = "9800.00"
    with pytest.raises(NotificationRejected, match="sha1"):
        yoomoney.parse_notification({}, urlencode(fields).encode(), None)
    with pytest.raises(NotificationRejected, match="sha1"):
        yoomoney.parse_notification({}, urlencode(_fields({"notification_secret": "x"})).encode(), None)


@pytest.mark.parametrize(("change", "reason"), [
    ({"codepro": "true"}, "codepro"),
    ({"unaccepted": "true"}, "unaccepted"),
    ({"currency": "840"}, "RUB"),
    ({"label": ""}, "label"),
    ({"test_notification": "true"}, "test"),
])
def test_notification_refused_even_if_signed(yoomoney, wallet, change, reason):
    """Are protected, unaccepted, non-ruble, unlabelled and test transfers rejected despite a valid hash?"""
    with pytest.raises(NotificationRejected, match=reason):
        yoomoney.parse_notification({}, urlencode(_fields(wallet, **change)).encode(), None)


@pytest.mark.parametrize("missing", ["sha1_hash", "operation_id", "codepro", "unaccepted", "label"])
def test_notification_missing_fields(yoomoney, wallet, missing):
    """Is a notification missing a required field rejected?"""
    fields = _fields(wallet)
    del fields[missing]
    with pytest.raises(NotificationRejected, match="missing"):
        yoomoney.parse_notification({}, urlencode(fields).encode(), None)


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"a=1&a=2", b"no-equals-sign", b'{"json": true}'])
def test_notification_malformed(yoomoney, body):
    """Is a body that is not a clean form rejected?"""
    with pytest.raises(NotificationRejected):
        yoomoney.parse_notification({}, body, None)


def test_notification_amount_comes_from_the_signed_field_only(yoomoney, wallet):
    """#18 break 3: a genuine notification of a 1 ₽ card payment posted back with withdraw_amount raised
    (not covered by sha1_hash, so the hash still checks) reports what the signed amount supports, not more."""
    fields = _fields(wallet, amount="0.97", withdraw_amount="1.00")
    fields["withdraw_amount"] = "100000.00"  # edited after signing
    note = yoomoney.parse_notification({}, urlencode(fields).encode(), None)
    assert note.amount == 100


def test_notification_amount_without_withdraw_amount(yoomoney, wallet):
    """Does a notification without withdraw_amount still parse (the amount never came from it)?"""
    fields = _fields(wallet)
    del fields["withdraw_amount"]
    assert yoomoney.parse_notification({}, urlencode(fields).encode(), None).amount == 10_000


@pytest.mark.parametrize(("notification_type", "net", "gross"), [
    ("card-incoming", "970.00", 100_000),   # AC: 3 %
    ("p2p-incoming", "990.00", 100_000),    # PC: 1 %
    ("some-new-type", "970.00", 97_000),    # unknown: no fee assumed, the strictest reading
])
def test_notification_fee_by_payment_type(yoomoney, wallet, notification_type, net, gross):
    """Is the signed net amount grossed up by the fee of the signed notification_type (none if unknown)?"""
    fields = _fields(wallet, notification_type=notification_type, amount=net, withdraw_amount="1.00")
    assert yoomoney.parse_notification({}, urlencode(fields).encode(), None).amount == gross


@pytest.fixture
def fee_wallet(cabinet, receiver):
    """A sandbox wallet that is charged YooMoney's fee (3 % card, 1 % wallet) as the real one is."""
    return cabinet.wallet(notification_url=receiver.url)


@pytest.mark.parametrize("payment_type", ["AC", "PC"])
@pytest.mark.parametrize("amount", [100_000, 150_050, 12_345_67])
def test_fee_paths_agree(adapter, config, cabinet, receiver, fee_wallet, invoice, payment_type, amount):
    """Card and wallet payments under a fee: do the notification (signed amount) and the poll (operation-history,
    net) report the same figure, one that pays the invoice in full and is no overpayment?"""
    from app.connectors.payments.amounts import covers, surplus
    from app.connectors.payments.registry import http_settings

    yoomoney = YooMoneyAdapter(config["YOOMONEY_BASE_URL"], fee_wallet["credentials"], http_settings(config),
                               quickpay_url=config["YOOMONEY_QUICKPAY_URL"], payment_type=payment_type)
    created = yoomoney.create_invoice(invoice(amount=amount), "k")
    paid = cabinet.pay("yoomoney", cabinet.open_quickpay(created.pay_url))
    received = receiver.wait_for(1)[0]
    fields = dict(parse_qs(received.body.decode()))
    assert fields["withdraw_amount"] == [f"{amount // 100}.{amount % 100:02d}"] != fields["amount"]
    note = yoomoney.parse_notification({}, received.body, received.remote_addr)
    polled = yoomoney.get_status(created.provider_payment_id)
    assert paid["extra"]["payment_type"] == payment_type
    assert note.amount == polled.amount_paid
    assert covers("yoomoney", amount, polled.amount_paid) and surplus("yoomoney", amount, polled.amount_paid) == 0


def test_short_payment_is_short_on_both_paths(adapter, cabinet, receiver, fee_wallet, invoice):
    """A card payment of 99 % of the invoice (less than the fee explains) is short by notification and by poll."""
    from app.connectors.payments.amounts import covers

    yoomoney = adapter("yoomoney", fee_wallet)
    created = yoomoney.create_invoice(invoice(amount=100_000), "k")
    cabinet.pay("yoomoney", cabinet.open_quickpay(created.pay_url), amount=99_000)
    received = receiver.wait_for(1)[0]
    note = yoomoney.parse_notification({}, received.body, received.remote_addr)
    polled = yoomoney.get_status(created.provider_payment_id)
    assert note.amount == polled.amount_paid == 99_000
    assert not covers("yoomoney", 100_000, note.amount)


def test_token_without_a_scope(adapter, cabinet):
    """#18: a token made without account-info (or operation-history) is InsufficientScope naming the scopes
    to grant, not InvalidCredentials ("bad credentials")."""
    no_info = cabinet.wallet(scopes=["operation-history"])
    with pytest.raises(InsufficientScope, match="account-info and operation-history") as caught:
        adapter("yoomoney", no_info).check_credentials()
    assert not isinstance(caught.value, InvalidCredentials) and caught.value.code == "insufficient_scope"
    no_history = cabinet.wallet(scopes=["account-info"])
    adapter("yoomoney", no_history).check_credentials()
    with pytest.raises(InsufficientScope):
        adapter("yoomoney", no_history).get_status("inv-1")
