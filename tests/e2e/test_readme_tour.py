"""The README's tour, pasted in order as a newcomer would, works.

Every ``python`` and ``bash`` block of README.md runs in the order of the page, except those
marked ``<!-- not-run: reason -->`` (the two set-up commands, ``heron serve``): each Python
block in a fresh interpreter of the venv (a reader pastes each snippet on its own), each shell
line through ``bash`` with the venv's ``bin`` first on ``PATH``. They run in a fresh folder
holding a copy of ``examples/`` (the tour is pasted in a checkout), with ``HOME`` pointed at
a temporary folder, so nothing reaches the real ``~/.heron``. ``console`` blocks are
transcripts and are not run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import markdown_blocks

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def _venv_bin() -> Path:
    venv = REPO / ".venv" / "bin"
    return venv if (venv / "heron").exists() else Path(sys.executable).parent


@dataclass
class Step:
    """One Python block or one shell line of the tour, and what it printed."""

    label: str
    source: str
    stdout: str


@pytest.fixture(scope="module")
def tour(tmp_path_factory) -> tuple[list[Step], Path, dict[str, str]]:
    """Run the tour once; (its steps in order, the working folder, the environment)."""
    root = tmp_path_factory.mktemp("readme-tour")
    work, home = root / "project", root / "home"
    home.mkdir()
    shutil.copytree(REPO / "examples", work / "examples")
    bin_dir = _venv_bin()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env.update(
        HOME=str(home),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="200",
        PYTHONHASHSEED="0",
    )
    env.pop("VIRTUAL_ENV", None)
    python = str(bin_dir / "python")
    steps: list[Step] = []
    for block in markdown_blocks.blocks(README):
        if not block.runnable:
            continue
        if block.language in markdown_blocks.PYTHON:
            result = markdown_blocks.run_python(python, [block], cwd=work, env=env)
            assert result.returncode == 0, (
                f"README block {block.label} failed:\n{block.text}\n{result.stderr[-6000:]}"
            )
            steps.append(Step(block.label, block.text, result.output_of(block.label)))
        elif block.language in markdown_blocks.SHELL:
            for command in markdown_blocks.shell_commands(block.text):
                done = subprocess.run(
                    ["bash", "-e", "-o", "pipefail", "-c", command],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert done.returncode == 0, (
                    f"README line `{command}` ({block.label}) exited {done.returncode}:\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                )
                steps.append(Step(block.label, command, done.stdout))
    return steps, work, env


def _output(steps: list[Step], startswith: str) -> str:
    found = [s.stdout for s in steps if s.source.startswith(startswith)]
    assert found, f"the tour has no step starting with {startswith!r}"
    return found[0]


def _heron(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(_venv_bin() / "heron"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_setup_commands_are_kept_and_not_run():
    blocks = markdown_blocks.blocks(README)
    setup = [b for b in blocks if "pip install" in b.text]
    assert [b.text.strip() for b in setup] == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[sklearn,pandas]' "
        "&& .venv/bin/heron quickstart",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' "
        "&& .venv/bin/python -m pytest",
    ]
    assert all(not b.runnable for b in setup)
    assert next(b for b in blocks if "heron serve" in b.text and b.language == "bash").not_run


def test_every_python_snippet_imports_heron_itself():
    for block in markdown_blocks.blocks(README):
        if block.language in markdown_blocks.PYTHON and "heron." in block.text:
            assert "import heron" in block.text, block.label


def test_the_tour_runs_in_order(tour):
    steps, _, _ = tour
    assert steps[0].source.startswith("heron init")
    assert "Initialized a Heron workspace" in steps[0].stdout
    sources = [s.source for s in steps]
    assert any(s.startswith("heron runs list") for s in sources)
    assert any("rollback" in s for s in sources)


def test_the_python_tour_prints_what_it_says(tour):
    steps, _, _ = tour
    first = _output(steps, "import heron\n\nheron.set_experiment")
    lines = first.strip().splitlines()
    assert "'lr': '0.1'" in lines[0] and "'depth': '3'" in lines[0]
    assert lines[-1] == "10000"


def test_runs_list_finds_the_iris_runs_of_the_python_tour(tour):
    steps, _, _ = tour
    listing = _output(steps, "heron runs list --experiment iris")
    assert "baseline" in listing
    assert "No runs" not in listing


def test_runs_show_prints_the_newest_iris_run_as_json(tour):
    steps, _, _ = tour
    shown = json.loads(_output(steps, "heron runs show"))
    assert shown["id"]
    assert shown["status"] == "completed"


def test_the_wine_pipeline_runs(tour):
    steps, _, _ = tour
    assert "completed" in _output(steps, "heron run examples/wine_pipeline.py:training")


def test_rollback_moves_the_champion_back_to_version_1(tour):
    steps, work, env = tour
    assert "2" in _output(steps, "heron models show iris@champion")
    shown = json.loads(_heron(env, work, "models", "show", "iris@champion", "--json"))
    assert shown["version"] == 1
    history = json.loads(_heron(env, work, "models", "history", "iris", "champion", "--json"))
    assert [event["action"] for event in history] == ["set", "set", "rollback"]


def test_the_tour_writes_to_the_project_store_not_home(tour):
    _, work, env = tour
    assert (work / ".heron" / "heron.db").is_file()
    assert not (Path(env["HOME"]) / ".heron").exists()
