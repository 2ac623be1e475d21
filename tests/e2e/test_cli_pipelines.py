"""Pipelines from the command line, as a user types it: ``heron run``, ``heron pipelines``,
``heron artifacts``, ``heron runs logs|resume`` and ``heron gc`` (a subprocess per command).

Each test writes a small pipeline file into its own folder and store; checks read the
``--json`` output where exact values matter, and the tables where the layout does.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.e2e.test_cli import Heron
from tests.support.cli_output import error_line
from tests.support.stores import open_sql_store

pytestmark = pytest.mark.e2e

PIPELINE = textwrap.dedent(
    """
    from pathlib import Path

    from heron import pipeline, step

    MARKER = Path(__file__).with_name("fail.marker")  # `total` fails while this file exists


    @step
    def load(n: int) -> list:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        print(f"loading {n} rows")
        return list(range(n))


    @step(outputs=("evens", "odds"))
    def split(xs: list):
        return [x for x in xs if x % 2 == 0], [x for x in xs if x % 2]


    @step
    def total(evens: list, odds: list) -> int:
        if MARKER.exists():
            raise ValueError("fail.marker is present")
        print("summing")
        return sum(evens) + sum(odds)


    @pipeline
    def demo(n: int = 10):
        evens, odds = split(load(n))
        total(evens, odds)


    @step
    def describe(n, lr, flag, names, label) -> str:
        for key, value in [("n", n), ("lr", lr), ("flag", flag), ("names", names),
                           ("label", label)]:
            print(f"{key}={value!r} {type(value).__name__}")
        return "ok"


    @pipeline
    def typed(n: int = 0, lr: float = 0.0, flag: bool = False, names: list | None = None,
              label: str = ""):
        describe(n, lr, flag, names, label)


    not_a_pipeline = 42
    """
)


@pytest.fixture
def h(tmp_path: Path) -> Heron:
    """An empty store in tmp_path, with the pipeline file pipe.py next to it."""
    (tmp_path / "pipe.py").write_text(PIPELINE)
    uri = "sqlite:///" + str(tmp_path / "heron.db")
    with open_sql_store(uri):  # created, as `heron init` or a first run does
        pass
    return Heron(tmp_path, uri)


def _run_json(h: Heron, *args: str) -> dict:
    """`heron run ... --json` that must succeed."""
    return h.json("run", *args)  # type: ignore[return-value]


def _objects(h: Heron) -> list[Path]:
    return sorted(p for p in (h.tmp_path / "artifacts" / "objects").rglob("*") if p.is_file())


# --- heron run -----------------------------------------------------------------------------
def test_run_shows_progress_then_a_table_of_steps(h: Heron) -> None:
    out = h.ok("run", "pipe.py:demo", "-p", "n=5")
    lines = out.splitlines()
    # progress, one line per event (no terminal here), the step's own output in between
    assert lines[:3] == ["load: running", "loading 5 rows", lines[2]]
    assert re.fullmatch(r"load: completed in \d+(ms|\.\ds)", lines[2])
    assert "split: running" in lines and "total: running" in lines

    header = next(
        i
        for i, line in enumerate(lines)
        if line.split()[:4] == ["step", "status", "cached", "duration"]
    )
    rows = [line.split() for line in lines[header + 2 : header + 5]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("load", "completed", "no"),
        ("split", "completed", "no"),
        ("total", "completed", "no"),
    ]
    assert all(re.fullmatch(r"\d+ms|\d+\.\ds", r[3]) for r in rows)

    [pipeline_run] = h.json("runs", "list", "-f", "kind = 'pipeline'")
    run_id = pipeline_run["id"]
    assert f"Pipeline run {run_id} (demo, " in out and "completed in" in out
    assert f"heron runs show {run_id}" in out
    assert f"heron artifacts list --run {run_id}" in out
    assert pipeline_run["params"] == {"n": "5"} and pipeline_run["experiment_id"]
    assert h.json("artifacts", "show", "total.output")["metadata"]["value"] == 10


def test_a_second_run_is_cached_and_no_cache_runs_every_step(h: Heron) -> None:
    first = _run_json(h, "pipe.py:demo", "-p", "n=5")
    assert {s["status"] for s in first["steps"].values()} == {"completed"}

    again = h.ok("run", "pipe.py:demo", "-p", "n=5")
    assert "loading 5 rows" not in again  # nothing ran
    for step in ("load", "split", "total"):
        assert re.search(rf"^{step}\s+cached\s+yes\s", again, re.MULTILINE), again

    cached = _run_json(h, "pipe.py:demo", "-p", "n=5")
    assert all(s["cached"] and s["status"] == "cached" for s in cached["steps"].values())
    # a cached step hands on the very artifact versions of the run it reuses
    assert cached["steps"]["total"]["outputs"] == first["steps"]["total"]["outputs"]

    fresh = _run_json(h, "pipe.py:demo", "-p", "n=5", "--no-cache")
    assert {(s["status"], s["cached"]) for s in fresh["steps"].values()} == {("completed", False)}
    assert len({first["id"], cached["id"], fresh["id"]}) == 3

    changed = _run_json(h, "pipe.py:demo", "-p", "n=6")  # a new parameter: load runs again
    assert changed["steps"]["load"]["status"] == "completed"


def test_run_json_is_one_object_with_the_outputs(h: Heron) -> None:
    result = h("run", "pipe.py:demo", "-p", "n=5", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # the steps' prints did not reach stdout
    assert "loading 5 rows" in result.stderr
    assert data["status"] == "completed" and data["pipeline"] == "demo" and data["error"] is None
    assert list(data["steps"]) == ["load", "split", "total"]
    split = data["steps"]["split"]
    assert split["status"] == "completed" and split["cached"] is False
    assert isinstance(split["duration_ms"], int) and split["run_id"]
    assert {name: (o["name"], o["version"]) for name, o in split["outputs"].items()} == {
        "evens": ("split.evens", 1),
        "odds": ("split.odds", 1),
    }
    total = data["steps"]["total"]["outputs"]["output"]
    assert h.json("artifacts", "show", total["id"])["metadata"]["value"] == 10


def test_run_in_worker_processes_keeps_json_alone_on_stdout(h: Heron) -> None:
    result = h("run", "pipe.py:demo", "-p", "n=4", "--parallelism", "2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "completed"
    total = data["steps"]["total"]["outputs"]["output"]["id"]
    assert h.json("artifacts", "show", total)["metadata"]["value"] == 6


def test_run_options_experiment_and_run_name(h: Heron) -> None:
    data = _run_json(h, "pipe.py:demo", "--experiment", "nightly", "--run-name", "first")
    assert data["name"] == "first"
    [run] = h.json("runs", "list", "-e", "nightly", "-f", "kind = 'pipeline'")
    assert run["id"] == data["id"] and run["name"] == "first"


def test_parameters_are_json_when_they_parse(h: Heron) -> None:
    data = _run_json(
        h,
        "pipe.py:typed",
        "-p",
        "n=5",
        "-p",
        "lr=0.1",
        "-p",
        "flag=true",
        "-p",
        'names=["a","b"]',
        "-p",
        "label=iris v2",
    )
    logs = h.ok("runs", "logs", data["steps"]["describe"]["run_id"])
    assert logs.splitlines() == [
        "n=5 int",
        "lr=0.1 float",
        "flag=True bool",
        "names=['a', 'b'] list",
        "label='iris v2' str",
    ]


def test_bad_parameters(h: Heron) -> None:
    line = error_line(h("run", "pipe.py:demo", "-p", "m=3"))
    assert "unexpected keyword argument 'm'" in line and "demo(n: int = 10)" in line
    usage = h("run", "pipe.py:demo", "-p", "n")
    assert usage.returncode == 2 and "'n' is not KEY=VALUE" in usage.stderr
    assert h("run", "pipe.py:demo", "-p", "n=1", "-p", "n=2").returncode == 2
    assert h.json("runs", "list") == []  # nothing ran


def test_a_failing_step_fails_the_run_and_names_the_step(h: Heron) -> None:
    result = h("run", "pipe.py:demo", "-p", "n=-1")
    line = error_line(result)
    assert line == "Error: step 'load' failed: ValueError: n must be >= 0, got -1"
    steps = ("load", "split", "total")
    rows = {r.split()[0]: r.split()[1] for r in result.stdout.splitlines() if r.startswith(steps)}
    assert (rows["load"], rows["split"], rows["total"]) == ("failed", "skipped", "skipped")
    assert "failed in" in result.stdout and "heron runs resume" in result.stdout

    as_json = h("run", "pipe.py:demo", "-p", "n=-1", "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["status"] == "failed" and data["failed_steps"] == ["load"]
    assert data["steps"]["split"]["status"] == "skipped"
    assert data["steps"]["load"]["error"].startswith("ValueError: n must be >= 0")


def test_a_parameter_not_fitting_its_annotation_is_refused_before_the_run(h: Heron) -> None:
    refused = h("run", "pipe.py:demo", "-p", "n=abc")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for -p/--param: parameter 'n' of pipeline 'demo' expects int, "
        "got 'abc'."
    )
    assert h("run", "pipe.py:typed", "-p", "names=a,b").returncode == 2  # list | None
    assert h.json("runs", "list") == []  # nothing ran
    # text stays text for a `str` parameter, even when it reads as a number
    data = _run_json(h, "pipe.py:typed", "-p", "label=1.10", "-p", "flag=yes")
    logs = h.ok("runs", "logs", data["steps"]["describe"]["run_id"]).splitlines()
    assert "label='1.10' str" in logs and "flag=True bool" in logs


def test_a_file_alone_runs_its_one_pipeline_or_lists_them(h: Heron) -> None:
    several = h("run", "pipe.py")
    assert several.returncode == 2 and "Traceback" not in several.stderr
    assert several.stderr.strip().splitlines()[-1] == (
        "Error: pipe.py defines 2 pipelines: demo, typed. Name one: pipe.py:demo."
    )
    (h.tmp_path / "single.py").write_text(
        "from pipe import demo\n"  # imported, not defined here: not a candidate
        + "from heron import pipeline, step\n\n"
        + "@step\ndef hello(n: int) -> int:\n    print('hello', n)\n    return n\n\n"
        + "@pipeline\ndef greet(n: int = 1):\n    hello(n)\n"
    )
    data = _run_json(h, "single.py", "-p", "n=3")
    assert data["pipeline"] == "greet" and data["status"] == "completed"
    [run] = h.json("runs", "list", "-f", "kind = 'pipeline'")
    assert run["tags"]["heron.pipeline.source"] == f"{h.tmp_path.resolve() / 'single.py'}:greet"
    assert h("run", "single.py", "-p", "n=x").returncode == 2


# --- heron runs resume / logs --------------------------------------------------------------
def test_resume_after_fixing_the_failure_reuses_the_steps_that_succeeded(h: Heron) -> None:
    marker = h.tmp_path / "fail.marker"
    marker.touch()
    failed = h("run", "pipe.py:demo", "-p", "n=5", "--json")
    assert failed.returncode == 1
    failed_run = json.loads(failed.stdout)
    assert failed_run["failed_steps"] == ["total"]
    assert "Error: step 'total' failed: ValueError: fail.marker is present" in failed.stderr

    still = h("runs", "resume", failed_run["id"][:10])
    assert "ValueError: fail.marker is present" in error_line(still)
    assert re.search(r"^load\s+cached\s+yes", still.stdout, re.MULTILINE)

    marker.unlink()
    out = h.ok("runs", "resume", failed_run["id"])
    assert re.search(r"^load\s+cached\s+yes", out, re.MULTILINE)
    assert re.search(r"^split\s+cached\s+yes", out, re.MULTILINE)
    assert re.search(r"^total\s+completed\s+no", out, re.MULTILINE)
    assert f"Resumed from {failed_run['id']}: 2 of 3 steps reused." in out
    assert "loading 5 rows" not in out  # load did not run again

    resumed = [
        r
        for r in h.json("runs", "list", "-f", "kind = 'pipeline'")
        if r["tags"].get("heron.resumed_from") == failed_run["id"] and r["status"] == "completed"
    ]
    assert len(resumed) == 1
    steps = h.json("runs", "show", resumed[0]["id"])["child_run_ids"]
    assert len(steps) == 3
    value = h.json("artifacts", "show", "total.output")
    assert (
        value["metadata"]["value"] == 10 and value["producer_run"]["parent_id"] == resumed[0]["id"]
    )


def test_resume_json_and_what_cannot_be_resumed(h: Heron) -> None:
    marker = h.tmp_path / "fail.marker"
    marker.touch()
    failed = json.loads(h("run", "pipe.py:demo", "--json").stdout)
    marker.unlink()
    data = h.json("runs", "resume", failed["id"])
    assert data["status"] == "completed" and data["resumed_from"] == failed["id"]
    assert {k: s["status"] for k, s in data["steps"].items()} == {
        "load": "cached",
        "split": "cached",
        "total": "completed",
    }
    assert "only failed or cancelled runs" in error_line(h("runs", "resume", data["id"]))
    step = data["steps"]["total"]["run_id"]
    assert "resume takes a pipeline run" in error_line(h("runs", "resume", step))
    assert "No run with id 'feedbeef'" in error_line(h("runs", "resume", "feedbeef"))


def test_resume_a_run_of_a_module_target(h: Heron) -> None:
    marker = h.tmp_path / "fail.marker"
    marker.touch()
    failed = h("run", "pipe:demo", "-p", "n=3", "--json")  # pipe.py imported as a module
    assert failed.returncode == 1
    marker.unlink()
    data = h.json("runs", "resume", json.loads(failed.stdout)["id"])
    assert data["status"] == "completed" and data["steps"]["load"]["status"] == "cached"


def test_resume_a_run_of_a_pipeline_loaded_from_a_file_by_the_python_api(h: Heron) -> None:
    """A pipeline run started through `load_pipeline("file.py:name")` (as a scheduler would)
    must record a source that another process can import again."""
    (h.tmp_path / "fail.marker").touch()
    run_id = h.python(
        textwrap.dedent(
            """
            from heron.pipelines.loader import load_pipeline
            demo = load_pipeline("pipe.py:demo").with_options(raise_on_failure=False)
            print(demo(n=4).id)
            """
        )
    ).split()[-1]
    (h.tmp_path / "fail.marker").unlink()
    result = h("runs", "resume", run_id)
    assert result.returncode == 0, result.stderr  # fails: source is heron_user_<hash>:demo
    assert re.search(r"^total\s+completed", result.stdout, re.MULTILINE)


def test_runs_logs_of_a_step_and_of_a_pipeline_run(h: Heron) -> None:
    data = _run_json(h, "pipe.py:demo", "-p", "n=7")
    assert h.ok("runs", "logs", data["steps"]["load"]["run_id"]) == "loading 7 rows\n"
    assert h.ok("runs", "logs", data["steps"]["total"]["run_id"][:8]) == "summing\n"
    quiet = h(("runs"), "logs", data["steps"]["split"]["run_id"])
    assert quiet.returncode == 0 and quiet.stdout == "" and "captured no output" in quiet.stderr

    out = h.ok("runs", "logs", data["id"]).splitlines()
    headers = [line for line in out if line.startswith("── ")]
    assert [line.split()[1] for line in headers] == ["load", "split", "total"]
    assert "no output" in headers[1]
    assert out[out.index(headers[0]) + 1] == "loading 7 rows"
    assert out[out.index(headers[2]) + 1] == "summing"


def test_runs_logs_of_a_failed_pipeline_names_the_error(h: Heron) -> None:
    (h.tmp_path / "fail.marker").touch()
    failed = json.loads(h("run", "pipe.py:demo", "--json").stdout)
    out = h.ok("runs", "logs", failed["id"])
    assert "total" in out and "failed" in out
    assert "ValueError: fail.marker is present" in out


def test_runs_logs_of_a_failed_step_shows_its_output_then_its_traceback(h: Heron) -> None:
    failed = json.loads(h("run", "pipe.py:demo", "-p", "n=-1", "--json").stdout)
    out = h.ok("runs", "logs", failed["steps"]["load"]["run_id"])
    assert out.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{h.tmp_path.resolve() / "pipe.py"}", line 12, in load',
        '    raise ValueError(f"n must be >= 0, got {n}")',
        "ValueError: n must be >= 0, got -1",
    ]
    (h.tmp_path / "fail.marker").touch()
    failed = json.loads(h("run", "pipe.py:demo", "--parallelism", "2", "--json").stdout)
    out = h.ok("runs", "logs", failed["steps"]["total"]["run_id"])
    assert out.startswith("Traceback (most recent call last):\n")  # total printed nothing
    assert f'File "{h.tmp_path.resolve() / "pipe.py"}", line ' in out  # not <dynamic-code>
    assert 'raise ValueError("fail.marker is present")' in out
    assert "heron/execution" not in out


def test_runs_logs_of_a_failed_run_without_stored_traceback_shows_its_error(h: Heron) -> None:
    run_id = h.python(
        textwrap.dedent(
            """
            import heron
            try:
                with heron.start_run(name="broken") as run:
                    print(run.id)
                    raise RuntimeError("tracked failure")
            except RuntimeError:
                pass
            """
        )
    ).split()[-1]
    result = h("runs", "logs", run_id)
    assert result.returncode == 0 and "captured no output" in result.stderr
    assert result.stdout.startswith(f"Run {run_id} (broken) failed:\nRuntimeError: tracked failure")
    assert 'File "<string>", line 6, in <module>' in result.stdout  # the traceback (python -c)


# --- heron pipelines -------------------------------------------------------------------------
def test_pipelines_list_and_show(h: Heron) -> None:
    assert "No pipelines yet" in h.ok("pipelines", "list")
    _run_json(h, "pipe.py:demo", "-p", "n=3")
    last = _run_json(h, "pipe.py:demo", "-p", "n=4")
    _run_json(h, "pipe.py:typed")

    listed = h.json("pipelines", "list")
    assert [p["name"] for p in listed] == ["demo", "typed"]
    demo = listed[0]
    assert (demo["versions"], demo["runs"]) == (1, 2)
    assert demo["last_run"]["id"] == last["id"] and demo["last_run"]["status"] == "completed"
    table = h.ok("pipelines", "list")
    assert re.search(r"^demo\s+1\s+[0-9a-f]{12}\s+2\s+" + last["id"][:8], table, re.MULTILINE)

    shown = h.json("pipelines", "show", "demo")
    [version] = shown["versions"]
    assert shown["version_id"] == version["id"] == demo["latest_version_id"]
    assert version["runs"] == 2
    nodes = version["structure"]["nodes"]
    assert [n["id"] for n in nodes] == ["load", "split", "total"]
    assert nodes[2]["inputs"] == {"evens": ["split", "evens"], "odds": ["split", "odds"]}

    text = h.ok("pipelines", "show", "demo")
    assert "Pipeline demo" in text and version["id"] in text
    for expected in ("xs ← load.output", "evens ← split.evens", "odds ← split.odds"):
        assert expected in text
    steps = [line.split()[1] for line in text.splitlines() if re.match(r"^\d+\s", line)]
    assert steps == ["load", "split", "total"]
    by_id = h.json("pipelines", "show", version["id"][:8])  # a version id, or its start
    assert by_id["name"] == "demo" and by_id["version_id"] == version["id"]
    assert "No pipeline named 'nope'" in error_line(h("pipelines", "show", "nope"))


# --- heron artifacts -------------------------------------------------------------------------
def test_artifacts_list_show_and_lineage(h: Heron) -> None:
    data = _run_json(h, "pipe.py:demo", "-p", "n=5")
    _run_json(h, "pipe.py:demo", "-p", "n=6")

    of_run = h.json("artifacts", "list", "--run", data["id"])  # a pipeline run: its steps'
    assert sorted(a["name"] for a in of_run) == [
        "load.output",
        "split.evens",
        "split.odds",
        "total.output",
    ]
    assert all(a["version"] == 1 for a in of_run)
    versions = h.json("artifacts", "list", "--name", "total.output")
    assert [a["version"] for a in versions] == [2, 1]
    assert len(h.json("artifacts", "list", "--limit", "3")) == 3
    table = h.ok("artifacts", "list", "--run", data["id"][:8])
    assert "total.output" in table and "builtins.list" in table
    assert "No artifacts match." in h.ok("artifacts", "list", "--name", "nope")

    total = h.json("artifacts", "show", "total.output:1")
    assert total["metadata"]["value"] == 10 and total["type"] == "builtins.int"
    assert total["producer_run"]["id"] == data["steps"]["total"]["run_id"]
    assert total["consumers"] == []
    loaded = h.json("artifacts", "show", data["steps"]["load"]["outputs"]["output"]["id"])
    assert [c["id"] for c in loaded["consumers"]] == [data["steps"]["split"]["run_id"]]
    text = h.ok("artifacts", "show", "load.output:1")
    for expected in ("Artifact load.output:1", "content hash", "Metadata", "Consumed by"):
        assert expected in text
    assert data["steps"]["split"]["run_id"][:8] in text
    assert h.json("artifacts", "show", "total.output")["version"] == 2  # the latest
    assert "total.output" in error_line(h("artifacts", "show", "total.output:9"))

    # lineage upstream of the final output reaches the first step's run
    graph = h.json("artifacts", "lineage", "total.output:1")
    assert graph["root"] == total["id"] and graph["direction"] == "upstream"
    assert data["steps"]["load"]["run_id"] in graph["runs"]
    assert {
        "source": data["steps"]["load"]["run_id"],
        "target": loaded["id"],
        "kind": "produced",
    } in graph["edges"]
    tree = h.ok("artifacts", "lineage", "total.output:1")
    assert tree.splitlines()[0].startswith("artifact total.output:1")
    assert "produced by  run load (step, completed)" in tree
    assert "consumed  artifact split.evens:1" in tree

    near = h.json("artifacts", "lineage", "total.output:1", "--depth", "1")
    assert list(near["runs"]) == [data["steps"]["total"]["run_id"]] and not near[
        "artifacts"
    ].keys() - {total["id"]}
    down = h.json("artifacts", "lineage", "load.output:1", "--direction", "downstream")
    assert total["id"] in down["artifacts"]
    assert "consumed by  run split" in h.ok(
        "artifacts", "lineage", "load.output:1", "--direction", "downstream"
    )
    by_run = h.json("artifacts", "lineage", data["steps"]["split"]["run_id"][:8])
    assert by_run["artifacts"].keys() == {loaded["id"]}
    assert "No artifact named 'nope'" in error_line(h("artifacts", "lineage", "nope"))


# --- heron gc --------------------------------------------------------------------------------
def test_gc_frees_the_storage_of_deleted_runs_only(h: Heron) -> None:
    kept = _run_json(h, "pipe.py:demo", "-p", "n=5")
    gone = _run_json(h, "pipe.py:demo", "-p", "n=7")
    gone_uris = [
        h.json("artifacts", "show", o["id"])["uri"]
        for s in gone["steps"].values()
        for o in s["outputs"].values()
    ]
    before = _objects(h)
    report = h.json("gc", "--min-age", "0")  # nothing is deleted yet: nothing to collect
    assert report["deleted_count"] == 0 and report["kept_objects"] == len(before)

    h.ok("runs", "delete", gone["id"])
    young = h.json("gc")  # the default --min-age keeps objects written in the last hour
    assert young["deleted_count"] == 0 and _objects(h) == before
    assert young["retired_versions"] == 4  # the deleted run's versions are retired at once

    out = h.ok("gc", "--min-age", "0")
    match = re.search(r"Deleted (\d+) objects?, freeing ([\d.]+ [KMG]?B)", out)
    assert match, out
    deleted = int(match.group(1))
    assert deleted >= 4
    assert len(_objects(h)) == len(before) - deleted
    assert not any(Path(uri).exists() for uri in gone_uris)
    assert (
        h.json("artifacts", "list", "--name", "total.output")[0]["id"]
        == (kept["steps"]["total"]["outputs"]["output"]["id"])
    )
    value = h.python("import heron\nprint(heron.Client().get_artifact('total.output').load())")
    assert value.strip() == "10"  # artifacts of live runs still load
    again = h.json("gc", "--min-age", "0")
    assert again["deleted_count"] == 0 and again["freed_bytes"] == 0


def test_gc_dry_run_says_what_gc_deletes_and_deletes_nothing(h: Heron) -> None:
    _run_json(h, "pipe.py:demo", "-p", "n=5")
    gone = _run_json(h, "pipe.py:demo", "-p", "n=7")
    h.ok("runs", "delete", gone["id"])
    before = _objects(h)

    text = h.ok("gc", "--dry-run", "--min-age", "0")
    assert "Would delete" in text and "Dry run: nothing was deleted." in text
    predicted = h.json("gc", "--dry-run", "--min-age", "0")
    assert predicted["dry_run"] is True and _objects(h) == before
    done = h.json("gc", "--min-age", "0")
    assert done["deleted_count"] >= 4
    # the dry run counts the objects of the versions gc retires first (deleted runs' ones)
    assert sorted(predicted["deleted_objects"]) == sorted(done["deleted_objects"])
    assert predicted["freed_bytes"] == done["freed_bytes"]


# --- errors and --help -----------------------------------------------------------------------
def test_bad_targets_are_one_clear_line(h: Heron) -> None:
    (h.tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    cases = {
        "nofile.py:x": "No Python file at",
        "pipe:missing": "pipe has no attribute 'missing'",
        "no_such_module_xyz:demo": "Cannot import module 'no_such_module_xyz'",
        "pipe.py:not_a_pipeline": "is a int, not a pipeline: decorate it with @pipeline",
        "pipe.py:": "is not a pipeline reference",
        "broken.py:demo": "Could not load broken.py:demo: RuntimeError: boom at import",
    }
    for target, expected in cases.items():
        assert expected in error_line(h("run", target)), target
    debug = h("--debug", "run", "broken.py:demo")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert "--debug" not in debug.stderr.strip().splitlines()[-1]


def test_help_of_the_new_commands_imports_no_database_code(h: Heron) -> None:
    code = textwrap.dedent(
        """
        import sys
        from heron.cli.main import cli
        for args in (["--help"], ["run", "--help"], ["pipelines", "list", "--help"],
                     ["pipelines", "show", "--help"], ["artifacts", "list", "--help"],
                     ["artifacts", "show", "--help"], ["artifacts", "lineage", "--help"],
                     ["runs", "logs", "--help"], ["runs", "resume", "--help"], ["gc", "--help"]):
            try:
                cli.main(args)
            except SystemExit as e:
                assert e.code == 0, (args, e.code)
        heavy = [m for m in ("sqlalchemy", "alembic", "rich.table", "rich.live", "orjson",
                             "heron.store.sql", "heron.pipelines", "heron.tracking")
                 if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    assert h.python(code).strip().splitlines()[-1] == "HEAVY []"

    top = textwrap.dedent(
        """
        import sys
        from heron.cli.main import cli
        try:
            cli.main(["--help"])
        except SystemExit as e:
            assert e.code == 0
        loaded = [m for m in sys.modules if m.startswith("heron.cli.") or m == "sqlalchemy"]
        print("LOADED", sorted(loaded))
        """
    )
    loaded = h.python(top).strip().splitlines()[-1]
    assert loaded == "LOADED ['heron.cli.lazy', 'heron.cli.main']"
    out = h.ok("--help")
    for name in ("run", "pipelines", "artifacts", "gc"):
        assert f"  {name} " in out
