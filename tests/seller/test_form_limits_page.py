"""A seller sets an API form's own limits on its page: saved and audited, bad values refused with a reason and
nothing written, someone else's form not found, and the dashboard shows today's use against them."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.market import payment_forms
from app.models import AuditEvent, PaymentForm
from tests.helpers import csrf_from
from tests.provider_sandbox import quick_user, sign_in

GOOD = {"limit_day_rubles": "150 000", "limit_day_invoices": "10", "limit_gap_minutes": "15",
        "hours_start": "22:00", "hours_end": "06:00", "limits_timezone": "Asia/Yekaterinburg"}


class Seller:
    def __init__(self, app, providers, email: str):
        self.app = app
        self.client = app.test_client()
        with app.app_context(), app.test_request_context():
            user = quick_user(email)
            self.form_id = payment_forms.add_form(user, "tbank", "Т-Банк", providers.credentials("tbank")).id
            db.session.commit()
            sign_in(self.client, user)
        self.token = csrf_from(self.client.get("/account").get_data(as_text=True))

    def save(self, values: dict, form_id: int | None = None):
        return self.client.post(f"/seller/api-forms/{form_id or self.form_id}/limits",
                                data={"csrf_token": self.token, **values})

    def form(self) -> PaymentForm:
        with self.app.app_context():
            return db.session.get(PaymentForm, self.form_id)


@pytest.fixture
def seller(seller_app, providers):
    return Seller(seller_app, providers, "seller@example.com")


def test_limits_are_saved_shown_and_audited(seller):
    """Do the limits land in the form's row (rubles as kopecks, hours as minutes), show again on its page, and
    leave an audit entry with the old and new values?"""
    response = seller.save(GOOD)
    assert response.status_code == 302
    pf = seller.form()
    assert (pf.limit_day_kopecks, pf.limit_day_invoices, pf.limit_gap_minutes) == (150_000_00, 10, 15)
    assert (pf.hours_start_minute, pf.hours_end_minute, pf.limits_timezone) == (22 * 60, 6 * 60, "Asia/Yekaterinburg")
    page = seller.client.get(f"/seller/api-forms/{seller.form_id}").get_data(as_text=True)
    assert 'value="22:00"' in page and 'value="06:00"' in page and 'value="10"' in page
    assert 'selected value="Asia/Yekaterinburg"' in page
    with seller.app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "payment_form.limits")).one()
    assert event.target_id == str(seller.form_id)
    assert event.details["old"]["limit_day_invoices"] is None
    assert event.details["new"]["limit_day_invoices"] == 10
    # saving the same values again changes nothing and records nothing
    seller.save(GOOD)
    with seller.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "payment_form.limits")) == 1


@pytest.mark.parametrize(("values", "message"), [
    ({"limit_day_invoices": "-1"}, None),
    ({"limit_gap_minutes": "1441"}, None),
    ({"limit_day_rubles": "сто"}, None),
    ({"limit_day_invoices": "99999999999999999999"}, None),
    ({"hours_start": "25:00"}, None),
    ({"hours_start": "09:00"}, "Укажите оба конца рабочего времени"),
    ({"hours_start": "09:00", "hours_end": "09:00"}, "Рабочее время должно заканчиваться"),
    ({"limits_timezone": "Mars/Olympus"}, None),
])
def test_bad_limits_are_refused_and_nothing_is_written(seller, values, message):
    """Is each bad value answered on the page (200 with the form again, in Russian) and nothing saved?"""
    response = seller.save({"limits_timezone": "Europe/Moscow", **values})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="form-limits"' in page
    if message:
        assert message in page
    else:
        assert "field-errors" in page
    pf = seller.form()
    assert (pf.limit_day_kopecks, pf.limit_day_invoices, pf.limit_gap_minutes, pf.hours_start_minute) == (
        None, None, None, None)


def test_clearing_the_limits(seller):
    """Empty fields clear every limit again."""
    seller.save(GOOD)
    seller.save({"limits_timezone": "Europe/Moscow"})
    pf = seller.form()
    assert (pf.limit_day_kopecks, pf.limit_day_invoices, pf.limit_gap_minutes, pf.hours_start_minute,
            pf.hours_end_minute) == (None, None, None, None, None)


def test_someone_elses_form_is_not_found(seller, seller_app, providers):
    """Another seller's form id: 404, and their form keeps its (lack of) limits."""
    other = Seller(seller_app, providers, "other@example.com")
    response = seller.save(GOOD, form_id=other.form_id)
    assert response.status_code == 404
    assert other.form().limit_day_invoices is None


def test_without_the_csrf_token_nothing_is_saved(seller):
    response = seller.client.post(f"/seller/api-forms/{seller.form_id}/limits", data=GOOD)
    assert response.status_code in (200, 400)
    assert seller.form().limit_day_invoices is None


def test_the_dashboard_shows_use_against_the_limits(seller):
    """With limits set, does the dashboard show the form's rubles and invoices today against them, as bars,
    with whether it takes invoices now?"""
    page = seller.client.get("/seller/").get_data(as_text=True)
    assert f'id="form-limits-{seller.form_id}"' not in page  # no limits, nothing to show
    seller.save({**GOOD, "hours_start": "", "hours_end": "", "limit_gap_minutes": ""})
    page = seller.client.get("/seller/").get_data(as_text=True)
    assert f'id="form-limits-{seller.form_id}"' in page
    assert "Рубли сегодня: 0,00" in page and "из 150" in page
    assert "Счета сегодня: 0 из 10" in page
    assert page.count('class="chart chart-stacked"') >= 2
    assert "принимает счета сейчас" in page
