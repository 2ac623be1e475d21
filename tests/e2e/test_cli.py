"""The ``heron`` command line, run as a user types it (a subprocess per command).

Data is written through the public Python API in a separate process, as a training script
would, and read back through the CLI, mostly with ``--json`` so that the checks are exact.
A few fast in-process tests (click's CliRunner) cover what a subprocess cannot reach.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import heron
from heron.cli import main as cli_main
from heron.core import config
from heron.store import registry
from tests.support.cli_output import error_line
from tests.support.stores import open_sql_store

pytestmark = pytest.mark.e2e

SEED = textwrap.dedent(
    """
    import json
    import heron

    ids = {}
    heron.set_experiment("iris")
    for name, lr, loss in [("a", 0.1, 0.30), ("b", 0.01, 0.05), ("c", 0.001, 0.08),
                           ("d", 0.05, 0.20)]:
        with heron.start_run(name=name, tags={"team": "vision"}) as run:
            heron.log_params({"lr": lr, "depth": 3})
            for step, value in enumerate([loss * 3, loss * 2, loss]):  # latest: loss
                heron.log_metric("loss", value, step=step)
            heron.log_metrics({"acc": 1 - loss, "f1": 0.5}, step=2)
            heron.log_text("trained on 150 rows", "notes.txt")
            ids[name] = run.id
    heron.set_experiment("other")
    try:
        with heron.start_run(name="broken") as run:
            ids["broken"] = run.id
            raise ValueError("bad input shape (3, 4)")
    except ValueError:
        pass
    print(json.dumps(ids))
    """
)


def _env(tmp_path: Path, uri: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["HERON_HOME"] = str(tmp_path / "home")  # never ~/.heron
    env["COLUMNS"] = "200"
    if uri is not None:
        env["HERON_TRACKING_URI"] = uri
    return env


class Heron:
    """Runs ``python -m heron ...`` against one tracking URI (or none: the workspace rules)."""

    def __init__(self, tmp_path: Path, uri: str | None) -> None:
        self.tmp_path = tmp_path
        self.uri = uri
        self.env = _env(tmp_path, uri)

    def __call__(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "heron", *args],
            env=self.env,
            cwd=cwd or self.tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str, cwd: Path | None = None) -> str:
        """stdout of a command that must succeed."""
        result = self(*args, cwd=cwd)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json"))

    def python(self, code: str, cwd: Path | None = None) -> str:
        """Run a Python script as a user would (same environment), return its stdout."""
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            cwd=cwd or self.tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def cli(tmp_path: Path) -> Heron:
    """An empty store in tmp_path."""
    uri = "sqlite:///" + str(tmp_path / "heron.db")
    with open_sql_store(uri):  # created, as `heron init` or a first run does
        pass
    return Heron(tmp_path, uri)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Heron, dict[str, str]]:
    """A store with runs a..d in `iris` (loss 0.30, 0.05, 0.08, 0.20), a failed run in
    `other`; read-only: tests that change data use their own store."""
    tmp_path = tmp_path_factory.mktemp("seeded")
    h = Heron(tmp_path, "sqlite:///" + str(tmp_path / "heron.db"))
    return h, json.loads(h.python(SEED))


@pytest.fixture
def clean_state():
    """In-process tests share the process's tracking state: reset it afterwards."""
    yield
    config.set_tracking_uri(None)
    registry.forget_stores()


# --- the command itself ------------------------------------------------------------------
def test_version(cli: Heron) -> None:
    assert cli.ok("--version").strip() == f"heron {heron.__version__}"
    script = Path(sys.executable).parent / "heron"
    if script.exists():  # the console script installed from pyproject
        out = subprocess.run([str(script), "-V"], capture_output=True, text=True, env=cli.env)
        assert out.stdout.strip() == f"heron {heron.__version__}"


def test_help_lists_commands_with_short_help(cli: Heron) -> None:
    out = cli.ok("--help")
    for name in ("init", "experiments", "runs", "db"):
        assert f"  {name} " in out
    assert "Search, show, delete and restore runs." in out
    assert "--tracking-uri" in out and "--debug" in out


