"""Outside channels for notifications (e-mail, Telegram) behind one small interface.

:mod:`app.notify.base` defines :class:`~app.notify.base.Channel` and the
registry; each channel module knows only how to put one rendered message in
front of one address.  :mod:`app.notify.outbox` sends the queued deliveries
(claim, send, record, retry); which notifications go where is decided when
they are recorded, in :mod:`app.services.notifications`.
"""
