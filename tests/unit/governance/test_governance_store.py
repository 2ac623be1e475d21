"""`GovernanceStore` over SQLite: users, tokens, projects and members, and the audit log
written in the transaction of the change it records."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from heron.core import secrets
from heron.core.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from heron.store.sql import audit
from heron.store.sql import schema as t
from heron.store.sql.engine import run_write
from heron.store.sql.governance import GovernanceStore

PASSWORD = "correct horse battery"


@pytest.fixture
def gov(sqlite_store):
    return GovernanceStore(sqlite_store.engine)


def rows(gov, table):
    with gov.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def audit_count(gov) -> int:
    with gov.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(t.audit_log)).scalar_one()


def record(action: str = "test.write", **kwargs) -> audit.AuditRecord:
    return audit.AuditRecord(
        user="local:tester", address=None, method="POST", route="cli", action=action, **kwargs
    )


# --- users ---------------------------------------------------------------------------------
def test_users_are_created_listed_and_found_by_name(gov):
    ana = gov.create_user("ana", None, admin=True)
    gov.create_user("bob", None)
    assert (ana.name, ana.is_admin, ana.disabled, ana.has_password) == ("ana", True, False, False)
    assert [u.name for u in gov.list_users()] == ["ana", "bob"]
    assert gov.get_user("bob").is_admin is False
    with pytest.raises(NotFound, match="heron users list"):
        gov.get_user("carol")


def test_a_second_user_with_the_same_name_is_refused(gov):
    gov.create_user("ana", None)
    with pytest.raises(AlreadyExists, match="'ana' exists already"):
        gov.create_user("ana", None, admin=True)
    assert len(gov.list_users()) == 1


@pytest.mark.parametrize("name", ["", "-ana", "a b", "x" * 129, "ana/../bob"])
def test_malformed_user_names_are_refused(gov, name):
    with pytest.raises(InvalidArgument, match="not a user name"):
        gov.create_user(name, None)


def test_the_argon2id_hash_is_stored_never_the_password(gov):
    user = gov.create_user("ana", PASSWORD)
    assert user.has_password
    (row,) = rows(gov, t.users)
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]
    assert secrets.verify_password(row["password_hash"], PASSWORD)
    assert not secrets.verify_password(row["password_hash"], PASSWORD + "!")


def test_a_short_password_is_refused_and_no_user_is_made(gov):
    with pytest.raises(InvalidArgument, match="at least 8 characters"):
        gov.create_user("ana", "short")
    assert gov.list_users() == []


def test_update_user_returns_before_and_after(gov):
    gov.create_user("ana", None, admin=True)
    gov.create_user("bob", None)
    before, after = gov.update_user("bob", admin=True)
    assert (before.is_admin, after.is_admin) == (False, True)
    before, after = gov.update_user("bob", disabled=True)
    assert (before.disabled, after.disabled) == (False, True)
    assert gov.get_user("bob").disabled


def test_the_last_enabled_admin_cannot_be_disabled_or_demoted(gov):
    gov.create_user("ana", None, admin=True)
    with pytest.raises(InvalidState, match="last enabled admin"):
        gov.update_user("ana", disabled=True)
    with pytest.raises(InvalidState, match="last enabled admin"):
        gov.update_user("ana", admin=False)
    assert gov.get_user("ana").is_admin and not gov.get_user("ana").disabled
    gov.create_user("bob", None, admin=True)
    gov.update_user("ana", disabled=True)  # another admin remains
    assert gov.count_admins() == 1
    with pytest.raises(InvalidState):
        gov.update_user("bob", disabled=True)


def test_disabling_a_user_ends_their_dashboard_sessions(gov):
    gov.create_user("ana", None, admin=True)
    gov.create_user("bob", None)
    session, secret = gov.create_token(
        "bob", "dashboard", kind="session", expires_at=int(time.time() * 1000) + 60_000
    )
    api, _ = gov.create_token("bob", "laptop")
    gov.update_user("bob", disabled=True)
    by_id = {r["id"]: r for r in rows(gov, t.api_tokens)}
    assert by_id[session.id]["revoked_at"] is not None
    assert by_id[api.id]["revoked_at"] is None  # kept: it works again if bob is enabled
    assert gov.token_row(secret)["revoked_at"] is not None


# --- tokens --------------------------------------------------------------------------------
def test_a_token_is_stored_as_a_hash_and_found_by_its_secret(gov):
    gov.create_user("ana", None)
    token, secret = gov.create_token("ana", "laptop")
    assert secret.startswith(secrets.TOKEN_PREFIX) and len(secret) > 40
    (row,) = rows(gov, t.api_tokens)
    assert row["secret_hash"] == secrets.secret_hash(secret)
    assert secret not in {str(v) for v in row.values()}
    found = gov.token_row(secret)
    assert (found["id"], found["user_name"], found["kind"]) == (token.id, "ana", "api")
    assert gov.token_row(secret + "x") is None
    assert gov.token_row(secrets.new_token_secret()) is None


def test_listed_tokens_carry_no_secret(gov):
    gov.create_user("ana", None)
    gov.create_user("bob", None)
    _, secret = gov.create_token("ana", "laptop")
    gov.create_token("bob", "ci")
    listed = gov.list_tokens("ana")
    assert [(tk.name, tk.user) for tk in listed] == [("laptop", "ana")]
    assert secret not in repr(listed)
    assert {tk.user for tk in gov.list_tokens()} == {"ana", "bob"}


def test_a_token_of_an_unknown_user_is_refused(gov):
    with pytest.raises(NotFound, match="No user named 'ghost'"):
        gov.create_token("ghost", "laptop")
    assert rows(gov, t.api_tokens) == []


def test_revoke_by_name_or_id_and_only_once(gov):
    gov.create_user("ana", None)
    first, secret = gov.create_token("ana", "laptop")
    second, _ = gov.create_token("ana", "ci")
    revoked = gov.revoke_token("ana", "laptop")
    assert revoked.id == first.id and revoked.revoked_at is not None and not revoked.active
    assert gov.token_row(secret)["revoked_at"] == revoked.revoked_at
    with pytest.raises(NotFound, match="No active token 'laptop'"):
        gov.revoke_token("ana", "laptop")
    assert gov.revoke_token(None, second.id).id == second.id  # by id, whoever's it is
    assert not any(tk.active for tk in gov.list_tokens("ana"))


def test_revoking_by_a_name_two_tokens_share_asks_for_the_id(gov):
    gov.create_user("ana", None)
    gov.create_token("ana", "laptop")
    gov.create_token("ana", "laptop")
    with pytest.raises(InvalidArgument, match="2 tokens are named 'laptop'"):
        gov.revoke_token("ana", "laptop")
    assert all(tk.active for tk in gov.list_tokens("ana"))


def test_a_token_expires(gov):
    gov.create_user("ana", None)
    now = int(time.time() * 1000)
    with pytest.raises(InvalidArgument, match="in the future"):
        gov.create_token("ana", "old", expires_at=now - 1)
    token, secret = gov.create_token("ana", "brief", expires_at=now + 150)
    assert token.active
    time.sleep(0.2)
    (listed,) = gov.list_tokens("ana")
    assert not listed.active and listed.revoked_at is None
    assert gov.token_row(secret)["expires_at"] == now + 150


# --- projects and members ------------------------------------------------------------------
def test_projects_are_created_listed_and_shown_with_members(gov):
    gov.create_user("bob", None)
    made = gov.create_project("fraud", "Fraud models")
    assert (made.name, made.description, made.members) == ("fraud", "Fraud models", {})
    with pytest.raises(AlreadyExists):
        gov.create_project("fraud")
    with pytest.raises(InvalidArgument, match="Invalid project name"):
        gov.create_project("no spaces")
    gov.grant("fraud", "bob", "editor")
    assert [p.name for p in gov.list_projects()] == ["default", "fraud"]
    assert gov.get_project("fraud").members == {"bob": "editor"}
    assert [p.name for p in gov.list_projects(["fraud"])] == ["fraud"]
    with pytest.raises(NotFound, match="heron projects create nope"):
        gov.get_project("nope")


def test_grant_and_revoke_return_the_role_before_and_after(gov):
    gov.create_user("bob", None)
    gov.create_project("fraud")
    assert gov.grant("fraud", "bob", "viewer") == (None, "viewer")
    assert gov.grant("fraud", "bob", "maintainer") == ("viewer", "maintainer")
    bob = gov.get_user("bob")
    assert gov.roles_of(bob.id) == {"fraud": "maintainer"}
    assert gov.revoke("fraud", "bob") == "maintainer"
    assert gov.roles_of(bob.id) == {}
    with pytest.raises(NotFound, match="has no role"):
        gov.revoke("fraud", "bob")


def test_grant_checks_role_project_and_user(gov):
    gov.create_user("bob", None)
    gov.create_project("fraud")
    with pytest.raises(InvalidArgument, match="not a role"):
        gov.grant("fraud", "bob", "owner")
    with pytest.raises(NotFound, match="No project named 'nope'"):
        gov.grant("nope", "bob", "viewer")
    with pytest.raises(NotFound, match="No user named 'ghost'"):
        gov.grant("fraud", "ghost", "viewer")
    assert gov.get_project("fraud").members == {}


def test_only_an_empty_project_is_deleted(gov, sqlite_store):
    gov.create_user("bob", None)
    gov.create_project("fraud")
    gov.grant("fraud", "bob", "editor")
    experiment = sqlite_store.in_project("fraud").create_experiment("scoring")
    with pytest.raises(InvalidState, match="still holds experiments"):
        gov.delete_project("fraud")
    assert gov.get_project("fraud").members == {"bob": "editor"}
    with sqlite_store.engine.begin() as conn:
        conn.execute(t.experiments.delete().where(t.experiments.c.id == experiment.id))
    deleted = gov.delete_project("fraud")
    assert deleted.members == {"bob": "editor"}
    assert [p.name for p in gov.list_projects()] == ["default"]
    assert rows(gov, t.project_members) == []
    with pytest.raises(InvalidArgument, match="default project cannot be deleted"):
        gov.delete_project("default")


# --- the audit log -------------------------------------------------------------------------
def test_recording_writes_one_entry_with_the_writes_before_and_after(gov):
    gov.create_user("bob", None)
    gov.create_project("fraud")
    assert audit_count(gov) == 0  # nothing pending: no entry
    with audit.recording(record("admin.grant_role", project="fraud")) as pending:
        gov.grant("fraud", "bob", "viewer")
        gov.grant("fraud", "bob", "editor")  # a second write is not the recorded change
    assert pending.written
    (entry,) = gov.search_audit()
    assert (entry.user, entry.route, entry.action, entry.project, entry.outcome) == (
        "local:tester",
        "cli",
        "admin.grant_role",
        "fraud",
        "ok",
    )
    assert entry.detail == {"user": "bob", "before": None, "after": "viewer"}


def test_the_entry_is_in_the_transaction_of_its_change(gov):
    gov.create_project("fraud")

    def write_then_fail(conn):
        conn.execute(t.projects.insert().values(name="half", description=None, created_at=0))
        raise RuntimeError("the write fails after its first statement")

    with audit.recording(record()) as pending, pytest.raises(RuntimeError):
        run_write(gov.engine, write_then_fail)
    assert not pending.written
    assert audit_count(gov) == 0
    assert not gov.project_exists("half")  # rolled back with the entry


def test_a_commit_that_fails_after_the_entry_loses_both(gov, monkeypatch):
    gov.create_user("bob", None)
    gov.create_project("fraud")
    inserted = []

    def insert_then_fail(conn):
        inserted.append(original(conn))
        raise RuntimeError("the transaction fails after the entry was inserted")

    original = audit.insert_pending
    monkeypatch.setattr(audit, "insert_pending", insert_then_fail)
    with audit.recording(record(project="fraud")) as pending, pytest.raises(RuntimeError):
        gov.grant("fraud", "bob", "editor")
    assert inserted == [pending] and not pending.written
    assert audit_count(gov) == 0
    assert gov.get_project("fraud").members == {}


def test_a_refused_write_leaves_no_entry(gov):
    gov.create_user("ana", None, admin=True)
    with audit.recording(record("admin.update_user")), pytest.raises(InvalidState):
        gov.update_user("ana", disabled=True)
    with audit.recording(record("admin.create_user")), pytest.raises(AlreadyExists):
        gov.create_user("ana", None)
    assert audit_count(gov) == 0
    with audit.recording(record("admin.create_user")):
        gov.create_user("bob", None)
    assert audit_count(gov) == 1


def test_update_and_delete_annotate_before_and_after(gov):
    gov.create_user("ana", None, admin=True)
    gov.create_user("bob", None)
    gov.create_project("fraud")
    gov.grant("fraud", "bob", "viewer")
    with audit.recording(record("admin.update_user", object_type="user", object_id="bob")):
        gov.update_user("bob", disabled=True)
    with audit.recording(record("admin.delete_project", project="fraud")):
        gov.delete_project("fraud")
    deleted, updated = gov.search_audit()
    assert updated.detail == {
        "before": {"admin": False, "disabled": False},
        "after": {"admin": False, "disabled": True},
    }
    assert deleted.detail == {"before": {"members": {"bob": "viewer"}}, "after": None}


def test_search_audit_filters_and_orders_newest_first(gov):
    entries = [
        ("ana", "fraud", "run-1", "ok", 1_000),
        ("bob", "fraud", "run-2", "denied", 2_000),
        ("bob", "churn", "run-3", "ok", 3_000),
        ("ana", "churn", "run-1", "denied", 4_000),
    ]
    with gov.engine.begin() as conn:
        for user, project, object_id, outcome, at in entries:
            row = record(project=project, object_type="run", object_id=object_id).row()
            row.update(user=user, outcome=outcome, at=at, status=200 if outcome == "ok" else 403)
            conn.execute(t.audit_log.insert().values(**row))

    def ids(**filters):
        return [e.at for e in gov.search_audit(**filters)]

    assert ids() == [4_000, 3_000, 2_000, 1_000]
    assert ids(since=2_000) == [4_000, 3_000, 2_000]
    assert ids(until=3_000) == [2_000, 1_000]
    assert ids(since=2_000, until=4_000) == [3_000, 2_000]
    assert ids(user="bob") == [3_000, 2_000]
    assert ids(project="fraud") == [2_000, 1_000]
    assert ids(projects=["churn"]) == [4_000, 3_000]
    assert ids(object_id="run-1") == [4_000, 1_000]
    assert ids(outcome="denied") == [4_000, 2_000]
    assert ids(user="ana", outcome="denied", project="churn") == [4_000]
    assert ids(max_results=2) == [4_000, 3_000]
    with pytest.raises(InvalidArgument, match="max_results"):
        gov.search_audit(max_results=0)
