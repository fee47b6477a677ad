"""Boosted navigation gets whole pages (a bug the browser journeys found; this guards it without a browser).

``hx-boost`` on <body> turns every link and form into an HTMX request that
swaps the response into <body>.  Views that answer HTMX requests with a
fragment must still answer a boosted navigation with the whole page, or the
page is replaced by the bare fragment (seen on /seller/withdrawals).
"""
from tests.helpers import AuthActions, gen_user

BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}
POLL = {"HX-Request": "true"}


def test_boosted_navigation_gets_the_whole_page_and_polls_get_the_fragment(app):
    with app.app_context():
        gen_user("seller@example.com")
    client = app.test_client()
    AuthActions(client, app).login("seller@example.com")

    boosted = client.get("/seller/withdrawals", headers=BOOSTED)
    assert boosted.status_code == 200
    assert "<html" in boosted.get_data(as_text=True)  # a page: its navigation, heading and form
    assert "HX-Boosted" in boosted.headers["Vary"]

    poll = client.get("/seller/withdrawals", headers=POLL).get_data(as_text=True)
    assert "<html" not in poll and 'id="withdrawals"' in poll
