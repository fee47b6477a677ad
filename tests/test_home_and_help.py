"""The home page explains the service before asking anyone to sign in; its Buy and Sell cards are links."""
import re

from app.core import settings as settings_service
from app.extensions import db
from tests.helpers import PASSWORD, csrf_from, gen_user


def _cards(html: str) -> dict[str, str]:
    return dict(re.findall(r'<a class="card-link" id="card-(buy|sell)" href="([^"]+)"', html))


def test_an_anonymous_visitor_sees_what_it_is_how_it_works_and_the_way_in(client, app):
    """Does a signed-out visitor get the explanation, both sides' three steps, rates and limits, and the links?"""
    with app.app_context():
        settings_service.change_settings(actor=None, reason="test", rate_yoomoney_kopecks=95_50,
                                         invoice_min_kopecks=500_00, invoice_lifetime_seconds=20 * 60)
        db.session.commit()
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and '<form method="post" action="/login"' not in page
    assert "Игровые доллары за рубли — напрямую между людьми" in page and "PokerPay сводит игроков" in page
    steps = page.split('id="how-it-works"', 1)[1].split("</section>", 1)[0]
    assert steps.count("<ol>") == 2 and steps.count("<li>") == 6 and "20 мин" in steps
    terms = page.split('id="rates-and-limits"', 1)[1].split("</section>", 1)[0]
    assert "95,50\xa0₽ за $1" in terms and "96,00\xa0₽ за $1" in terms  # YooMoney changed, T-Bank default
    assert "500,00\xa0₽" in terms and "150\u202f000,00\xa0₽" in terms
    intro = page.split('id="get-started"', 1)[1].split("</p>", 1)[0]
    assert 'href="/register"' in intro and 'href="/login"' in intro
    assert _cards(page) == {"buy": "/buy/", "sell": "/seller/"}
    assert client.get("/buy/").status_code == 302  # the card leads to sign-in, then to the purchase form


def test_signed_in_the_cards_lead_to_buying_and_selling(client, app):
    """Signed in, does the home page greet the user and do both cards open their pages?"""
    with app.app_context():
        gen_user("player@example.com")
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": "player@example.com", "password": PASSWORD, "csrf_token": csrf_from(page)})
    page = client.get("/").get_data(as_text=True)
    assert "player@example.com" in page and 'id="get-started"' not in page
    cards = _cards(page)
    assert cards == {"buy": "/buy/", "sell": "/seller/"}
    assert all(client.get(url).status_code == 200 for url in cards.values())


def test_the_help_page_explains_disputes_and_names_support(client, app):
    """Is the help page public, with the dispute steps, the terms and the support contact ops set?"""
    with app.app_context():
        settings_service.change_support_contact(actor=None, reason="desk", contact="https://pokerpay.example/help")
        db.session.commit()
    page = client.get("/help").get_data(as_text=True)
    support = page.split('id="support"', 1)[1].split("</article>", 1)[0]
    assert 'href="https://pokerpay.example/help"' in support and 'rel="noopener noreferrer"' in support
    assert 'id="disputes"' in page and 'id="rates-and-limits"' in page
    footer = page.split("<footer", 1)[1]
    assert 'href="/help"' in footer and "https://pokerpay.example/help" in footer
