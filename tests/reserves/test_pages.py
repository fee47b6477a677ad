"""The public reserves page, the wallet's link to a user's proofs, and the proof download (both engines)."""
from __future__ import annotations

import json
import re

import sqlalchemy as sa

from app.extensions import db
from app.models.reserves import ReserveLeaf
from app.reserves import snapshots
from tests.helpers import gen_user
from tests.reserves.conftest import credit, ops_member
from tests.reserves.verifier import run


def _publish(app, room_balance: int) -> None:
    with app.app_context():
        from app.models import User

        ops = db.session.scalar(sa.select(User).where(User.email == "ops@example.com")) or ops_member()
        snapshots.publish(ops, room_balance=room_balance, room_balance_source="entered_by_ops", config=app.config)
        db.session.commit()


def _world(app) -> dict:
    with app.app_context():
        ops_member()
        owner, other = gen_user("owner@example.com"), gen_user("other@example.com")
        credit(owner.id, 80_00)
        credit(other.id, 20_00)
        db.session.commit()
        return {"owner": owner.id, "other": other.id}


def _leaf_of(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(ReserveLeaf.id).where(ReserveLeaf.user_id == user_id)
                                 .order_by(ReserveLeaf.id.desc()).limit(1))


def test_the_public_page_renders_for_anonymous_visitors_before_and_after_a_snapshot(app, client):
    """No sign-in needed; with no snapshot it says so; then it shows root, totals, ratio, chart and history."""
    page = client.get("/reserves/?lang=en")
    assert page.status_code == 200
    assert "No snapshot has been published yet." in page.get_data(as_text=True)
    _world(app)
    _publish(app, 120_00)
    _publish(app, 110_00)
    html = client.get("/reserves/?lang=en").get_data(as_text=True)
    with app.app_context():
        latest = snapshots.latest()
        assert latest.room_balance == 110_00
    assert latest.root_hash in html and latest.public_key in html
    assert re.search(r'id="reserves-total">\$100\.00<', html)
    assert 'id="reserves-shortfall"' not in html
    assert "<polyline" in html  # the chart: liabilities against the room balance over the snapshots
    assert html.count("<tr>") >= 3  # the history: two snapshots and the header
    assert "110" in re.search(r'id="reserves-ratio">([^<]*)<', html).group(1)  # 110 %
    assert "/static/reserves/verify_reserves_proof.py" in html


def test_a_shortfall_is_shown_as_a_warning_not_hidden(app, client):
    """Liabilities above the room balance: a clear alert with the amount, and the history row marked."""
    _world(app)
    _publish(app, 60_00)  # 100.00 owed, 60.00 in the room
    html = client.get("/reserves/?lang=en").get_data(as_text=True)
    alert = re.search(r'<p class="flash flash-danger" role="alert" id="reserves-shortfall">(.*?)</p>', html, re.S)
    assert alert and "exceed the room balance by $40.00" in alert.group(1)
    assert '<strong class="bad">' in html


def test_a_user_downloads_their_proof_from_the_wallet_and_it_verifies(app, client, auth, tmp_path):
    """Wallet → "Check that your balance is counted" → the proofs page → the JSON, which the script accepts."""
    users = _world(app)
    _publish(app, 100_00)
    auth.login("owner@example.com")
    wallet = client.get("/wallet/").get_data(as_text=True)
    assert 'href="/reserves/mine"' in wallet
    mine = client.get("/reserves/mine").get_data(as_text=True)
    leaf_id = _leaf_of(app, users["owner"])
    assert f'href="/reserves/proofs/{leaf_id}.json"' in mine
    response = client.get(f"/reserves/proofs/{leaf_id}.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    proof = json.loads(response.get_data(as_text=True))
    assert proof["leaf"]["user_id"] == users["owner"] and proof["leaf"]["balance"] == 80_00
    public_key = re.search(r'id="reserves-public-key">([0-9a-f]{64})<', client.get("/reserves/").get_data(as_text=True))
    status, output = run(proof, tmp_path, public_key=public_key.group(1))
    assert status == 0, output


def test_another_user_cannot_get_someone_elses_proof(app, client, auth):
    """The owner's leaf id as another user: 404, like a leaf that does not exist; signed out: sign in first."""
    users = _world(app)
    _publish(app, 100_00)
    leaf_id = _leaf_of(app, users["owner"])
    anonymous = client.get(f"/reserves/proofs/{leaf_id}.json")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    auth.login("other@example.com")
    assert client.get(f"/reserves/proofs/{leaf_id}.json").status_code == 404
    assert client.get("/reserves/proofs/999999.json").status_code == 404
    mine = client.get("/reserves/mine").get_data(as_text=True)
    assert f"/reserves/proofs/{leaf_id}.json" not in mine
    assert client.get(f"/reserves/proofs/{_leaf_of(app, users['other'])}.json").status_code == 200


def test_a_user_in_no_snapshot_yet_is_told_so(app, client, auth):
    """Signed in before any snapshot: the proofs page explains instead of showing an empty table."""
    with app.app_context():
        gen_user("new@example.com")
    auth.login("new@example.com")
    response = client.get("/reserves/mine")
    assert response.status_code == 200 and 'id="my-proofs"' not in response.get_data(as_text=True)


def test_the_home_page_footer_links_to_the_public_reserves_page(client):
    """Anyone reaches the reserves page from the footer on every page, the home page included."""
    html = client.get("/").get_data(as_text=True)
    assert '<a href="/reserves/" id="footer-reserves">' in html


def test_the_verifier_is_served_as_a_static_download(client):
    """The script the page links to is the file in app/static, reachable without signing in."""
    response = client.get("/static/reserves/verify_reserves_proof.py")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "def ed25519_verify" in body and "import app" not in body and "from app" not in body
    response.close()
