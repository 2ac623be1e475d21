"""`heron monitor`: create, show, pause and resume, run and report, as a user types them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from heron.cli import main as cli_main
from tests.unit.monitoring.test_monitors import _log, _train, workspace  # noqa: F401


def _heron(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli_main.cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_a_monitor_from_create_to_report(workspace):  # noqa: F811
    _train()
    _log(300, shift=2.0)
    _heron("monitor", "create", "cli-drift", "models:/toy@champion", "--window", "1h", "--paused")
    shown = json.loads(_heron("monitor", "show", "cli-drift", "--json"))
    assert shown["paused"] and shown["window"] == 3600 and shown["last_evaluation"] is None
    _heron("monitor", "resume", "cli-drift")
    _heron("monitor", "create", "cli-drift", "models:/toy@champion", "--window", "2h")
    assert not json.loads(_heron("monitor", "show", "cli-drift", "--json"))["paused"]

    evaluation = json.loads(_heron("monitor", "run", "cli-drift", "--json"))
    assert evaluation["status"] == "drifted"
    _heron("monitor", "run", "cli-drift", "--fail-on-drift", code=3)
    last = json.loads(_heron("monitor", "show", "cli-drift", "--json"))["last_evaluation"]
    assert last["status"] == "drifted" and last["rows"] == 300
    history = json.loads(_heron("monitor", "report", "cli-drift", "--json"))
    assert [h["status"] for h in history] == ["drifted", "drifted"]
    table = _heron("monitor", "report", "cli-drift", "--last")
    (row,) = [line.split() for line in table.splitlines() if line.startswith("a ")]
    assert row[1:3] == ["numeric", "wasserstein"] and row[5] == "yes"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--reference", "no-such-table"], "NAME:VERSION"),
        (["--window", "soon"], "duration"),
        (["--webhook", "ftp://x"], "http"),
    ],
)
def test_bad_options_are_one_error_line_and_store_nothing(workspace, arguments, message):  # noqa: F811
    output = _heron("monitor", "create", "bad", "models:/toy@champion", *arguments, code=1)
    assert output.startswith("Error:") and message in output
    assert json.loads(_heron("monitor", "list", "--json")) == []
