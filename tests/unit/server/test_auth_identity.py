"""Who is asking: tokens, passwords and sessions, their short-lived memory, rate limiting,
and the rules around them (roles, the loopback check)."""

from __future__ import annotations

import base64

import pytest

from heron.core import secrets
from heron.core.errors import InvalidArgument, TooManyAttempts, Unauthenticated
from heron.core.ids import now_ms
from heron.server.auth import identity as ident
from heron.server.auth.permissions import allows
from heron.store.sql.governance import GovernanceStore


@pytest.fixture()
def governance(tmp_path):
    store = GovernanceStore(f"sqlite:///{tmp_path}/heron.db")
    store.create_user("ana", "password-ana", admin=True)
    store.create_user("bob", "password-bob")
    return store


@pytest.fixture()
def clock(monkeypatch):
    """A monotonic clock the test moves."""
    now = [1000.0]
    monkeypatch.setattr(ident.time, "monotonic", lambda: now[0])
    return now


def _basic(name: str, password: str) -> dict[bytes, bytes]:
    value = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {b"authorization": f"Basic {value}".encode()}


def _bearer(secret: str) -> dict[bytes, bytes]:
    return {b"authorization": f"Bearer {secret}".encode()}


def _who(auth: ident.Authenticator, headers: dict[bytes, bytes]) -> ident.Identity:
    credentials = auth.credentials(headers)
    assert credentials is not None
    return auth.identify(credentials, "127.0.0.1")


def test_a_token_signs_in_and_stops_within_a_second_of_its_revocation(governance, clock):
    auth = ident.Authenticator(governance)
    token, secret = governance.create_token("bob", "laptop")
    who = _who(auth, _bearer(secret))
    assert (who.name, who.via, who.is_admin, who.token_id) == ("bob", "token", False, token.id)
    governance.revoke_token("bob", "laptop")
    clock[0] += 0.5  # still remembered: no database read
    assert _who(auth, _bearer(secret)).name == "bob"
    clock[0] += ident.RECHECK_SECONDS
    with pytest.raises(Unauthenticated, match="revoked"):
        _who(auth, _bearer(secret))


def test_the_secret_is_stored_only_as_its_hash(governance):
    _token, secret = governance.create_token("bob", "ci")
    assert secret.startswith(secrets.TOKEN_PREFIX)
    with governance.engine.connect() as conn:
        dump = repr(conn.exec_driver_sql("SELECT * FROM api_tokens").fetchall())
        users = repr(conn.exec_driver_sql("SELECT * FROM users").fetchall())
    assert secret not in dump and secrets.secret_hash(secret) in dump
    assert "password-bob" not in users and "$argon2id$" in users


def test_expired_and_unknown_tokens_are_refused(governance, clock):
    auth = ident.Authenticator(governance)
    _token, secret = governance.create_token("bob", "short", expires_at=now_ms() + 60_000)
    assert _who(auth, _bearer(secret)).name == "bob"
    with governance.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE api_tokens SET expires_at = 1")
    clock[0] += 2
    with pytest.raises(Unauthenticated, match="expired"):
        _who(auth, _bearer(secret))
    with pytest.raises(Unauthenticated, match="not known"):
        _who(auth, _bearer("hrn_not-a-token"))


def test_a_password_is_hashed_once_then_remembered_until_it_changes(governance, clock, monkeypatch):
    auth = ident.Authenticator(governance)
    checks = []
    real = secrets.verify_password
    monkeypatch.setattr(
        ident.secrets, "verify_password", lambda h, p: checks.append(p) or real(h, p)
    )
    for _ in range(5):
        assert _who(auth, _basic("bob", "password-bob")).via == "password"
    assert len(checks) == 1
    assert auth.is_cached(("password", ("bob", "password-bob")))
    assert not auth.is_cached(("password", ("bob", "wrong")))
    clock[0] += 2  # the row is read again, the hash is not recomputed
    assert _who(auth, _basic("bob", "password-bob")).name == "bob"
    assert len(checks) == 1
    governance.update_user("bob", password="new-password-bob")
    clock[0] += 2
    with pytest.raises(Unauthenticated, match="Wrong user name or password"):
        _who(auth, _basic("bob", "password-bob"))
    assert _who(auth, _basic("bob", "new-password-bob")).name == "bob"


