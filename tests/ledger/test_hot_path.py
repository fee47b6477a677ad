"""A posting's two statements run on the driver's cursor on PostgreSQL (app.database.execute_fast).

What SQLAlchemy does around a statement must still happen: its cursor events
fire (query counters, the stateful tests' crash injector), and a driver error
arrives as the usual ``sqlalchemy.exc`` class, with a dead connection
invalidated so the pool replaces it.
"""
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app import ledger
from app.extensions import db
from app.ledger import AccountKind
from app.ledger.accounts import get_or_create
from tests.helpers import own_backend_pid, terminate_backend


@pytest.fixture
def two_wallets(app_ctx):
    source = get_or_create("test:source", AccountKind.ADJUSTMENTS)
    a = get_or_create("test:a", AccountKind.WALLET)
    b = get_or_create("test:b", AccountKind.WALLET)
    ledger.transfer("fund:a", source, a, 10_000, "opening")
    db.session.commit()
    return a.id, b.id


def test_a_postings_statements_are_seen_by_cursor_event_listeners(two_wallets):
    """Do before/after_cursor_execute listeners see the lock and the insert of a posting, on both engines?"""
    a, b = two_wallets
    seen = {"before": [], "after": []}

    def before(_conn, _cursor, statement, *_rest):
        seen["before"].append(statement)

    def after(_conn, _cursor, statement, *_rest):
        seen["after"].append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    try:
        ledger.transfer("t:1", a, b, 100, "sale")
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
    if db.engine.dialect.name == "postgresql":  # and they came through the driver-cursor path
        from app import database

        assert len(database._PG_SQL) >= 2
    assert seen["before"] == seen["after"]
    assert any("FOR" in s and "ledger_account" in s for s in seen["before"]) or db.engine.dialect.name == "sqlite"
    assert any(s.lstrip().upper().startswith(("WITH", "INSERT")) and "ledger_transfer" in s for s in seen["before"])
    assert ledger.balance(b).posted == 100


def test_a_lock_timeout_in_a_posting_is_sqlalchemys_error_and_the_session_goes_on(two_wallets, app):
    """Is a driver error in the hot path an ``sqlalchemy.exc.OperationalError`` (what every caller catches), with
    nothing written, and can the same session roll back and post again?"""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and lock_timeout are PostgreSQL's")
    a, b = two_wallets
    holder = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with holder.connect() as other:
        other.execute(sa.text("SELECT id FROM ledger_account WHERE id = :a FOR UPDATE"), {"a": a})
        db.session.execute(sa.text("SET LOCAL lock_timeout = '50ms'"))
        with pytest.raises(sa.exc.OperationalError) as caught:
            ledger.transfer("t:blocked", a, b, 100, "sale")
        assert "lock" in str(caught.value.orig).lower()
        db.session.rollback()
        other.rollback()
    holder.dispose()
    ledger.transfer("t:after", a, b, 100, "sale")
    db.session.commit()
    assert ledger.balance(b).posted == 100  # the blocked one wrote nothing


def test_a_posting_whose_connection_died_renews_the_pool_and_the_next_one_reconnects(two_wallets, app):
    """As Connection.execute would: the error says the connection was invalidated, and the pool's other
    connections (as dead after a restart) are replaced too, not handed out to fail one by one."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a dropped server connection is a PostgreSQL matter")
    a, b = two_wallets
    with db.engine.connect() as spare:  # a second connection, left in the pool
        spare_pid = own_backend_pid(spare)
    pid = own_backend_pid()
    assert pid != spare_pid
    terminate_backend(app.config["SQLALCHEMY_DATABASE_URI"], pid)
    with pytest.raises(sa.exc.DBAPIError) as caught:
        ledger.transfer("t:dead", a, b, 100, "sale")
    assert caught.value.connection_invalidated
    db.session.rollback()
    with db.engine.connect() as one, db.engine.connect() as two:
        now = {own_backend_pid(c) for c in (one, two)}
    assert not now & {pid, spare_pid}
    ledger.transfer("t:alive", a, b, 100, "sale")
    db.session.commit()
    assert ledger.balance(b).posted == 100


def test_an_event_listeners_own_exception_comes_out_unchanged(two_wallets):
    """A listener that raises (the stateful tests' crash injector does) is not turned into a database error."""
    a, b = two_wallets

    class Stop(Exception):
        pass

    def stop(*_args):
        raise Stop

    event.listen(db.engine, "before_cursor_execute", stop)
    try:
        with pytest.raises(Stop):
            ledger.transfer("t:stopped", a, b, 100, "sale")
    finally:
        event.remove(db.engine, "before_cursor_execute", stop)
    db.session.rollback()
    assert ledger.balance(b).posted == 0
