"""Disputes with evidence and a conversation: files typed by content, who may see them, the thread, the seller's
deadline and its escalation, the seller's notification.  Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core import settings as settings_service
from app.database import utcnow
from app.errors import ValidationFailed
from app.extensions import db
from app.jobs.disputes import escalate_overdue_disputes_once
from app.market import dispute_files, dispute_threads, invoices
from app.models import AuditEvent, Notification
from app.models.dispute import DisputeCase, DisputeFile, DisputeMessage
from app.models.market import Deposit
from tests.helpers import gen_user
from tests.market.dispute_world import HTML, JPEG, PDF, Person, disputed, png_bytes, post_message, signed_in


@pytest.fixture
def files_dir(market_app, tmp_path) -> Path:
    """This test's own evidence directory, so "nothing was stored" can be seen on disk."""
    market_app.config["DISPUTE_FILES_DIR"] = str(tmp_path / "evidence")
    return tmp_path / "evidence"


def _stored(market_app) -> tuple[int, int]:
    with market_app.app_context():
        return (db.session.scalar(sa.select(sa.func.count()).select_from(DisputeMessage)),
                db.session.scalar(sa.select(sa.func.count()).select_from(DisputeFile)))


def _files_on_disk(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


# --- what a file is, from its bytes -------------------------------------------------------------


def test_the_type_comes_from_the_first_bytes_never_the_name(app_ctx):
    """Are PNG, JPEG and PDF told by their signatures, and is anything else (HTML, a truncated PNG) refused?"""
    assert dispute_files.sniff(png_bytes()) == "image/png"
    assert dispute_files.sniff(JPEG) == "image/jpeg"
    assert dispute_files.sniff(PDF) == "application/pdf"
    assert dispute_files.sniff(HTML) is None
    assert dispute_files.sniff(b"\x89PNG\r\n\x1a\n" + b"<html>") is None  # a PNG signature with no header chunk
    checked = dispute_files.check(png_bytes())
    assert checked.content_type == "image/png" and checked.size == len(png_bytes())
    for bad in (b"", HTML):
        with pytest.raises(ValidationFailed):
            dispute_files.check(bad)


def test_a_png_named_pdf_is_stored_and_served_as_a_png(market_app, market_web, files_dir):
    """Does a PNG uploaded as "receipt.pdf" with a PDF Content-Type become a PNG, recorded with its SHA-256 and size?"""
    import hashlib

    w = market_web(disputed)
    buyer, token = signed_in(market_app, w.buyer)
    png = png_bytes()
    response = post_message(buyer, token, f"/disputes/{w.deposit_id}/messages", body="My receipt",
                            file=(png, "receipt.pdf", "application/pdf"))
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    with market_app.app_context():
        row = db.session.scalar(sa.select(DisputeFile))
        assert (row.content_type, row.size_bytes, row.sha256) == ("image/png", len(png), hashlib.sha256(png).hexdigest())
        assert re.fullmatch(r"[0-9a-f]{32}", row.token)
        token_of_file = row.token
    on_disk = _files_on_disk(files_dir)
    assert [p.name for p in on_disk] == [token_of_file]  # a random name, never "receipt.pdf"
    assert on_disk[0].read_bytes() == png
    download = buyer.get(f"/disputes/{w.deposit_id}/files/{token_of_file}")
    assert download.status_code == 200 and download.data == png
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["Content-Disposition"].endswith('.png"')


@pytest.mark.parametrize("upload", ["html-named-png", "oversize", "empty-with-no-text"])
def test_a_bad_file_is_a_form_error_and_nothing_is_stored(market_app, market_web, files_dir, upload):
    """Is an HTML page named .png, a file over the limit, or an empty message refused with words, writing nothing?"""
    w = market_web(disputed)
    market_app.config["DISPUTE_FILE_MAX_BYTES"] = 4096
    buyer, token = signed_in(market_app, w.buyer)
    before = _stored(market_app)
    file, words = {
        "html-named-png": ((HTML, "receipt.png", "image/png"), ("PNG", "JPEG", "PDF")),
        "oversize": ((png_bytes() + b"\x00" * 5000, "big.png", "image/png"), ("0.00390625 МБ",)),
        "empty-with-no-text": (None, ("Напишите сообщение или приложите файл.",)),
    }[upload]
    response = post_message(buyer, token, f"/disputes/{w.deposit_id}/messages", body="", file=file)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    errors = re.search(r'<ul class="field-errors".*?</ul>', page, re.S)
    assert errors and all(word in errors.group(0) for word in words), errors and errors.group(0)
    assert _stored(market_app) == before
    assert _files_on_disk(files_dir) == []


def test_a_body_beyond_any_upload_is_refused_before_a_view_reads_it(market_app, market_web, files_dir):
    """Is a request far over the file limit answered 413 with a reason (not parsed to disk, nothing stored)?"""
    w = market_web(disputed)
    buyer, token = signed_in(market_app, w.buyer)
    huge = b"\x89PNG\r\n\x1a\n" + b"\x00" * (market_app.config["MAX_CONTENT_LENGTH"] + 1)
    response = post_message(buyer, token, f"/disputes/{w.deposit_id}/messages", file=(huge, "x.png", "image/png"))
    assert response.status_code == 413
    assert _stored(market_app) == (1, 0) and _files_on_disk(files_dir) == []  # only the buyer's opening note
    # Werkzeug's test client spooled the 6 MB body to a temporary file of its own and, the app having
    # refused it unread, never closes it: collect it here, where it is known, not in a later test.
    import gc
    import warnings

    del response
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# --- who may see it ------------------------------------------------------------------------------


def test_access_to_the_dispute_and_its_files(market_app, market_web, files_dir):
    """Do the buyer, the seller and ops (in their area) see the dispute and its file, and everyone else 404?"""
    w = market_web(disputed)

    def strangers(m):
        other_seller, _, _ = m.seller("other-seller@example.com", "tbank")
        return Person.of(m.buyer("other-buyer@example.com")), Person.of(other_seller)

    other_buyer, other_seller = market_web(strangers)
    buyer, token = signed_in(market_app, w.buyer)
    assert post_message(buyer, token, f"/disputes/{w.deposit_id}/messages",
                        file=(png_bytes(), "r.png", "image/png")).status_code == 303
    with market_app.app_context():
        file_token = db.session.scalar(sa.select(DisputeFile.token))
    page, thread = f"/disputes/{w.deposit_id}", f"/disputes/{w.deposit_id}/thread"
    party_file = f"/disputes/{w.deposit_id}/files/{file_token}"
    seller, _ = signed_in(market_app, w.seller)
    ops, _ = signed_in(market_app, w.ops)
    for client in (buyer, seller):
        assert client.get(page).status_code == 200
        assert client.get(thread, headers={"HX-Request": "true"}).status_code == 200
        assert client.get(party_file).status_code == 200
    assert ops.get(f"/admin/disputes/{w.deposit_id}").status_code == 200
    assert ops.get(f"/admin/disputes/{w.deposit_id}/files/{file_token}").status_code == 200
    for stranger in (signed_in(market_app, other_buyer)[0], signed_in(market_app, other_seller)[0]):
        for path in (page, thread, party_file, f"/disputes/{w.deposit_id}/messages"):
            response = stranger.post(path) if path.endswith("messages") else stranger.get(path)
            assert response.status_code in (404, 400), (path, response.status_code)
            if not path.endswith("messages"):
                assert response.status_code == 404
        assert stranger.get(f"/admin/disputes/{w.deposit_id}/files/{file_token}").status_code == 403
    assert ops.get(party_file).status_code == 404  # staff open files in their own area, not the parties' pages
    assert buyer.get(f"/disputes/{w.deposit_id}/files/{'0' * 32}").status_code == 404
    assert buyer.get(f"/disputes/{w.deposit_id}/files/..%2F..%2Fetc").status_code == 404
    anonymous = market_app.test_client()
    for path in (page, party_file):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_disputes_file_token_is_not_found(market_app, market_web, files_dir):
    """Does a party's own dispute URL refuse a file token of someone else's dispute (object-level check)?"""
    first = market_web(disputed)
    second = market_web(lambda m: disputed(m, buyer_email="b2@example.com", seller_email="s2@example.com"))
    other, token = signed_in(market_app, second.buyer)
    assert post_message(other, token, f"/disputes/{second.deposit_id}/messages",
                        file=(PDF, "s.pdf", "application/pdf")).status_code == 303
    with market_app.app_context():
        foreign = db.session.scalar(sa.select(DisputeFile.token))
    buyer, _ = signed_in(market_app, first.buyer)
    assert buyer.get(f"/disputes/{first.deposit_id}/files/{foreign}").status_code == 404


def test_a_download_is_an_attachment_never_rendered(market_app, market_web, files_dir):
    """Does a download carry attachment, nosniff, a CSP that allows nothing, and no caching — for parties and ops?"""
    w = market_web(disputed)
    buyer, token = signed_in(market_app, w.buyer)
    assert post_message(buyer, token, f"/disputes/{w.deposit_id}/messages",
                        file=(JPEG, "photo.jpeg", "image/jpeg")).status_code == 303
    with market_app.app_context():
        file_token = db.session.scalar(sa.select(DisputeFile.token))
    ops, _ = signed_in(market_app, w.ops)
    for client, path in ((buyer, f"/disputes/{w.deposit_id}/files/{file_token}"),
                         (ops, f"/admin/disputes/{w.deposit_id}/files/{file_token}")):
        response = client.get(path)
        assert response.status_code == 200 and response.data == JPEG
        assert response.headers["Content-Type"] == "image/jpeg"
        assert re.fullmatch(r'attachment; filename="evidence-\d+\.jpg"', response.headers["Content-Disposition"])
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "sandbox" in csp and "'self'" not in csp
        assert "no-store" in response.headers["Cache-Control"]


# --- the thread ----------------------------------------------------------------------------------


def test_one_thread_for_buyer_seller_and_ops_with_roles_times_and_files(market_app, market_web, files_dir):
    """Do all three write in one thread and see every message with its author's role, never the other's e-mail?"""
    w = market_web(disputed)
    buyer, buyer_token = signed_in(market_app, w.buyer)
    seller, seller_token = signed_in(market_app, w.seller)
    ops, ops_token = signed_in(market_app, w.ops)
    assert post_message(buyer, buyer_token, f"/disputes/{w.deposit_id}/messages", body="Here is my bank receipt",
                        file=(png_bytes(), "receipt.png", "image/png")).status_code == 303
    assert post_message(seller, seller_token, f"/disputes/{w.deposit_id}/messages",
                        body="Nothing arrived in my cabinet\nfor that order").status_code == 303
    assert post_message(ops, ops_token, f"/admin/disputes/{w.deposit_id}/messages",
                        body="We are asking the bank").status_code == 303
    with market_app.app_context():
        case = db.session.scalar(sa.select(DisputeCase))
        assert case.status == "answered" and case.answered_at is not None  # the seller answered in time
        roles = db.session.scalars(sa.select(DisputeMessage.author_role).order_by(DisputeMessage.id)).all()
        assert roles == ["buyer", "buyer", "seller", "ops"]  # the opening note, then the three messages
    for client, path, own in ((buyer, f"/disputes/{w.deposit_id}", "Покупатель (вы)"),
                              (seller, f"/disputes/{w.deposit_id}", "Продавец (вы)"),
                              (ops, f"/admin/disputes/{w.deposit_id}", "Поддержка (вы)")):
        page = client.get(path).get_data(as_text=True)
        thread = re.search(r'<section id="dispute-thread".*?</section>', page, re.S).group(0)
        for text in ("Paid by SBP at 10:05", "Here is my bank receipt", "Nothing arrived in my cabinet\nfor that order",
                     "We are asking the bank", own, "картинка PNG"):
            assert text in thread, (path, text)
        assert thread.count('class="thread-message') == 4
        assert "buyer@example.com" not in thread and "seller@example.com" not in thread
    seller_page = seller.get(f"/disputes/{w.deposit_id}").get_data(as_text=True)
    assert "buyer@example.com" not in seller_page
    buyer_page = buyer.get(f"/disputes/{w.deposit_id}").get_data(as_text=True)
    assert "seller@example.com" not in buyer_page


def test_the_thread_polls_and_answers_204_while_nothing_changed(market_app, market_web, files_dir):
    """Is the polled fragment 204 for an unchanged thread and the new message once the other side wrote?"""
    w = market_web(disputed)
    buyer, _ = signed_in(market_app, w.buyer)
    seller, seller_token = signed_in(market_app, w.seller)
    page = buyer.get(f"/disputes/{w.deposit_id}").get_data(as_text=True)
    poll = re.search(r'hx-get="([^"]+/thread\?v=[0-9a-f]+)"', page).group(1).replace("&amp;", "&")
    assert buyer.get(poll, headers={"HX-Request": "true"}).status_code == 204
    assert post_message(seller, seller_token, f"/disputes/{w.deposit_id}/messages",
                        body="Checking my cabinet").status_code == 303
    fresh = buyer.get(poll, headers={"HX-Request": "true"})
    assert fresh.status_code == 200 and "Checking my cabinet" in fresh.get_data(as_text=True)
    assert "<html" not in fresh.get_data(as_text=True)


def test_a_double_submitted_form_posts_once(market_app, market_web, files_dir):
    """Does the same form sent twice (its request key) make one message and store one file?"""
    w = market_web(disputed)
    buyer, token = signed_in(market_app, w.buyer)
    key = uuid.uuid4().hex
    for _ in range(2):
        assert post_message(buyer, token, f"/disputes/{w.deposit_id}/messages", body="receipt",
                            file=(PDF, "r.pdf", "application/pdf"), request_key=key).status_code == 303
    assert _stored(market_app) == (2, 1)  # the opening note and one message with its file
    assert len(_files_on_disk(files_dir)) == 1


def test_after_the_decision_both_parties_see_it_and_the_thread_closes(market_app, market_web, files_dir):
    """Once ops decide, do the buyer and the seller see the decision and reason, with no form to write more?"""
    w = market_web(disputed)
    with market_app.app_context():
        invoices.resolve_dispute(w.deposit_id, confirm=False, actor=w.ops.load(), reason="No payment at the provider")
        db.session.commit()
    for user in (w.buyer, w.seller):
        client, token = signed_in(market_app, user)
        page = client.get(f"/disputes/{w.deposit_id}").get_data(as_text=True)
        assert 'id="dispute-decision"' in page and "No payment at the provider" in page
        assert 'id="dispute-message-form"' not in page and "hx-trigger" not in page.split('id="dispute-thread"')[1][:400]
        refused = post_message(client, token, f"/disputes/{w.deposit_id}/messages", body="late")
        assert refused.status_code == 422 and "Спор решён" in refused.get_data(as_text=True)
    assert _stored(market_app) == (1, 0)


def test_the_buyer_reaches_the_thread_from_the_invoice_and_the_seller_from_the_dashboard(market_app, market_web):
    """Does the invoice page link the buyer to the conversation, and the seller's dashboard the seller?"""
    w = market_web(disputed)
    buyer, _ = signed_in(market_app, w.buyer)
    page = buyer.get(f"/buy/{w.deposit_id}").get_data(as_text=True)
    assert f'href="/disputes/{w.deposit_id}"' in page and "Открыть переписку по спору" in page
    seller, _ = signed_in(market_app, w.seller)
    dashboard = seller.get("/seller/").get_data(as_text=True)
    assert f'href="/disputes/{w.deposit_id}"' in dashboard and "Ответить по спору" in dashboard


# --- the seller's notification and deadline --------------------------------------------------------


def test_the_seller_is_asked_once_with_the_deadline_from_the_ops_setting(market, market_app):
    """Is the seller notified once (a replayed dispute adds nothing), due after the ops setting's time?"""
    settings_service.change_settings(actor=None, reason="two hours for sellers", dispute_answer_seconds=2 * 3600)
    db.session.commit()
    opened_at = utcnow()
    w = disputed(market)
    deposit = db.session.get(Deposit, w.deposit_id)
    assert invoices.dispute(deposit, "again") is False  # already disputed: nothing happens
    dispute_threads.open_case(deposit, buyer_note="again")  # and a replayed case opening adds nothing either
    db.session.commit()
    asked = db.session.scalars(sa.select(Notification).where(Notification.kind == "dispute_answer_requested")).all()
    assert [n.user_id for n in asked] == [w.seller.id]
    assert asked[0].event_key == f"dispute-answer:{db.session.scalar(sa.select(DisputeCase.id))}:{w.seller.id}"
    case = db.session.scalar(sa.select(DisputeCase))
    assert timedelta(hours=2) <= case.answer_due_at - opened_at <= timedelta(hours=2, minutes=1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DisputeCase)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DisputeMessage)) == 1  # the first note only
    with market_app.test_request_context():
        from app.notifications.texts import render

        text = render("dispute_answer_requested", asked[0].params)
        assert text.target == ("disputes.show", {"deposit_id": w.deposit_id}) and "000,00" in text.body


