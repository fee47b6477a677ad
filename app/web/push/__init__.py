"""Live invoice status pushed to the buyers watching it: a small asyncio process beside the web app.

See :mod:`app.web.push.server` for the process and docs/live-status.md for why
it exists and how the page falls back to polling.
"""