def test_help_and_version_import_neither_sqlalchemy_nor_subcommands(cli: Heron) -> None:
    code = textwrap.dedent(
        """
        import sys
        from heron.cli.main import cli
        for args in (["--help"], ["--version"], ["runs", "list", "--help"]):
            try:
                cli.main(args)
            except SystemExit as e:
                assert e.code == 0, (args, e.code)
        heavy = [m for m in ("sqlalchemy", "alembic", "rich.table", "heron.cli.experiments",
                             "heron.cli.db", "heron.store.sql") if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    out = cli.python(code)
    assert out.strip().splitlines()[-1] == "HEAVY []"


def test_every_lazy_command_loads_and_its_help_matches() -> None:
    group = cli_main.cli
    for name, (target, short_help) in cli_main.COMMANDS.items():
        command = group.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None, target
        assert short_help and "\n" not in short_help
        assert command.name == name


# --- init and the workspace ----------------------------------------------------------------
def test_init_creates_a_workspace_that_runs_below_it_use(tmp_path: Path) -> None:
    h = Heron(tmp_path, uri=None)  # no HERON_TRACKING_URI: the .heron/ rule applies
    out = h.ok("init", "project")
    workspace = tmp_path / "project" / ".heron"
    assert f"Initialized a Heron workspace in {workspace}" in out
    assert (workspace / "heron.db").is_file() and (workspace / "artifacts").is_dir()
    assert "already exists" in h.ok("init", "project")  # idempotent

    deep = tmp_path / "project" / "src" / "jobs"
    deep.mkdir(parents=True)
    h.python(
        "import heron\nwith heron.start_run(name='from-below'):\n    heron.log_metric('m', 1.5)",
        cwd=deep,
    )
    runs = json.loads(h.ok("runs", "list", "--json", cwd=tmp_path / "project"))
    assert [(r["name"], r["metrics"]) for r in runs] == [("from-below", {"m": 1.5})]
    assert not (tmp_path / "home").exists()  # nothing went to the fallback workspace


def test_init_in_the_current_folder(tmp_path: Path) -> None:
    h = Heron(tmp_path, uri=None)
    (tmp_path / "here").mkdir()
    h.ok("init", cwd=tmp_path / "here")
    assert (tmp_path / "here" / ".heron" / "heron.db").is_file()


# --- experiments --------------------------------------------------------------------------
def test_experiment_lifecycle(cli: Heron) -> None:
    created = cli.json("experiments", "create", "iris", "--tag", "team=vision")
    assert created["name"] == "iris" and created["tags"] == {"team": "vision"}
    assert "Created experiment 'wine'" in cli.ok("experiments", "create", "wine")
    assert [e["name"] for e in cli.json("experiments", "list")] == ["iris", "wine"]

    cli.ok("experiments", "rename", "wine", "wine-quality")
    cli.ok("experiments", "delete", created["id"])  # by id
    assert [e["name"] for e in cli.json("experiments", "list")] == ["wine-quality"]
    deleted = cli.json("experiments", "list", "--view", "deleted")
    assert [(e["name"], e["lifecycle"]) for e in deleted] == [("iris", "deleted")]

    cli.ok("experiments", "restore", "iris")  # by name
    every = cli.json("experiments", "list", "--view", "all")
    assert sorted((e["name"], e["lifecycle"]) for e in every) == [
        ("iris", "active"),
        ("wine-quality", "active"),
    ]
    table = cli.ok("experiments", "list")
    assert "lifecycle" in table and "wine-quality" in table and created["id"] in table


def test_experiment_errors_are_one_line(cli: Heron) -> None:
    cli.ok("experiments", "create", "iris")
    assert "exists already" in error_line(cli("experiments", "create", "iris"))
    assert "No experiment with id or name 'nope'" in error_line(
        cli("experiments", "delete", "nope")
    )


# --- runs -----------------------------------------------------------------------------------
def test_runs_list_filters_and_orders(seeded: tuple[Heron, dict[str, str]]) -> None:
    h, ids = seeded
    found = h.json("runs", "list", "--filter", "metrics.loss < 0.1", "--order-by", "metrics.loss")
    assert [r["name"] for r in found] == ["b", "c"]
    assert found[0]["id"] == ids["b"] and found[0]["metrics"]["loss"] == pytest.approx(0.05)
    assert found[0]["params"] == {"depth": "3", "lr": "0.01"}

    desc = h.json("runs", "list", "-e", "iris", "-o", "metrics.loss DESC")
    assert [r["name"] for r in desc] == ["a", "d", "c", "b"]
    top2 = h.json("runs", "list", "-e", "iris", "-o", "metrics.acc DESC", "-n", "2")
    assert [r["name"] for r in top2] == ["b", "c"]
    by_param = h.json("runs", "list", "-f", "params.lr = '0.1' and tags.team = 'vision'")
    assert [r["name"] for r in by_param] == ["a"]
    failed = h.json("runs", "list", "-f", "attributes.status = 'failed'")
    assert [r["id"] for r in failed] == [ids["broken"]]
    both = h.json("runs", "list", "-e", "iris", "-e", "other", "-o", "name")
    assert [r["name"] for r in both] == ["a", "b", "broken", "c", "d"]


def test_runs_list_table_shows_the_keys_the_query_names(
    seeded: tuple[Heron, dict[str, str]],
) -> None:
    h, ids = seeded
    out = h.ok("runs", "list", "-f", "params.lr != '0.1'", "-o", "metrics.loss")
    header, rule, *rows = out.strip().splitlines()
    assert header.split()[:7] == ["run", "id", "name", "status", "kind", "started", "duration"]
    assert "lr" in header and "loss" in header and "acc" in header
    assert header.index("lr") < header.index("acc")  # named keys come before the others
    assert set(rule) == {"─"}
    assert [row.split()[0] for row in rows] == [ids[n][:8] for n in ("b", "c", "d")]
    assert all("completed" in row and "vision" not in row for row in rows)

    everything = h.ok("runs", "list").strip().splitlines()
    assert everything[0].split()[3] == "experiment"  # runs of several experiments
    assert len(everything) == 2 + 5
    assert any("broken" in row and "failed" in row for row in everything[2:])
    assert "No runs match." in h.ok("runs", "list", "-f", "metrics.loss > 100")


def test_runs_show(seeded: tuple[Heron, dict[str, str]]) -> None:
    h, ids = seeded
    data = h.json("runs", "show", ids["b"])
    assert data["id"] == ids["b"] and data["status"] == "completed"
    assert data["metrics"]["loss"] == pytest.approx(0.05) and data["params"]["lr"] == "0.01"
    assert data["tags"]["team"] == "vision"
    assert [(a["direction"], a["name"]) for a in data["artifacts"]] == [("output", "notes.txt")]

    text = h.ok("runs", "show", ids["b"][:8])  # the short id of the table works too
    assert f"Run {ids['b']}" in text
    for expected in ("iris", "completed", "Params", "lr", "0.01", "Metrics", "loss", "0.05"):
        assert expected in text
    assert "notes.txt" in text and "Artifacts" in text

    broken = h.ok("runs", "show", ids["broken"])
    assert "failed" in broken and "Error" in broken
    assert "ValueError: bad input shape (3, 4)" in broken
    assert h.json("runs", "show", ids["broken"])["status_reason"].startswith("ValueError")


def test_runs_show_lists_child_runs(cli: Heron) -> None:
    ids = json.loads(
        cli.python(
            textwrap.dedent(
                """
                import json, heron
                with heron.start_run(name="sweep") as parent:
                    with heron.start_run(name="trial-1", nested=True) as child:
                        heron.log_metric("loss", 0.5)
                print(json.dumps({"parent": parent.id, "child": child.id}))
                """
            )
        )
    )
    data = cli.json("runs", "show", ids["parent"])
    assert data["child_run_ids"] == [ids["child"]]
    assert cli.json("runs", "show", ids["child"])["parent_id"] == ids["parent"]
    text = cli.ok("runs", "show", ids["parent"])
    assert "Child runs" in text and ids["child"][:8] in text and "trial-1" in text


def test_runs_show_unknown_id(seeded: tuple[Heron, dict[str, str]]) -> None:
    h, _ = seeded
    assert "No run with id 'feedbeef'" in error_line(h("runs", "show", "feedbeef"))
    assert "No run with id 'not-a-run'" in error_line(h("runs", "show", "not-a-run"))


def test_runs_delete_and_restore(cli: Heron) -> None:
    ids = json.loads(cli.python(SEED))
    out = cli.ok("runs", "delete", ids["a"][:10])
    assert f"Deleted run {ids['a']}" in out
    assert "a" not in [r["name"] for r in cli.json("runs", "list", "-e", "iris")]
    assert [r["name"] for r in cli.json("runs", "list", "--view", "deleted")] == ["a"]
    assert cli.json("runs", "show", ids["a"])["lifecycle"] == "deleted"
    cli.ok("runs", "restore", ids["a"])
    assert sorted(r["name"] for r in cli.json("runs", "list", "-e", "iris")) == list("abcd")


def test_empty_store_and_global_tracking_uri(cli: Heron, tmp_path: Path) -> None:
    assert cli.ok("runs", "list").strip() == "No runs."
    other = "sqlite:///" + str(tmp_path / "other.db")
    cli.ok("--tracking-uri", other, "experiments", "create", "elsewhere")
    assert cli.json("experiments", "list") == []  # the environment's store is untouched
    assert [e["name"] for e in cli.json("--tracking-uri", other, "experiments", "list")] == [
        "elsewhere"
    ]
    # a plain folder means the SQLite store in it
    cli.ok("--tracking-uri", str(tmp_path / "folder"), "experiments", "create", "f")
    assert (tmp_path / "folder" / "heron.db").is_file()


# --- errors -------------------------------------------------------------------------------
def test_bad_filter_is_one_error_line_and_debug_shows_the_traceback(
    seeded: tuple[Heron, dict[str, str]],
) -> None:
    h, _ = seeded
    result = h("runs", "list", "--filter", "metrics.loss << 1")
    line = error_line(result)
    assert "Invalid filter at position 13" in line and "unknown operator '<<'" in line
    assert result.stdout == ""

    debug = h("--debug", "runs", "list", "--filter", "metrics.loss << 1")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "FilterError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == line

    assert "order_by" in error_line(h("runs", "list", "-o", "metrics.loss SIDEWAYS"))
    assert "No experiment with id or name 'nope'" in error_line(h("runs", "list", "-e", "nope"))


def test_usage_errors_are_clicks(cli: Heron) -> None:
    result = cli("runs", "lsit")
    assert result.returncode == 2 and "No such command 'lsit'" in result.stderr
    assert cli("runs", "list", "--limit", "0").returncode == 2


def test_unexpected_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_state) -> None:
    from heron.tracking.client import Client

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Client, "list_experiments", broken)
    runner = CliRunner()
    uri = "sqlite:///" + str(tmp_path / "heron.db")
    with open_sql_store(uri):  # reading commands need an existing store
        pass
    result = runner.invoke(cli_main.cli, ["--tracking-uri", uri, "experiments", "list"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "Error: unexpected RuntimeError: disk on fire (run with --debug for the traceback)"
    )
    debug = runner.invoke(cli_main.cli, ["--debug", "--tracking-uri", uri, "experiments", "list"])
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr and "in broken" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == "Error: unexpected RuntimeError: disk on fire"


def test_errors_are_red_on_a_terminal(tmp_path: Path, clean_state) -> None:
    uri = "sqlite:///" + str(tmp_path / "heron.db")
    with open_sql_store(uri):
        pass
    result = CliRunner().invoke(
        cli_main.cli, ["--tracking-uri", uri, "runs", "show", "nope"], color=True
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("\x1b[31mError: No run with id 'nope'")


def test_bad_tracking_uri(cli: Heron) -> None:
    assert "Unsupported tracking URI" in error_line(
        cli("--tracking-uri", "ftp://x/y", "runs", "list")
    )


# --- db -------------------------------------------------------------------------------------
def test_db_current_and_upgrade(cli: Heron, tmp_path: Path) -> None:
    from heron.store.sql import schema

    head = schema.SCHEMA_REVISION
    cli.ok("experiments", "create", "x")  # creates the database at the current revision
    assert f"is at revision {head} (up to date)" in cli.ok("db", "current")
    assert f"already at revision {head}" in cli.ok("db", "upgrade")

    fresh = "sqlite:///" + str(tmp_path / "fresh.db")
    assert "No database at" in cli.ok("db", "current", "--tracking-uri", fresh)
    assert f"created at revision {head}" in cli.ok("db", "upgrade", "--tracking-uri", fresh)
    assert f"revision {head} (up to date)" in cli.ok("--tracking-uri", fresh, "db", "current")


def test_database_at_another_revision_says_to_upgrade(cli: Heron, tmp_path: Path) -> None:
    cli.ok("experiments", "create", "x")
    with sqlite3.connect(tmp_path / "heron.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    line = error_line(cli("runs", "list"))
    assert "heron db upgrade" in line
    assert "revision 9999" in cli.ok("db", "current")


def test_db_refuses_a_server_uri(cli: Heron) -> None:
    line = error_line(cli("--tracking-uri", "http://localhost:5151", "db", "current"))
    assert "is a Heron server" in line
