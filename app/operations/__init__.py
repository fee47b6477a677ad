"""What the ops area does: the dashboard's figures, the ledger explorer and checks, manual
adjustments (four eyes), disputes and their decisions, and the RQ job monitor.  The ops area's
pages are the blueprint :mod:`app.web.admin`; production tooling (metrics, doctor, logs) is
:mod:`app.observability`.
"""
