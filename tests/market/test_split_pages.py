"""The buyer's pages of a split purchase: the offer, accepting it once, the parts page and its live poll."""
import re

import sqlalchemy as sa

from app.extensions import db
from app.market import split_fill
from app.models.market import Deposit
from app.models.split import SplitPurchase
from tests.concurrent_requests import post_at_once, signed_in_clients, statuses
from tests.helpers import PASSWORD, csrf_from

OFFER = "2 платежа: 6\u202f000,00\xa0₽ + 4\u202f000,00\xa0₽"


def _sellers(m):
    m.seller("a@example.com", "tbank", dollars=100_00, max_kopecks=6_000_00)
    m.seller("b@example.com", "tbank", dollars=100_00, max_kopecks=10_000_00)
    m.buyer()


def _login(client, email="buyer@example.com"):
    page = client.get("/login").get_data(as_text=True)
    client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)})


def _ask(client, amount="10 000"):
    page = client.get("/buy/").get_data(as_text=True)
    key = re.search(r'name="dep-request_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)
    return client.post("/buy/", data={"dep-kind": "tbank", "dep-amount": amount, "dep-request_key": key,
                                      "csrf_token": csrf_from(page)})


def _accept_data(offer_html: str) -> dict:
    fields = dict(re.findall(r'name="(spl-[a-z_]+)" type="hidden" value="([^"]*)"', offer_html))
    assert {"spl-kind", "spl-amount", "spl-parts", "spl-request_key", "spl-csrf_token"} <= set(fields), fields
    return fields


def _counts(app):
    with app.app_context():
        return (db.session.scalar(sa.select(sa.func.count()).select_from(SplitPurchase)),
                db.session.scalar(sa.select(sa.func.count()).select_from(Deposit)))


def test_a_big_amount_is_offered_as_a_split_and_nothing_is_written(market_web, market_app):
    """Does 10,000 ₽ (no single seller takes it) show the split offer with the parts, writing nothing?"""
    market_web(_sellers)
    client = market_app.test_client()
    _login(client)
    response = _ask(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and OFFER in html
    assert "Согласен, оплачу частями" in html and "a@example.com" not in html
    assert _accept_data(html)["spl-parts"] == "600000,400000"
    assert _counts(market_app) == (0, 0)
    preview = client.get("/buy/quote?dep-kind=tbank&dep-amount=10000").get_data(as_text=True)
    assert OFFER in preview and "field-errors" not in preview


def test_more_than_the_queue_takes_split_is_refused_with_what_it_takes(market_web, market_app):
    """Is 20,000 ₽ refused as before, with what sellers take split (15,600 ₽), and nothing written?"""
    market_web(_sellers)
    client = market_app.test_client()
    _login(client)
    response = _ask(client, "20 000")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Сумма для этого способа — от" in html
    assert "Даже частями, до 3 платежей, продавцы сейчас берут не больше 15\u202f600,00\xa0₽." in html
    assert _counts(market_app) == (0, 0)


def test_accepting_makes_one_split_and_its_page_shows_every_part(market_web, market_app):
    """Accept (twice, as a double click): one split of two parts; its page shows each part's pay button, timer
    and status and the total; the poll answers 204 while nothing changed; another buyer gets 404."""
    market_web(_sellers)
    market_web(lambda m: m.buyer("other@example.com"))
    client = market_app.test_client()
    _login(client)
    data = _accept_data(_ask(client).get_data(as_text=True))
    first = client.post("/buy/split", data=data)
    again = client.post("/buy/split", data=data)
    assert first.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    assert _counts(market_app) == (1, 2)
    url = first.headers["Location"]
    waiting = client.get(url).get_data(as_text=True)
    assert "Создаём счета…" in waiting and 'hx-trigger="every 2s"' in waiting
    split_id = int(url.rsplit("/", 1)[-1])
    market_web(lambda m: split_fill.finish(split_id))
    page = client.get(url).get_data(as_text=True)
    assert "Оплачено: 0,00\xa0₽ из 10\u202f000,00\xa0₽" in page
    assert page.count('class="pay-button"') == 2 and page.count("data-expires-in") == 2
    assert "Оплатить 6\u202f000,00\xa0₽ через" in page and "Оплатить 4\u202f000,00\xa0₽ через" in page
    assert "Платёж 1 из 2" in page and "Платёж 2 из 2" in page
    assert "a@example.com" not in page and "b@example.com" not in page
    version = re.search(r'hx-get="[^"]*\?v=([0-9a-f]+)"', page).group(1)
    assert client.get(f"{url}?v={version}", headers={"HX-Request": "true"}).status_code == 204
    # each part's own invoice page points back to the purchase
    with market_app.app_context():
        part_ids = db.session.scalars(sa.select(Deposit.id).order_by(Deposit.id)).all()
    part_page = client.get(f"/buy/{part_ids[0]}").get_data(as_text=True)
    assert "Платёж 1 из 2 одной покупки." in part_page and f"/buy/split/{split_id}" in part_page
    stranger = market_app.test_client()
    _login(stranger, "other@example.com")
    assert stranger.get(url).status_code == 404
    assert stranger.get(f"/buy/{part_ids[0]}").status_code == 404


def test_an_offer_that_changed_is_shown_again_and_a_tampered_one_refused(market_web, market_app):
    """A seller sold meanwhile: 409 with the new split, nothing reserved; bad hidden fields: 422, nothing."""
    market_web(_sellers)
    market_web(lambda m: m.seller("c@example.com", "tbank", dollars=100_00, max_kopecks=10_000_00))
    client = market_app.test_client()
    _login(client)
    data = _accept_data(_ask(client).get_data(as_text=True))
    for bad in ({"spl-parts": "600000,abc"}, {"spl-parts": "1000000"}, {"spl-amount": "²"},
                {"spl-parts": "500000,500000"}, {"spl-kind": "qiwi"}, {"spl-request_key": "x"}):
        response = client.post("/buy/split", data={**data, **bad})
        assert response.status_code in (409, 422), bad
        assert 'id="split-message"' in response.get_data(as_text=True), bad
    assert _counts(market_app) == (0, 0)

    def sell_most_of_b(m):
        from app.market import matching

        deposit = m.deposit(m.buyer("rival@example.com"), "tbank", 9_000_00)
        matching.match(deposit.id)

    market_web(sell_most_of_b)
    response = client.post("/buy/split", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Предложение продавцов изменилось; ничего не зарезервировано." in html
    assert _counts(market_app) == (0, 1)  # the rival's purchase only
    assert _accept_data(html)["spl-parts"] == "600000,60000,340000" and "3 платежа" in html


def test_many_clicks_at_once_make_one_split(market_web, market_app, database):
    """Four tabs send the same accept at the same instant: one split, two parts, two holds."""
    market_web(_sellers)
    clients, token = signed_in_clients(market_app, "buyer@example.com", 4)
    data = _accept_data(_ask(clients[0]).get_data(as_text=True))
    data["spl-csrf_token"] = token
    results = post_at_once(clients, "/buy/split", lambda i: data)
    assert statuses(results) == [302] * 4, statuses(results)
    assert len({r.headers["Location"] for r in results}) == 1
    assert _counts(market_app) == (1, 2)
