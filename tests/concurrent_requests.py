"""Many real requests at the same instant: one signed-in session, a test client per thread.

Every thread has its own Flask test client (its own request and app
context, its own database session and connection), all carrying the same
session cookie, and they are released together by a barrier — as a browser
with many tabs, or a script, would fire them.  With ``TESTING`` on, an
unhandled exception in a view (a 500 in production) comes back as that
thread's result instead of a response, so a test sees it.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from tests.helpers import PASSWORD, csrf_from


def signed_in_clients(app, email: str, n: int, password: str = PASSWORD) -> tuple[list, str]:
    """``n`` test clients signed in as ``email`` (through the real login form), and a CSRF token for them."""
    first = app.test_client()
    page = first.get("/login").get_data(as_text=True)
    response = first.post("/login", data={"email": email, "password": password, "csrf_token": csrf_from(page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    # the token first: it is kept in the session, so the cookie copied below must already carry it
    token = csrf_from(first.get("/account").get_data(as_text=True))
    cookie = first.get_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    assert cookie is not None
    clients = [first]
    for _ in range(n - 1):
        client = app.test_client()
        client.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        clients.append(client)
    return clients, token


def post_at_once(clients: list, path: str, data_for: Callable[[int], dict]) -> list:
    """POST ``data_for(i)`` from every client at the same instant; each response (or the exception raised)."""
    barrier = threading.Barrier(len(clients))
    results: list = [None] * len(clients)

    def run(i: int) -> None:
        data = data_for(i)
        try:
            barrier.wait(timeout=30)
            results[i] = clients[i].post(path, data=data)
        except Exception as exc:  # noqa: BLE001 - a 500 in production; returned for the test to assert on
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def statuses(results: list) -> list:
    """The status code of each response, or the repr of the exception in its place."""
    return [r.status_code if hasattr(r, "status_code") else repr(r) for r in results]
