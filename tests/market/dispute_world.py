"""A disputed invoice with its two parties and ops, and the evidence files the dispute tests upload."""
from __future__ import annotations

import io
import struct
import uuid
import zlib
from dataclasses import dataclass

from app.extensions import db
from app.market import invoices, matching
from app.models import Role
from app.models.market import Deposit
from tests.helpers import AuthActions, csrf_from, gen_user


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (white pixels), made here so the bytes are exactly what a phone's screenshot starts with."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@dataclass(frozen=True)
class Person:
    """What the tests need of a user once its session is gone: who it is and how it signs in."""

    id: int
    email: str
    totp_enabled: bool

    @classmethod
    def of(cls, user) -> Person:
        return cls(user.id, user.email, bool(user.totp_enabled))

    def load(self):
        from app.models import User

        return db.session.get(User, self.id)


@dataclass
class DisputeWorld:
    deposit_id: int
    buyer: Person
    seller: Person
    ops: Person


def disputed(m, *, buyer_email: str = "buyer@example.com", seller_email: str = "seller@example.com",
             note: str = "Paid by SBP at 10:05") -> DisputeWorld:
    """A T-Bank invoice the buyer said they paid, expired, then disputed by the buyer (through the service)."""
    seller, _, _ = m.seller(seller_email, "tbank")
    buyer = m.buyer(buyer_email)
    ops = gen_user(f"ops-{uuid.uuid4().hex[:6]}@example.com", role=Role.OPS, totp=True)
    deposit = m.deposit(buyer, "tbank", 1_000_00)
    assert matching.match(deposit.id) == "awaiting_payment"
    db.session.commit()
    assert invoices.expire(deposit.id) == "expired"
    invoices.dispute(db.session.get(Deposit, deposit.id), f"buyer: {note}", actor=buyer, buyer_note=note)
    db.session.commit()
    return DisputeWorld(deposit.id, Person.of(buyer), Person.of(seller), Person.of(ops))


def signed_in(app, user):
    """A test client signed in as ``user`` through the real forms (2FA too for staff), and its CSRF token."""
    client = app.test_client()
    response = AuthActions(client, app).login_as(user)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client, csrf_from(client.get("/account").get_data(as_text=True))


def post_message(client, token: str, path: str, *, body: str = "", file: tuple[bytes, str, str] | None = None,
                 request_key: str | None = None):
    """The thread's form as a browser sends it: multipart, with the CSRF token and a fresh request key."""
    data = {"csrf_token": token, "msg-body": body, "msg-request_key": request_key or uuid.uuid4().hex}
    if file is not None:
        content, name, mimetype = file
        data["msg-file"] = (io.BytesIO(content), name, mimetype)
    return client.post(path, data=data, content_type="multipart/form-data")
