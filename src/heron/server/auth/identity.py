"""Who is asking: API tokens (``Authorization: Bearer``), passwords (HTTP Basic, as MLflow's
client sends ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``) and dashboard sessions (a cookie).

Checking a password costs an argon2 hash (tens of milliseconds, by design), and a token a
database read; both would dominate a ``log_batch``. So a successful check is remembered for
:data:`RECHECK_SECONDS`: within it a request costs a dictionary look-up, after it the user's
row (or the token's) is read again, so that a revoked token, a disabled user or a changed
password stops working within that time, on every worker. A password is remembered by an
HMAC of the user name and password under a key of this process, never in clear, and only
while the stored hash is the one it was checked against.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from heron.core import secrets
from heron.core.errors import Unauthenticated
from heron.core.ids import now_ms
from heron.server.auth.ratelimit import FailedSignIns
from heron.store.sql import audit

#: how long a successful check stands before the database is asked again
RECHECK_SECONDS = 1.0
SESSION_COOKIE = "heron_session"
#: a dashboard session lasts this long
SESSION_SECONDS = 12 * 3600
_MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class Identity:
    """A signed-in user, and how they signed in (``token``, ``password`` or ``session``)."""

    user_id: str
    name: str
    is_admin: bool
    via: str
    token_id: str | None = None


def _bad(message: str) -> Unauthenticated:
    return Unauthenticated(message)


_HOW = (
    "Sign in with an API token (`heron tokens create`, then HERON_TRACKING_TOKEN or "
    "MLFLOW_TRACKING_TOKEN), or with a user name and password (HERON_TRACKING_USERNAME and "
    "HERON_TRACKING_PASSWORD, or MLflow's MLFLOW_TRACKING_USERNAME and "
    "MLFLOW_TRACKING_PASSWORD)."
)


class Authenticator:
    """The identities of one server process, over its :class:`GovernanceStore`."""

    def __init__(self, governance: Any) -> None:
        self.governance = governance
        self.failures = FailedSignIns()
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        # secret hash -> (identity, recheck at, token expiry ms)
        self._tokens: dict[str, tuple[Identity, float, int | None]] = {}
        # hmac(name, password) -> (identity, password hash checked, recheck at)
        self._passwords: dict[bytes, tuple[Identity, str, float]] = {}
        self._touched: dict[str, float] = {}

    # --- from a request -----------------------------------------------------------------
    def credentials(self, headers: dict[bytes, bytes]) -> tuple[str, Any] | None:
        """``("token", secret)``, ``("password", (name, password))``, ``("session", secret)``
        or ``None`` (no credentials). A malformed Authorization header is a 401."""
        authorization = headers.get(b"authorization")
        if authorization:
            scheme, _, value = authorization.decode("latin-1").strip().partition(" ")
            scheme = scheme.lower()
            value = value.strip()
            if scheme == "bearer" and value:
                return "token", value
            if scheme == "basic" and value:
                try:
                    decoded = base64.b64decode(value, validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    raise _bad("The Basic credentials are not base64 of 'user:password'.") from None
                name, colon, password = decoded.partition(":")
                if not colon or not name:
                    raise _bad("The Basic credentials are not base64 of 'user:password'.")
                return "password", (name, password)
            raise _bad(f"The Authorization header must be 'Bearer <token>' or 'Basic …'. {_HOW}")
        cookie = headers.get(b"cookie")
        if cookie:
            secret = session_secret(cookie)
            if secret:
                return "session", secret
        return None

    def is_cached(self, credentials: tuple[str, Any]) -> bool:
        """Whether checking these credentials needs no password hash (so it may run on the
        event loop)."""
        kind, value = credentials
        if kind != "password":
            return True
        entry = self._passwords.get(self._password_key(*value))
        return entry is not None

    def identify(self, credentials: tuple[str, Any], address: str | None) -> Identity:
        """The identity the credentials sign in as; 401 when they do not, 429 after too many
        failures."""
        kind, value = credentials
        if kind == "password":
            return self.sign_in(value[0], value[1], address)
        return self._by_secret(value, address, session=kind == "session")

    # --- passwords ----------------------------------------------------------------------
    def sign_in(self, name: str, password: str, address: str | None) -> Identity:
        key = self._password_key(name, password)
        now = time.monotonic()
        entry = self._passwords.get(key)
        if entry is not None:
            identity, checked_hash, recheck_at = entry
            if now < recheck_at:
                return identity
            row = self.governance.user_row_by_name(name)
            if row is not None and not row["disabled"] and row["password_hash"] == checked_hash:
                identity = _identity(row, "password")
                self._remember_password(key, identity, checked_hash, now)
                return identity
            self._passwords.pop(key, None)
        user_key, address_key = f"user:{name}", f"addr:{address or '?'}"
        self.failures.check(user_key, address_key)
        row = self.governance.user_row_by_name(name)
        stored = row["password_hash"] if row is not None else None
        if not secrets.verify_password(stored, password) or row is None:
            self.failures.fail(user_key, address_key)
            raise _bad(f"Wrong user name or password. {_HOW}")
        if row["disabled"]:
            self.failures.fail(user_key, address_key)
            raise _bad(f"The user {name!r} is disabled; an admin can enable it.")
        self.failures.succeed(user_key)
        identity = _identity(row, "password")
        self._remember_password(key, identity, stored, now)
        return identity

    def _password_key(self, name: str, password: str) -> bytes:
        message = (
            name.encode("utf-8", "surrogatepass")
            + b"\0"
            + password.encode("utf-8", "surrogatepass")
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _remember_password(self, key: bytes, identity: Identity, checked: str, now: float) -> None:
        with self._lock:
            if len(self._passwords) > _MAX_CACHED:
                self._passwords.clear()
            self._passwords[key] = (identity, checked, now + RECHECK_SECONDS)

    # --- tokens and sessions ----------------------------------------------------------
    def _by_secret(self, secret: str, address: str | None, *, session: bool) -> Identity:
        # a session secret is no API token, nor the reverse: each is remembered as its kind
        digest = ("session:" if session else "api:") + secrets.secret_hash(secret)
        now = time.monotonic()
        entry = self._tokens.get(digest)
        if entry is not None:
            identity, recheck_at, expires_at = entry
            if now < recheck_at and (expires_at is None or expires_at > now_ms()):
                self._touch(identity, now)
                return identity
            self._tokens.pop(digest, None)
        address_key = f"addr:{address or '?'}"
        self.failures.check(address_key)
        row = self.governance.token_row(secret)
        what = "session" if session else "token"
        wanted = "session" if session else "api"
        if row is None or row["kind"] != wanted:
            self.failures.fail(address_key)
            if session:
                raise _bad("Your dashboard session is unknown or has ended; sign in again.")
            raise _bad(f"The API token is not known to this server. {_HOW}")
        if row["revoked_at"] is not None:
            raise _bad(f"This {what} was revoked. {_HOW}" if not session else "Sign in again.")
        if row["expires_at"] is not None and row["expires_at"] <= now_ms():
            raise _bad(f"This {what} has expired. {_HOW}" if not session else "Sign in again.")
        if row["disabled"]:
            raise _bad(f"The user {row['user_name']!r} is disabled; an admin can enable it.")
        identity = Identity(
            row["user_id"],
            row["user_name"],
            bool(row["is_admin"]),
            "session" if session else "token",
            row["id"],
        )
        with self._lock:
            if len(self._tokens) > _MAX_CACHED:
                self._tokens.clear()
            self._tokens[digest] = (identity, now + RECHECK_SECONDS, row["expires_at"])
        self._touch(identity, now)
        return identity

    def _touch(self, identity: Identity, now: float) -> None:
        """Record the token's last use, at most once a minute per token and process."""
        token_id = identity.token_id
        if token_id is None:
            return
        last = self._touched.get(token_id)
        if last is not None and now - last < 60.0:
            return
        self._touched[token_id] = now
        with audit.suspended():
            self.governance.touch_token(token_id, now_ms())

    def start_session(self, identity: Identity) -> str:
        """A new dashboard session of ``identity``: the cookie's secret."""
        expires_at = now_ms() + SESSION_SECONDS * 1000
        with audit.suspended():
            _token, secret = self.governance.create_token(
                identity.name, "dashboard", kind="session", expires_at=expires_at
            )
        return secret

    def end_session(self, secret: str) -> None:
        with audit.suspended():
            self.governance.revoke_session(secret)
        self._tokens.pop("session:" + secrets.secret_hash(secret), None)


def session_secret(cookie_header: bytes) -> str | None:
    """The session cookie's value in a ``Cookie`` header."""
    for part in cookie_header.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            return value
    return None


def csrf_token(session_secret_value: str) -> str:
    """The CSRF token of a session: an HMAC of its secret (forms carry it; a cross-site page
    cannot read it)."""
    digest = hashlib.sha256(b"heron-csrf\0" + session_secret_value.encode()).hexdigest()
    return digest[:40]


def _identity(row: dict[str, Any], via: str) -> Identity:
    return Identity(row["id"], row["name"], bool(row["is_admin"]), via)
