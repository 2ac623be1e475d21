"""`heron schedules`, `heron backfill` and `heron backfills` as a user types them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import Heron
from tests.support.cli_output import error_line

pytestmark = pytest.mark.e2e

FLOWS = """
import heron
from heron import pipeline, step


@step
def make(n: int) -> list:
    return list(range(n))


@pipeline
def daily(n: int = 3, day: str = heron.logical_date()):
    make(n)
"""


@pytest.fixture
def cli(tmp_path: Path) -> Heron:
    (tmp_path / "flows.py").write_text(FLOWS)
    return Heron(tmp_path, f"sqlite:///{tmp_path / 'heron.db'}")


def test_a_schedule_is_created_listed_paused_resumed_and_deleted(cli):
    out = cli.ok(
        *("schedules", "create", "nightly", "flows.py:daily", "--cron", "0 3 * * *"),
        *("--timezone", "Europe/Zurich", "-p", "n=5", "--catchup", "all"),
    )
    assert "Created schedule 'nightly'" in out and "+01:00" in out
    [listed] = cli.json("schedules", "list")
    assert listed["name"] == "nightly" and listed["params"] == {"n": 5}
    assert listed["pipeline"] == f"{cli.tmp_path / 'flows.py'}:daily"
    assert listed["catchup"] == "all" and listed["paused"] is False
    assert "cron '0 3 * * *' (Europe/Zurich)" in cli.ok("schedules", "show", "nightly")
    assert "No scheduler is running" in cli.ok("schedules", "list")
    assert "Paused" in cli.ok("schedules", "pause", "nightly")
    assert cli.json("schedules", "show", "nightly")["paused"] is True
    assert "Resumed" in cli.ok("schedules", "resume", "nightly")
    changed = cli.json("schedules", "update", "nightly", "--cron", "30 4 * * *")
    assert changed["cron"] == "30 4 * * *" and changed["params"] == {"n": 5}
    assert "Deleted schedule 'nightly'" in cli.ok("schedules", "delete", "nightly")
    assert cli.json("schedules", "list") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cron", "0 3 * *"), "Invalid cron expression '0 3 * *'"),
        (("--cron", "0 3 * * *", "--timezone", "Europe/Zurch"), "Unknown timezone"),
        (("--cron", "0 3 * * *", "-p", "epochs=3"), "takes no parameter(s) epochs"),
        ((), "either cron="),
    ],
)
def test_bad_definitions_are_one_clear_error_and_create_nothing(cli, args, message):
    cli.ok("schedules", "create", "fine", "flows.py:daily", "--cron", "@daily")
    result = cli("schedules", "create", "bad", "flows.py:daily", *args)
    assert message in error_line(result)
    assert [x["name"] for x in cli.json("schedules", "list")] == ["fine"]


def test_a_param_of_the_wrong_type_is_a_usage_error_as_for_heron_run(cli):
    result = cli("schedules", "create", "bad", "flows.py:daily", "--cron", "@daily", "-p", "n=x")
    assert result.returncode == 2 and "expects int, got 'x'" in result.stderr
    assert cli.json("schedules", "list") == []


def test_an_unknown_pipeline_and_a_taken_name_are_refused(cli):
    line = error_line(cli("schedules", "create", "x", "nowhere.py:daily", "--cron", "@daily"))
    assert "nowhere.py" in line
    cli.ok("schedules", "create", "x", "flows.py:daily", "--cron", "@daily")
    line = error_line(cli("schedules", "create", "x", "flows.py:daily", "--cron", "@hourly"))
    assert "exists already" in line and "heron schedules update x" in line
    assert "No schedule named 'y'" in error_line(cli("schedules", "show", "y"))


def test_a_backfill_runs_then_reports_its_ticks_and_progress(cli):
    cli.ok("schedules", "create", "d", "flows.py:daily", "--cron", "0 0 * * *")
    dry = cli.json("backfill", "d", "--start", "2026-01-01", "--end", "2026-01-03", "--dry-run")
    assert dry["run"] == [f"2026-01-0{i}T00:00:00+00:00" for i in (1, 2, 3)]
    assert cli.json("backfills", "list") == []  # a dry run records nothing
    done = cli.json(
        *("backfill", "d", "--start", "2026-01-01", "--end", "2026-01-03"),
        *("--max-active-runs", "2"),
    )
    assert done["status"] == "completed" and done["progress"] == {"succeeded": 3}
    ticks = cli.json("schedules", "ticks", "d")
    assert [t["status"] for t in ticks] == ["succeeded"] * 3
    [listed] = cli.json("backfills", "list")
    assert listed["id"] == done["id"]
    assert "3 done, 0 failed" in cli.ok("backfills", "show", done["id"])
    again = cli.json("backfill", "d", "--start", "2026-01-01", "--end", "2026-01-03")
    assert again["intervals"] == 0  # --reprocess missing: nothing missing
    line = error_line(cli("backfills", "cancel", done["id"]))
    assert "completed already" in line
    line = error_line(cli("backfill", "d", "--start", "2026-02-01", "--end", "2026-01-01"))
    assert "is after its end" in line


def test_a_pipeline_backfills_on_a_cron_given_on_the_command_line(cli):
    done = cli.json(
        *("backfill", "flows.py:daily", "--cron", "0 12 * * *", "--start", "2026-01-01"),
        *("--end", "2026-01-02"),
    )
    assert done["progress"] == {"succeeded": 2}
    [sch] = cli.json("schedules", "list")
    assert sch["name"] == "daily.backfill" and sch["paused"] is True
