"""Passwords and tokens of the team server's users.

Passwords are hashed with argon2id (``argon2-cffi``, its recommended parameters). API tokens
and dashboard sessions are random secrets with 256 bits of entropy; only their SHA-256 is kept
(a secret that long needs no slow hash), so the database never holds anything that signs in.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cache
from typing import Any

#: what every API token starts with, so that secret scanners and people can tell one apart
TOKEN_PREFIX = "hrn_"
MIN_PASSWORD_LENGTH = 8


@cache
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; a new salt each call)."""
    check_password_strength(password)
    return str(_hasher().hash(password))


def check_password_strength(password: str) -> None:
    from heron.core.errors import InvalidArgument

    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"A password needs at least {MIN_PASSWORD_LENGTH} characters; choose a longer one."
        )
    if len(password) > 1024:
        raise InvalidArgument("A password may have at most 1,024 characters.")


@cache
def _dummy_hash() -> str:
    return str(_hasher().hash(secrets.token_urlsafe(16)))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``. With no hash (an unknown user, or one
    without a password) a dummy hash is checked, so that both cost the same time."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        _hasher().verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def new_token_secret() -> str:
    """A new API token or session secret (shown once)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """The SHA-256 (hex) under which a token's secret is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