def test_the_answer_time_setting_is_bounded(app_ctx):
    """Are answer times under an hour or over a week refused in words (and by the database's CHECK)?"""
    for seconds in (3599, 7 * 86400 + 1):
        with pytest.raises(ValidationFailed):
            settings_service.change_settings(actor=None, reason="x", dispute_answer_seconds=seconds)
    db.session.rollback()
    settings_service.change_settings(actor=None, reason="a week", dispute_answer_seconds=7 * 86400)
    db.session.commit()


def _overdue(market_app, deposit_id: int) -> None:
    with market_app.app_context():
        db.session.execute(sa.update(DisputeCase).where(DisputeCase.deposit_id == deposit_id)
                           .values(answer_due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def test_the_sweeper_escalates_a_silent_seller_once_and_ops_see_it_first(market_app, market_web, files_dir):
    """Run twice, does the sweeper escalate once (one audit event), list it first for ops and close the seller's form?"""
    late = market_web(disputed)
    fresh = market_web(lambda m: disputed(m, buyer_email="b2@example.com", seller_email="s2@example.com"))
    _overdue(market_app, late.deposit_id)
    with market_app.app_context():
        assert escalate_overdue_disputes_once() == 1
        assert escalate_overdue_disputes_once() == 0
        cases = dict(db.session.execute(sa.select(DisputeCase.deposit_id, DisputeCase.status)).all())
        assert cases == {late.deposit_id: "escalated", fresh.deposit_id: "awaiting_seller"}
        events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "dispute.escalated")).all()
        assert [e.target_id for e in events] == [str(late.deposit_id)]
    ops, _ = signed_in(market_app, late.ops)
    queue = ops.get("/admin/disputes").get_data(as_text=True)
    rows = re.findall(r'<tr id="dispute-row-(\d+)"( class="escalated")?', queue)
    assert rows[0] == (str(late.deposit_id), ' class="escalated"') and len(rows) == 2
    assert "передан поддержке: продавец не ответил вовремя" in queue
    seller, token = signed_in(market_app, late.seller)
    page = seller.get(f"/disputes/{late.deposit_id}").get_data(as_text=True)
    assert "Время на ответ вышло" in page and 'id="dispute-message-form"' not in page
    refused = post_message(seller, token, f"/disputes/{late.deposit_id}/messages", body="sorry, late")
    assert refused.status_code == 422 and _stored(market_app) == (2, 0)
    buyer, buyer_token = signed_in(market_app, late.buyer)  # the buyer and ops may still write
    assert post_message(buyer, buyer_token, f"/disputes/{late.deposit_id}/messages", body="still here").status_code == 303


