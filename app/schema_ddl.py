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
