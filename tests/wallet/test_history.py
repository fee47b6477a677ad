"""The wallet's history: plain words, keyset pages, filters, CSV, and a balance chart."""
import csv
import io
import re
from datetime import timedelta

from flask_babel import force_locale

from app import ledger
from app.extensions import db
from app.models import User
from app.web.wallet import history
from tests.wallet.conftest import login, room_deposits


def test_every_movement_in_plain_words_adds_up_to_the_balance(app, people, client):
    """Does each kind read in words, and do the effects sum to exactly what the user can spend?"""
    seller_id, buyer_id = people
    with app.app_context():
        for user_id in (seller_id, buyer_id):
            entries = history.page(db.session.get(User, user_id), size=100).entries
            assert sum(e.effect for e in entries) == ledger.balance(ledger.wallet_of(user_id)).available
    with app.app_context(), force_locale("en"):
        buyer_entries = history.page(db.session.get(User, buyer_id), size=100).entries
        assert [(e.kind, e.state, e.effect) for e in buyer_entries] == [("purchase_hold", "completed", 5_00)]
        seller_entries = history.page(db.session.get(User, seller_id), size=100).entries
        assert [(e.kind, e.state, e.amount, e.effect) for e in seller_entries] == [
            ("purchase_hold", "completed", -5_00, 0),  # sold from the escrow: the wallet gave it up at "fund"
            ("escrow_fund", "", -30_00, -30_00),
            ("cashout_hold", "completed", -10_00, -10_00),
            ("cashout_hold", "released", -20_00, 0),
            ("commission", "", -1_00, -1_00),
            ("room_deposit", "", 100_00, 100_00),
        ]
    login(client, "seller@example.com")
    page = client.get("/wallet/history").get_data(as_text=True)
    for words in ("Deposit from the room", "Commission", "Cash-out to the room", "released", "completed",
                  "Moved to sale", "Sale to a buyer"):
        assert words in page, words
    assert "buyer@example.com" not in page


