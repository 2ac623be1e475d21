"""Monitors: the reference found through lineage, evaluations as runs of kind monitor, the
data-quality checks, the actions (alert artifact -> retraining schedule, webhook)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import sys
import threading

import numpy as np
import pandas as pd
import pytest

import heron
from heron.core import config
from heron.core.errors import InvalidArgument, NotFound
from heron.monitoring import create_monitor, delete_monitor, evaluate, get_monitor, list_monitors
from heron.monitoring.evaluation import evaluation_runs, stored_report
from heron.monitoring.inferences import log_inferences
from heron.monitoring.reference import find_reference
from heron.store import registry
from tests.support.stores import sqlite_uri

pytest.importorskip("pyarrow")
pytest.importorskip("sklearn")

PIPELINES = """
import numpy as np
import pandas as pd
import heron
from heron import pipeline, step
from sklearn.linear_model import LogisticRegression


@step
def make(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1500
    frame = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(5, 2, n)})
    frame["target"] = (frame.a + rng.normal(0, 0.5, n) > 0).astype(int)
    return frame


@step
def labels() -> dict:
    return {"names": ["no", "yes"]}


@step
def fit(train: pd.DataFrame, meta: dict) -> str:
    features = train[["a", "b"]]
    model = LogisticRegression().fit(features, train.target)
    return heron.log_model(model, "model", input_example=features.head(5)).model_uri


@pipeline
def training(seed: int = 0):
    fit(make(seed), labels())
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows.py").write_text(PIPELINES)
    monkeypatch.syspath_prepend(str(tmp_path))
    uri = sqlite_uri(tmp_path / "heron.db")
    heron.set_tracking_uri(uri)
    yield tmp_path
    sys.modules.pop("flows", None)
    config.set_tracking_uri(None)
    registry.forget_stores()


def _train(seed: int = 0) -> tuple[heron.Client, int]:
    from flows import training

    from heron.registry.operations import resolve_source

    run = training(seed=seed)
    client = heron.Client()
    uri = run.steps["fit"].outputs["output"].load()
    version = client.register_model("toy", resolve_source(client.store, uri))
    client.set_model_alias("toy", "champion", version.version)
    return client, version.version


def _log(rows: int, shift: float = 0.0, seed: int = 1, uri: str = "models:/toy@champion"):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(shift, 1, rows), "b": rng.normal(5, 2, rows)})
    model = heron.load_model(uri)
    log_inferences(uri, frame, np.asarray(model.predict(frame)))
    return frame


def test_the_reference_is_the_producing_steps_table_found_through_lineage(workspace):
    client, _ = _train()
    artifact = client.store.get_artifact_version(
        client.get_model_version_by_alias("toy", "champion").artifact_id
    )
    reference = find_reference(client.store, artifact)
    assert reference.how == "lineage" and reference.link_name == "train"
    assert reference.artifact.name == "make.output"  # the table, not the dict beside it
    assert reference.artifact.producer_run_id != artifact.producer_run_id
    pd.DataFrame({"a": [0.0], "b": [1.0]}).to_csv(workspace / "given.csv", index=False)
    with heron.start_run():
        heron.log_artifact(workspace / "given.csv")
    explicit = find_reference(client.store, artifact, "given.csv")
    assert explicit.how == "explicit" and explicit.artifact.name == "given.csv"


def test_a_model_without_recorded_training_data_asks_for_an_explicit_reference(workspace):
    from sklearn.dummy import DummyClassifier

    with heron.start_run():
        info = heron.log_model(DummyClassifier().fit([[0.0], [1.0]], [0, 1]), "model")
    store = heron.Client().store
    artifact = store.get_artifact_version(info.artifact_id)
    with pytest.raises(NotFound, match="--reference NAME"):
        find_reference(store, artifact)


