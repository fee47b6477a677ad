"""Evidence files of disputes: what a file is (read from its bytes), and keeping it where no page serves it.

The type is decided by the content alone — the first bytes of PNG, JPEG and PDF —
never by the file's name or the Content-Type the browser sent, both of which the
uploader chooses.  So a PNG named ``receipt.pdf`` is a PNG (and is served back as
one), and an HTML page named ``receipt.png`` is refused: it is none of the three.

Files are stored under ``DISPUTE_FILES_DIR`` (the instance folder by default, never
``static/``), each under a random token; the uploader's name is not kept anywhere.
A file is written only after every check passed, next to its final place and moved
there in one step, so a half-written file is never under a token.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from app.errors import ValidationFailed

#: (leading bytes, type, extension of the download's name)
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"%PDF-", "application/pdf", "pdf"),
)
EXTENSIONS = {content_type: ext for _, content_type, ext in _SIGNATURES}
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Checked:
    """A file that passed: its bytes, the type they are, their size and SHA-256."""

    data: bytes
    content_type: str
    size: int
    sha256: str


def max_bytes() -> int:
    return int(current_app.config.get("DISPUTE_FILE_MAX_BYTES") or DEFAULT_MAX_BYTES)


def max_megabytes() -> str:
    """The limit in megabytes as a person reads it ("5", "0.5")."""
    return f"{max_bytes() / (1024 * 1024):g}"


def too_large_message() -> str:
    return str(_l("The file is larger than %(mb)s MB.", mb=max_megabytes()))


def sniff(data: bytes) -> str | None:
    """The type the bytes are, or None when they are not a PNG, a JPEG or a PDF (the name plays no part)."""
    for signature, content_type, _ in _SIGNATURES:
        if data.startswith(signature):
            if content_type == "image/png" and data[12:16] != b"IHDR":
                return None  # a PNG's first chunk is always its header
            return content_type
    return None


def read_upload(stream) -> bytes:
    """At most the limit plus one byte of an upload: enough to tell that it is too large, never more."""
    return stream.read(max_bytes() + 1)


def check(data: bytes) -> Checked:
    """Refuse an empty, oversized or unknown file in words; otherwise what it is."""
    if not data:
        raise ValidationFailed(str(_l("The file is empty.")))
    if len(data) > max_bytes():
        raise ValidationFailed(too_large_message())
    content_type = sniff(data)
    if content_type is None:
        raise ValidationFailed(str(_l("Attach a PNG or JPEG picture or a PDF document; this file is none of them.")))
    return Checked(data, content_type, len(data), hashlib.sha256(data).hexdigest())


def directory() -> Path:
    configured = current_app.config.get("DISPUTE_FILES_DIR")
    path = Path(configured) if configured else Path(current_app.instance_path) / "dispute-files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_token() -> str:
    return secrets.token_hex(16)


def _path(token: str) -> Path:
    if len(token) != 32 or any(c not in "0123456789abcdef" for c in token):
        raise ValueError("not a file token")  # a token names a file in the directory, never a path
    return directory() / token


def store(token: str, checked: Checked) -> None:
    """Write the file under its token: to a temporary name first, then moved into place."""
    target = _path(token)
    temporary = target.with_name(f".{token}.part")
    with open(temporary, "wb") as out:
        out.write(checked.data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)


def load(token: str) -> bytes | None:
    """The stored bytes, or None when the file is missing (the row outlived its file: a restore, a cleanup)."""
    try:
        return _path(token).read_bytes()
    except FileNotFoundError:
        return None


def remove(token: str) -> None:
    """Remove a file whose row was never committed."""
    _path(token).unlink(missing_ok=True)
