"""MLflow's artifact proxy on `heron server`: the real MLflow client's artifact code up and
down, the uploads as Heron artifact versions of the run, Heron's artifacts seen by MLflow,
multipart uploads and the error paths (direct HTTP)."""

from __future__ import annotations

import hashlib
import json
import textwrap

import httpx
import pytest

from heron.store.rest.store import RestStore
from tests.support.mlflow_client import check_client, client_venv, run_client
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

PROXY = "/api/2.0/mlflow-artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-artifacts")
    with running_server(
        sqlite_uri(folder / "heron.db"), str(folder / "artifacts"), folder / "server.log"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def venv():
    return client_venv()


@pytest.fixture(scope="module")
def store(server):
    return RestStore(server.url)


@pytest.fixture
def run(store):
    experiment = store.get_experiment_by_name("proxy") or store.create_experiment("proxy")
    return store.create_run(experiment.id)


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _repo_script(body: str) -> str:
    """A client script with ``repo``: MLflow's own artifact repository of the run's URI."""
    return (
        "import json, os, sys, tempfile, hashlib\n"
        "from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository\n"
        "uri = sys.argv[1] if len(sys.argv) > 1 else os.environ['ARTIFACT_URI']\n"
        "repo = MlflowArtifactsRepository(uri)\n" + textwrap.dedent(body)
    )


def test_client_round_trips_files_folders_and_a_20mb_file(server, venv, store, run, tmp_path):
    uri = f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"
    script = _repo_script(
        """
        src = tempfile.mkdtemp()
        with open(os.path.join(src, "notes.txt"), "w") as f:
            f.write("hello heron")
        os.makedirs(os.path.join(src, "tree", "deep"))
        with open(os.path.join(src, "tree", "a.json"), "w") as f:
            json.dump({"a": 1}, f)
        with open(os.path.join(src, "tree", "deep", "b.bin"), "wb") as f:
            f.write(bytes(range(256)) * 4)
        big = os.path.join(src, "big.bin")
        with open(big, "wb") as f:
            for i in range(20):
                f.write(hashlib.sha256(str(i).encode()).digest() * 32768)
        repo.log_artifact(os.path.join(src, "notes.txt"))
        repo.log_artifacts(os.path.join(src, "tree"), "tree")
        repo.log_artifact(big, "data")
        root = [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts()]
        tree = [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("tree")]
        deep = [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("tree/deep")]
        dst = tempfile.mkdtemp()
        out = repo.download_artifacts("", dst)
        def digest(p):
            return hashlib.sha256(open(p, "rb").read()).hexdigest()
        print(json.dumps({
            "root": root, "tree": tree, "deep": deep,
            "notes": open(os.path.join(out, "notes.txt")).read(),
            "a": json.load(open(os.path.join(out, "tree", "a.json"))),
            "b": digest(os.path.join(out, "tree", "deep", "b.bin")),
            "big": digest(os.path.join(out, "data", "big.bin")),
            "big_sent": digest(big),
            "single_file_listing": [f.path for f in repo.list_artifacts("notes.txt")],
        }))
        """
    )
    out = json.loads(check_client(run_client(venv, script, server.url, env={"ARTIFACT_URI": uri})))
    assert out["root"] == [["data", True, None], ["notes.txt", False, 11], ["tree", True, None]]
    assert out["tree"] == [["tree/a.json", False, 8], ["tree/deep", True, None]]
    assert out["deep"] == [["tree/deep/b.bin", False, 1024]]
    assert out["notes"] == "hello heron"
    assert out["a"] == {"a": 1}
    assert out["b"] == hashlib.sha256(bytes(range(256)) * 4).hexdigest()
    assert out["big"] == out["big_sent"]
    assert out["single_file_listing"] == []
    # what the client uploaded is ordinary Heron data: the run's artifacts, hashed
    links = {link.name: link for link in store.list_artifact_links(run_id=run.id)}
    assert sorted(links) == ["data/big.bin", "notes.txt", "tree/a.json", "tree/deep/b.bin"]
    big = store.get_artifact_version(links["data/big.bin"].artifact_id)
    assert big.size == 20 * 32 * 32768 and big.content_hash == out["big_sent"]
    assert big.producer_run_id == run.id and links["data/big.bin"].direction == "output"


def test_uploading_a_path_again_makes_a_new_version(server, http, store, run):
    url = f"{PROXY}/artifacts/{run.experiment_id}/{run.id}/artifacts/again/v.txt"
    assert http.put(url, content=b"one").status_code == 200
    first = store.get_artifact_version_by_name("again/v.txt")
    assert http.put(url, content=b"two").status_code == 200
    second = store.get_artifact_version_by_name("again/v.txt")
    assert second.version == first.version + 1
    assert http.get(url).content == b"two"
    [link] = [k for k in store.list_artifact_links(run_id=run.id) if k.name == "again/v.txt"]
    assert link.artifact_id == second.id


def test_mlflow_sees_what_heron_logged(server, venv, store, run, tmp_path):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from heron.models.saving import save_model
    from heron.tracking.run_artifacts import log_dict, log_path

    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "loss.csv").write_text("1,2\n")
    (folder / "sub" / "x.txt").write_text("x")
    import os

    os.environ["HERON_TRACKING_URI"] = server.url
    try:
        log_path(store, run.id, folder, None)
        log_dict(store, run.id, {"k": [1, 2]}, "config.json")
        X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2], [0.1, 0.9]])
        model = LogisticRegression().fit(X, [0, 1, 1, 0])
        save_model(store, run.id, model, "clf", input_example=X[:2])
    finally:
        os.environ.pop("HERON_TRACKING_URI")
    uri = f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"
    script = _repo_script(
        """
        root = sorted((f.path, f.is_dir) for f in repo.list_artifacts())
        plots = sorted(f.path for f in repo.list_artifacts("plots/sub"))
        clf = sorted(f.path for f in repo.list_artifacts("clf"))
        data = sorted(f.path for f in repo.list_artifacts("clf/data"))
        dst = tempfile.mkdtemp()
        config = json.load(open(repo.download_artifacts("config.json", dst)))
        from mlflow.models import Model
        m = Model.load(repo.download_artifacts("clf/MLmodel", dst))
        print(json.dumps({"root": root, "plots": plots, "clf": clf, "data": data,
                          "config": config, "flavors": sorted(m.flavors),
                          "loader": m.flavors["python_function"]["loader_module"],
                          "inputs": m.signature.inputs.to_dict()}))
        """
    )
    out = json.loads(check_client(run_client(venv, script, server.url, env={"ARTIFACT_URI": uri})))
    assert out["root"] == [["clf", True], ["config.json", False], ["plots", True]]
    assert out["plots"] == ["plots/sub/x.txt"]
    assert out["clf"] == ["clf/MLmodel", "clf/data", "clf/requirements.txt"]
    assert out["data"] == ["clf/data/model.joblib"]
    assert out["config"] == {"k": [1, 2]}
    assert out["flavors"] == ["python_function"]
    assert out["loader"] == "heron.models.mlflow_pyfunc"
    assert out["inputs"] == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}
    ]