def test_a_drifted_window_is_a_monitor_run_with_metrics_reports_and_an_alert(workspace):
    client, _ = _train()
    _log(400, shift=2.0)
    create_monitor("toy-drift", "models:/toy@champion", window="1h")
    evaluation = evaluate("toy-drift")
    assert evaluation.status == "drifted"
    assert evaluation.report.columns["a"].drifted and not evaluation.report.columns["b"].drifted
    assert evaluation.report.prediction is not None and evaluation.report.prediction.drifted
    run = client.get_run(evaluation.run_id)
    assert run.kind == "monitor" and run.status == "completed"
    assert run.tags["heron.monitor"] == "toy-drift" and run.tags["heron.monitor.model_version"]
    assert run.metrics["drift.a.drifted"] == 1.0 and run.metrics["drift.b.drifted"] == 0.0
    assert run.metrics["drift.n_current"] == 400.0
    links = client.list_run_artifacts(run.id)
    outputs = {link.name for link in links if link.direction == "output"}
    assert {"monitors/toy-drift/report.json", "monitors/toy-drift/report.html"} <= outputs
    assert "monitors/toy-drift/drift" in outputs
    inputs = {link.name for link in links if link.direction == "input"}
    assert inputs == {"model", "reference"}
    page = stored_report(run, "html")
    assert "<svg" in page and "Drift detected" in page
    assert stored_report(run)["status"] == "drifted"
    assert [r.id for r in evaluation_runs("toy-drift")] == [run.id]


def test_an_undrifted_window_writes_no_alert(workspace):
    client, _ = _train()
    _log(3000, shift=0.0, seed=5)  # Wasserstein's noise is well under 0.1 at this size
    create_monitor("calm", "models:/toy@champion")
    evaluation = evaluate("calm")
    assert evaluation.status == "no drift" and not evaluation.actions
    with pytest.raises(NotFound):
        client.get_artifact("monitors/calm/drift")


def test_too_few_rows_or_no_log_at_all_is_not_evaluated_and_never_alerts(workspace):
    client, _ = _train()
    create_monitor("empty", "models:/toy@champion", min_rows=50)
    nothing = evaluate("empty")
    assert nothing.status == "not evaluated" and "--log-inferences" in nothing.notes[0]
    _log(10, shift=5.0)
    few = evaluate("empty")
    assert few.status == "not evaluated" and "at least 50" in few.report.reason
    run = client.get_run(few.run_id)
    assert run.status == "completed" and run.tags["heron.monitor.status"] == "not evaluated"
    with pytest.raises(NotFound):
        client.get_artifact("monitors/empty/drift")


def test_the_window_ends_at_the_evaluation_time(workspace):
    _train()
    _log(200, shift=3.0)
    create_monitor("past", "models:/toy@champion", window="30m")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    assert evaluate("past", at=earlier).report.n_current == 0


def test_the_monitor_follows_its_alias_and_reads_that_versions_rows(workspace):
    _, first = _train()
    _log(300, shift=3.0)  # version 1 saw drifted data
    _, second = _train(seed=1)
    assert second == first + 1
    _log(3000, shift=0.0, seed=9)  # version 2 sees normal data
    create_monitor("follow", "models:/toy@champion")
    evaluation = evaluate("follow")
    assert evaluation.model_version == str(second) and evaluation.report.n_current == 3000
    assert evaluation.status == "no drift"


def test_rows_against_the_signature_are_reported_as_quality_issues(workspace):
    _train()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": [str(v) for v in rng.normal(0, 1, 100)], "extra": 1.0})
    log_inferences("models:/toy@champion", frame, np.zeros(100))
    create_monitor("quality", "models:/toy@champion")
    issues = {(i.column, i.check) for i in evaluate("quality").issues}
    assert ("b", "missing_column") in issues
    assert ("a", "type_mismatch") in issues
    assert ("extra", "unexpected_column") in issues


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_drift_posts_the_webhook_and_a_dead_one_never_fails_the_run(workspace, monkeypatch):
    _train()
    _log(400, shift=2.0)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        create_monitor("hooked", "models:/toy@champion", webhook=url)
        evaluation = evaluate("hooked")
    finally:
        server.shutdown()
    assert evaluation.actions["webhook"] == "delivered (HTTP 204)"
    message = _Hook.received[-1]
    assert message["event"] == "drift" and message["monitor"] == "hooked"
    assert "a" in message["drifted_columns"] and message["run_id"] == evaluation.run_id
    monkeypatch.setattr("heron.monitoring.webhooks.BACKOFF_S", 0.01)
    create_monitor("dead", "models:/toy@champion", webhook=url)  # nothing listens now
    dead = evaluate("dead")
    run = heron.Client().get_run(dead.run_id)
    assert run.status == "completed" and dead.status == "drifted"
    assert run.tags["heron.monitor.action.webhook"].startswith("failed after 3 attempts")


