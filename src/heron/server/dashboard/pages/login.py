"""``/login`` (the sign-in form, and signing in) and ``/logout`` (signing out).

Signing in checks the user name and password with the server's authenticator (failures are
counted per user and per address: past the limit the form answers 429 until the window has
passed), starts a dashboard session and sets its cookie: ``HttpOnly`` (no script reads it),
``SameSite=Lax`` (another site's form does not carry it) and ``Secure`` when the browser came
over https. The form itself is protected against cross-site posting by a double-submit token:
a random value in a short-lived cookie of its own and in a hidden field, which must match
(another site can make a browser post the form, but cannot read or set the cookie).

Signing out ends the session on the server (the old cookie no longer signs anyone in) and
clears the cookie; its form carries the session's CSRF token like every other POST.
"""

from __future__ import annotations

import hmac
import secrets

from heron.core.errors import TooManyAttempts, Unauthenticated
from heron.server.auth.permissions import AUTHENTICATED, PUBLIC
from heron.server.dashboard.face import (
    SESSION_COOKIE,
    DashboardFace,
    Page,
    Request,
    redirect,
    safe_next,
    session_cookie,
)

#: the double-submit cookie of the sign-in form, and how long one form stays valid
FORM_COOKIE = "heron_login"
FORM_SECONDS = 30 * 60
_TOKEN_CHARS = 43  # secrets.token_urlsafe(32)


def _form_token(request: Request) -> str:
    """The form's double-submit token: the browser's own while it is valid (several open
    sign-in tabs keep working), else a new one set in its cookie."""
    token = request.cookie(FORM_COOKIE)
    if (
        token is None
        or len(token) != _TOKEN_CHARS
        or not token.replace("-", "").replace("_", "").isalnum()
    ):
        token = secrets.token_urlsafe(32)
    secure = "; Secure" if request.secure else ""
    request.set_cookies.append(
        f"{FORM_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/login; "
        f"Max-Age={FORM_SECONDS}{secure}"
    )
    return token


def _form(request: Request, status: int = 200, error: str | None = None, name: str = "") -> Page:
    if request.cookie(SESSION_COOKIE) and request.identity is None:
        request.set_cookies.append(session_cookie(request, None))  # an ended session's
    return Page(
        template="login.html",
        status=status,
        context={
            "error": error,
            "name": name,
            "next": safe_next(request.arg("next") or request.field_value("next") or None),
            "form_token": _form_token(request),
        },
    )


def login_page(request: Request) -> Page:
    """The sign-in form (or straight on, when signed in already or auth is off)."""
    if not request.auth or request.identity is not None:
        return redirect(safe_next(request.arg("next")))
    return _form(request)


def sign_in(request: Request) -> Page:
    """Check the form and the password; on success a session cookie and a 303 to ``next``."""
    if not request.auth:
        return redirect(safe_next(request.field_value("next")))
    expected = request.cookie(FORM_COOKIE) or ""
    given = request.field_value("form_token")
    name = request.field_value("username").strip()
    if not expected or not given or not hmac.compare_digest(expected, given):
        return _form(
            request,
            400,
            "The sign-in form had expired, or was not this dashboard's: sign in again.",
            name,
        )
    password = request.field_value("password")
    if not name or not password:
        return _form(request, 400, "Give your user name and your password.", name)
    address = request.caller.address if request.caller is not None else None
    authenticator = request.guard.authenticator
    try:
        identity = authenticator.sign_in(name, password, address)
    except TooManyAttempts as e:
        return _form(request, 429, str(e), name)
    except Unauthenticated as e:
        # its first sentence: the rest is about API clients
        first = str(e).split(". ", 1)[0].rstrip(".") + "."
        return _form(request, 401, first, name)
    previous = request.cookie(SESSION_COOKIE)
    if previous:  # signing in again (as anyone) ends the session this browser had
        authenticator.end_session(previous)
    secret = authenticator.start_session(identity)
    request.set_cookies.append(session_cookie(request, secret))
    request.set_cookies.append(f"{FORM_COOKIE}=; HttpOnly; SameSite=Strict; Path=/login; Max-Age=0")
    return redirect(safe_next(request.field_value("next")))


def sign_out(request: Request) -> Page:
    """End the session (the server forgets it) and clear its cookie."""
    identity = request.identity
    secret = request.cookie(SESSION_COOKIE)
    if request.auth and identity is not None and identity.via == "session" and secret:
        request.guard.authenticator.end_session(secret)
    if secret:
        request.set_cookies.append(session_cookie(request, None))
    return redirect("/login" if request.auth else "/")


def register(face: DashboardFace) -> None:
    """The sign-in and sign-out routes."""
    face.page("GET", "/login", login_page, permission=PUBLIC)
    face.page("POST", "/login", sign_in, permission=PUBLIC)
    face.page("POST", "/logout", sign_out, permission=AUTHENTICATED)
