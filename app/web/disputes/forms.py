"""The thread's message form, shared by the parties' page and the ops area: text, a file or both."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from app.models.dispute import MESSAGE_MAX
from app.web.forms import RequestKeyField


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Message"), validators=[Optional(), Length(max=MESSAGE_MAX)],
                         render_kw={"rows": 3, "maxlength": MESSAGE_MAX})
    #: the type is read from the content on the server; ``accept`` only narrows the browser's file picker
    file = FileField(_l("Receipt or screenshot (PNG, JPEG or PDF)"),
                     render_kw={"accept": "image/png,image/jpeg,application/pdf"})
    request_key = RequestKeyField()
    submit = SubmitField(_l("Send"))

    def upload_bytes(self) -> bytes | None:
        """The uploaded file's bytes (at most the limit plus one), or None when no file was chosen."""
        from app.market import dispute_files

        storage = self.file.data
        if storage is None or not getattr(storage, "filename", None):
            return None
        return dispute_files.read_upload(storage.stream)
