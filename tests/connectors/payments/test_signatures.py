"""The providers' signature algorithms against their published test vectors."""
from __future__ import annotations

from app.connectors.payments.signatures import (
    tbank_token,
    tbank_token_valid,
    yoomoney_sha1,
    yoomoney_sha1_valid,
)

TBANK_INIT = {
    "TerminalKey": "MerchantTerminalKey",
    "Amount": 19200,
    "OrderId": "21090",
    "Description": "Подарочная карта на 1000 рублей",
}
TBANK_INIT_TOKEN = "0024a00af7c350a3a67ca168ce06502aa72772456662e38696d48b56ee9c97d9"

TBANK_NOTIFICATION = {
    "TerminalKey": "1321054611234DEMO",
    "OrderId": "201709",
    "Success": True,
    "Status": "AUTHORIZED",
    "PaymentId": 8742591,
    "ErrorCode": "0",
    "Amount": 9855,
    "CardId": 322264,
    "Pan": "430000******0777",
    "ExpDate": "1122",
    "RebillId": 101709,
}
TBANK_NOTIFICATION_TOKEN = "b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"

YOOMONEY_NOTIFICATION = {
    "notification_type": "p2p-incoming",
    "operation_id": "1234567",
    "amount": "300.00",
    "currency": "643",
    "datetime": "2026-11-28T10:00:00.000+03:00",
    "sender": "41001000040",
    "codepro": "false",
    "label": "inv-42",
}
YOOMONEY_SHA1 = "3b127017f6763e076ac30bf4e5f9cf97ff2a3712"


def test_tbank_init_vector():
    """Does the T-Bank token match the published Init vector (Cyrillic description included)?"""
    assert tbank_token(TBANK_INIT, "usaf8fw8fsw21g") == TBANK_INIT_TOKEN


def test_tbank_notification_vector_with_boolean():
    """Does the T-Bank token match the notification vector, writing Success=True as "true"?"""
    assert tbank_token(TBANK_NOTIFICATION, "Dfsfh56dgKl") == TBANK_NOTIFICATION_TOKEN
    assert tbank_token_valid({**TBANK_NOTIFICATION, "Token": TBANK_NOTIFICATION_TOKEN}, "Dfsfh56dgKl")


def test_tbank_token_ignores_token_and_nested_objects():
    """Are Token itself, nested objects (DATA, Receipt) and arrays left out of the signature?"""
    extended = {**TBANK_INIT, "Token": "x", "DATA": {"a": "b"}, "Receipt": {"Items": []}, "List": [1]}
    assert tbank_token(extended, "usaf8fw8fsw21g") == TBANK_INIT_TOKEN


def test_tbank_token_rejects_forgery():
    """Is a token from the wrong password, a changed amount or a missing/non-string token refused?"""
    signed = {**TBANK_NOTIFICATION, "Token": TBANK_NOTIFICATION_TOKEN}
    assert not tbank_token_valid(signed, "wrong-password")
    assert not tbank_token_valid({**signed, "Amount": 9856}, "Dfsfh56dgKl")
    assert not tbank_token_valid(TBANK_NOTIFICATION, "Dfsfh56dgKl")
    assert not tbank_token_valid({**TBANK_NOTIFICATION, "Token": 12345}, "Dfsfh56dgKl")
    assert not tbank_token_valid({**TBANK_NOTIFICATION, "Token": "ü" * 64}, "Dfsfh56dgKl")


def test_yoomoney_vector():
    """Does the YooMoney sha1 match the published vector (secret between codepro and label)?"""
    assert yoomoney_sha1(YOOMONEY_NOTIFICATION, "s3cr3t-notif") == YOOMONEY_SHA1
    assert yoomoney_sha1_valid({**YOOMONEY_NOTIFICATION, "sha1_hash": YOOMONEY_SHA1}, "s3cr3t-notif")


def test_yoomoney_rejects_forgery():
    """Is a hash made with another secret, over another amount, or absent refused?"""
    signed = {**YOOMONEY_NOTIFICATION, "sha1_hash": YOOMONEY_SHA1}
    assert not yoomoney_sha1_valid(signed, "other-secret")
    assert not yoomoney_sha1_valid({**signed, "amount": "3000.00"}, "s3cr3t-notif")
    assert not yoomoney_sha1_valid(YOOMONEY_NOTIFICATION, "s3cr3t-notif")


def test_sandbox_signs_like_the_adapters():
    """Does the sandbox's independent copy of the algorithms give the same vectors?"""
    from sandbox.providers.common import tbank_token as sandbox_token
    from sandbox.providers.common import yoomoney_sha1 as sandbox_sha1

    assert sandbox_token(TBANK_INIT, "usaf8fw8fsw21g") == TBANK_INIT_TOKEN
    assert sandbox_token(TBANK_NOTIFICATION, "Dfsfh56dgKl") == TBANK_NOTIFICATION_TOKEN
    assert sandbox_sha1(YOOMONEY_NOTIFICATION, "s3cr3t-notif") == YOOMONEY_SHA1