def test_load_more_is_keyset_and_works_without_js(app, people, client):
    """Do pages follow each other without gaps or repeats, as htmx rows and as plain pages?"""
    seller_id, _ = people
    with app.app_context():
        room_deposits(seller_id, 40)
        db.session.commit()
        total = len(history.page(db.session.get(User, seller_id), size=1000).entries)
    login(client, "seller@example.com")
    page = client.get("/wallet/history").get_data(as_text=True)
    seen = len(re.findall(r"<time ", page))
    assert seen == history.PAGE_SIZE
    while 'id="load-more"' in page:
        href = re.search(r'id="load-more"\s+href="([^"]+)"', page).group(1).replace("&amp;", "&")
        fragment = client.get(href, headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "<html" not in fragment and fragment.lstrip().startswith(("<tr", "{#")) or "<tr" in fragment
        plain = client.get(href).get_data(as_text=True)  # without JS: the next page as a whole page
        assert "<html" in plain and len(re.findall(r"<time ", plain)) == len(re.findall(r"<time ", fragment))
        seen += len(re.findall(r"<time ", fragment))
        page = fragment
    assert seen == total


def test_filters_by_kind_and_date_and_refuses_bad_input(app, people, client):
    """Does the filter narrow by kind and dates, and are bad values a 422 with a message?"""
    login(client, "seller@example.com")
    cash = client.get("/wallet/history?kind=cashout").get_data(as_text=True)
    assert "Cash-out to the room" in cash and "Commission" not in cash.split('id="history"')[-1]
    sales = client.get("/wallet/history?kind=sale").get_data(as_text=True)
    assert "Sale to a buyer" in sales and "Moved to sale" in sales
    empty = client.get("/wallet/history?date_to=2001-01-01").get_data(as_text=True)
    assert 'id="history-empty"' in empty
    for query in ("kind=bogus", "date_from=yesterday", "date_from=2026-02-30",
                  "date_from=2026-05-02&date_to=2026-05-01", "before=abc", "before=-3"):
        response = client.get(f"/wallet/history?{query}")
        assert response.status_code == 422, query
        assert 'class="field-errors"' in response.get_data(as_text=True)


def test_csv_is_streamed_and_safe_for_spreadsheets(app, people, client):
    """Is the export streamed, complete, and are formula-like cells neutralised?"""
    seller_id, _ = people
    login(client, "seller@example.com")
    response = client.get("/wallet/history.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv" and response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == history.CSV_HEADER
    with app.app_context():
        assert len(rows) - 1 == len(history.page(db.session.get(User, seller_id), size=1000).entries)
    assert {"room_deposit", "commission", "cashout_hold", "escrow_fund", "purchase_hold"} <= {r[2] for r in rows[1:]}
    assert history.csv_safe("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert history.csv_safe("@SUM(A1)") == "'@SUM(A1)" and history.csv_safe("+1+1") == "'+1+1"
    assert history.csv_safe("-2+3") == "'-2+3" and history.csv_safe("-12.50") == "-12.50"
    assert history.csv_safe("Commission") == "Commission"


def test_nobody_sees_anothers_history(app, people, client):
    """Does a third user see an empty history and an empty export while the others have movements?"""
    from tests.helpers import gen_user

    with app.app_context():
        gen_user("third@example.com", locale="en")
    login(client, "third@example.com")
    assert 'id="history-empty"' in client.get("/wallet/history").get_data(as_text=True)
    assert len(client.get("/wallet/history.csv").get_data(as_text=True).strip().splitlines()) == 1


def test_wallet_shows_a_balance_chart_and_deposit_instructions(app, people, client):
    """Is there an accessible SVG balance chart (no inline style), and the platform account to copy?"""
    seller_id, _ = people
    login(client, "seller@example.com")
    page = client.get("/wallet/").get_data(as_text=True)
    svg = re.search(r"<figure class=\"chart chart--line\".*?</figure>", page, re.S).group(0)
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg and "style=" not in svg
    # the chart ends on the figure shown above it (the available balance), not a day behind
    available = re.search(r'id="balance-available">([^<]+)<', page).group(1)
    assert re.search(r'<div class="chart-x" aria-hidden="true"><span>[^<]+</span><span>[^<]+ · ' + re.escape(available)
                     + "</span>", svg), (available, svg[-300:])
    live = client.get("/wallet/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert '<article id="balance-chart" hx-swap-oob="true">' in live  # the poll refreshes the chart with the figures
    assert 'id="platform-account"' in page and f'data-copy="{app.config["ROOM_PLATFORM_ACCOUNT"]}"' in page
    assert 'id="full-history"' in page
    assert re.search(r'id="balance-on-sale">\$25\.00<', page)  # $30 put up for sale, $5 sold
    with app.app_context():
        points = history.balance_by_day(db.session.get(User, seller_id), days=30)
        assert len(points) == 30
        assert points[-1][1] == ledger.balance(ledger.wallet_of(seller_id)).posted
        # seen from two months on, every movement is before the window: the opening balance carries them all
        later = history.balance_by_day(db.session.get(User, seller_id), days=5,
                                       today=points[-1][0] + timedelta(days=60))
        assert [v for _, v in later] == [points[-1][1]] * 5


def test_a_purchase_is_one_line_from_reserved_to_completed_on_the_page_and_in_the_csv(app, client):
    """Does a purchase stay one entry while it goes reserved → completed (never a second, bracketed copy)?"""
    from app.ledger.models import AccountKind, TransferKind
    from tests.helpers import gen_user

    with app.app_context():
        seller, buyer = gen_user("seller@example.com", locale="en"), gen_user("buyer@example.com", locale="en")
        escrow = ledger.escrow_of(7_777, seller.id)
        room_deposits(seller.id, 1, 50_00)
        ledger.transfer(key="t:fund", debit=ledger.wallet_of(seller.id), credit=escrow, amount=50_00,
                        kind=TransferKind.ESCROW_FUND)
        hold = ledger.reserve(key="t:buy", debit=escrow, credit=ledger.wallet_of(buyer.id), amount=12_34,
                              kind=TransferKind.PURCHASE_HOLD)
        db.session.commit()
        buyer_id, hold_id = buyer.id, hold.id
    with app.app_context(), force_locale("en"):
        entries = history.page(db.session.get(User, buyer_id)).entries
        assert [(e.state, e.amount, e.effect) for e in entries] == [("reserved", 12_34, 0)]
    login(client, "buyer@example.com")
    assert client.get("/wallet/history").get_data(as_text=True).count("12.34") == 1
    with app.app_context():
        ledger.post_pending(key="t:buy-post", pending_id=hold_id)
        ledger.transfer(key="t:fee", debit=ledger.wallet_of(buyer_id),
                        credit=ledger.platform_account(AccountKind.FEE_REVENUE), amount=34,
                        kind=TransferKind.BUYER_FEE)
        db.session.commit()
    with app.app_context(), force_locale("en"):
        entries = history.page(db.session.get(User, buyer_id)).entries
        assert [(e.kind, e.state, e.effect) for e in entries] == [("buyer_fee", "", -34), ("purchase_hold", "completed", 12_34)]
        assert sum(e.effect for e in entries) == ledger.balance(ledger.wallet_of(buyer_id)).available
    page = client.get("/wallet/history").get_data(as_text=True)
    assert page.count("12.34") == 1 and "(+$12.34)" not in page
    rows = list(csv.reader(io.StringIO(client.get("/wallet/history.csv").get_data(as_text=True))))[1:]
    assert [(r[2], r[4], r[5], r[6]) for r in rows] == [("buyer_fee", "", "-0.34", "-0.34"),
                                                        ("purchase_hold", "completed", "12.34", "12.34")]


def test_a_hold_posted_in_part_shows_what_was_moved(app):
    """Does a cash-out hold of $20 posted as $15 read as one −$15 entry, matching the balance?"""
    from app.ledger.models import AccountKind, TransferKind
    from tests.helpers import gen_user

    with app.app_context():
        user = gen_user("user@example.com", locale="en")
        room_deposits(user.id, 1, 50_00)
        hold = ledger.reserve(key="t:co", debit=ledger.wallet_of(user.id),
                              credit=ledger.platform_account(AccountKind.CASHOUTS_IN_FLIGHT), amount=20_00,
                              kind=TransferKind.CASHOUT_HOLD)
        ledger.post_pending(key="t:co-post", pending_id=hold.id, amount=15_00)
        db.session.commit()
        entries = history.page(db.session.get(User, user.id)).entries
        assert [(e.kind, e.amount, e.effect) for e in entries] == [("cashout_hold", -15_00, -15_00),
                                                                   ("room_deposit", 50_00, 50_00)]
        assert sum(e.effect for e in entries) == ledger.balance(ledger.wallet_of(user.id)).available == 35_00
