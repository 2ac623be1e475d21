"""Stacks: kept in the home store, chosen by --stack / HERON_STACK / `heron stack use`, applied
with explicit settings winning, checked when created or used, recorded on pipeline runs."""

from __future__ import annotations

import json
import socket
import sys

import pytest
from click.testing import CliRunner

import heron
from heron.cli import main as cli_main
from heron.core import config
from heron.core.errors import ConfigError, InvalidArgument, NotFound
from heron.stacks import checks
from heron.stacks.manage import (
    create_stack,
    current_stack,
    delete_stack,
    get_stack,
    list_stacks,
    update_stack,
    use_stack,
)
from heron.store import registry
from tests.support.stores import sqlite_uri

FLOWS = """
from heron import pipeline, step


@step
def one() -> int:
    return 1


@step
def two(x: int) -> int:
    return x + 1


@pipeline
def flow():
    two(one())
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh workspace (.heron/ in tmp_path) as the working directory, no stack chosen."""
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HERON_TRACKING_URI", raising=False)
    monkeypatch.delenv("HERON_ARTIFACT_URI", raising=False)
    monkeypatch.delenv("HERON_STACK", raising=False)
    (tmp_path / ".heron").mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows.py").write_text(FLOWS)
    monkeypatch.syspath_prepend(str(tmp_path))
    config.set_tracking_uri(None)
    config.select_stack(None)
    yield tmp_path
    sys.modules.pop("flows", None)
    config.set_tracking_uri(None)
    config.select_stack(None)
    registry.forget_stores()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_default_stack_is_built_in_and_stacks_live_in_the_workspace(workspace):
    assert current_stack().name == "default"
    assert [s.name for s in list_stacks()] == ["default"]
    create_stack("two", parallelism=2, description="two workers")
    assert [s.name for s in list_stacks()] == ["default", "two"]
    assert get_stack("two").parallelism == 2
    assert (workspace / ".heron" / "heron.db").exists()  # kept in the home store
    with pytest.raises(InvalidArgument, match="built-in"):
        create_stack("default")
    with pytest.raises(InvalidArgument, match="built-in"):
        delete_stack("default")


def test_a_stack_is_chosen_by_use_then_env_then_the_workspace_file(workspace, monkeypatch):
    other = sqlite_uri(workspace / "other" / "heron.db")
    create_stack("elsewhere", tracking_uri=other, artifact_uri=str(workspace / "blobs"))
    create_stack("plain")
    use_stack("elsewhere", persist=True)
    assert (workspace / ".heron" / "active_stack").read_text().strip() == "elsewhere"
    config.select_stack(None)  # a new process: the workspace's active stack
    assert current_stack().name == "elsewhere"
    assert config.get_tracking_uri() == other
    assert config.get_artifact_uri() == str(workspace / "blobs")
    monkeypatch.setenv("HERON_STACK", "plain")  # the environment beats the workspace file
    assert current_stack().name == "plain"
    assert config.get_tracking_uri() == config.home_tracking_uri()
    use_stack("elsewhere")  # this process's choice beats the environment
    assert current_stack().name == "elsewhere"


def test_explicit_settings_win_over_the_stack(workspace, monkeypatch):
    other = sqlite_uri(workspace / "other" / "heron.db")
    create_stack("elsewhere", tracking_uri=other, artifact_uri=str(workspace / "blobs"))
    use_stack("elsewhere")
    explicit = sqlite_uri(workspace / "explicit" / "heron.db")
    monkeypatch.setenv("HERON_TRACKING_URI", explicit)
    monkeypatch.setenv("HERON_ARTIFACT_URI", str(workspace / "env-blobs"))
    assert config.get_tracking_uri() == explicit
    # the stack itself is looked up in the store HERON_TRACKING_URI names: not there
    with pytest.raises(NotFound, match="selected stack 'elsewhere' does not exist"):
        current_stack()
    monkeypatch.delenv("HERON_TRACKING_URI")
    assert config.get_tracking_uri() == other
    assert config.get_artifact_uri() == str(workspace / "env-blobs")
    config.set_tracking_uri(explicit)
    assert config.get_tracking_uri() == explicit


def test_a_selected_stack_that_does_not_exist_says_what_selected_it(workspace, monkeypatch):
    monkeypatch.setenv("HERON_STACK", "nope")
    with pytest.raises(NotFound, match=r"'nope' does not exist.*\$HERON_STACK"):
        config.get_tracking_uri()


