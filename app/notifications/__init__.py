"""Outside channels for notifications (e-mail, Telegram) behind one small interface.

:mod:`app.notifications.channel` defines :class:`~app.notifications.channel.Channel` and the
registry; each channel module knows only how to put one rendered message in
front of one address.  :mod:`app.notifications.outbox` sends the queued deliveries
(claim, send, record, retry); which notifications go where is decided when
they are recorded, in :mod:`app.notifications.inbox`.
"""
