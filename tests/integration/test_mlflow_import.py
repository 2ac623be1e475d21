"""`heron import` of stores the real MLflow wrote: a SQLite database, a file store (mlruns/)
and a running `mlflow server`, into fresh Heron stores; exact values, idempotence, resuming
after an interruption, and the error paths."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from heron.importers.mlflow import SourceError, import_mlflow, open_source
from heron.store.registry import get_store
from tests.support.mlflow_client import check_client, client_venv, run_client

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: logs what the tests check: experiments with tags, nested runs, params, metric histories
#: (with NaN), tags, files in folders, an sklearn logged model registered with an alias,
#: tags and a description, a killed and deleted run, a deleted experiment, and more runs
WRITER = """
import json, os
import mlflow
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out = {"runs": {}}
mlflow.set_experiment("iris-import")
mlflow.set_experiment_tag("team", "vision")
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_params({"lr": "0.1", "depth": "3"})
    for step in range(5):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1700000000000 + step)
    mlflow.log_metric("loss", 9.5, step=2, timestamp=1700000000100)  # two points at one step
    mlflow.set_tag("stage", "dev")
    os.makedirs("art/sub", exist_ok=True)
    open("art/a.txt", "w").write("hello")
    open("art/sub/b.bin", "wb").write(bytes(range(256)))
    mlflow.log_artifacts("art", artifact_path="files")
    mlflow.log_text("notes here", "notes.txt")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("acc", 0.9, step=1)
        mlflow.log_metric("acc", float("nan"), step=2)
        X, y = load_iris(return_X_y=True)
        model = LogisticRegression(max_iter=300).fit(X, y)
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name="iris-clf",
            serialization_format="cloudpickle",
        )
        out["model_id"] = info.model_id
        out["prediction"] = model.predict(X[:5]).tolist()
    out["child"] = child.info.run_id
out["parent"] = parent.info.run_id
c = MlflowClient()
c.set_registered_model_alias("iris-clf", "champion", "1")
c.update_registered_model("iris-clf", description="iris classifier")
c.set_registered_model_tag("iris-clf", "owner", "me")
c.set_model_version_tag("iris-clf", "1", "validated", "yes")
exp = c.get_experiment_by_name("iris-import").experiment_id
killed = c.create_run(exp, run_name="killed")
c.set_terminated(killed.info.run_id, "KILLED")
c.delete_run(killed.info.run_id)
out["killed"] = killed.info.run_id
mlflow.set_experiment("bulk")
for i in range(6):
    with mlflow.start_run(run_name=f"bulk-{i}") as r:
        mlflow.log_param("i", str(i))
        for step in range(3):
            mlflow.log_metric("m", i * 10 + step, step=step)
        out["runs"][f"bulk-{i}"] = r.info.run_id
gone = mlflow.create_experiment("gone")
with mlflow.start_run(experiment_id=gone, run_name="in-gone") as r:
    mlflow.log_param("x", "1")
    out["in_gone"] = r.info.run_id
