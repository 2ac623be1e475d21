"""A failing pipeline is loud (issue 15, and two `heron run` points of issue 19).

Calling a pipeline whose run fails raises ``heron.PipelineRunFailed`` (naming each failed step
and its error, carrying the run as ``.run``) after everything is stored, unless
``with_options(raise_on_failure=False)``; a failed step's missing output says the step
failed; stored tracebacks start at the user's frame; a step calling ``sys.exit(0)`` fails.
Also: parameters of ``heron run`` checked against the pipeline's annotations, and a file
target without ``:name``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal, Optional

import click
import pytest

import heron
from heron.artifacts.loading import store_holding
from heron.cli.run import typed_params
from heron.core.errors import HeronError, NotFound, PipelineRunFailed
from heron.pipelines.loader import AmbiguousReference, complete_reference, load_pipeline
from heron.pipelines.pipeline import pipeline
from heron.pipelines.result import PipelineRun
from heron.pipelines.resume import resume_pipeline_run
from heron.pipelines.step import step
from heron.store.registry import get_store

THIS_FILE = str(Path(__file__).resolve())

# --- steps (module level: worker processes receive them by reference) ------------------------


@step
def source(n: int) -> int:
    return n


@step
def boom(x: int) -> int:
    print("about to fail")
    raise ValueError(f"boom on {x}")


@step
def other_boom(x: int) -> int:
    raise KeyError("missing key")


@step
def add(x: int, k: int) -> int:
    return x + k


@step(retries=2, retry_delay=0)
def leaves(x: int) -> int:
    print(f"leaving with {x}")
    sys.exit(0)


@step(outputs=("a", "b"))
def pair() -> tuple[int, int]:
    return 1, 2, 3  # type: ignore[return-value]


@pipeline
def broken(n: int = 3):
    start = source(n)
    add(boom(start), k=1)  # skipped: depends on the failure
    add(other_boom(start), k=2)  # skipped too
    add(start, k=10)  # runs: independent


@pipeline
def exiting(n: int = 4):
    start = source(n)
    add(leaves(start), k=1)
    add(start, k=1)


def stored_logs(run) -> str:
    blobs, content_hash = store_holding(run.tags["heron.logs"])
    return blobs.read_bytes(content_hash).decode()


def traceback_files(reason: str) -> list[str]:
    """The files of the frames of the (last) traceback in a stored error, outermost first."""
    tail = reason[reason.rindex("Traceback (most recent call last):") :]
    return [line.split('"')[1] for line in tail.splitlines() if line.startswith('  File "')]


# --- PipelineRunFailed --------------------------------------------------------------------------


def test_a_failing_pipeline_call_raises_naming_each_failed_step_and_its_error(client):
    with pytest.raises(heron.PipelineRunFailed) as failure:
        broken(n=3)
    error = failure.value
    assert isinstance(error, HeronError) and error.code == "PIPELINE_RUN_FAILED"
    message = str(error)
    assert "step 'boom' failed: ValueError: boom on 3" in message
    assert "step 'other_boom' failed: KeyError: 'missing key'" in message
    assert "2 steps skipped" in message and "add, add_2" in message
    assert "raise_on_failure=False" in message
    assert "Traceback" not in message  # one line per step; the tracebacks are stored

    run = error.run
    assert isinstance(run, PipelineRun)
    assert run.status == "failed" and sorted(run.failed_steps) == ["boom", "other_boom"]
    assert run.id in message and run.steps["boom"].id in message  # what to look at next
    assert run.steps["add_3"].outputs["output"].load() == 13  # independent work is kept
    # everything was stored before the error was raised
    stored = client.get_run(run.id)
    assert stored.status == "failed" and "boom" in stored.status_reason
    assert {client.get_run(s.id).status for s in run.steps.values()} == {
        "completed",
        "failed",
        "skipped",
    }


def test_raise_on_failure_false_returns_the_failed_run(client):
    quiet = broken.with_options(raise_on_failure=False, run_name="quiet")
    run = quiet(n=3)
    assert run.status == "failed" and sorted(run.failed_steps) == ["boom", "other_boom"]
    assert client.get_run(run.id).name == "quiet"
    # the option survives further with_options, and the decorator takes it too
    assert quiet.with_options(cache=False)(n=3).status == "failed"

    @pipeline(raise_on_failure=False)
    def tolerant():
        boom(source(1))

    assert tolerant().status == "failed"
    with pytest.raises(PipelineRunFailed, match="step 'boom' failed: ValueError: boom on 1"):
        tolerant.with_options(raise_on_failure=True)()


def test_the_error_pickles_with_its_message(client):
    with pytest.raises(PipelineRunFailed) as failure:
        broken(n=2)
    copy = pickle.loads(pickle.dumps(failure.value))
    assert str(copy) == str(failure.value) and copy.run is None


def test_a_script_calling_a_failing_pipeline_exits_non_zero_naming_the_step(tmp_path):
    """The issue as reported: the script printed nothing and exited 0."""
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import heron
            from heron import pipeline, step

            @step
            def load(n: int) -> int:
                raise ValueError(f"cannot load {n} rows")

            @pipeline
            def demo(n: int = 5):
                load(n)

            demo()
            print("not reached")
            """
        )
    )
    uri = "sqlite:///" + str(tmp_path / "script.db")
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**_env(), "HERON_TRACKING_URI": uri},
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "not reached" not in result.stdout
    last = result.stderr.strip().splitlines()
    assert any(
        line.startswith("heron.core.errors.PipelineRunFailed: Pipeline run ") for line in last
    )
    assert "step 'load' failed: ValueError: cannot load 5 rows" in result.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}


