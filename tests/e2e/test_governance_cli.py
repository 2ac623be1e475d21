"""`heron users`, `tokens`, `projects` and `audit` as an administrator types them: on the
server's SQLite database (a subprocess per command), and against a `heron server --auth`
over http with HERON_TRACKING_TOKEN (one server for the module). Prompts and usage mistakes
run in-process through click's CliRunner."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from heron.cli import main as cli_main
from heron.core import config
from heron.store.sql.governance import GovernanceStore
from tests.support.cli_output import error_line
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.e2e

PASSWORD = "a long passphrase"


class Heron:
    """Runs ``python -m heron ...`` with one environment (HERON_* of the test run removed)."""

    def __init__(self, home: Path, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
        self.env.update(HERON_HOME=str(home), HOME=str(home), COLUMNS="200", **env)
        self.home = home

    def __call__(self, *args: str, stdin: str | None = None, **env: str):
        return subprocess.run(
            [sys.executable, "-m", "heron", *args],
            env={**self.env, **env},
            cwd=self.home,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str, stdin: str | None = None, **env: str) -> str:
        result = self(*args, stdin=stdin, **env)
        assert result.returncode == 0, (result.stdout, result.stderr)
        return result.stdout

    def json(self, *args: str, **env: str):
        return json.loads(self.ok(*args, "--json", **env))


@pytest.fixture
def local(tmp_path: Path) -> Heron:
    """The CLI on a new SQLite database (not created yet: `users create` makes it)."""
    return Heron(tmp_path, HERON_TRACKING_URI=sqlite_uri(tmp_path / "heron.db"))


def test_an_admin_on_the_database_manages_users_tokens_projects_and_reads_the_audit(local):
    assert local.ok(
        "users", "create", "ana", "--admin", "--password-stdin", stdin=PASSWORD + "\n"
    ) == ("Created admin 'ana'.\n")
    local.ok("users", "create", "bob", "--password-stdin", stdin=PASSWORD + "\n")
    users = local.json("users", "list")
    assert [(u["name"], u["is_admin"], u["has_password"]) for u in users] == [
        ("ana", True, True),
        ("bob", False, True),
    ]
    assert "argon2" not in json.dumps(users) and PASSWORD not in json.dumps(users)

    made = local("tokens", "create", "--name", "laptop", "--user", "ana")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert made.stdout == secret + "\n" and secret.startswith("hrn_")  # the secret alone
    assert "cannot be shown again" in made.stderr and secret not in made.stderr
    listed = local.ok("tokens", "list")
    assert "laptop" in listed and "active" in listed and secret not in listed
    listed_json = local.ok("tokens", "list", "--json")
    assert secret not in listed_json and "secret" not in listed_json
    assert GovernanceStore(local.env["HERON_TRACKING_URI"]).token_row(secret)["user_name"] == "ana"

    local.ok("projects", "create", "fraud", "--description", "Fraud models")
    assert local.ok("projects", "grant", "fraud", "--user", "bob", "--role", "editor") == (
        "bob is editor in fraud (had no role).\n"
    )
    local.ok("projects", "grant", "fraud", "--user", "bob", "--role", "maintainer")
    assert local.json("projects", "show", "fraud")["members"] == {"bob": "maintainer"}
    shown = local.ok("projects", "show", "fraud")
    assert "Fraud models" in shown and "bob" in shown and "maintainer" in shown

    entries = local.json("audit", "--project", "fraud")
    assert [e["action"] for e in entries] == [
        "admin.grant_role",
        "admin.grant_role",
        "admin.create_project",
    ]
    newest = entries[0]
    assert newest["user"] == f"local:{getpass.getuser()}" and newest["route"] == "cli"
    assert newest["detail"] == {"user": "bob", "before": "editor", "after": "maintainer"}
    everything = local.ok("audit")
    assert "user=bob; editor → maintainer" in everything
    assert "admin.create_token (cli)" in everything and secret not in everything


def test_mistakes_are_one_error_line(local):
    local.ok("users", "create", "ana", "--admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert "--user NAME" in error_line(local("tokens", "create", "--name", "laptop"))
    assert "last enabled admin" in error_line(local("users", "disable", "ana"))
    assert "No user named 'carol'" in error_line(
        local("projects", "grant", "default", "--user", "carol", "--role", "viewer")
    )
    bad_since = local("audit", "--since", "last tuesday")
    assert bad_since.returncode == 2 and "neither a duration" in bad_since.stderr


def test_reading_a_database_that_does_not_exist_is_refused(tmp_path):
    missing = Heron(tmp_path, HERON_TRACKING_URI=sqlite_uri(tmp_path / "typo.db"))
    assert "There is no Heron store" in error_line(missing("users", "list"))
    assert not (tmp_path / "typo.db").exists()


# --- in-process: prompts and usage -------------------------------------------------------
@pytest.fixture
def invoke(tmp_path):
    runner = CliRunner()
    uri = sqlite_uri(tmp_path / "heron.db")

    def run(*args: str, input: str | None = None):
        return runner.invoke(cli_main.cli, ["--tracking-uri", uri, *args], input=input)

    yield run
    config.set_tracking_uri(None)


def test_the_password_is_asked_twice_without_echo(invoke):
    typed = invoke("users", "create", "ana", "--admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert typed.exit_code == 0, typed.output
    assert PASSWORD not in typed.output  # hidden input is not echoed
    assert "Repeat for confirmation" in typed.output
    mismatch = invoke("users", "create", "bob", input=f"{PASSWORD}\nother words\n")
    assert mismatch.exit_code != 0
    names = [u["name"] for u in json.loads(invoke("users", "list", "--json").stdout)]
    assert names == ["ana"]


def test_a_service_account_has_no_password(invoke):
    made = invoke("users", "create", "scheduler", "--admin", "--no-password")
    assert made.exit_code == 0 and "tokens create --user scheduler" in made.stdout
    (user,) = json.loads(invoke("users", "list", "--json").stdout)
    assert (user["name"], user["has_password"]) == ("scheduler", False)
    both = invoke("users", "create", "x", "--no-password", "--password-stdin")
    assert both.exit_code == 2 and "exclude each other" in both.stderr
    assert invoke("users", "update", "scheduler").exit_code == 2  # nothing to change


def test_tokens_expire_as_asked(invoke):
    invoke("users", "create", "ana", "--admin", "--no-password")
    made = invoke(
        "tokens", "create", "--name", "ci", "--user", "ana", "--expires-in", "12h", "--json"
    )
    token = json.loads(made.stdout)["token"]
    assert 12 * 3600 * 1000 - 60_000 < token["expires_at"] - token["created_at"] <= 12 * 3600 * 1000
    assert (
        invoke("tokens", "create", "--name", "x", "--user", "ana", "--expires-in", "soon").exit_code
        == 2
    )


# --- against `heron server --auth` -------------------------------------------------------
@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A `heron server --auth` with an admin ana (a token made on the database, as on the
    server's machine) and a user bob without a role; (the CLI as ana, bob's secret)."""
    folder = tmp_path_factory.mktemp("governance-server")
    database = sqlite_uri(folder / "heron.db")
    on_db = Heron(folder, HERON_TRACKING_URI=database)
    on_db.ok("users", "create", "ana", "--admin", "--no-password")
    on_db.ok("users", "create", "bob", "--no-password")
    ana = on_db.ok("tokens", "create", "--name", "cli", "--user", "ana").strip()
    bob = on_db.ok("tokens", "create", "--name", "cli", "--user", "bob").strip()
    with running_server(
        database,
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--auth", "--no-access-log"),
    ) as server:
        yield Heron(folder, HERON_TRACKING_URI=server.url, HERON_TRACKING_TOKEN=ana), bob


