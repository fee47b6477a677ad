"""Outside channels for notifications (e-mail, Telegram) behind one small interface.

:mod:`app.notify.base` defines :class:`~app.notify.base.Channel` and the
registry; each channel module knows only how to put one rendered message in
front of one address.  Which notifications go where, the outbox and the
retries live in :mod:`app.services.notifications`.
"""
