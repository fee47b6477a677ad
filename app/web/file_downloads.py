"""Answers that are user-supplied files (dispute evidence): never rendered, never sniffed, never cached.

The file itself gets a CSP that allows nothing (``default-src 'none'; sandbox``): should a browser ever
render it despite ``Content-Disposition: attachment`` and ``nosniff``, it runs nothing and reaches
nothing.  Talisman writes one policy per view after the view has run, whatever the answer, so a view
that serves files opts out of it (:func:`serves_files`) and gets its header here instead: the file's
policy on the file, the site's page policy on everything else the view answers (its 404 page, the
sign-in redirect), so those pages look and behave like every other page.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, make_response, request

#: the site's policy for pages (app/__init__.py hands it to Talisman)
PAGE_CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self'",
    "script-src": "'self'",
    "form-action": "'self' http: https:",  # forms post to providers' pay pages
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def page_csp(push_url: str | None) -> dict:
    """The pages' policy; with a push process elsewhere (``PUSH_URL``), the pages may also connect to it."""
    if not push_url:
        return PAGE_CSP
    parts = urlsplit(push_url)
    return {**PAGE_CSP, "connect-src": f"'self' {parts.scheme}://{parts.netloc}"}


#: the policy of a served file: nothing at all
FILE_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


def _text(policy: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def file_response(data: bytes, content_type: str, filename: str):
    """The file as an attachment of the type read from its content, with nosniff and the file's CSP."""
    response = make_response(data)
    response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_CSP
    response.headers["Cache-Control"] = "private, no-store"
    return response


def serves_files(bp: Blueprint, *views) -> None:
    """Take these views of ``bp`` out of Talisman's CSP; their non-file answers get the page policy here."""
    endpoints = set()
    for view in views:
        view.talisman_view_options = {"content_security_policy": None}
        endpoints.add(f"{bp.name}.{view.__name__}")

    @bp.after_request
    def _page_policy_unless_a_file(response):
        if request.endpoint in endpoints:
            response.headers.setdefault("Content-Security-Policy", _text(PAGE_CSP))
        return response
