"""The real MLflow client (``mlflow-skinny``, its own virtualenv) tracking to `heron server`:
fluent tracking and nested runs seen through Heron's own API, ``MlflowClient`` calls, log_batch
at its limits, error codes, dataset inputs, downsampled history, and ``search_runs`` compared
call for call with a local MLflow store holding the same data. One server per module."""

from __future__ import annotations

import json
import math

import httpx
import pytest

import heron
from heron.core.entities import Metric
from tests.support.mlflow_client import check_client, client_venv, run_client
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def venv():
    return client_venv()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-tracking")
    with running_server(
        sqlite_uri(folder / "heron.db"), str(folder / "artifacts"), folder / "server.log"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def heron_client(server):
    return heron.Client(server.url)


def run_mlflow(venv, server, script: str, tmp_path, tracking_uri: str | None = None) -> dict:
    """Run an MLflow client script; its last stdout line is JSON."""
    uri = tracking_uri if tracking_uri is not None else server.url
    out = check_client(run_client(venv, script, uri, cwd=tmp_path, timeout=120))
    return json.loads(out.strip().splitlines()[-1])


def test_fluent_tracking_is_ordinary_heron_data(venv, server, heron_client, tmp_path):
    got = run_mlflow(
        venv,
        server,
        """
        import json, mlflow
        mlflow.set_experiment("fluent")
        with mlflow.start_run(run_name="parent", tags={"team": "a"}) as parent:
            mlflow.log_param("lr", 0.1)
            mlflow.log_params({"depth": 3, "opt": "adam"})
            for step, loss in enumerate([0.9, 0.5, 0.25]):
                mlflow.log_metric("loss", loss, step=step)
            mlflow.log_metrics({"acc": 0.75, "f1": 0.5}, step=2)
            mlflow.set_tag("stage", "dev")
            mlflow.set_tags({"owner": "me"})
            with mlflow.start_run(run_name="child", nested=True) as child:
                mlflow.log_metric("child_metric", 1.5)
        mlflow.set_experiment(experiment_id="0")  # MLflow's default experiment
        with mlflow.start_run() as plain:
            mlflow.log_metric("z", 2.0)
        back = mlflow.get_run(parent.info.run_id)
        print(json.dumps({
            "parent": parent.info.run_id, "child": child.info.run_id,
            "plain": plain.info.run_id, "plain_experiment": plain.info.experiment_id,
            "status": back.info.status, "params": back.data.params,
            "metrics": back.data.metrics, "tags": back.data.tags,
            "child_parent_tag": mlflow.get_run(child.info.run_id).data.tags.get(
                "mlflow.parentRunId"),
        }))
        """,
        tmp_path,
    )
    assert got["status"] == "FINISHED"
    assert got["params"] == {"lr": "0.1", "depth": "3", "opt": "adam"}
    assert got["metrics"] == {"loss": 0.25, "acc": 0.75, "f1": 0.5}
    assert got["tags"]["team"] == "a" and got["tags"]["stage"] == "dev"
    assert got["tags"]["mlflow.runName"] == "parent"
    assert got["child_parent_tag"] == got["parent"]
    assert got["plain_experiment"] == "0"

    # the same data through Heron's own API
    parent = heron_client.get_run(got["parent"])
    assert parent.name == "parent"
    assert parent.status == "completed" and parent.end_time is not None
    assert parent.params == {"lr": "0.1", "depth": "3", "opt": "adam"}
    assert parent.metrics == {"loss": 0.25, "acc": 0.75, "f1": 0.5}
    assert {"team": "a", "stage": "dev", "owner": "me"}.items() <= parent.tags.items()
    assert parent.user == got["tags"]["mlflow.user"]
    assert parent.source == got["tags"]["mlflow.source.name"]
    assert "mlflow.runName" not in parent.tags  # the run's name is its only copy
    history = heron_client.get_metric_history(got["parent"], "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    child = heron_client.get_run(got["child"])
    assert child.parent_id == got["parent"] and child.name == "child"
    assert child.experiment_id == parent.experiment_id
    assert heron_client.get_experiment(parent.experiment_id).name == "fluent"
    found = heron_client.search_runs(experiment="fluent", order_by=["attributes.name ASC"])
    assert [r.name for r in found] == ["child", "parent"]
    plain = heron_client.get_run(got["plain"])
    assert heron_client.get_experiment(plain.experiment_id).name == "Default"
    assert plain.status == "completed"


def test_client_calls_and_error_codes(venv, server, heron_client, tmp_path):
    got = run_mlflow(
        venv,
        server,
        """
        import json, mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Metric, ViewType
        from mlflow.exceptions import MlflowException
        c = MlflowClient()
        out = {}
        def code(call):
            try:
                call()
            except MlflowException as e:
                return e.error_code
            return "no error"
        exp = c.create_experiment("calls", tags={"k": "v"})
        out["tags"] = c.get_experiment(exp).tags
        out["duplicate"] = code(lambda: c.create_experiment("calls"))
        c.set_experiment_tag(exp, "note", "hello")
        c.delete_experiment_tag(exp, "k")
        out["tags_after"] = c.get_experiment(exp).tags
        c.rename_experiment(exp, "calls-renamed")
        out["renamed"] = c.get_experiment_by_name("calls-renamed").experiment_id == exp
        out["old_name"] = c.get_experiment_by_name("calls") is None
        c.delete_experiment(exp)
        out["deleted_stage"] = c.get_experiment(exp).lifecycle_stage
        out["in_deleted"] = [e.name for e in c.search_experiments(view_type=ViewType.DELETED_ONLY)]
        out["in_active"] = [e.name for e in c.search_experiments()]
        c.restore_experiment(exp)
        out["restored_stage"] = c.get_experiment(exp).lifecycle_stage
        out["default"] = c.get_experiment("0").name
        found = c.search_experiments(filter_string="name LIKE 'calls%'")
        out["by_filter"] = [e.name for e in found]
        out["delete_default"] = code(lambda: c.delete_experiment("0"))

        run = c.create_run(exp, run_name="r1", tags={"mlflow.source.git.commit": "abc123"})
        rid = run.info.run_id
        out["artifact_uri"] = run.info.artifact_uri
        for step, (ts, value) in enumerate([(1000, 3.0), (1001, 2.0), (1002, 1.0)]):
            c.log_metric(rid, "loss", value, timestamp=ts, step=step)
        c.log_metric(rid, "nan_metric", float("nan"))
        out["history"] = [(m.step, m.timestamp, m.value) for m in c.get_metric_history(rid, "loss")]
        c.log_param(rid, "p", "1")
        c.log_param(rid, "p", "1")  # the same value again is fine
        out["param_change"] = code(lambda: c.log_param(rid, "p", "2"))
        out["unknown_run"] = code(lambda: c.get_run("0" * 32))
        out["unknown_run_log"] = code(lambda: c.log_metric("f" * 32, "m", 1.0))
        out["bad_key"] = code(lambda: c.log_metric(rid, "../escape", 1.0))
        out["unknown_experiment"] = code(lambda: c.get_experiment("123456"))

        c.log_batch(rid, metrics=[Metric("batch", float(i), 1, i) for i in range(1000)])
        store = c._tracking_client.store  # the REST store: one request, no client-side split
        try:
            store.log_batch(rid, [Metric("over", 1.0, 1, i) for i in range(1001)], [], [])
            out["over_limit"] = "no error"
        except MlflowException as e:
            out["over_limit"] = e.error_code
            out["over_message"] = e.message
        c.log_batch(rid, metrics=[Metric("split", float(i), 1, i) for i in range(1001)])
        out["batch_points"] = len(c.get_metric_history(rid, "batch"))
        out["split_points"] = len(c.get_metric_history(rid, "split"))
        out["over_points"] = len(c.get_metric_history(rid, "over"))

        import pandas as pd
        dataset = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="train-set")
        with mlflow.start_run(run_id=rid):
            mlflow.log_input(dataset, context="training")
        inputs = c.get_run(rid).inputs.dataset_inputs
        out["inputs"] = [(i.dataset.name, i.dataset.digest, [(t.key, t.value) for t in i.tags])
                         for i in inputs]
        out["digest"] = dataset.digest
        c.set_tag(rid, "mlflow.runName", "r1-renamed")
        c.set_tag(rid, "team", "b")
        c.delete_tag(rid, "team")
        out["missing_tag"] = code(lambda: c.delete_tag(rid, "team"))
        c.set_terminated(rid, status="KILLED", end_time=5000)
        info = c.get_run(rid).info
        out["final"] = [info.status, info.end_time, info.run_name]
        out["run_tags"] = c.get_run(rid).data.tags
        c.delete_run(rid)
        out["deleted_run"] = c.get_run(rid).info.lifecycle_stage
        c.restore_run(rid)
        out["restored_run"] = c.get_run(rid).info.lifecycle_stage
        out["run_id"] = rid
        out["experiment_id"] = exp
        print(json.dumps(out))
        """,
        tmp_path,
    )
    assert got["tags"] == {"k": "v"}
    assert got["duplicate"] == "RESOURCE_ALREADY_EXISTS"
    assert got["tags_after"] == {"note": "hello"}
    assert got["renamed"] and got["old_name"]
    assert got["deleted_stage"] == "deleted"
    assert "calls-renamed" in got["in_deleted"] and "calls-renamed" not in got["in_active"]
    assert got["restored_stage"] == "active"
    assert got["default"] == "Default"
    assert got["by_filter"] == ["calls-renamed"]
    assert got["delete_default"] == "INVALID_PARAMETER_VALUE"
    exp, rid = got["experiment_id"], got["run_id"]
    assert got["artifact_uri"] == f"mlflow-artifacts:/{exp}/{rid}/artifacts"
    assert got["history"] == [[0, 1000, 3.0], [1, 1001, 2.0], [2, 1002, 1.0]]
    assert got["param_change"] == "INVALID_PARAMETER_VALUE"
    assert got["unknown_run"] == "RESOURCE_DOES_NOT_EXIST"
    assert got["unknown_run_log"] == "RESOURCE_DOES_NOT_EXIST"
    assert got["bad_key"] == "INVALID_PARAMETER_VALUE"
    assert got["unknown_experiment"] == "RESOURCE_DOES_NOT_EXIST"
    assert got["over_limit"] == "INVALID_PARAMETER_VALUE"
    assert "at most 1000 metrics" in got["over_message"]
    assert (got["batch_points"], got["split_points"], got["over_points"]) == (1000, 1001, 0)
    assert got["inputs"] == [["train-set", got["digest"], [["mlflow.data.context", "training"]]]]
    assert got["missing_tag"] == "RESOURCE_DOES_NOT_EXIST"
    assert got["final"] == ["KILLED", 5000, "r1-renamed"]
    assert got["run_tags"]["mlflow.runName"] == "r1-renamed"
    assert "team" not in got["run_tags"]
    assert not any(k.startswith("heron.mlflow.") for k in got["run_tags"])
    assert (got["deleted_run"], got["restored_run"]) == ("deleted", "active")

    run = heron_client.get_run(rid)
    assert run.name == "r1-renamed" and run.status == "cancelled" and run.end_time == 5000
    assert run.git_commit == "abc123"
    assert math.isnan(run.metrics["nan_metric"])
    assert [m.value for m in heron_client.get_metric_history(rid, "batch")] == [
        float(i) for i in range(1000)
    ]


def test_history_bulk_interval_downsamples_like_mlflow(server, heron_client):
    experiment = heron_client.store.create_experiment("bulk")
    run = heron_client.store.create_run(experiment.id)
    points = [Metric("m", float(i), i, 10_000 + i) for i in range(100)]
    heron_client.store.log_batch(run.id, points)
    url = server.url + "/api/2.0/mlflow/metrics/get-history-bulk-interval"
    answer = httpx.get(url, params={"run_ids": [run.id], "metric_key": "m", "max_results": 8})
    assert answer.status_code == 200, answer.text
    steps = [m["step"] for m in answer.json()["metrics"]]
    # NTILE(8) over 100 points: buckets of 13,13,13,13,12,12,12,12; the last point replaces
    # the first of the last bucket
    assert steps == [0, 13, 26, 39, 52, 64, 76, 99]
    assert {m["run_id"] for m in answer.json()["metrics"]} == {run.id}
    window = httpx.get(
        url,
        params={"run_ids": run.id, "metric_key": "m", "start_step": 10, "end_step": 12},
    ).json()["metrics"]
    assert [m["value"] for m in window] == [10.0, 11.0, 12.0]
    one_sided = httpx.get(url, params={"run_ids": run.id, "metric_key": "m", "start_step": 1})
    assert one_sided.status_code == 400
    assert one_sided.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    unknown = httpx.get(url, params={"run_ids": "0" * 32, "metric_key": "m"})
    assert unknown.status_code == 404
    paged = httpx.get(
        server.url + "/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run.id, "metric_key": "m", "max_results": 40},
    ).json()
    assert len(paged["metrics"]) == 40 and "next_page_token" in paged
    rest = httpx.get(
        server.url + "/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run.id, "metric_key": "m", "page_token": paged["next_page_token"]},
    ).json()
    assert [m["step"] for m in paged["metrics"] + rest["metrics"]] == list(range(100))


# --- search_runs: the same calls against heron server and a local MLflow store ------------
SEARCH_SCRIPT = """
import json, sys
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType

RUNS = [
    # name, start, status, metrics, params, tags
    ("r1", 1000, "FINISHED", {"acc": 0.9, "loss": 0.1}, {"depth": "3", "lr": "0.1"},
     {"team": "alpha"}),
    ("r2", 2000, "FINISHED", {"acc": 0.7, "loss": 0.3}, {"depth": "2"}, {"team": "Beta"}),
    ("r3", 3000, "FAILED", {"acc": 0.9}, {"depth": "3", "lr": "0.01"}, {"team": "alpha"}),
    ("r4", 4000, "KILLED", {"loss": 0.2, "nanm": float("nan")}, {}, {}),
    ("r5", 5000, "FINISHED", {"acc": 0.5, "nanm": 1.0}, {"depth": "10"}, {"team": "gamma"}),
    ("r6", 6000, "RUNNING", {"acc": 0.95, "nanm": 2.0}, {"depth": "3"},
     {"team": "ALPHA", "x y": "1"}),
    ("r7", 7000, "FINISHED", {}, {"lr": "0.1"}, {"team": "beta"}),
    ("gone", 8000, "FINISHED", {"acc": 0.99}, {"depth": "3"}, {"team": "alpha"}),
]
QUERIES = [
    ("", ["metrics.acc DESC"]),
    ("", ["metrics.acc ASC"]),
    ("", ["metrics.nanm DESC"]),
    ("", ["metrics.nanm ASC"]),
    ("", ["params.depth ASC", "metrics.loss DESC"]),
    ("", ["tags.team DESC"]),
    ("", ["attributes.run_name DESC"]),
    ("", ["attributes.start_time ASC"]),
    ("", []),
    ("metrics.acc > 0.6", ["metrics.acc DESC"]),
    ("metrics.acc >= 0.9 and params.depth = '3'", []),
    ("params.depth != '3'", ["attributes.start_time ASC"]),
    ("params.lr IS NULL", []),
    ("tags.team IS NOT NULL and params.lr IS NULL", []),
    ("tags.team LIKE 'a%'", []),
    ("tags.team ILIKE 'A%'", []),
    ("tags.`x y` = '1'", []),
    ("attributes.run_id IN ({r1}, {r3}, {r5})", ["metrics.acc ASC"]),
    ("attributes.run_name LIKE 'r%' and attributes.start_time > 2500", []),
    ("attributes.status = 'FINISHED'", []),
    ("attributes.status != 'FINISHED'", []),
    ("attributes.status != 'FINISHED' and attributes.status != 'RUNNING'", []),
    ("attributes.status LIKE 'F%'", []),
    ("metrics.nanm != 1.0", []),
    ("metrics.nanm < 5", []),
    ("tags.mlflow.runName = 'r2'", []),
]

def runs_of(c, exp, flt, order, view=ViewType.ACTIVE_ONLY, page=None):
    if page is None:
        return [r.info.run_name for r in c.search_runs([exp], flt, view, 1000, order)]
    names, token, sizes = [], None, []
    while True:
        got = c.search_runs([exp], flt, view, page, order, token)
        names += [r.info.run_name for r in got]
        sizes.append(len(got))
        token = got.token
        if not token:
            return [names, sizes]

out = {}
for label, uri in (("heron", sys.argv[1]), ("mlflow", sys.argv[2])):
    c = MlflowClient(uri)
    exp = c.create_experiment("search-compare")
    ids = {}
    for name, start, status, metrics, params, tags in RUNS:
        run = c.create_run(exp, start_time=start, run_name=name)
        ids[name] = run.info.run_id
        c.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        if status != "RUNNING":
            c.set_terminated(run.info.run_id, status=status, end_time=start + 500)
    c.delete_run(ids["gone"])
    quoted = {name: repr(run_id) for name, run_id in ids.items()}
    result = [runs_of(c, exp, f.format(**quoted), o) for f, o in QUERIES]
    result.append(runs_of(c, exp, "", ["metrics.acc DESC"], page=3))
    result.append(runs_of(c, exp, "metrics.acc > 0", [], page=2))
    result.append(runs_of(c, exp, "", [], ViewType.DELETED_ONLY))
    result.append(runs_of(c, exp, "", ["metrics.acc DESC"], ViewType.ALL))
    got = c.search_runs([exp], "attributes.run_name = 'r1'")[0]
    result.append([got.info.status, got.data.params, got.data.metrics,
                   sorted(got.data.tags.items())[-1]])
    out[label] = result
out["queries"] = len(QUERIES)
print(json.dumps(out))
"""


def test_search_runs_matches_a_local_mlflow_store(venv, server, tmp_path):
    script_file = tmp_path / "compare.py"
    script_file.write_text(SEARCH_SCRIPT)
    mlflow_store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_client(
        venv,
        f"import sys, runpy; sys.argv = ['compare', {server.url!r}, {mlflow_store!r}]; "
        f"runpy.run_path({str(script_file)!r}, run_name='__main__')",
        None,
        cwd=tmp_path,
        timeout=120,
    )
    got = json.loads(check_client(result).strip().splitlines()[-1])
    heron_answers, mlflow_answers = got["heron"], got["mlflow"]
    assert len(heron_answers) == len(mlflow_answers) == got["queries"] + 5
    for i, (ours, theirs) in enumerate(zip(heron_answers, mlflow_answers)):
        assert ours == theirs, f"answer {i} differs: heron {ours} mlflow {theirs}"
    # a few answers pinned, so that a store bug both sides shared would still show
    assert mlflow_answers[0] == ["r6", "r3", "r1", "r2", "r5", "r7", "r4"]  # ties by start DESC
    assert mlflow_answers[2] == ["r6", "r5", "r4", "r7", "r3", "r2", "r1"]  # NaN, then missing
    assert mlflow_answers[19] == ["r7", "r5", "r2", "r1"]
    assert got["heron"][got["queries"]] == [["r6", "r3", "r1", "r2", "r5", "r7", "r4"], [3, 3, 1]]
