"""`heron import` throughput from an MLflow SQLite store (DESIGN / issue 12: ≥ 5,000 runs/min
from 10,000 runs with 20 metrics each).

The store is made the way MLflow makes it: the client virtualenv's mlflow creates the schema
(its Alembic migrations), then the rows are bulk-inserted into MLflow's own tables (runs with
their system tags, 3 params and 20 metrics of ``--steps`` points each). Then `heron import`
runs as a user types it, into a fresh embedded store, and again (everything skipped).

    python benchmarks/mlflow_import.py [--runs 10000] [--metrics 20] [--steps 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _harness

_harness.BENCHMARK = "mlflow_import"
TARGET_RUNS_PER_MINUTE = 5_000

SCHEMA = """
import mlflow
from mlflow.tracking import MlflowClient
MlflowClient().search_experiments()  # creates MLflow's tables
mlflow.create_experiment("bench")
"""


def make_store(folder: Path, runs: int, metrics: int, steps: int) -> Path:
    from tests.support.mlflow_client import check_client, client_venv, run_client

    db = folder / "mlflow.db"
    check_client(run_client(client_venv(), SCHEMA, f"sqlite:///{db}", cwd=folder))
    conn = sqlite3.connect(db)
    (experiment_id,) = conn.execute(
        "SELECT experiment_id FROM experiments WHERE name = 'bench'"
    ).fetchone()
    start = 1_700_000_000_000
    run_rows, tag_rows, param_rows, metric_rows, latest_rows = [], [], [], [], []
    for i in range(runs):
        run_id = f"{i:032x}"
        t0 = start + i * 1000
        run_rows.append(
            (
                run_id,
                f"run-{i}",
                "LOCAL",
                "train.py",
                "",
                "bench",
                "FINISHED",
                t0,
                t0 + 900,
                None,
                "",
                "active",
                f"{folder}/mlruns/{experiment_id}/{run_id}/artifacts",
                experiment_id,
            )
        )
        tag_rows += [
            ("mlflow.runName", f"run-{i}", run_id),
            ("mlflow.user", "bench", run_id),
            ("mlflow.source.name", "train.py", run_id),
        ]
        param_rows += [(k, str(v), run_id) for k, v in (("lr", 0.1), ("depth", i % 7), ("i", i))]
        for m in range(metrics):
            for step in range(steps):
                value = (i * 31 + m * 7 + step) % 1000 / 1000
                metric_rows.append((f"m{m}", value, t0 + step, run_id, step, 0))
            latest_rows.append((f"m{m}", value, t0 + steps - 1, run_id, steps - 1, 0))
    conn.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
        "status, start_time, end_time, deleted_time, source_version, lifecycle_stage, "
        "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        run_rows,
    )
    conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tag_rows)
    conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", param_rows)
    conn.executemany(
        "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
        metric_rows,
    )
    conn.executemany(
        "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
        "VALUES (?,?,?,?,?,?)",
        latest_rows,
    )
    conn.commit()
    conn.close()
    return db


def heron_import(folder: Path, db: Path) -> tuple[float, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "heron",
            "--tracking-uri",
            f"sqlite:///{folder / 'heron.db'}",
            "import",
            f"sqlite:///{db}",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"heron import failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--steps", type=int, default=1, help="points per metric")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="heron-bench-import-") as tmp:
        folder = Path(tmp)
        _harness.progress(f"making an MLflow store of {args.runs:,} runs")
        db = make_store(folder, args.runs, args.metrics, args.steps)
        _harness.progress("heron import")
        elapsed, summary = heron_import(folder, db)
        imported = summary["counts"]["runs"]["imported"]
        assert imported == args.runs, summary["counts"]["runs"]
        detail = {"seconds": elapsed, "metrics": args.metrics, "points_per_metric": args.steps}
        _harness.emit(
            "import runs from MLflow SQLite",
            "heron",
            imported / elapsed * 60,
            "runs/min",
            higher_is_better=True,
            target=TARGET_RUNS_PER_MINUTE,
            n=args.runs,
            detail=detail,
        )
        _harness.progress("heron import again (everything skipped)")
        elapsed, summary = heron_import(folder, db)
        assert summary["counts"]["runs"]["skipped"] == args.runs, summary["counts"]["runs"]
        _harness.emit(
            "re-import, nothing new",
            "heron",
            args.runs / elapsed * 60,
            "runs/min",
            higher_is_better=True,
            n=args.runs,
            detail={"seconds": elapsed},
        )


if __name__ == "__main__":
    main()
