"""Every status and kind a page can show has a label in English and in Russian (app/web/labels.py).

The codes are derived from their sources — the state machines in app.states and the ledger's enums and
transfer kinds — so a state or kind added there without a label fails here, not on a Russian ops page.
"""
from __future__ import annotations

import pytest
from babel.support import Translations

from app import ledger, states
from app.connectors.payments.base import STATUSES
from app.ledger.models import AccountKind, Phase, Status
from app.market import form_limits
from app.market.payment_forms import KIND_LABELS
from app.market.split_fill import SPLIT_STATES
from app.models.dispute import AUTHOR_ROLES
from app.models.reserves import ROOM_BALANCE_SOURCES
from app.web import labels
from tests.browser.pages import TRANSLATIONS


def _states(machine: states.StateMachine) -> set[str]:
    return set(machine.edges) | {s for targets in machine.edges.values() for s in targets} | set(machine.final)


def _transfer_kinds() -> set[str]:
    return {v for k, v in vars(ledger.TransferKind).items() if k.isupper() and isinstance(v, str)}


MACHINES = {name: value for name, value in vars(states).items() if isinstance(value, states.StateMachine)}

#: (what is labelled, the codes from their source, the labels)
CASES = [
    ("deposit (buyer)", _states(states.DEPOSIT), labels.DEPOSIT_STATUS),
    ("deposit (ops)", _states(states.DEPOSIT), labels.OPS_DEPOSIT_STATUS),
    ("withdrawal request", _states(states.WITHDRAWAL), labels.WITHDRAWAL_STATUS),
    ("cash-out", _states(states.CASH_OUT), labels.CASH_OUT_STATUS),
    ("incoming room transfer", _states(states.INCOMING_ROOM_TRANSFER), labels.ROOM_TRANSFER_STATUS),
    ("ledger adjustment", _states(states.ADJUSTMENT), labels.ADJUSTMENT_STATUS),
    ("payment exception", _states(states.PAYMENT_EXCEPTION), labels.PAYMENT_EXCEPTION_STATUS),
    ("dispute case", _states(states.DISPUTE_CASE), labels.DISPUTE_CASE_STATUS),
    ("dispute author", set(AUTHOR_ROLES), labels.DISPUTE_AUTHOR),
    ("transfer kind (ops)", _transfer_kinds(), labels.TRANSFER_KIND),
    ("movement kind (wallet)", _transfer_kinds(), labels.MOVEMENT_KIND),
    ("transfer phase", {p.value for p in Phase}, labels.TRANSFER_PHASE),
    ("transfer status", {s.value for s in Status}, labels.TRANSFER_STATUS),
    ("account kind", {k.value for k in AccountKind}, labels.ACCOUNT_KIND),
    ("provider payment status", set(STATUSES), labels.PROVIDER_PAYMENT_STATUS),
    ("reserve room balance source", set(ROOM_BALANCE_SOURCES), labels.RESERVE_ROOM_BALANCE_SOURCE),
    ("API form limit state", set(form_limits.STATES), labels.FORM_LIMIT_STATE),
    ("split purchase", set(SPLIT_STATES), labels.SPLIT_STATE),
]


def test_every_state_machine_has_its_labels():
    """Is every state machine in app.states covered by a case below (a new machine needs labels too)?"""
    covered = {states.DEPOSIT.name, states.WITHDRAWAL.name, states.CASH_OUT.name,
               states.INCOMING_ROOM_TRANSFER.name, states.ADJUSTMENT.name, states.PAYMENT_EXCEPTION.name,
               states.DISPUTE_CASE.name}
    assert {m.name for m in MACHINES.values()} <= covered, "a state machine without labels in app/web/labels.py"


@pytest.mark.parametrize(("what", "codes", "mapping"), CASES, ids=[c[0] for c in CASES])
def test_every_code_has_an_english_and_a_russian_label(what, codes, mapping):
    """Does each code have an English label other than the code, and a Russian translation of it?"""
    assert len(codes) >= 2, f"{what}: the codes were not found in their source"
    missing = sorted(codes - set(mapping))
    assert not missing, f"{what}: no label for {missing}"
    russian = Translations.load(str(TRANSLATIONS), ["ru"])
    for code in codes:
        english = mapping[code]._args[0]  # the lazy string's msgid
        assert english and "_" not in english, f"{what}: {code!r} is labelled with a code, not words"
        translated = russian.gettext(english)
        assert translated != english, f"{what}: {english!r} has no Russian translation"
        assert not any("a" <= ch <= "z" for ch in translated.lower()), f"{what}: {translated!r} is not Russian"


def test_labels_render_in_the_request_language(app):
    """Do the helpers give Russian to a Russian request and English to an English one, never the code?"""
    with app.test_request_context("/?lang=ru"):
        ru = [labels.transfer_kind_label("purchase_hold"), labels.transfer_phase_label("void_pending"),
              labels.transfer_status_label("voided"), labels.account_kind_label("wallet"),
              labels.account_kind_label("escrow"), labels.ops_deposit_status_label("cancelled"),
              labels.deposit_reason_label("cancelled by the buyer")]
    for text, code in zip(ru, ["purchase_hold", "void_pending", "voided", "wallet", "escrow", "cancelled",
                               "cancelled by the buyer"], strict=True):
        assert text != code and not any("a" <= ch <= "z" for ch in text), (code, text)
    with app.test_request_context("/?lang=en"):
        assert labels.account_kind_label("escrow") == "seller's sale escrow"
    assert labels.payment_kind_label("tbank") == KIND_LABELS["tbank"]
    assert labels.transfer_kind_label("something_new") == "something_new"  # unknown data: shown, never an error
    assert labels.deposit_reason_label(None) == ""


def test_provider_refusals_are_said_in_the_readers_language(app):
    """Is a provider's refusal a Russian sentence with its numeric code, never the connector's English text?"""
    from app.connectors.payments.base import InvalidCredentials, ProviderError, ProviderUnavailable
    from app.market.provider_messages import CODE_MESSAGES, MESSAGE_MESSAGES, describe

    russian = Translations.load(str(TRANSLATIONS), ["ru"])
    for meaning in [*CODE_MESSAGES.values(), *MESSAGE_MESSAGES.values()]:
        assert russian.gettext(meaning._args[0]) != meaning._args[0], meaning._args[0]
    with app.test_request_context("/?lang=ru"):
        tbank = describe("tbank", InvalidCredentials("T-Bank refused the terminal key or password (error 204)", "204"))
        assert tbank == "неверный ключ терминала или пароль, код провайдера 204"
        unknown = describe("tbank", ProviderError("T-Bank Init refused: error 1006 Терминал заблокирован", "1006"))
        assert unknown == "провайдер отклонил запрос, код провайдера 1006"
        wallet = describe("yoomoney", InvalidCredentials("the OAuth token belongs to another YooMoney wallet"))
        assert wallet == "OAuth-токен выдан для другого кошелька"
        assert describe("yookassa", InvalidCredentials("YooKassa refused", "invalid_credentials")) == \
            "неверный идентификатор магазина или секретный ключ"  # a word code said in words is not repeated
        assert describe("yookassa", ProviderUnavailable("timeout")) == "провайдер не ответил"
    with app.test_request_context("/?lang=en"):
        assert describe("tbank", ProviderError("x", "1006")) == "the provider refused the request, provider's code 1006"