def test_resume_returns_the_new_run_even_when_it_fails_again(workspace):
    """Resuming (``Client().resume_run``, ``heron runs resume``) reports the new run as a
    result: the CLI prints its table of steps, so it does not raise for a step failing again."""
    module = workspace.path / "still_broken.py"
    module.write_text(
        textwrap.dedent(
            """
            from heron import pipeline, step

            @step
            def first(n: int) -> int:
                return n

            @step
            def second(x: int) -> int:
                raise RuntimeError("still broken")

            @pipeline
            def still(n: int = 1):
                second(first(n))
            """
        )
    )
    with pytest.raises(PipelineRunFailed) as failure:
        load_pipeline(f"{module}:still")(n=2)
    again = resume_pipeline_run(get_store(), failure.value.run.id)
    assert again.status == "failed" and again.failed_steps == ["second"]
    assert again.steps["first"].cached
    assert heron.Client().resume_run(again.id).status == "failed"


# --- outputs of steps that have none ------------------------------------------------------------


def test_the_output_of_a_failed_step_says_the_step_failed():
    run = broken.with_options(raise_on_failure=False)(n=3)
    step_id = run.steps["boom"].id
    with pytest.raises(KeyError) as missing:
        run.steps["boom"].outputs["output"]
    assert isinstance(missing.value, NotFound)
    assert str(missing.value) == (
        "Step 'boom' failed (ValueError: boom on 3); it has no outputs. Its output and "
        f"traceback: heron runs logs {step_id}."
    )
    assert run.steps["boom"].outputs == {} and run.steps["boom"].outputs.get("output") is None

    with pytest.raises(KeyError, match=r"Step 'add' was skipped \(it depends on boom, which"):
        run.steps["add"].outputs["output"]
    with pytest.raises(KeyError, match="Step 'add_3' has no output 'out'; its outputs are: output"):
        run.steps["add_3"].outputs["out"]
    with pytest.raises(KeyError, match="has no step 'bom'; its steps are: source, boom, add, "):
        run.steps["bom"]


# --- stored tracebacks ------------------------------------------------------------------------


@pytest.mark.parametrize("parallelism", [1, 2], ids=["in-process", "worker-processes"])
def test_stored_tracebacks_start_at_the_users_frame(parallelism, client):
    run = broken.with_options(parallelism=parallelism, raise_on_failure=False)(n=3)
    failed = client.get_run(run.steps["boom"].id)
    reason = failed.status_reason
    assert reason.startswith("ValueError: boom on 3\n")
    assert traceback_files(reason) == [THIS_FILE]
    assert "heron/execution" not in reason and "execute_step" not in reason
    # the logs read as a terminal would show them: the output, then the traceback
    logs = stored_logs(failed)
    assert logs.startswith("about to fail\nTraceback (most recent call last):\n")
    assert logs.rstrip().endswith("ValueError: boom on 3")
    assert traceback_files(logs) == [THIS_FILE]


def test_an_error_of_the_executor_itself_keeps_its_frames(client):
    @pipeline
    def mismatched():
        pair()

    run = mismatched.with_options(raise_on_failure=False)()
    reason = client.get_run(run.steps["pair"].id).status_reason
    assert reason.startswith("InvalidArgument: Step 'pair' declares 2 outputs")
    assert any(f.endswith("executor.py") for f in traceback_files(reason))  # no user frame


# --- sys.exit in a step -----------------------------------------------------------------------


