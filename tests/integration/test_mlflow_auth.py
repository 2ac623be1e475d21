"""The real MLflow client (its own virtualenv) against `heron server --auth`: tokens and
passwords from MLflow's environment variables, 401 without them, 403 for a viewer's writes,
a project through the tracking URI (``/projects/<name>``), nothing of another project seen
through searches, ids, artifact paths or model sources, the user of a run and the audit
trail; plus plain HTTP requests for the exact statuses and error bodies. One server."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy import select

from heron.server.mlflow.face import MlflowFace
from heron.store.sql import engine as sql_engine
from heron.store.sql import schema
from heron.store.sql.governance import GovernanceStore
from tests.support.mlflow_client import check_client, client_venv, run_client
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
PASSWORDS = {"ana": "ana-secret-pw-1", "ed": "ed-secret-pw-1", "vic": "vic-secret-pw-1"}


@pytest.fixture(scope="module")
def venv():
    return client_venv()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-auth")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--auth",),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def governance(server):
    """ana (admin); ed (editor of default and fraud); vic (viewer of default); dee (editor
    of default only): their API tokens by name."""
    gov = GovernanceStore(server.backend_store_uri)
    gov.create_user("ana", PASSWORDS["ana"], admin=True)
    gov.create_user("ed", PASSWORDS["ed"])
    gov.create_user("vic", PASSWORDS["vic"])
    gov.create_user("dee", None)
    gov.create_project("fraud")
    gov.grant("default", "ed", "editor")
    gov.grant("fraud", "ed", "editor")
    gov.grant("default", "vic", "viewer")
    gov.grant("default", "dee", "editor")
    tokens = {name: gov.create_token(name, "tests")[1] for name in ("ana", "ed", "vic", "dee")}
    return gov, tokens


def mlflow_script(venv, server, script: str, tmp_path, env: dict[str, str]) -> dict:
    """Run an MLflow client script as ``env`` says; its last stdout line is JSON."""
    out = check_client(run_client(venv, script, server.url, cwd=tmp_path, env=env, timeout=120))
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def logged(venv, server, governance, tmp_path_factory):
    """What ed logged with a token: a run in each project (one experiment name in both), an
    artifact, a registered model in fraud."""
    _gov, tokens = governance
    return mlflow_script(
        venv,
        server,
        """
        import json, mlflow
        from mlflow import MlflowClient
        base = mlflow.get_tracking_uri()
        out = {}
        for project, uri in (("default", base), ("fraud", base + "/projects/fraud")):
            mlflow.set_tracking_uri(uri)
            experiment = mlflow.set_experiment("shared")
            with mlflow.start_run(run_name=f"in-{project}") as run:
                mlflow.log_param("project", project)
                mlflow.log_metric("loss", 0.5, step=1)
                mlflow.log_text(f"notes of {project}", "notes.txt")
            back = mlflow.get_run(run.info.run_id)
            c = MlflowClient()
            out[project] = {
                "experiment": experiment.experiment_id,
                "run": run.info.run_id,
                "user": back.info.user_id,
                "user_tag": back.data.tags.get("mlflow.user"),
                "params": back.data.params,
                "metrics": back.data.metrics,
                "artifacts": [f.path for f in c.list_artifacts(run.info.run_id)],
                "notes": mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.txt"),
                "experiments": sorted(e.name for e in c.search_experiments()),
                "searched": [r.info.run_id for r in c.search_runs([experiment.experiment_id])],
            }
        MlflowClient().create_registered_model("fraud-model")  # still in fraud
        print(json.dumps(out))
        """,
        tmp_path_factory.mktemp("logged"),
        {"MLFLOW_TRACKING_TOKEN": tokens["ed"]},
    )


def test_a_token_logs_and_reads_back_in_each_project(logged):
    default, fraud = logged["default"], logged["fraud"]
    for project, got in (("default", default), ("fraud", fraud)):
        assert got["params"] == {"project": project}
        assert got["metrics"] == {"loss": 0.5}
        assert got["user"] == "ed" and got["user_tag"] == "ed"  # the signed-in user
        assert got["artifacts"] == ["notes.txt"]
        assert got["notes"] == f"notes of {project}"
        assert got["searched"] == [got["run"]]
    # one name, two experiments: each project sees its own
    assert default["experiment"] != fraud["experiment"]
    assert default["experiments"] == fraud["experiments"] == ["Default", "shared"]


def test_a_password_logs_and_reads_back(venv, server, logged, tmp_path):
    got = mlflow_script(
        venv,
        server,
        """
        import json, mlflow
        mlflow.set_experiment("with-password")
        with mlflow.start_run() as run:
            mlflow.log_metric("acc", 0.75)
        back = mlflow.get_run(run.info.run_id)
        print(json.dumps({"user": back.info.user_id, "metrics": back.data.metrics,
                          "status": back.info.status}))
        """,
        tmp_path,
        {"MLFLOW_TRACKING_USERNAME": "ed", "MLFLOW_TRACKING_PASSWORD": PASSWORDS["ed"]},
    )
    assert got == {"user": "ed", "metrics": {"acc": 0.75}, "status": "FINISHED"}


def test_refusals_through_the_client(venv, server, governance, logged, tmp_path):
    _gov, tokens = governance
    fraud = logged["fraud"]
    got = mlflow_script(
        venv,
        server,
        f"""
        import json, os, mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
        def refused(call):
            try:
                call()
            except MlflowException as e:
                return [e.get_http_status_code(), e.error_code]
            return "allowed"
        c = MlflowClient()
        out = {{"anonymous": refused(lambda: c.search_experiments())}}
        os.environ["MLFLOW_TRACKING_USERNAME"] = "vic"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = "wrong-password"
        out["wrong_password"] = refused(lambda: c.search_experiments())
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
        os.environ["MLFLOW_TRACKING_TOKEN"] = {tokens["vic"]!r}
        out["viewer_log"] = refused(lambda: c.create_run({logged["default"]["experiment"]!r}))
        out["viewer_reads"] = c.get_run({logged["default"]["run"]!r}).data.params
        out["other_run"] = refused(lambda: c.get_run({fraud["run"]!r}))
        out["other_experiment"] = refused(lambda: c.get_experiment({fraud["experiment"]!r}))
        out["other_search"] = refused(lambda: c.search_runs([{fraud["experiment"]!r}]))
        out["experiments"] = sorted(e.experiment_id for e in c.search_experiments())
        out["models"] = [m.name for m in c.search_registered_models()]
        out["other_model"] = refused(lambda: c.get_registered_model("fraud-model"))
        mlflow.set_tracking_uri(mlflow.get_tracking_uri() + "/projects/fraud")
        out["other_project"] = refused(lambda: MlflowClient().search_experiments())
        print(json.dumps(out))
        """,
        tmp_path,
        {},
    )
    assert got["anonymous"] == [401, "UNAUTHENTICATED"]
    assert got["wrong_password"] == [401, "UNAUTHENTICATED"]
    assert got["viewer_log"] == [403, "PERMISSION_DENIED"]
    assert got["viewer_reads"] == {"project": "default"}
    for key in ("other_run", "other_experiment", "other_search", "other_model"):
        assert got[key] == [404, "RESOURCE_DOES_NOT_EXIST"], key
    assert fraud["experiment"] not in got["experiments"]
    assert logged["default"]["experiment"] in got["experiments"]
    assert got["models"] == []
    assert got["other_project"] == [403, "PERMISSION_DENIED"]


# --- plain HTTP ------------------------------------------------------------------------------
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_statuses_and_error_bodies(server, governance, logged):
    _gov, tokens = governance
    url = server.url
    run_id = logged["default"]["run"]
    anonymous = httpx.get(f"{url}{API}/runs/get", params={"run_id": run_id})
    assert anonymous.status_code == 401
    assert anonymous.json()["error_code"] == "UNAUTHENTICATED"
    assert "MLFLOW_TRACKING_TOKEN" in anonymous.json()["message"]
    assert "basic" in anonymous.headers["www-authenticate"].lower()
    bad = httpx.get(f"{url}{API}/runs/get", params={"run_id": run_id}, headers=bearer("nope"))
    assert bad.status_code == 401 and bad.json()["error_code"] == "UNAUTHENTICATED"
    # a malformed body is still 401 first: nothing is said before who asks is known
    garbled = httpx.post(f"{url}{API}/runs/log-batch", content=b"{not json")
    assert garbled.status_code == 401
    basic = base64.b64encode(f"vic:{PASSWORDS['vic']}".encode()).decode()
    got = httpx.get(
        f"{url}{API}/runs/get",
        params={"run_uuid": run_id},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert got.status_code == 200 and got.json()["run"]["info"]["run_id"] == run_id
    # MLflow's older field name is checked like run_id: another project's run is not there
    other = httpx.get(
        f"{url}{API}/runs/get",
        params={"run_uuid": logged["fraud"]["run"]},
        headers=bearer(tokens["vic"]),
    )
    assert other.status_code == 404
    assert other.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    denied = httpx.post(
        f"{url}{API}/runs/log-batch",
        json={"run_id": run_id, "metrics": [{"key": "x", "value": 1, "timestamp": 1}]},
        headers=bearer(tokens["vic"]),
    )
    assert denied.status_code == 403
    assert denied.json()["error_code"] == "PERMISSION_DENIED"
    assert "heron projects grant default --user vic --role editor" in denied.json()["message"]
    # MLflow's experiment "0" is the request project's default experiment: fraud's, which
    # vic cannot read; in default it is vic's to read
    zero = httpx.get(
        f"{url}/projects/fraud{API}/experiments/get",
        params={"experiment_id": "0"},
        headers=bearer(tokens["vic"]),
    )
    assert zero.status_code == 404
    zero = httpx.get(
        f"{url}{API}/experiments/get", params={"experiment_id": "0"}, headers=bearer(tokens["vic"])
    )
    assert zero.status_code == 200 and zero.json()["experiment"]["name"] == "Default"


def test_artifacts_of_another_project(server, governance, logged):
    _gov, tokens = governance
    url = server.url
    fraud = logged["fraud"]
    path = f"{fraud['experiment']}/{fraud['run']}/artifacts"
    ed = httpx.get(f"{url}{ARTIFACTS}/{path}/notes.txt", headers=bearer(tokens["ed"]))
    assert ed.status_code == 200 and ed.content == b"notes of fraud"
    for params, target in (({}, f"{path}/notes.txt"), ({"path": path}, "")):
        vic = httpx.get(
            f"{url}{ARTIFACTS}/{target}".rstrip("/"), params=params, headers=bearer(tokens["vic"])
        )
        assert vic.status_code == 404, vic.text
        assert vic.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    listing = httpx.get(
        f"{url}{API}/artifacts/list", params={"run_id": fraud["run"]}, headers=bearer(tokens["vic"])
    )
    assert listing.status_code == 404
    upload = httpx.put(
        f"{url}{ARTIFACTS}/{path}/more.txt", content=b"x", headers=bearer(tokens["dee"])
    )
    assert upload.status_code == 404  # dee edits default only: fraud's run is not there
    # an upload to fraud's run from a request in default is fraud's all the same
    late = httpx.put(
        f"{url}{ARTIFACTS}/{path}/late.txt", content=b"y", headers=bearer(tokens["ed"])
    )
    assert late.status_code == 200, late.text
    av = schema.artifact_versions
    with sql_engine.read(sql_engine.get_engine(server.backend_store_uri)) as conn:
        owners = conn.execute(select(av.c.project).where(av.c.name == "late.txt")).scalars().all()
    assert owners == ["fraud"]
    hidden = httpx.get(f"{url}{ARTIFACTS}/{path}/late.txt", headers=bearer(tokens["vic"]))
    assert hidden.status_code == 404


def test_model_sources_and_logged_models_of_another_project(server, governance, logged):
    _gov, tokens = governance
    url = server.url
    fraud = logged["fraud"]
    made = httpx.post(
        f"{url}{API}/registered-models/create",
        json={"name": "dee-model"},
        headers=bearer(tokens["dee"]),
    )
    assert made.status_code == 200, made.text
    for source in (
        f"runs:/{fraud['run']}/notes.txt",
        f"mlflow-artifacts:/{fraud['experiment']}/{fraud['run']}/artifacts/notes.txt",
    ):
        version = httpx.post(
            f"{url}{API}/model-versions/create",
            json={"name": "dee-model", "source": source},
            headers=bearer(tokens["dee"]),
        )
        assert version.status_code == 404, version.text
        assert version.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # ed reads fraud: the source is found, and refused for what it is (a text file, no model)
    ed = httpx.post(
        f"{url}{API}/model-versions/create",
        json={"name": "dee-model", "source": f"runs:/{fraud['run']}/notes.txt"},
        headers=bearer(tokens["ed"]),
    )
    assert ed.status_code == 400 and ed.json()["error_code"] == "INVALID_PARAMETER_VALUE"

    model = httpx.post(
        f"{url}/projects/fraud{API}/logged-models",
        json={"experiment_id": fraud["experiment"], "name": "m"},
        headers=bearer(tokens["ed"]),
    )
    assert model.status_code == 200, model.text
    model_id = model.json()["model"]["info"]["model_id"]
    got = httpx.get(f"{url}{API}/logged-models/{model_id}", headers=bearer(tokens["ed"]))
    assert got.status_code == 200
    for response in (
        httpx.get(f"{url}{API}/logged-models/{model_id}", headers=bearer(tokens["vic"])),
        httpx.post(
            f"{url}{API}/logged-models/search",
            json={"experiment_ids": [fraud["experiment"]]},
            headers=bearer(tokens["vic"]),
        ),
    ):
        assert response.status_code == 404, response.text
    searched = httpx.get(f"{url}{API}/model-versions/search", headers=bearer(tokens["vic"]))
    assert searched.status_code == 200 and searched.json().get("model_versions", []) == []


def test_the_audit_trail_has_the_writes_and_the_refusals(server, governance, logged):
    gov, tokens = governance
    fraud_run = logged["fraud"]["run"]
    refused = httpx.post(
        f"{server.url}{API}/runs/set-tag",
        json={"run_id": logged["default"]["run"], "key": "k", "value": "v"},
        headers=bearer(tokens["vic"]),
    )
    assert refused.status_code == 403
    writes = gov.search_audit(user="ed", outcome="ok")
    created = [e for e in writes if e.action.endswith("create_run")]
    assert {e.project for e in created} >= {"default", "fraud"}
    batches = [e for e in writes if e.object_id == fraud_run and e.project == "fraud"]
    assert batches and all(e.address == "127.0.0.1" for e in batches)
    assert any(e.action.endswith("upload") for e in batches)  # the artifact, by the proxy
    denied = gov.search_audit(user="vic", outcome="denied")
    entry = next(e for e in denied if e.route == f"{API}/runs/set-tag")
    assert entry.status == 403 and entry.object_id == logged["default"]["run"]
    assert not [e for e in gov.search_audit(user="vic", outcome="ok")]  # a viewer wrote nothing


def test_every_route_declares_a_permission():
    class App:
        store = blobs = None

    declared = MlflowFace(App()).permissions()
    assert len(declared) > 50
    assert [(m, t) for m, t, p in declared if p is None] == []
    templates = {t for _m, t, _p in declared}
    assert f"{API}/runs/log-batch" in templates and f"{ARTIFACTS}/{{path}}" in templates