def test_pipeline_runs_take_the_stacks_orchestrator_settings_and_record_the_stack(workspace):
    from flows import flow

    create_stack("pair", parallelism=2)
    use_stack("pair")
    run = flow()
    tags = heron.Client().get_run(run.id).tags
    assert tags["heron.stack"] == "pair"
    assert tags["heron.orchestrator.name"] == "local"
    assert tags["heron.orchestrator.parallelism"] == "2"
    assert tags["heron.stack.tracking_uri"] == config.get_tracking_uri()
    assert tags["heron.stack.artifact_uri"] == config.get_artifact_uri()
    again = flow.with_options(parallelism=1)()  # the pipeline's own option wins
    assert heron.Client().get_run(again.id).tags["heron.orchestrator.parallelism"] == "1"
    use_stack("default")
    plain = flow()
    assert heron.Client().get_run(plain.id).tags["heron.stack"] == "default"


def test_a_missing_orchestrator_package_is_refused_naming_the_extra(workspace, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"heron-ml\[ray\]"):
        create_stack("cluster", orchestrator="ray")
    assert [s.name for s in list_stacks()] == ["default"]


def test_an_address_that_does_not_answer_is_refused(workspace, monkeypatch):
    monkeypatch.setattr(checks, "CONNECT_TIMEOUT", 1.0)
    port = _free_port()
    with pytest.raises(ConfigError, match=f"cannot be reached.*127.0.0.1:{port}"):
        create_stack(
            "down",
            tracking_uri=f"http://127.0.0.1:{port}",
        )
    assert [s.name for s in list_stacks()] == ["default"]
    created = create_stack("down", tracking_uri=f"http://127.0.0.1:{port}", check=False)
    assert created.tracking_uri.endswith(str(port))
    with pytest.raises(ConfigError, match="cannot be reached"):
        use_stack("down")
    assert current_stack().name == "default"  # nothing changed


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "cannot write to the local workspace store"),
        ({"tracking_uri": "postgresql://db/heron"}, "cannot read or write the artifact store"),
        (
            {"tracking_uri": "postgresql://db/heron", "artifact_uri": "file:///data/heron"},
            "cannot read or write the artifact store file:///data/heron",
        ),
        ({"tracking_uri": "http://127.0.0.1:5151"}, "an address of this machine"),
    ],
)
def test_a_remote_cluster_must_reach_the_stores(workspace, values, message):
    from heron.core.stacks import Stack

    remote = {"orchestrator": "dask", "orchestrator_options": {"address": "tcp://10.1.2.3:8786"}}
    stack = Stack("far", **remote, **values)
    with pytest.raises(ConfigError, match=message):
        checks.check_stack(stack, reach=False)
    good = Stack("far", **remote, tracking_uri="http://heron:5151")
    checks.check_stack(good, reach=False)  # artifacts go through the server: fine


def test_unknown_orchestrator_options_are_refused(workspace):
    with pytest.raises(InvalidArgument, match="has no option 'adress'"):
        create_stack("typo", orchestrator="local", orchestrator_options={"adress": "x"})


def test_updating_keeps_what_is_not_given(workspace):
    create_stack("s", parallelism=2, description="first")
    changed = update_stack("s", description="second")
    assert (changed.parallelism, changed.description) == (2, "second")


def _heron(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli_main.cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_the_stack_commands(workspace):
    _heron("stack", "create", "pair", "--parallelism", "2", "--description", "two")
    listed = json.loads(_heron("stack", "list", "--json"))
    assert [(s["name"], s["active"]) for s in listed] == [("default", True), ("pair", False)]
    assert "Active stack: pair" in _heron("stack", "use", "pair")
    config.select_stack(None)
    shown = _heron("stack", "show")
    assert "pair" in shown and "heron stack use" in shown
    out = json.loads(_heron("run", "flows.py:flow", "--json"))
    assert heron.Client().get_run(out["id"]).tags["heron.orchestrator.parallelism"] == "2"
    out = json.loads(_heron("run", "flows.py:flow", "--stack", "default", "--json"))
    assert heron.Client().get_run(out["id"]).tags["heron.stack"] == "default"
    config.select_stack(None)
    _heron("stack", "update", "pair", "--parallelism", "3")
    assert json.loads(_heron("stack", "show", "pair", "--json"))["parallelism"] == 3
    refused = _heron("stack", "delete", "pair", "--yes", code=1)
    assert "active stack" in refused
    _heron("stack", "use", "default")
    _heron("stack", "delete", "pair", "--yes")
    assert "No stack named" in _heron("stack", "show", "pair", code=1)
    bad = _heron("run", "flows.py:flow", "-o", "nonsense", code=2)
    assert "KEY=VALUE" in bad