def test_monitors_are_created_updated_listed_and_deleted_with_their_retraining(workspace):
    _train()
    store = heron.Client().store
    made = create_monitor("m", "models:/toy@champion", window="2h", retrain="flows.py:training")
    assert made.spec.window == 7200 and made.spec.retrain.endswith("flows.py:training")
    retrain = store.get_schedule("m-retrain")
    assert retrain.on_artifacts == ["monitors/m/drift"] and retrain.cron is None
    changed = create_monitor("m", "models:/toy@champion", window=600, drift_share=0.3)
    assert changed.spec.window == 600 and changed.spec.retrain is None
    with pytest.raises(NotFound):
        store.get_schedule("m-retrain")  # no longer retrains
    assert [m.name for m in list_monitors()] == ["m"]
    assert get_monitor("m").spec.drift_share == 0.3
    delete_monitor("m")
    with pytest.raises(NotFound, match="No monitor named 'm'"):
        get_monitor("m")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": "soon"}, "duration"),
        ({"window": 0}, "longer than zero"),
        ({"model": "toy"}, "not a model URI"),
        ({"webhook": "ftp://x"}, "http:// or https://"),
        ({"drift_share": 0}, "drift_share"),
        ({"retrain": "flows.py:nothing"}, "Cannot schedule"),
        ({"cron": "61 * * * *"}, "cron"),
    ],
)
def test_bad_definitions_are_refused_and_store_nothing(workspace, options, message):
    arguments = {"model": "models:/toy@champion", **options}
    with pytest.raises(InvalidArgument, match=message):
        create_monitor("bad", **arguments)
    assert list_monitors() == []


def test_a_scheduled_evaluation_runs_in_the_childs_entry_point_once(workspace):
    from heron.scheduling.child import EXIT_COMPLETED, EXIT_DUPLICATE, run_spec

    _train()
    _log(100, shift=2.0)
    create_monitor("sched", "models:/toy@champion")
    spec = {
        "pipeline": "heron:monitor",
        "params": {},
        "run_id": "a" * 32,
        "tags": {"heron.schedule": "sched", "heron.tick_id": "1"},
        "inputs": {},
    }
    assert run_spec(spec) == EXIT_COMPLETED
    run = heron.Client().get_run("a" * 32)
    assert run.kind == "monitor" and run.tags["heron.monitor.status"] == "drifted"
    assert run_spec(spec) == EXIT_DUPLICATE


def test_an_alert_starts_the_retraining_schedule_with_lineage_to_the_evaluation(workspace):
    from heron.scheduling.scheduler import Scheduler
    from tests.unit.scheduling.conftest import Clock, FakeLauncher

    _train()
    _log(400, shift=2.0)
    store = heron.Client().store
    create_monitor("retrainer", "models:/toy@champion", retrain="flows.py:training")
    evaluation = evaluate("retrainer")
    if store.get_experiment_by_name("Default") is None:
        store.create_experiment("Default")  # where the fake launcher records its runs
    launcher = FakeLauncher(store)
    clock = Clock(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    Scheduler(store, clock=clock, launcher=launcher).step()
    assert len(launcher.launched) == 1
    spec = launcher.launched[0].spec
    assert spec["pipeline"].endswith("flows.py:training")
    alert = store.get_artifact_version_by_name("monitors/retrainer/drift")
    assert alert.producer_run_id == evaluation.run_id
    assert spec["inputs"] == {"trigger.monitors/retrainer/drift": alert.id}


def test_a_reference_with_other_columns_fails_the_evaluation_with_a_clear_error(workspace):
    _train()
    _log(100)
    with pytest.raises(InvalidArgument, match=r"labels.output:1 holds a .*not a table"):
        create_monitor("a-dict", "models:/toy@champion", reference="labels.output")
    with pytest.raises(NotFound, match="NAME:VERSION"):
        create_monitor("absent", "models:/toy@champion", reference="no-such-table")
    assert list_monitors() == []
    pd.DataFrame({"x": range(50), "y": range(50)}).to_csv(workspace / "other.csv", index=False)
    with heron.start_run():
        heron.log_artifact(workspace / "other.csv")
    create_monitor("wrong", "models:/toy@champion", reference="other.csv")
    with pytest.raises(InvalidArgument, match="none in common"):
        evaluate("wrong")
    (run,) = evaluation_runs("wrong")
    assert run.status == "failed" and "none in common" in run.status_reason


def test_an_all_missing_column_is_a_quality_error_and_never_a_false_alarm(workspace):
    _train()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 3000), "b": np.full(3000, np.nan)})
    log_inferences("models:/toy@champion", frame, np.zeros(3000, dtype=int))
    create_monitor("gaps", "models:/toy@champion", columns=["a", "b"])
    evaluation = evaluate("gaps")
    assert ("b", "all_missing") in {(i.column, i.check) for i in evaluation.issues}
    assert not evaluation.report.columns["b"].drifted
    assert not evaluation.report.columns["a"].drifted


