"""E-mail over SMTP (``SMTP_HOST`` … from the config), STARTTLS when asked.

The Message-ID is derived from the delivery's key, so if a crash between the
send and recording it makes us send again, receiving servers and mail clients
that deduplicate by Message-ID show it once.
"""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from flask import current_app

from app.notifications.channel import DeliveryFailed, Message


class EmailChannel:
    name = "email"

    def available(self) -> bool:
        return bool(current_app.config.get("SMTP_HOST"))

    def send(self, address: str, message: Message) -> None:
        config = current_app.config
        mail = EmailMessage()
        mail["From"] = config["SMTP_FROM"]
        mail["To"] = address
        mail["Subject"] = message.title
        mail["Date"] = formatdate(localtime=False)
        domain = config["SMTP_FROM"].rpartition("@")[2].strip("> ") or "pokerpay.local"
        mail["Message-ID"] = f"<{message.dedup_key}@{domain}>"
        mail.set_content(f"{message.body}\n\n{message.link}\n")
        try:
            with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]),
                              timeout=float(config["SMTP_TIMEOUT"])) as smtp:
                if config["SMTP_STARTTLS"]:
                    # A verifying context: smtplib's default would accept any certificate.
                    smtp.starttls(context=ssl.create_default_context())
                if config.get("SMTP_USER"):
                    smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryFailed("the mail server refused the address", permanent=True) from None
        except smtplib.SMTPAuthenticationError:
            # Our configuration is wrong; the delivery may succeed once the operator fixes it.
            raise DeliveryFailed("the mail server rejected our login") from None
        except smtplib.SMTPResponseException as exc:
            # 4xx is "try later"; 5xx will not change by retrying.
            raise DeliveryFailed(f"the mail server answered {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"mail server unreachable ({type(exc).__name__})") from None
