"""`heron server --auth` as a team runs it: Heron's own client signs in with a token or a
password from the environment and works in a project; roles are enforced end to end, a
revoked token stops within a second, and the audit trail has who did what."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import heron
from heron.core.errors import PermissionDenied, Unauthenticated
from heron.store.sql.governance import GovernanceStore
from tests.support.server import running_server

pytestmark = pytest.mark.timeout(240)

ENV_NAMES = ("HERON_TRACKING_TOKEN", "HERON_TRACKING_USERNAME", "HERON_TRACKING_PASSWORD")


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    uri = f"sqlite:///{folder}/heron.db"
    governance = GovernanceStore(uri)
    governance.create_project("fraud")
    governance.create_user("root", "root-password", admin=True)
    governance.create_user("ana", "ana-password")
    governance.create_user("vic", "vic-password")
    governance.grant("fraud", "ana", "editor")
    governance.grant("fraud", "vic", "viewer")
    tokens = {name: governance.create_token(name, "tests")[1] for name in ("ana", "vic", "root")}
    with running_server(
        uri, str(folder / "artifacts"), folder / "server.log", extra_args=("--auth",)
    ) as server:
        yield server, governance, tokens


@pytest.fixture()
def signed_in(team, monkeypatch, tmp_path):
    server, _governance, _tokens = team
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    heron.set_tracking_uri(server.url)
    yield
    heron.set_tracking_uri(None)
    heron.set_project(None)


@heron.step
def make_numbers(n: int) -> list[int]:
    return list(range(n))


@heron.step
def add_up(numbers: list[int]) -> int:
    heron.log_metric("count", len(numbers))
    return sum(numbers)


@heron.pipeline
def totals(n: int = 5) -> int:
    return add_up(make_numbers(n))


def test_an_editor_runs_a_pipeline_in_the_project_and_a_viewer_reads_it(
    team, signed_in, monkeypatch
):
    _server, governance, tokens = team
    monkeypatch.setenv("HERON_TRACKING_TOKEN", tokens["ana"])
    heron.set_project("fraud")
    result = totals(7)
    assert result.status == "completed"
    ana = heron.Client(project="fraud")
    artifact = ana.get_artifact("add_up.output")
    assert artifact.load() == 21
    assert artifact.project == "fraud"
    # the runs are recorded as the signed-in user's, whatever the client's OS user is
    runs = ana.search_runs(experiment="totals")
    assert runs and {run.user for run in runs} == {"ana"}

    monkeypatch.setenv("HERON_TRACKING_TOKEN", tokens["vic"])
    vic = heron.Client(project="fraud")
    assert vic.get_artifact("add_up.output").load() == 21  # bytes through the server
    experiment = vic.get_experiment_by_name("totals")
    assert experiment is not None
    with pytest.raises(PermissionDenied, match="editor role in project 'fraud'"):
        vic.create_run(experiment.id)
    # the default project is not theirs
    with pytest.raises(PermissionDenied):
        heron.Client(project="default").list_experiments()

    entries = governance.search_audit(user="ana", project="fraud")
    actions = {e.action for e in entries}
    assert {"create_experiment", "create_run", "create_artifact_version"} <= actions
    assert all(e.outcome == "ok" and e.address == "127.0.0.1" for e in entries)
    denied = governance.search_audit(user="vic", outcome="denied")
    assert any(e.action == "create_run" and e.status == 403 for e in denied)


def test_a_password_works_like_a_token(team, signed_in, monkeypatch):
    monkeypatch.setenv("HERON_TRACKING_USERNAME", "ana")
    monkeypatch.setenv("HERON_TRACKING_PASSWORD", "ana-password")
    client = heron.Client(project="fraud")
    experiment = client.get_experiment_by_name("password-check") or client.create_experiment(
        "password-check"
    )
    run = client.create_run(experiment.id)
    client.log_metric(run.id, "x", 1.0)
    assert client.get_run(run.id).metrics["x"] == 1.0


def test_no_credentials_or_wrong_ones_are_refused(team, signed_in, monkeypatch):
    with pytest.raises(Unauthenticated, match="sign in"):
        heron.Client(project="fraud").list_experiments()
    monkeypatch.setenv("HERON_TRACKING_TOKEN", "hrn_wrong")
    with pytest.raises(Unauthenticated, match="not known"):
        heron.Client(project="fraud").list_experiments()


def test_a_revoked_token_stops_within_a_second(team, signed_in, monkeypatch):
    _server, governance, _tokens = team
    _token, secret = governance.create_token("ana", "short-lived")
    monkeypatch.setenv("HERON_TRACKING_TOKEN", secret)
    client = heron.Client(project="fraud")
    client.list_experiments()
    governance.revoke_token("ana", "short-lived")
    time.sleep(1.2)
    with pytest.raises(Unauthenticated, match="revoked"):
        client.list_experiments()


def test_the_same_names_live_apart_in_two_projects(team, signed_in, monkeypatch):
    _server, _governance, tokens = team
    monkeypatch.setenv("HERON_TRACKING_TOKEN", tokens["root"])
    fraud = heron.Client(project="fraud")
    default = heron.Client(project="default")
    a = fraud.get_experiment_by_name("shared") or fraud.create_experiment("shared")
    b = default.get_experiment_by_name("shared") or default.create_experiment("shared")
    assert a.id != b.id and (a.project, b.project) == ("fraud", "default")


def test_a_server_on_every_address_needs_auth(tmp_path):
    uri = f"sqlite:///{tmp_path}/heron.db"
    refused = subprocess.run(
        [sys.executable, "-m", "heron", "server", "--backend-store-uri", uri, "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "Refusing to serve on 0.0.0.0 without --auth" in refused.stderr


def test_the_first_start_says_how_to_make_an_admin(tmp_path):
    uri = f"sqlite:///{tmp_path}/heron.db"
    with running_server(uri, str(tmp_path / "a"), tmp_path / "log", extra_args=("--auth",)) as s:
        log = s.log()
    assert "no admin yet" in log and "heron users create NAME --admin" in log
