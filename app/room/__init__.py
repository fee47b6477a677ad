"""The poker room: reading the room's transfer feed and crediting sellers (ingest), users' own room
accounts and their verification, cash-outs to them, statements uploaded by ops, and reconciliation
of the platform's room balance.  The room itself is reached only through :mod:`app.connectors.room`.
"""