def test_a_disabled_user_is_refused_within_a_second(governance, clock):
    auth = ident.Authenticator(governance)
    _token, secret = governance.create_token("bob", "laptop")
    assert _who(auth, _bearer(secret)).name == "bob"
    assert _who(auth, _basic("bob", "password-bob")).name == "bob"
    governance.update_user("bob", disabled=True)
    clock[0] += 2
    with pytest.raises(Unauthenticated, match="disabled"):
        _who(auth, _bearer(secret))
    with pytest.raises(Unauthenticated):
        _who(auth, _basic("bob", "password-bob"))


def test_failed_sign_ins_are_rate_limited_per_user_and_address(governance, clock):
    auth = ident.Authenticator(governance)
    for _ in range(auth.failures.limit):
        with pytest.raises(Unauthenticated):
            auth.sign_in("bob", "guess", "10.0.0.1")
    # the right password from that address is refused too, until the window passes
    with pytest.raises(TooManyAttempts, match="try again in"):
        auth.sign_in("bob", "password-bob", "10.0.0.1")
    with pytest.raises(TooManyAttempts):  # the user is locked from anywhere
        auth.sign_in("bob", "password-bob", "10.0.0.2")
    assert auth.sign_in("ana", "password-ana", "10.0.0.2").name == "ana"
    clock[0] += auth.failures.window + 1
    assert auth.sign_in("bob", "password-bob", "10.0.0.1").name == "bob"


def test_unknown_users_cost_a_hash_too(governance, monkeypatch):
    auth = ident.Authenticator(governance)
    hashed = []
    real = secrets.verify_password
    monkeypatch.setattr(
        ident.secrets, "verify_password", lambda h, p: hashed.append(h) or real(h, p)
    )
    with pytest.raises(Unauthenticated, match="Wrong user name or password"):
        auth.sign_in("nobody", "password-x", "127.0.0.1")
    assert hashed == [None]  # verify_password checks a dummy hash for a missing one


@pytest.mark.parametrize(
    "header",
    [b"Basic !!!", b"Basic " + base64.b64encode(b"no-colon"), b"Token abc", b"Bearer"],
)
def test_malformed_authorization_is_a_401(governance, header):
    auth = ident.Authenticator(governance)
    with pytest.raises(Unauthenticated):
        auth.credentials({b"authorization": header})


def test_sessions_start_and_end(governance, clock):
    auth = ident.Authenticator(governance)
    ana = auth.sign_in("ana", "password-ana", None)
    secret = auth.start_session(ana)
    cookie = {b"cookie": f"theme=dark; {ident.SESSION_COOKIE}={secret}".encode()}
    assert auth.credentials(cookie) == ("session", secret)
    assert _who(auth, cookie).via == "session"
    # a session secret is not an API token, nor the reverse
    with pytest.raises(Unauthenticated):
        _who(auth, _bearer(secret))
    auth.end_session(secret)
    with pytest.raises(Unauthenticated, match="Sign in again"):
        _who(auth, cookie)
    assert ident.csrf_token(secret) == ident.csrf_token(secret) != ident.csrf_token(secret + "x")


def test_the_last_admin_stays(governance):
    from heron.core.errors import InvalidState

    with pytest.raises(InvalidState, match="last enabled admin"):
        governance.update_user("ana", disabled=True)
    governance.create_user("cy", "password-cy", admin=True)
    before, after = governance.update_user("ana", admin=False)
    assert before.is_admin and not after.is_admin


def test_passwords_need_eight_characters(governance):
    with pytest.raises(InvalidArgument, match="at least 8"):
        governance.create_user("dan", "short")


@pytest.mark.parametrize(
    ("role", "level", "allowed"),
    [
        (None, "public", True),
        (None, "viewer", False),
        ("viewer", "viewer", True),
        ("viewer", "editor", False),
        ("editor", "viewer", True),
        ("editor", "maintainer", False),
        ("maintainer", "editor", True),
        ("maintainer", "admin", False),
        ("admin", "admin", True),
        ("admin", "maintainer", True),
        ("viewer", "authenticated", True),
    ],
)
def test_roles_order(role, level, allowed):
    assert allows(role, level) is allowed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host, loopback):
    from heron.cli.server import is_loopback

    assert is_loopback(host) is loopback


def test_a_non_loopback_server_needs_auth():
    from heron.cli.server import _check_exposure
    from heron.core.errors import ConfigError

    with pytest.raises(ConfigError, match="without --auth"):
        _check_exposure("0.0.0.0", auth=False, insecure_no_auth=False)
    _check_exposure("0.0.0.0", auth=True, insecure_no_auth=False)
    _check_exposure("127.0.0.1", auth=False, insecure_no_auth=False)
    _check_exposure("0.0.0.0", auth=False, insecure_no_auth=True)  # warns only