def test_an_answer_in_time_is_never_escalated(market_app, market_web, files_dir):
    """Does a seller who answered stay answered when the deadline later passes?"""
    w = market_web(disputed)
    seller, token = signed_in(market_app, w.seller)
    assert post_message(seller, token, f"/disputes/{w.deposit_id}/messages", body="Nothing arrived").status_code == 303
    _overdue(market_app, w.deposit_id)
    with market_app.app_context():
        assert escalate_overdue_disputes_once() == 0
        assert db.session.scalar(sa.select(DisputeCase.status)) == "answered"


def test_a_decided_dispute_is_not_escalated(market_app, market_web):
    """Is a case whose dispute ops already decided left alone by the sweeper?"""
    w = market_web(disputed)
    with market_app.app_context():
        invoices.resolve_dispute(w.deposit_id, confirm=False, actor=w.ops.load(), reason="decided early")
        db.session.commit()
    _overdue(market_app, w.deposit_id)
    with market_app.app_context():
        assert escalate_overdue_disputes_once() == 0


def test_concurrent_sweepers_escalate_once(market_app, market_web, database):
    """Do four sweepers at the same instant escalate an overdue case exactly once (PostgreSQL, real concurrency)?"""
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    w = market_web(disputed)
    _overdue(market_app, w.deposit_id)
    barrier, results, errors = threading.Barrier(4), [], []

    def sweep():
        with market_app.app_context():
            try:
                barrier.wait(timeout=30)
                results.append(escalate_overdue_disputes_once())
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [0, 0, 0, 1]
    with market_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "dispute.escalated")) == 1