def test_a_tick_on_time_waits_one_flush_so_late_rows_fall_into_its_window(workspace, monkeypatch):
    from heron.monitoring import evaluation as module

    _train()
    create_monitor("late", "models:/toy@champion", window="1h")
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=2)
    _log(100)  # served before the tick's time
    waits = []
    monkeypatch.setattr(module.time, "sleep", waits.append)
    monkeypatch.setenv("HERON_SCHEDULE", "late")
    monkeypatch.setenv("HERON_LOGICAL_TIME", str(int(end.timestamp() * 1000)))
    result = evaluate("late")
    assert result.window_end == end
    assert len(waits) == 1 and module.SETTLE_SECONDS - 1 < waits[0] <= module.SETTLE_SECONDS
    assert result.report.n_current == 100
    monkeypatch.setenv("HERON_LOGICAL_TIME", str(int(end.timestamp() * 1000) - 3_600_000))
    waits.clear()
    evaluate("late")  # a tick long past (a catch-up): read at once
    assert waits == []


def test_pausing_a_monitor_pauses_its_retraining_and_an_update_keeps_the_state(workspace):
    store = heron.Client().store
    create_monitor("held", "models:/toy@champion", retrain="flows.py:training")
    heron.monitoring.monitors.set_monitor_paused("held", True)
    assert store.get_schedule("held").paused and store.get_schedule("held-retrain").paused
    create_monitor("held", "models:/toy@champion", window="2h", retrain="flows.py:training")
    assert get_monitor("held").schedule.paused and get_monitor("held").spec.window == 7200
    assert store.get_schedule("held-retrain").paused
    heron.monitoring.monitors.set_monitor_paused("held", False)
    assert not store.get_schedule("held").paused and not store.get_schedule("held-retrain").paused
    create_monitor("held", "models:/toy@champion")  # no retrain given: it no longer retrains
    with pytest.raises(NotFound):
        store.get_schedule("held-retrain")


def test_prediction_drift_says_why_it_is_left_out(workspace):
    _train()
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 200), "b": rng.normal(5, 2, 200)})
    log_inferences("models:/toy@champion", frame, np.column_stack([np.zeros(200)] * 2))
    create_monitor("two-outputs", "models:/toy@champion")
    evaluation = evaluate("two-outputs")
    assert evaluation.report.prediction is None
    assert any("2 outputs per row (prediction_0, prediction_1)" in n for n in evaluation.notes)

    frame[["a"]].to_csv(workspace / "only_a.csv", index=False)
    with heron.start_run():
        heron.log_artifact(workspace / "only_a.csv")
    _log(200)
    create_monitor("half", "models:/toy@champion", reference="only_a.csv")
    evaluation = evaluate("half")
    assert list(evaluation.report.columns) == ["a"] and evaluation.report.prediction is None
    assert any("the reference lacks the model's inputs b" in n for n in evaluation.notes)