@pytest.mark.parametrize("parallelism", [1, 2], ids=["in-process", "worker-processes"])
def test_a_step_calling_sys_exit_fails_and_is_not_retried(parallelism, client):
    with pytest.raises(
        PipelineRunFailed, match=r"step 'leaves' failed: StepExited: .*sys\.exit\(0\)"
    ):
        exiting.with_options(parallelism=parallelism)(n=4)
    [pipeline_run] = client.search_runs(filter="attributes.kind = 'pipeline'")
    assert pipeline_run.status == "failed"
    steps = {
        r.name: r for r in client.search_runs(filter=f"attributes.parent_id = '{pipeline_run.id}'")
    }
    assert {n: r.status for n, r in steps.items()} == {
        "source": "completed",
        "leaves": "failed",
        "add": "skipped",
        "add_2": "completed",  # the process (or worker) survived to run it
    }
    exited = steps["leaves"]
    assert "a step that exits fails" in exited.status_reason
    assert exited.tags["heron.attempts"] == "1"  # exiting is deliberate: no retry
    assert traceback_files(exited.status_reason) == [THIS_FILE]
    logs = stored_logs(exited)
    assert logs.startswith("leaving with 4\n")  # what it printed before exiting is kept
    assert "sys.exit(0)" in logs


# --- heron run: parameters checked against annotations ------------------------------------------


@step
def consume(**_: object) -> int:
    return 0


@pipeline
def typed(
    n: int = 0,
    lr: float = 0.1,
    flag: bool = False,
    version: str = "",
    sizes: list[int] | None = None,
    limit: Optional[int] = None,  # noqa: UP045  (the typing spelling is checked too)
    mode: Literal["fast", "slow"] = "fast",
    weights: dict[str, float] | None = None,
    anything=None,
):
    consume()


def test_cli_parameters_fit_the_annotations():
    assert typed_params(typed, ("n=5", "lr=1", "flag=yes", "version=1.10")) == {
        "n": 5,
        "lr": 1,
        "flag": True,
        "version": "1.10",  # as typed, not the number 1.1
    }
    assert typed_params(
        typed,
        ("sizes=[1,2]", "limit=null", "mode=slow", 'weights={"a":1,"b":0.5}', "anything=x"),
    ) == {
        "sizes": [1, 2],
        "limit": None,
        "mode": "slow",
        "weights": {"a": 1, "b": 0.5},
        "anything": "x",
    }
    assert typed_params(typed, ("limit=3", "flag=false")) == {"limit": 3, "flag": False}


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("n=abc", "parameter 'n' of pipeline 'typed' expects int, got 'abc'."),
        ("n=1.5", "expects int, got '1.5'"),
        ("n=true", "expects int, got 'true'"),
        ("lr=fast", "expects float, got 'fast'"),
        ("flag=maybe", "expects bool, got 'maybe'"),
        ('sizes=[1,"x"]', "expects list[int] | None, got '[1,\"x\"]'"),
        ("limit=some", "expects int | None, got 'some'"),
        ("mode=medium", "expects Literal['fast', 'slow'], got 'medium'"),
        ('weights={"a":"heavy"}', "expects dict[str, float] | None"),
    ],
)
def test_a_cli_parameter_not_fitting_its_annotation_is_a_usage_error(pair, expected):
    with pytest.raises(click.BadParameter) as refused:
        typed_params(typed, (pair,))
    assert refused.value.exit_code == 2
    assert expected in refused.value.format_message()


# --- a target without :name ---------------------------------------------------------------------

ONE = """
from heron import pipeline, step

@step
def s(n: int) -> int:
    return n

@pipeline
def only(n: int = 1):
    s(n)

alias = only  # the same pipeline under a second name
"""

TWO = (
    ONE
    + """
@pipeline(name="renamed")
def second():
    s(2)
"""
)


def test_a_file_alone_names_its_one_pipeline(workspace):
    (workspace.path / "one.py").write_text(ONE)
    (workspace.path / "two.py").write_text(TWO)
    (workspace.path / "none.py").write_text("x = 1\n")
    assert complete_reference("one.py") == "one.py:only"
    assert complete_reference("two.py:second") == "two.py:second"
    assert load_pipeline("one.py").name == "only"
    with pytest.raises(AmbiguousReference) as several:
        complete_reference("two.py")
    assert several.value.names == ["only", "second"]
    assert str(several.value) == "two.py defines 2 pipelines: only, second. Name one: two.py:only."
    with pytest.raises(AmbiguousReference, match=r"none\.py defines no pipeline"):
        complete_reference("none.py")
