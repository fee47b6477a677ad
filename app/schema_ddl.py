"""Database-side guarantees written as DDL, for use in migrations on both engines.

The Python layer checks the same rules, but the database is the last line: a
bug, a raw SQL session or a second code path must not be able to break them.
"""
from __future__ import annotations

from alembic import op


def forbid_update_and_delete(table: str, *, only_when: str | None = None) -> None:
    """Make ``table`` append-only: UPDATE and DELETE fail.

    ``only_when`` narrows UPDATEs that are refused to rows matching a SQL
    condition over ``OLD`` (for example ``OLD.status = 'posted'``); DELETE is
    always refused.
    """
    bind = op.get_bind()
    name = f"{table}_append_only"
    if bind.dialect.name == "postgresql":
        condition = f"TG_OP = 'DELETE' OR ({only_when})" if only_when else "TRUE"
        op.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF {condition} THEN
                RAISE EXCEPTION '{table} rows are immutable' USING ERRCODE = 'restrict_violation';
              END IF;
              IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
              RETURN NEW;
            END $$;
            """
        )
        op.execute(
            f'CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
    else:
        when = f"WHEN {only_when}" if only_when else ""
        op.execute(
            f'CREATE TRIGGER {name}_update BEFORE UPDATE ON "{table}" {when} '
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable'); END"
        )
        op.execute(
            f'CREATE TRIGGER {name}_delete BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable'); END"
        )


def drop_append_only(table: str) -> None:
    bind = op.get_bind()
    name = f"{table}_append_only"
    if bind.dialect.name == "postgresql":
        op.execute(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {name}_update")
        op.execute(f"DROP TRIGGER IF EXISTS {name}_delete")


def allow_only_status_change(table: str, *, unchanged: list[str], when_old: str, new_status_in: list[str]) -> None:
    """Make ``table`` append-only except one kind of UPDATE: a status change on rows matching ``when_old``.

    DELETE is always refused.  An UPDATE is allowed only when ``when_old`` (a
    SQL condition over ``OLD``, e.g. ``OLD.status = 'pending'``) holds, the new
    ``status`` is one of ``new_status_in``, and every column in ``unchanged``
    keeps its value (NULL-safe).  Everything else raises.
    """
    bind = op.get_bind()
    name = f"{table}_guard"
    statuses = ", ".join(f"'{s}'" for s in new_status_in)
    if bind.dialect.name == "postgresql":
        same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in unchanged)
        op.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'UPDATE' AND ({when_old}) AND NEW.status IN ({statuses}) AND {same} THEN
                RETURN NEW;
              END IF;
              RAISE EXCEPTION '{table} rows are immutable (only an open row''s status may change, once)'
                USING ERRCODE = 'restrict_violation';
            END $$;
            """
        )
        op.execute(
            f'CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
    else:
        same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in unchanged)
        op.execute(
            f'CREATE TRIGGER {name}_update BEFORE UPDATE ON "{table}" '
            f"WHEN NOT COALESCE(({when_old}) AND NEW.status IN ({statuses}) AND {same}, 0) "
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable (only an open row''s status may change, once)'); END"
        )
        op.execute(
            f'CREATE TRIGGER {name}_delete BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are immutable'); END"
        )


def drop_status_change_guard(table: str) -> None:
    bind = op.get_bind()
    name = f"{table}_guard"
    if bind.dialect.name == "postgresql":
        op.execute(f'DROP TRIGGER IF EXISTS {name} ON "{table}"')
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {name}_update")
        op.execute(f"DROP TRIGGER IF EXISTS {name}_delete")


#: a post/void row must match an open hold: same accounts and asset, at most its amount (a void: exactly)
_LEDGER_RESOLUTION_MATCHES = """
    SELECT 1 FROM ledger_transfer p
    WHERE p.id = NEW.pending_id AND p.phase = 'pending' AND p.status = 'pending'
      AND p.debit_account_id = NEW.debit_account_id AND p.credit_account_id = NEW.credit_account_id
      AND p.asset = NEW.asset AND NEW.amount <= p.amount
      AND (NEW.phase = 'post_pending' OR NEW.amount = p.amount)
"""


def guard_ledger_resolutions() -> None:
    """Refuse a ledger post/void row (``pending_id`` set) that does not match an open hold."""
    bind = op.get_bind()
    name = "ledger_transfer_resolution_guard"
    if bind.dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NOT EXISTS ({_LEDGER_RESOLUTION_MATCHES}) THEN
                RAISE EXCEPTION 'ledger_transfer %: a post/void must match an open pending transfer', NEW.key
                  USING ERRCODE = 'check_violation';
              END IF;
              RETURN NEW;
            END $$;
            """
        )
        op.execute(
            f"CREATE TRIGGER {name} BEFORE INSERT ON ledger_transfer "
            f"FOR EACH ROW WHEN (NEW.pending_id IS NOT NULL) EXECUTE FUNCTION {name}()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {name} BEFORE INSERT ON ledger_transfer "
            f"WHEN NEW.pending_id IS NOT NULL AND NOT EXISTS ({_LEDGER_RESOLUTION_MATCHES}) "
            f"BEGIN SELECT RAISE(ABORT, 'ledger_transfer: a post/void must match an open pending transfer'); END"
        )


def drop_ledger_resolution_guard() -> None:
    bind = op.get_bind()
    name = "ledger_transfer_resolution_guard"
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON ledger_transfer")
        op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