c.delete_experiment(gone)
print("RESULT" + json.dumps(out))
"""


def _write(folder: Path, tracking_uri: str, env: dict | None = None) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = check_client(run_client(client_venv(), WRITER, tracking_uri, cwd=folder, env=env))
    return json.loads(out.split("RESULT", 1)[1])


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-sql")
    ids = _write(folder, f"sqlite:///{folder / 'mlflow.db'}")
    return f"sqlite:///{folder / 'mlflow.db'}", ids


@pytest.fixture(scope="module")
def file_store(tmp_path_factory):
    # MLflow 3.17 refuses to write a file store unless told (it is "in maintenance mode")
    folder = tmp_path_factory.mktemp("mlflow-files")
    ids = _write(folder, f"file://{folder / 'mlruns'}", env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    return str(folder / "mlruns"), ids


def _heron(tmp_path: Path):
    return get_store(f"sqlite:///{tmp_path / 'heron' / 'heron.db'}")


def _check_everything(store, ids: dict) -> None:
    """What the writer logged, exactly, in a Heron store."""
    parent = store.get_run(ids["parent"])
    child = store.get_run(ids["child"])
    assert parent.name == "parent" and parent.status == "completed" and parent.parent_id is None
    assert parent.params == {"lr": "0.1", "depth": "3"}
    assert parent.tags["stage"] == "dev" and parent.tags["mlflow.runName"] == "parent"
    assert parent.tags["heron.imported_from"].startswith("mlflow:")
    assert parent.end_time is not None and parent.end_time >= parent.start_time > 0
    assert [
        (m.step, m.value, m.timestamp) for m in store.get_metric_history(parent.id, "loss")
    ] == [
        (0, 1.0, 1700000000000),
        (1, 0.5, 1700000000001),
        (2, 1 / 3, 1700000000002),
        (2, 9.5, 1700000000100),
        (3, 0.25, 1700000000003),
        (4, 0.2, 1700000000004),
    ]
    assert child.parent_id == parent.id and child.name == "child"
    acc = store.get_metric_history(child.id, "acc")
    assert [m.step for m in acc] == [1, 2] and acc[0].value == 0.9 and math.isnan(acc[1].value)
    experiment = store.get_experiment(parent.experiment_id)
    assert experiment.name == "iris-import" and experiment.tags["team"] == "vision"

    killed = store.get_run(ids["killed"])
    assert killed.status == "cancelled" and killed.deleted and killed.name == "killed"
    gone = store.get_run(ids["in_gone"])
    assert store.get_experiment(gone.experiment_id).deleted and gone.params == {"x": "1"}
    bulk = store.search_runs(experiment_ids=[store.get_experiment_by_name("bulk").id])
    assert sorted(r.name for r in bulk) == [f"bulk-{i}" for i in range(6)]
    for name, run_id in ids["runs"].items():
        i = int(name.split("-")[1])
        points = store.get_metric_history(run_id, "m")
        assert [(m.step, m.value) for m in points] == [(s, i * 10 + s) for s in range(3)]

    files = {a.name: a for a in store.list_artifact_versions(run_id=parent.id)}
    assert set(files) == {"files/a.txt", "files/sub/b.bin", "notes.txt"}
    assert all(a.version == 1 and a.producer_run_id == parent.id for a in files.values())
    assert Path(files["files/a.txt"].load()).read_text() == "hello"
    assert Path(files["files/sub/b.bin"].load()).read_bytes() == bytes(range(256))
    assert Path(files["notes.txt"].load()).read_text() == "notes here"

    model = store.get_registered_model("iris-clf")
    assert model.description == "iris classifier" and model.tags["owner"] == "me"
    assert model.aliases == {"champion": 1}
    version = store.get_model_version_by_alias("iris-clf", "champion")
    assert version.version == 1 and version.tags["validated"] == "yes"
    artifact = store.get_artifact_version(version.artifact_id)
    assert artifact.producer_run_id == child.id and artifact.name == "model"
    assert artifact.metadata["mlflow"]["model_id"] == ids["model_id"]
    assert version.run_id == child.id
    links = store.list_artifact_links(run_id=child.id)
    assert [(link.artifact_id, link.direction) for link in links] == [(artifact.id, "output")]


def _check_mlflow_sees_the_imported_model(store) -> None:
    """The MLflow face of a server on this store resolves the imported model both ways."""
    from heron.server.mlflow import logged_models
    from heron.tracking.run_artifacts import artifact_store_for

    version = store.get_model_version_by_alias("iris-clf", "champion")
    artifact = store.get_artifact_version(version.artifact_id)
    model_id = logged_models.model_id_of(store, artifact)
    assert model_id == "m-" + artifact.id  # the server has no logged model of that MLflow id
    assert logged_models.artifact_of(store, model_id).id == artifact.id
    tree = logged_models.model_tree(store, artifact_store_for(store), model_id)
    assert "MLmodel" in tree and any(name.startswith("model.") for name in tree)


def _predict(store, uri: str) -> list:
    from sklearn.datasets import load_iris

    import heron

    X, _ = load_iris(return_X_y=True)
    return list(heron.load_model(uri, tracking_uri=store.uri).predict(X[:5]))


def _counts(summary) -> dict:
    return {k: v for k, v in summary.to_dict()["counts"].items()}


def test_sqlite_store_comes_over_exactly_and_only_once(sqlite_store, tmp_path):
    uri, ids = sqlite_store
    store = _heron(tmp_path)
    first = import_mlflow(open_source(uri), store)
    assert first.ok, first.failures
    counts = _counts(first)
    assert counts["runs"] == {"imported": 10, "skipped": 0, "failed": 0}
    assert counts["artifacts"]["imported"] == 3
    assert counts["logged models"]["imported"] == 1
    assert counts["model versions"]["imported"] == 1 and counts["aliases"]["imported"] == 1
    _check_everything(store, ids)
    assert _predict(store, "models:/iris-clf@champion") == ids["prediction"]
    assert _predict(store, f"runs:/{ids['child']}/model") == ids["prediction"]

    _check_mlflow_sees_the_imported_model(store)

    again = import_mlflow(open_source(uri), store)
    assert again.ok and sum(again.imported.values()) == 0
    assert again.skipped["runs"] == 10 and again.skipped["model versions"] == 1
    _check_everything(store, ids)  # nothing doubled: histories and versions are the same
    assert len(store.list_artifact_versions(name="notes.txt")) == 1


def test_an_existing_experiment_gains_the_tags_it_lacks(sqlite_store, tmp_path):
    uri, _ids = sqlite_store
    store = _heron(tmp_path)
    mine = store.create_experiment("iris-import", tags={"owner": "heron"})
    other = store.create_experiment("bulk", tags={"team": "mine"})
    assert import_mlflow(open_source(uri), store).ok
    tags = store.get_experiment(mine.id).tags
    assert tags["owner"] == "heron" and tags["team"] == "vision"  # MLflow's tag came over
    assert store.get_experiment(other.id).tags["team"] == "mine"  # its own are kept


def test_file_store_comes_over_exactly(file_store, tmp_path):
    path, ids = file_store
    store = _heron(tmp_path)
    summary = import_mlflow(open_source(path), store)
    assert summary.ok, summary.failures
    _check_everything(store, ids)
    assert _predict(store, "models:/iris-clf/1") == ids["prediction"]
    assert sum(import_mlflow(open_source(f"file://{path}"), store).imported.values()) == 0


def test_postgresql_store_comes_over_exactly(postgres_database, tmp_path):
    folder = tmp_path / "mlflow-pg"
    ids = _write(folder, postgres_database)
    store = _heron(tmp_path)
    summary = import_mlflow(open_source(postgres_database), store)
    assert summary.ok, summary.failures
    _check_everything(store, ids)
    assert _predict(store, "models:/iris-clf@champion") == ids["prediction"]
    assert sum(import_mlflow(open_source(postgres_database), store).imported.values()) == 0


class _Interrupting:
    """A store that raises KeyboardInterrupt (as Ctrl-C does) at the n-th call of one method."""

    def __init__(self, store, method: str, after: int) -> None:
        self._store, self._method, self._left = store, method, after

    def __getattr__(self, name: str):
        attribute = getattr(self._store, name)
        if name != self._method:
            return attribute

        def call(*args, **kwargs):
            self._left -= 1
            if self._left < 0:
                raise KeyboardInterrupt
            return attribute(*args, **kwargs)

        return call


@pytest.mark.parametrize(
    "method, after",
    [("log_batch", 4), ("update_run", 3), ("create_artifact_version", 1), ("create_run", 7)],
)
def test_an_interrupted_import_completes_when_run_again(sqlite_store, tmp_path, method, after):
    uri, ids = sqlite_store
    store = _heron(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        import_mlflow(open_source(uri), _Interrupting(store, method, after))
    assert len(store.search_runs(view="all")) < 10
    summary = import_mlflow(open_source(uri), store)
    assert summary.ok, summary.failures
    assert summary.imported["runs"] + summary.skipped["runs"] == 10
    _check_everything(store, ids)
    assert all(r.status != "pending" for r in store.search_runs(view="all"))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "heron", "--tracking-uri", f"sqlite:///{cwd / 'h.db'}", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_cli_imports_and_summarizes(sqlite_store, tmp_path):
    uri, ids = sqlite_store
    result = _cli("import", uri, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["counts"]["runs"] == {"imported": 10, "skipped": 0, "failed": 0}
    again = _cli("import", uri, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "skipped 10 runs: a run with that id exists" in again.stdout
    assert get_store(f"sqlite:///{tmp_path / 'h.db'}").get_run(ids["parent"]).name == "parent"


@pytest.mark.parametrize(
    "source, message",
    [
        ("does-not-exist/", "there is no folder"),
        ("sqlite:///nowhere.db", "there is no MLflow database"),
        ("sqlite:///{empty}", "is not an MLflow tracking database"),
        ("{tmp}", "is not an MLflow file store"),
        ("http://127.0.0.1:9", "cannot reach the MLflow server"),
    ],
)
def test_bad_sources_fail_clearly_and_write_nothing(tmp_path, source, message):
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").execute("create table t (x)").connection.close()
    source = source.format(empty=tmp_path / "empty.db", tmp=tmp_path)
    result = _cli("import", source, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr and "Nothing was imported" in result.stderr
    assert not (tmp_path / "h.db").exists()


def test_artifacts_behind_a_server_need_the_artifacts_folder(tmp_path):
    import sqlite3

    from tests.support.mlflow_server import mlflow_server

    with mlflow_server(tmp_path / "server") as server:
        ids = _write(tmp_path / "client", server.url)
        store = _heron(tmp_path)
        summary = import_mlflow(open_source(server.url), store)
        assert summary.ok, summary.failures
        _check_everything(store, ids)
        assert _predict(store, "models:/iris-clf@champion") == ids["prediction"]
        assert sum(import_mlflow(open_source(server.url), store).imported.values()) == 0
    # the server's own database: its runs' artifacts are mlflow-artifacts:/ URIs
    db = server.backend_store_uri
    with pytest.raises(SourceError, match="Pass --artifacts"):
        open_source(db).check()
    store = get_store(f"sqlite:///{tmp_path / 'other' / 'heron.db'}")
    summary = import_mlflow(open_source(db, artifacts=str(server.artifacts_destination)), store)
    assert summary.ok, summary.failures
    _check_everything(store, ids)
    assert sqlite3.connect(db.removeprefix("sqlite:///")).execute("select 1").fetchone()
