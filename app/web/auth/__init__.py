"""Sign-up, sign-in (with TOTP), sign-out and account settings."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.web.auth import routes  # noqa: E402,F401
