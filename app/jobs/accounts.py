"""Account e-mails sent after the commit: the password reset link.

The link is made in the job (nothing secret travels through Redis or sits in
the database).  A lost job means no mail: the user asks again.
"""
from __future__ import annotations

from app.core.after_commit import handles
from app.jobs import job
from app.people import password_reset


@handles("password_reset.send")
@job
def send_password_reset(user_id: int) -> bool:
    return password_reset.send_mail(user_id)
