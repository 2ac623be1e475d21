"""End to end, as a user runs it: a pipeline trains and registers a model, `heron serve
--log-inferences` answers requests with drifted data, `heron monitor run` finds the drift, and
`heron scheduler` starts the retraining pipeline, whose lineage names the evaluation."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.support.serving import Server

pytest.importorskip("pyarrow")
pytest.importorskip("sklearn")

#: the longest the scheduler may take to start the retraining run (a hang, not a measure)
RETRAIN_LIMIT_S = 120

FLOWS = """
import numpy as np
import pandas as pd
import heron
from heron import pipeline, step
from sklearn.linear_model import LogisticRegression


@step
def make(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 1500), "b": rng.normal(5, 2, 1500)})
    frame["target"] = (frame.a > 0).astype(int)
    return frame


@step
def fit(train: pd.DataFrame) -> str:
    features = train[["a", "b"]]
    model = LogisticRegression().fit(features, train.target)
    return heron.log_model(model, "model", input_example=features.head(5)).model_uri


@step(cache=False)
def register(model_uri: str) -> int:
    from heron.registry.operations import resolve_source

    client = heron.Client()
    version = client.register_model("toy", resolve_source(client.store, model_uri))
    client.set_model_alias("toy", "champion", version.version)
    return version.version


@pipeline
def training(seed: int = 0):
    register(fit(make(seed)))
"""


def _heron(env, cwd, *args, check=True):
    done = subprocess.run(
        [sys.executable, "-m", "heron", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"heron {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done


def test_serve_drifted_requests_monitor_and_retrain(tmp_path):
    import heron
    from heron.core import config
    from heron.store import registry

    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["HERON_HOME"] = str(tmp_path / "home")
    env["HERON_TRACKING_URI"] = "sqlite:///" + str(tmp_path / "heron.db")
    (tmp_path / "flows.py").write_text(FLOWS)
    _heron(env, tmp_path, "run", "flows.py:training")

    server = Server(["models:/toy@champion", "--log-inferences"], env, tmp_path)
    try:
        rng = np.random.default_rng(7)
        for _ in range(4):  # 400 rows whose `a` moved by two standard deviations
            rows = np.column_stack([rng.normal(2, 1, 100), rng.normal(5, 2, 100)]).tolist()
            answer = server.predictions({"dataframe_split": {"columns": ["a", "b"], "data": rows}})
            assert len(answer) == 100
    finally:
        server.stop()  # a clean stop writes the pending rows

    _heron(
        env,
        tmp_path,
        "monitor",
        "create",
        "toy-drift",
        "models:/toy@champion",
        "--window",
        "1h",
        "--on-drift",
        "retrain=flows.py:training",
    )
    evaluated = _heron(env, tmp_path, "monitor", "run", "toy-drift", "--fail-on-drift", check=False)
    assert evaluated.returncode == 3, evaluated.stdout + evaluated.stderr
    assert "The data set drifted" in evaluated.stdout
    assert "400 current rows" in evaluated.stdout
    report = _heron(env, tmp_path, "monitor", "report", "toy-drift", "--html", "report.html")
    assert "Wrote the HTML report" in report.stdout
    assert "<svg" in (tmp_path / "report.html").read_text()

    scheduler = subprocess.Popen(
        [sys.executable, "-m", "heron", "scheduler", "--poll", "0.2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    config.set_tracking_uri(env["HERON_TRACKING_URI"])
    try:
        client = heron.Client()
        deadline = time.monotonic() + RETRAIN_LIMIT_S
        retrained = []
        while time.monotonic() < deadline and not retrained:
            retrained = [
                run
                for run in client.search_runs(
                    filter="attributes.kind = 'pipeline' and attributes.status = 'completed' "
                    "and tags.`heron.schedule` = 'toy-drift-retrain'"
                )
            ]
            time.sleep(0.2)
        assert retrained, "the scheduler never ran the retraining pipeline"
        run = retrained[0]
        alert = client.get_artifact("monitors/toy-drift/drift")
        inputs = {link.name: link.artifact_id for link in client.list_run_artifacts(run.id)}
        assert inputs["trigger.monitors/toy-drift/drift"] == alert.id
        evaluation = client.get_run(alert.producer_run_id)
        assert evaluation.kind == "monitor" and evaluation.tags["heron.monitor"] == "toy-drift"
        assert client.get_model_version_by_alias("toy", "champion").version == 2
    finally:
        scheduler.send_signal(signal.SIGTERM)
        try:
            scheduler.wait(60)
        except subprocess.TimeoutExpired:
            scheduler.kill()
            scheduler.wait()
        config.set_tracking_uri(None)
        registry.forget_stores()