def test_escalation_is_on_the_cron_list():
    """Is the sweeper registered with the scheduler (worker.py cron reads this list)?"""
    from app.jobs.schedule import PERIODIC_JOBS

    assert ("app.jobs.disputes.escalate_overdue_disputes", 60) in PERIODIC_JOBS


def test_a_non_party_cannot_post_through_the_service(market):
    """Is a stranger refused by the service itself (NotFound), whatever a view does?"""
    from app.errors import NotFound

    w = disputed(market)
    stranger = gen_user("stranger@example.com")
    with pytest.raises(NotFound):
        dispute_threads.for_party(stranger, w.deposit_id)


def test_the_same_form_sent_from_six_tabs_at_once_posts_once(market_app, market_web, files_dir, database):
    """Do six identical posts of the seller's answer at the same instant make one message, one file and one
    answer (the case row lock and the request key), never an error?"""
    if database.kind != "postgresql":
        pytest.skip("concurrency is a PostgreSQL property; SQLite serialises writers by design")
    import io

    from tests.concurrent_requests import post_at_once, signed_in_clients, statuses

    w = market_web(disputed)
    clients, token = signed_in_clients(market_app, w.seller.email, 6)
    key = uuid.uuid4().hex
    results = post_at_once(clients, f"/disputes/{w.deposit_id}/messages", lambda i: {
        "csrf_token": token, "msg-body": "Nothing arrived", "msg-request_key": key,
        "msg-file": (io.BytesIO(PDF), "statement.pdf", "application/pdf")})
    assert statuses(results) == [303] * 6
    with market_app.app_context():
        assert db.session.scalars(sa.select(DisputeMessage.author_role).order_by(DisputeMessage.id)).all() == [
            "buyer", "seller"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DisputeFile)) == 1
        assert db.session.scalar(sa.select(DisputeCase.status)) == "answered"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "dispute.message_posted")) == 1
    assert len(_files_on_disk(files_dir)) == 1