def test_over_http_an_admin_token_manages_projects_and_the_audit_names_them(team):
    heron, _bob = team
    assert heron.json("users", "list")[0]["name"] == "ana"
    heron.ok("projects", "create", "churn")
    heron.ok("projects", "grant", "churn", "--user", "bob", "--role", "viewer")
    heron.ok("projects", "grant", "churn", "--user", "bob", "--role", "editor")
    assert heron.json("projects", "show", "churn")["members"] == {"bob": "editor"}
    grants = [e for e in heron.json("audit", "--user", "ana") if e["action"] == "admin.grant_role"]
    assert grants[0]["detail"] == {"user": "bob", "before": "viewer", "after": "editor"}
    assert grants[0]["route"] == "/api/v1/admin/projects/{project}/members"
    assert "user=bob; viewer → editor" in heron.ok("audit", "--project", "churn")
    in_project = heron.env["HERON_TRACKING_URI"] + "/projects/churn"  # an MLflow-style URI
    names = [p["name"] for p in heron.json("projects", "list", HERON_TRACKING_URI=in_project)]
    assert "churn" in names and "default" in names  # the admin API is server-wide


def test_over_http_a_user_is_refused_admin_work_and_a_revoked_token_stops(team):
    heron, bob = team
    as_bob = {"HERON_TRACKING_TOKEN": bob}
    assert "Only the server's admins" in error_line(heron("users", "list", **as_bob))
    made = heron("tokens", "create", "--name", "spare", **as_bob)  # one's own: allowed
    assert made.returncode == 0, made.stderr
    spare = made.stdout.strip()
    as_spare = {"HERON_TRACKING_TOKEN": spare}
    assert [t["name"] for t in heron.json("tokens", "list", **as_spare)] == ["cli", "spare"]
    assert spare not in heron.ok("tokens", "list", "--all")
    heron.ok("tokens", "revoke", "spare", "--user", "bob")
    time.sleep(1.1)  # the server knew the token: it rechecks it within a second
    assert "revoked" in error_line(heron("tokens", "list", **as_spare))
    assert "sign in" in error_line(heron("users", "list", HERON_TRACKING_TOKEN=""))
    denied = heron.json("audit", "--denied", "--user", "bob")
    assert denied and denied[0]["status"] == 403 and denied[0]["outcome"] == "denied"
