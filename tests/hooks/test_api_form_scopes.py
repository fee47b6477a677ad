"""#18: a YooMoney token made without a scope is refused with the scopes to grant, not as bad credentials."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.errors import ValidationFailed
from app.extensions import db
from app.market import payment_forms
from app.models import PaymentForm
from tests.helpers import csrf_from
from tests.provider_sandbox import quick_user, sign_in


@pytest.mark.parametrize("scopes", [["operation-history"], []])
def test_missing_scope_names_the_scopes(seller_ctx, providers, scopes):
    """Is a token without account-info refused (against the sandbox) with a message naming both scopes, in
    Russian, and is nothing saved?"""
    credentials = providers.credentials("yoomoney", scopes=scopes)
    user = quick_user("scopes@example.com")
    with pytest.raises(ValidationFailed) as caught:
        payment_forms.add_form(user, "yoomoney", "wallet", credentials)
    message = caught.value.message
    assert "account-info" in message and "operation-history" in message
    assert "отклонил" not in message  # not the "provider rejected these credentials" text
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentForm)) == 0


def test_api_form_page_explains_the_scopes(seller_app, providers):
    """Does the YooMoney API form say which scopes to grant, and answer a token without them (over the sandbox)
    with that message as a form error, saving nothing and never a 500?"""
    client = seller_app.test_client()
    with seller_app.app_context():
        sign_in(client, quick_user("scopes-web@example.com"))
    page = client.get("/seller/api-forms/new?kind=yoomoney").get_data(as_text=True)
    assert "account-info" in page and "operation-history" in page
    credentials = providers.credentials("yoomoney", scopes=["operation-history"])
    answer = client.post("/seller/api-forms/new?kind=yoomoney",
                         data={"csrf_token": csrf_from(page), "name": "wallet", **credentials})
    assert answer.status_code in (200, 422)
    text = answer.get_data(as_text=True)
    assert "account-info" in text and "Провайдер отклонил эти данные" not in text
    with seller_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaymentForm)) == 0
