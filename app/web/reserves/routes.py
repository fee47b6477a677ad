"""Views of the reserves blueprint: the public reserves page, and a signed-in user's proofs."""
from __future__ import annotations

import json
from decimal import ROUND_FLOOR, Decimal

from flask import Response, render_template
from flask_babel import format_percent
from flask_babel import gettext as _
from flask_login import current_user

from app.extensions import limiter
from app.money import format_usd
from app.reserves import snapshots
from app.web.access import public
from app.web.rate_limits import user_or_address
from app.web.reserves.blueprint import bp
from app.web.svg_lines import line_chart

#: the verifier script, served as a static file (pure standard-library Python)
VERIFIER = "reserves/verify_reserves_proof.py"


def coverage(snapshot) -> str:
    """The room balance as a share of the liabilities ("102.5 %"); a dash when nothing is owed.

    Exact decimals rounded down, so a shortfall of one cent never shows as "100.0 %".
    """
    if not snapshot.total_liabilities:
        return "—"
    share = (Decimal(snapshot.room_balance) / Decimal(snapshot.total_liabilities)).quantize(
        Decimal("0.001"), rounding=ROUND_FLOOR)
    return format_percent(share, format="#,##0.0 %")


@bp.get("/")
@public
def index():
    """The latest signed snapshot, liabilities against the room balance over time, and every snapshot."""
    history = snapshots.history()
    latest = history[-1] if history else None
    chart = line_chart([
        (_("Liabilities"), "line-ledger", [s.total_liabilities for s in history]),
        (_("Room balance"), "line-room", [s.room_balance for s in history]),
    ]) if len(history) > 1 else None
    desc = None
    if latest is not None:
        desc = _("Latest snapshot: liabilities %(total)s, room balance %(room)s.",
                 total=format_usd(latest.total_liabilities), room=format_usd(latest.room_balance))
    return render_template("reserves/index.html", latest=latest, history=history[::-1], chart=chart,
                           chart_desc=desc, verified=snapshots.signature_verifies(latest) if latest else False,
                           verifier=VERIFIER, coverage=coverage)


@bp.get("/mine")
def mine():
    """The signed-in user's place in each snapshot, with a proof to download for each."""
    return render_template("reserves/mine.html", leaves=snapshots.leaves_of(current_user.id), verifier=VERIFIER)


@bp.get("/proofs/<int:leaf_id>.json")
@limiter.limit("30 per minute", key_func=user_or_address)
def proof(leaf_id: int):
    """One inclusion proof as a JSON download; another user's leaf is a 404 like a missing one."""
    body = snapshots.proof(current_user.id, leaf_id)
    filename = f"pokerpay-reserves-proof-{body['snapshot']['id']}.json"
    return Response(json.dumps(body, indent=2, sort_keys=True) + "\n", mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