def test_old_list_route_and_delete(server, http, store, run):
    base = f"{PROXY}/artifacts/{run.experiment_id}/{run.id}/artifacts"
    assert http.put(f"{base}/keep.txt", content=b"k").status_code == 200
    assert http.put(f"{base}/gone/a.txt", content=b"a").status_code == 200
    assert http.put(f"{base}/gone/b.txt", content=b"b").status_code == 200
    listed = http.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run.id}).json()
    assert listed["root_uri"].endswith(f"/{run.id}/artifacts")
    assert [f["path"] for f in listed["files"]] == ["gone", "keep.txt"]
    inner = http.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run.id, "path": "gone"})
    assert [f["path"] for f in inner.json()["files"]] == ["gone/a.txt", "gone/b.txt"]
    assert http.delete(f"{base}/gone").status_code == 200
    listed = http.get(
        f"{PROXY}/artifacts", params={"path": f"{run.experiment_id}/{run.id}/artifacts"}
    )
    assert listed.json() == {"files": [{"path": "keep.txt", "is_dir": False, "file_size": 1}]}
    assert http.get(f"{base}/gone/a.txt").status_code == 404


def test_multipart_upload_protocol(server, http, store, run):
    where = f"{run.experiment_id}/{run.id}/artifacts/mpu"
    created = http.post(
        f"{PROXY}/mpu/create/{where}", json={"path": "/tmp/x/big.bin", "num_parts": 2}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    upload_id = body["upload_id"]
    assert [c["part_number"] for c in body["credentials"]] == [1, 2]
    parts = [b"a" * 1000, b"b" * 500]
    etags = []
    for credential, data in zip(body["credentials"], parts):
        answer = httpx.put(credential["url"], content=data, headers=credential["headers"])
        assert answer.status_code == 200
        etags.append(answer.headers["etag"])
    wrong = [{"part_number": 1, "etag": etags[1]}, {"part_number": 2, "etag": etags[1]}]
    bad = http.post(
        f"{PROXY}/mpu/complete/{where}",
        json={"path": "big.bin", "upload_id": upload_id, "parts": wrong},
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    good = [{"part_number": n + 1, "etag": e} for n, e in enumerate(etags)]
    done = http.post(
        f"{PROXY}/mpu/complete/{where}",
        json={"path": "/tmp/x/big.bin", "upload_id": upload_id, "parts": good},
    )
    assert done.status_code == 200, done.text
    stored = http.get(f"{PROXY}/artifacts/{where}/big.bin")
    assert stored.content == b"a" * 1000 + b"b" * 500
    version = store.get_artifact_version_by_name("mpu/big.bin")
    assert version.content_hash == hashlib.sha256(stored.content).hexdigest()
    # an aborted upload is gone: completing it afterwards is a 404
    other = http.post(f"{PROXY}/mpu/create/{where}", json={"path": "c.bin", "num_parts": 1})
    other_id = other.json()["upload_id"]
    assert (
        http.post(
            f"{PROXY}/mpu/abort/{where}", json={"path": "c.bin", "upload_id": other_id}
        ).status_code
        == 200
    )
    late = http.post(
        f"{PROXY}/mpu/complete/{where}",
        json={"path": "c.bin", "upload_id": other_id, "parts": [{"part_number": 1, "etag": "x"}]},
    )
    assert late.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        # encoded, so that the client sends the dots rather than resolving them itself
        "1/abc/artifacts/%2E%2E/%2E%2E/etc/passwd",
        "1/abc/artifacts/a/%2E/b",
        "1/abc/artifacts/a%2F..%2Fb",
        "1/abc/nope/x.txt",
        "1/abc/artifacts/",
    ],
)
def test_bad_paths_are_400(http, path):
    answer = http.put(f"{PROXY}/artifacts/{path}", content=b"x")
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_unknown_run_is_404_in_mlflow_shape(http, venv, server):
    missing = "0" * 32
    answer = http.put(f"{PROXY}/artifacts/1/{missing}/artifacts/x.txt", content=b"x")
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    listed = http.get(f"{PROXY}/artifacts", params={"path": f"1/{missing}/artifacts"})
    assert listed.status_code == 404
    script = _repo_script(
        """
        from requests import HTTPError
        try:
            repo.list_artifacts()
        except HTTPError as e:
            print(e.response.status_code, e.response.json()["error_code"])
        """
    )
    uri = f"mlflow-artifacts:/1/{missing}/artifacts"
    out = check_client(run_client(venv, script, server.url, env={"ARTIFACT_URI": uri}))
    assert out.strip() == "404 RESOURCE_DOES_NOT_EXIST"
