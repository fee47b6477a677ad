"""Local stand-ins for the outside world: the poker room and the payment providers.

Each sandbox is a small WSGI app that speaks the documented wire contract
(the room's: ``docs/room-contract.md``) so the platform's real connectors are exercised
over real HTTP.  ``python -m sandbox`` runs them all for ``make run``; tests
start them in-process on free loopback ports with :func:`sandbox.server.serve`.
"""
