"""`heron drift` as a user types it: files of every kind, artifacts by name, the verdict in a
table or JSON, `--fail-on-drift`, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.e2e.test_cli import Heron
from tests.support.cli_output import error_line

pytestmark = pytest.mark.e2e


def _tables(rows: int = 2000, shift: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"alcohol": rng.normal(13, 1, rows), "colour": rng.choice(["red", "white"], rows)}
    )
    current = pd.DataFrame(
        {"alcohol": rng.normal(13 + shift, 1, rows), "colour": rng.choice(["red", "white"], rows)}
    )
    return reference, current


@pytest.fixture
def cli(tmp_path: Path) -> Heron:
    return Heron(tmp_path, f"sqlite:///{tmp_path / 'heron.db'}")


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_two_files_are_compared_column_by_column(cli, tmp_path, suffix):
    reference, current = _tables()
    for name, table in (("ref", reference), ("cur", current)):
        path = tmp_path / f"{name}{suffix}"
        if suffix == ".parquet":
            table.to_parquet(path)
        elif suffix == ".csv":
            table.to_csv(path, index=False)
        else:
            table.to_json(path, orient="records", lines=True)
    out = cli.ok("drift", "-r", f"ref{suffix}", "-c", f"cur{suffix}")
    assert "alcohol" in out and "wasserstein" in out and "jensenshannon" in out
    assert "The data set drifted: 1 of 2 columns drifted (50%" in out
    report = cli.json("drift", "--reference", f"ref{suffix}", "--current", f"cur{suffix}")
    assert report["drifted"] is True and report["drifted_columns"] == ["alcohol"]
    assert report["columns"]["colour"]["drifted"] is False


def test_fail_on_drift_sets_the_exit_status(cli, tmp_path):
    reference, current = _tables()
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_parquet(tmp_path / "cur.parquet")
    reference.to_parquet(tmp_path / "same.parquet")
    drifted = cli("drift", "-r", "ref.parquet", "-c", "cur.parquet", "--fail-on-drift")
    assert drifted.returncode == 3, drifted.stderr
    steady = cli("drift", "-r", "ref.parquet", "-c", "same.parquet", "--fail-on-drift")
    assert steady.returncode == 0 and "did not drift" in steady.stdout


def test_artifacts_are_named_like_everywhere_else(cli, tmp_path):
    reference, current = _tables(rows=500)
    reference.to_parquet(tmp_path / "batch.parquet")
    np.save(tmp_path / "current.npy", current[["alcohol"]].to_numpy())
    cli.python(
        "import heron, pandas as pd\n"
        "with heron.start_run():\n"
        f"    heron.log_artifact({str(tmp_path / 'batch.parquet')!r})\n"
        "    heron.log_dict({'rows': 3}, 'meta.json')\n"
    )
    report = cli.json(
        "drift", "-r", "batch.parquet:1", "-c", "batch.parquet", "--columns", "alcohol"
    )
    assert report["drifted"] is False and list(report["columns"]) == ["alcohol"]
    assert report["columns"]["alcohol"]["method"] == "ks"
    as_array = cli.json("drift", "-r", "current.npy", "-c", "current.npy")
    assert as_array["columns"]["0"]["statistic"] == 1.0  # the same sample: p = 1
    wrong = cli("drift", "-r", "meta.json", "-c", "batch.parquet")
    assert "Cannot read the reference as a table: its value 'rows' is not a list" in error_line(
        wrong
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-r", "missing.parquet", "-c", "x"), "Invalid value for --reference: no file at"),
        (("-r", "no-such-artifact", "-c", "x"), "No artifact"),
        (("-r", "ref.parquet", "-c", "ref.parquet", "--columns", "nope"), "Column 'nope'"),
        (("-r", "ref.parquet", "-c", "ref.parquet", "--drift-share", "2"), "drift_share must"),
        (("-r", "notes.txt", "-c", "ref.parquet"), "cannot read notes.txt"),
    ],
)
def test_bad_input_is_one_clear_error(cli, tmp_path, args, message):
    _tables()[0].to_parquet(tmp_path / "ref.parquet")
    (tmp_path / "notes.txt").write_text("hello")
    cli.python("import heron\nwith heron.start_run():\n    heron.log_metric('x', 1)\n")
    result = cli("drift", *args)
    assert result.returncode in (1, 2)
    assert message in result.stderr, result.stderr


def test_too_few_rows_are_not_evaluated(cli, tmp_path):
    reference, current = _tables()
    reference.to_parquet(tmp_path / "ref.parquet")
    current.head(10).to_parquet(tmp_path / "few.parquet")
    out = cli.ok("drift", "-r", "ref.parquet", "-c", "few.parquet", "--fail-on-drift")
    assert "Not evaluated: the current data has 10 rows; at least 30 are needed" in out
    report = json.loads(cli.ok("drift", "-r", "ref.parquet", "-c", "few.parquet", "--json"))
    assert report["evaluated"] is False and report["drifted"] is False
