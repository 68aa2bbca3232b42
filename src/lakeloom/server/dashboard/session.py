"""Dashboard sign-in: a lakeloom API token is exchanged for a session cookie.

* The cookie (``lakeloom_session``) is HttpOnly, SameSite=Strict, ``Secure`` over HTTPS,
  and holds a random value whose hash is stored (``ui_sessions``); the session dies with
  the token it was opened with (revoked or expired) or after ``server.session_hours``.
* Every state-changing request carries the session's CSRF token (a hidden form field or
  the ``X-CSRF-Token`` header) and, when the browser sends one, an ``Origin`` equal to the
  server's own. The sign-in form itself is protected by a double-submit cookie.
* What a signed-in principal sees and may do is decided by the same job permissions as
  the API (:mod:`lakeloom.server.auth`).
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from lakeloom.server.auth import Principal
from lakeloom.server.dashboard.render import render

COOKIE = "lakeloom_session"
LOGIN_COOKIE = "lakeloom_login"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class UiUser:
    """The signed-in principal and the session's CSRF token."""

    principal: Principal
    csrf: str

    @property
    def name(self) -> str:
        return self.principal.name


class NeedsLogin(Exception):
    """Raised by :func:`ui_user` when the request has no live session."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfError(Exception):
    """A state-changing request without the session's CSRF token (or from another origin)."""


def safe_next(value: str | None) -> str:
    """A local path to go to after sign-in (never another site: no scheme, host or ``//``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def ui_user(request: Request) -> UiUser:
    """FastAPI dependency: the signed-in user, or :class:`NeedsLogin`."""
    cookie = request.cookies.get(COOKIE)
    row = request.app.state.ctx.store.lookup_session(cookie) if cookie else None
    if row is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedsLogin(path)
    ctx = request.app.state.ctx
    groups = {"users"} | {g for g, members in ctx.groups.items() if row["principal"] in members}
    user = UiUser(Principal(row["principal"], bool(row["is_admin"]), frozenset(groups)), row["csrf_token"])
    request.state.ui_user = user
    return user


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by every browser for same-origin form posts; the token still is
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme == request.url.scheme


async def form_of(request: Request) -> dict[str, list[str]]:
    """The urlencoded body of a POST (every value as a list, in order)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True, max_num_fields=2000)


async def checked_form(request: Request, user: UiUser) -> dict[str, list[str]]:
    """The POST body after the CSRF and origin checks (raises :class:`CsrfError`)."""
    form = await form_of(request)
    check_csrf(request, user, request.headers.get("x-csrf-token") or (form.get("csrf_token") or [""])[0])
    return form


def check_csrf(request: Request, user: UiUser, sent: str | None) -> None:
    """Raise :class:`CsrfError` unless ``sent`` is the session's CSRF token and the request
    comes from the server's own origin (for pages that post JSON with ``X-CSRF-Token``)."""
    if not _same_origin(request) or not sent or not hmac.compare_digest(sent, user.csrf):
        raise CsrfError("missing or invalid CSRF token")


def _cookie_args(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https", "path": "/"}


@router.get("/login")
def login_page(request: Request, next: str | None = None, error: str | None = None) -> Response:  # noqa: A002
    """The sign-in form (a token from ``lakeloom tokens create``)."""
    nonce = secrets.token_urlsafe(24)
    resp = render(request, "login.html", title="Sign in", next=safe_next(next), nonce=nonce, error=error,
                  status_code=401 if error else 200)
    resp.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, **_cookie_args(request))
    return resp


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token; on success open a session and go to ``next``."""
    form = await form_of(request)
    nonce = (form.get("nonce") or [""])[0]
    cookie_nonce = request.cookies.get(LOGIN_COOKIE, "")
    next_path = safe_next((form.get("next") or ["/"])[0])
    if not _same_origin(request) or not nonce or not hmac.compare_digest(nonce, cookie_nonce):
        return RedirectResponse(f"/login?next={quote(next_path)}&error=expired", status_code=303)
    ctx = request.app.state.ctx
    token = (form.get("token") or [""])[0].strip()
    row = ctx.store.lookup_token(token) if token else None
    if row is None:
        request.state.audit_error = "invalid, expired or revoked token"
        return RedirectResponse(f"/login?next={quote(next_path)}&error=invalid", status_code=303)
    request.state.principal = Principal(row["principal"], bool(row["is_admin"]))
    ctx.note_token_use(row["token_id"])
    hours = float(ctx.engine.workspace.server.get("session_hours", 12))
    cookie, _ = ctx.store.create_session(row["token_id"], lifetime_seconds=int(hours * 3600),
                                         token_expiry=row["expiry_time"])
    resp = RedirectResponse(next_path, status_code=303)
    resp.set_cookie(COOKIE, cookie, max_age=int(hours * 3600), **_cookie_args(request))
    resp.delete_cookie(LOGIN_COOKIE, path="/")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (CSRF-checked like every other POST)."""
    user = ui_user(request)
    await checked_form(request, user)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        request.app.state.ctx.store.delete_session(cookie)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp
