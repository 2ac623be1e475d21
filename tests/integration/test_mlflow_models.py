"""MLflow 3's logged models on `heron server`, and the MLmodel format both ways, with the real
MLflow client: a model MLflow logged loads in Heron and a model Heron logged loads in MLflow,
predicting the same."""

from __future__ import annotations

import json
import os

import httpx
import numpy as np
import pytest

from tests.support.mlflow_client import check_client, client_venv, run_client
from tests.support.server import running_server
from tests.support.stores import sqlite_uri


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-models")
    with running_server(
        sqlite_uri(folder / "heron.db"), str(folder / "artifacts"), folder / "server.log"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def venv():
    return client_venv()


@pytest.fixture
def heron_uri(server, monkeypatch):
    from heron.core import config

    monkeypatch.setenv("HERON_TRACKING_URI", server.url)
    config.set_tracking_uri(server.url)  # over any a module before this one left set
    yield server.url
    config.set_tracking_uri(None)


def _iris():
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True)


@pytest.fixture(scope="module")
def mlflow_logged(server, venv):
    """An iris classifier logged by mlflow.sklearn.log_model in a run, loaded back by MLflow."""
    script = """
        import json, mlflow, mlflow.sklearn
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        X, y = load_iris(return_X_y=True, as_frame=True)
        mlflow.set_experiment("iris-mlflow")
        with mlflow.start_run() as run:
            model = LogisticRegression(max_iter=500).fit(X, y)
            # cloudpickle: MLflow 3.17's default (skops) is not installed in the client
            info = mlflow.sklearn.log_model(
                model, name="model", input_example=X.head(3), serialization_format="cloudpickle"
            )
        by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
        by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
        client = mlflow.MlflowClient()
        lm = client.get_logged_model(info.model_id)
        outputs = [o.model_id for o in client.get_run(run.info.run_id).outputs.model_outputs]
        found = client.search_logged_models(
            [run.info.experiment_id], filter_string="name = 'model'"
        )
        print(json.dumps({
            "run_id": run.info.run_id, "model_id": info.model_id,
            "status": str(lm.status), "source_run_id": lm.source_run_id,
            "found": [m.model_id for m in found], "outputs": outputs,
            "by_id": by_id.predict(X).tolist(), "by_run": by_run.predict(X).tolist(),
            "proba": model.predict_proba(X)[:5].tolist(),
        }))
    """
    return json.loads(check_client(run_client(venv, script, server.url)).splitlines()[-1])


def test_mlflow_logged_model_is_ready_and_loads_in_mlflow(mlflow_logged):
    X, y = _iris().data, _iris().target
    assert mlflow_logged["status"] == "READY"
    assert mlflow_logged["outputs"] == [mlflow_logged["model_id"]]
    assert mlflow_logged["source_run_id"] == mlflow_logged["run_id"]
    assert mlflow_logged["found"] == [mlflow_logged["model_id"]]
    assert mlflow_logged["by_id"] == mlflow_logged["by_run"]
    assert len(mlflow_logged["by_id"]) == len(X)
    assert np.mean(np.array(mlflow_logged["by_id"]) == y.to_numpy()) > 0.9


def test_mlflow_logged_model_loads_in_heron_with_the_same_predictions(mlflow_logged, heron_uri):
    import heron
    from heron.models.uris import artifact_of_run
    from heron.store.rest.store import RestStore

    X = _iris().data
    model = heron.load_model(f"runs:/{mlflow_logged['run_id']}/model")
    assert model.predict(X).tolist() == mlflow_logged["by_id"]
    assert model.flavor == "sklearn"
    assert model.signature is not None and model.signature.columns == list(X.columns)
    # one artifact version, produced by the run and linked to it: in Heron's lineage
    artifact = artifact_of_run(RestStore(heron_uri), mlflow_logged["run_id"], "model")
    assert artifact.producer_run_id == mlflow_logged["run_id"]
    assert artifact.metadata["mlflow"]["model_id"] == mlflow_logged["model_id"]
    assert "scikit-learn" in artifact.metadata["model"]["libraries"]


def test_registry_helpers_name_the_same_artifact(mlflow_logged, server):
    from heron.server.mlflow import logged_models
    from heron.store.sql.store import SqlStore

    store = SqlStore(server.backend_store_uri)  # the helpers run in the server, on its store
    artifact = logged_models.artifact_of(store, mlflow_logged["model_id"])
    assert logged_models.model_id_of(store, artifact) == mlflow_logged["model_id"]
    location = logged_models.artifact_location(store, mlflow_logged["model_id"])
    assert location.endswith(f"/models/{mlflow_logged['model_id']}/artifacts")


def test_heron_logged_model_loads_in_mlflow(server, venv, heron_uri):
    import heron

    data = _iris()
    X, y = data.data, data.target
    from sklearn.tree import DecisionTreeClassifier

    heron.set_experiment("iris-heron")
    with heron.start_run() as run:
        info = heron.log_model(
            DecisionTreeClassifier(random_state=0).fit(X, y),
            "tree",
            registered_model_name="iris-heron",
            input_example=X.head(5),
        )
    heron.Client().set_model_alias("iris-heron", "champion", info.registered_model_version)
    expected = heron.load_model("models:/iris-heron@champion").predict(X).tolist()
    script = """
        import json, mlflow
        from sklearn.datasets import load_iris
        X, _ = load_iris(return_X_y=True, as_frame=True)
        by_alias = mlflow.pyfunc.load_model("models:/iris-heron@champion")
        by_run = mlflow.pyfunc.load_model("runs:/RUN_ID/tree")
        lm = mlflow.MlflowClient().get_logged_model("m-ARTIFACT_ID")
        print(json.dumps({"alias": by_alias.predict(X).tolist(), "run": by_run.predict(X).tolist(),
                          "name": lm.name, "status": str(lm.status),
                          "inputs": by_alias.metadata.get_input_schema().input_names()}))
    """.replace("RUN_ID", run.id).replace("ARTIFACT_ID", info.artifact_id)
    out = json.loads(check_client(run_client(venv, script, server.url)).splitlines()[-1])
    assert out["alias"] == expected and out["run"] == expected
    assert out["name"] == "tree" and out["status"] == "READY"
    assert out["inputs"] == list(X.columns)


def test_logged_model_routes_and_errors(server):
    base = "/api/2.0/mlflow/logged-models"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = http.post(
            base, json={"experiment_id": "0", "name": "bare", "tags": [{"key": "a", "value": "1"}]}
        )
        assert created.status_code == 200, created.text
        model = created.json()["model"]
        model_id = model["info"]["model_id"]
        assert model["info"]["status"] == "LOGGED_MODEL_PENDING"
        assert model["info"]["artifact_uri"] == f"mlflow-artifacts:/0/models/{model_id}/artifacts"
        assert (
            http.patch(
                f"{base}/{model_id}/tags", json={"tags": [{"key": "b", "value": "2"}]}
            ).status_code
            == 200
        )
        assert (
            http.post(
                f"{base}/{model_id}/params", json={"params": [{"key": "lr", "value": "0.1"}]}
            ).status_code
            == 200
        )
        assert http.delete(f"{base}/{model_id}/tags/a").status_code == 200
        got = http.get(f"{base}/{model_id}").json()["model"]
        assert got["info"]["tags"] == [{"key": "b", "value": "2"}]
        assert got["data"]["params"] == [{"key": "lr", "value": "0.1"}]
        found = http.post(
            f"{base}/search",
            json={"experiment_ids": ["0"], "filter": "tags.b = '2' AND name LIKE 'ba%'"},
        )
        assert [m["info"]["model_id"] for m in found.json()["models"]] == [model_id]
        bad_filter = http.post(
            f"{base}/search", json={"experiment_ids": ["0"], "filter": "metrics.x > 1"}
        )
        assert bad_filter.status_code == 400
        # a model with no files finalizes (MLflow's external models); then takes no more files
        done = http.patch(f"{base}/{model_id}", json={"status": "LOGGED_MODEL_READY"})
        assert done.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
        late = http.put(
            f"/api/2.0/mlflow-artifacts/artifacts/0/models/{model_id}/artifacts/x", content=b"x"
        )
        assert late.status_code == 400
        assert http.delete(f"{base}/{model_id}").status_code == 200
        gone = http.get(f"{base}/{model_id}")
        assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert http.get(f"{base}/{model_id}", params={"allow_deleted": "true"}).status_code == 200
        unknown = http.get(f"{base}/m-{'0' * 32}")
        assert unknown.status_code == 404
        bad_status = http.patch(f"{base}/{model_id}", json={"status": "nope"})
        assert bad_status.status_code == 400
        bad_experiment = http.post(base, json={"experiment_id": "no-such-experiment"})
        assert bad_experiment.status_code == 404


def test_heron_serve_loads_an_mlflow_model(mlflow_logged, heron_uri):
    """`heron serve`'s loader (the resolved artifact, loaded without the store) takes it."""
    from heron.serving.loading import load_served_model, resolve_served_model
    from heron.serving.settings import ServeSettings

    settings = resolve_served_model(
        ServeSettings(model_uri=f"runs:/{mlflow_logged['run_id']}/model", tracking_uri=heron_uri)
    )
    model = load_served_model(settings)
    assert model.predict(_iris().data).tolist() == mlflow_logged["by_id"]
    assert os.environ["HERON_TRACKING_URI"] == heron_uri


def test_sklearn_autologging_of_the_mlflow_client_is_heron_data(server, venv, heron_uri):
    script = """
        import json, mlflow
        from sklearn.datasets import load_wine
        from sklearn.tree import DecisionTreeClassifier
        X, y = load_wine(return_X_y=True)
        mlflow.set_experiment("wine-autolog")
        mlflow.sklearn.autolog()
        with mlflow.start_run() as run:
            model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
        print(json.dumps({"run_id": run.info.run_id, "pred": model.predict(X[:10]).tolist(),
                          "acc": model.score(X, y)}))
    """
    logged = json.loads(check_client(run_client(venv, script, server.url)).splitlines()[-1])
    from sklearn.datasets import load_wine

    import heron

    client = heron.Client()
    run = client.get_run(logged["run_id"])
    assert run.status == "completed"
    assert run.params["max_depth"] == "4" and run.params["random_state"] == "0"
    assert run.metrics["training_accuracy_score"] == pytest.approx(logged["acc"])
    assert run.tags["estimator_name"] == "DecisionTreeClassifier"
    X, _ = load_wine(return_X_y=True)
    model = heron.load_model(f"runs:/{logged['run_id']}/model")
    assert model.predict(X[:10]).tolist() == logged["pred"]
    models = [a for a in client.list_artifacts(run_id=run.id) if a.name == "model"]
    assert len(models) == 1 and models[0].producer_run_id == run.id
