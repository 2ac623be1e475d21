"""MLflow's model registry on `heron server`, driven by the real MLflow client (3.17.2).

One server per module. Heron itself logs the models (``heron.log_model`` in a seeding
process) and registers one of them; one MLflow client script then registers, aliases,
searches, tags, renames, stages and deletes, and prints what it saw as JSON; the tests assert
on it and on Heron's own view of the same registry (alias history with the acting user).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import httpx
import pytest

from heron.store.rest.store import RestStore
from tests.support.mlflow_client import check_client, client_venv, run_client
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

USER = "alice"
HAS_LOGGED_MODELS = importlib.util.find_spec("heron.server.mlflow.logged_models") is not None

SEED = """
import json, sys
import heron
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

heron.set_tracking_uri(sys.argv[1])
heron.set_experiment("registry")
X, y = load_iris(return_X_y=True)
runs = []
for c in (0.5, 1.0):
    with heron.start_run(name=f"c={c}") as run:
        heron.log_model(LogisticRegression(C=c, max_iter=300).fit(X, y), "iris-model")
        heron.log_dict({"c": c}, "config.json")
    runs.append(run.id)
client = heron.Client()
mv = client.register_model("heron-made", source=f"runs:/{runs[0]}/iris-model")
client.set_model_alias("heron-made", "champion", mv.version)
client.register_model("heron-made", source=f"runs:/{runs[1]}/iris-model")
print(json.dumps({"runs": runs}))
"""

SCRIPT = """
import json, sys
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

run_a, run_b = sys.argv[1], sys.argv[2]
c = MlflowClient()
out = {}

def mv_view(v):
    return {"name": v.name, "version": v.version, "source": v.source, "run_id": v.run_id,
            "status": v.status, "stage": v.current_stage, "tags": dict(v.tags),
            "aliases": sorted(v.aliases), "user": v.user_id, "description": v.description,
            "created": v.creation_timestamp}

def error(call):
    try:
        call()
    except MlflowException as e:
        return [e.error_code, e.message]
    return None

# a model Heron registered, as MLflow sees it
rm = c.get_registered_model("heron-made")
out["heron_made"] = {"aliases": dict(rm.aliases),
                     "latest": [v.version for v in rm.latest_versions],
                     "versions": [mv_view(v) for v in c.search_model_versions(
                         "name = 'heron-made'", order_by=["version_number ASC"])],
                     "champion": mv_view(c.get_model_version_by_alias("heron-made", "champion"))}

# register from runs:/ sources, with tags and descriptions
c.create_registered_model("iris", tags={"team": "a", "task": "cls"}, description="first")
v1 = c.create_model_version("iris", f"runs:/{run_a}/iris-model", run_id=run_a,
                            tags={"k": "1"}, description="v one")
v2 = c.create_model_version("iris", f"runs:/{run_b}/iris-model", run_id=run_b)
out["v1"], out["v2"] = mv_view(v1), mv_view(v2)
out["get_v1"] = mv_view(c.get_model_version("iris", "1"))
out["download_uri"] = c.get_model_version_download_uri("iris", "2")

# aliases: set, move, read, delete
c.set_registered_model_alias("iris", "champion", "1")
c.set_registered_model_alias("iris", "champion", "2")
c.set_registered_model_alias("iris", "challenger", "1")
out["by_alias"] = mv_view(c.get_model_version_by_alias("iris", "champion"))
out["aliases"] = dict(c.get_registered_model("iris").aliases)
c.delete_registered_model_alias("iris", "challenger")
c.delete_registered_model_alias("iris", "never-set")  # MLflow: nothing happens
out["aliases_after"] = dict(c.get_registered_model("iris").aliases)
out["alias_gone"] = error(lambda: c.get_model_version_by_alias("iris", "challenger"))

# tags, descriptions
c.set_registered_model_tag("iris", "owner", "ml")
c.delete_registered_model_tag("iris", "task")
c.delete_registered_model_tag("iris", "missing")
c.update_registered_model("iris", description="updated")
c.set_model_version_tag("iris", "2", "validated", "yes")
c.delete_model_version_tag("iris", "1", "k")
c.update_model_version("iris", "2", description="v two")
rm = c.get_registered_model("iris")
out["iris"] = {"tags": dict(rm.tags), "description": rm.description,
               "v2": mv_view(c.get_model_version("iris", "2")),
               "v1_tags": dict(c.get_model_version("iris", "1").tags)}

# stages (kept as tags) and get_latest_versions
c.transition_model_version_stage("iris", "1", "Production")
c.transition_model_version_stage("iris", "2", "staging")
out["latest_prod"] = [[v.version, v.stage if hasattr(v, "stage") else v.current_stage]
                      for v in c.get_latest_versions("iris", stages=["Production"])]
out["latest_all"] = sorted([v.version, v.current_stage] for v in c.get_latest_versions("iris"))
c.transition_model_version_stage("iris", "2", "Production", archive_existing_versions=True)
out["after_archive"] = {v: c.get_model_version("iris", v).current_stage for v in ("1", "2")}
out["bad_stage"] = error(lambda: c.transition_model_version_stage("iris", "1", "Prod"))
out["bad_archive"] = error(lambda: c.transition_model_version_stage(
    "iris", "1", "Archived", archive_existing_versions=True))

# searches
for name, tags in (("iris-small", {"team": "b"}), ("Iris-Big", {"team": "a"}), ("wine", {})):
    c.create_registered_model(name, tags=tags)
    c.create_model_version(name, f"runs:/{run_a}/iris-model", run_id=run_a,
                           tags={"size": name})
names = lambda ms: [m.name for m in ms]
out["search"] = {
    "like": names(c.search_registered_models("name LIKE 'iris%'")),
    "ilike": names(c.search_registered_models("name ILIKE 'iris%'")),
    "eq": names(c.search_registered_models("name = 'wine'")),
    "tag": names(c.search_registered_models("tags.team = 'a'")),
    "desc": names(c.search_registered_models(order_by=["name DESC"])),
    "all": names(c.search_registered_models()),
}
page1 = c.search_registered_models(max_results=2, order_by=["name ASC"])
page2 = c.search_registered_models(max_results=2, order_by=["name ASC"], page_token=page1.token)
page3 = c.search_registered_models(max_results=2, order_by=["name ASC"], page_token=page2.token)
out["pages"] = [names(page1), names(page2), names(page3), page3.token or None]
vers = lambda vs: [[v.name, v.version] for v in vs]
out["search_mv"] = {
    "name": vers(c.search_model_versions("name = 'iris'")),
    "run": vers(c.search_model_versions(f"run_id = '{run_b}'")),
    "tag": vers(c.search_model_versions("tags.size LIKE 'iris-%'", order_by=["name ASC"])),
    "number": vers(c.search_model_versions("name = 'iris' and version_number > 1")),
    "source": vers(c.search_model_versions(f"source_path = '{v2.source}'")),
    "ordered": vers(c.search_model_versions("name ILIKE 'iris%'",
                                            order_by=["name DESC", "version_number ASC"])),
}
p1 = c.search_model_versions("name = 'iris'", max_results=1, order_by=["version_number ASC"])
p2 = c.search_model_versions("name = 'iris'", max_results=1, order_by=["version_number ASC"],
                             page_token=p1.token)
out["mv_pages"] = [vers(p1), vers(p2), p2.token or None]

# rename, delete
c.rename_registered_model("wine", "wine-2")
out["renamed"] = [c.get_registered_model("wine-2").name,
                  [v.version for v in c.get_registered_model("wine-2").latest_versions],
                  error(lambda: c.get_registered_model("wine"))]
c.delete_model_version("iris-small", "1")
out["deleted_version"] = error(lambda: c.get_model_version("iris-small", "1"))
c.delete_registered_model("wine-2")
out["deleted_model"] = error(lambda: c.get_registered_model("wine-2"))

# error paths
out["errors"] = {
    "unknown_model": error(lambda: c.get_registered_model("nope")),
    "unknown_version": error(lambda: c.get_model_version("iris", "99")),
    "duplicate": error(lambda: c.create_registered_model("iris")),
    "s3_source": error(lambda: c.create_model_version("iris", "s3://bucket/model")),
    "local_source": error(lambda: c.create_model_version("iris", "/tmp/model")),
    "escape": error(lambda: c.create_model_version("iris", f"runs:/{run_a}/../x")),
    "data_source": error(lambda: c.create_model_version("iris", f"runs:/{run_a}/config.json")),
    "wrong_run": error(lambda: c.create_model_version(
        "iris", f"runs:/{run_a}/iris-model", run_id=run_b)),
    "no_such_output": error(lambda: c.create_model_version("iris", f"runs:/{run_a}/nothing")),
    "unregistered": error(lambda: c.create_model_version("ghost", f"runs:/{run_a}/iris-model")),
    "bad_alias": error(lambda: c.set_registered_model_alias("iris", "3", "1")),
    "alias_unknown_version": error(lambda: c.set_registered_model_alias("iris", "x", "42")),
    "bad_filter": error(lambda: c.search_registered_models("name ~ 'x'")),
    "bad_order": error(lambda: c.search_registered_models(order_by=["owner DESC"])),
    "too_many": error(lambda: c.search_registered_models(max_results=1001)),
    "bad_token": error(lambda: c.search_model_versions(page_token="not-a-token")),
    "stage_tag": error(lambda: c.set_model_version_tag("iris", "1", "heron.stage", "x")),
}
print(json.dumps(out, default=list))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlflow-registry")
    with running_server(
        sqlite_uri(folder / "heron.db"), str(folder / "artifacts"), folder / "server.log"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def runs(server):
    seeded = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SEED), server.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr
    return json.loads(seeded.stdout)["runs"]


@pytest.fixture(scope="module")
def seen(server, runs):
    """What the MLflow client saw (one client process for the module)."""
    result = run_client(
        client_venv(),
        SCRIPT.replace("run_a, run_b = sys.argv[1], sys.argv[2]", f"run_a, run_b = {runs!r}"),
        server.url,
        env={"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": "secret"},
    )
    return json.loads(check_client(result).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def store(server):
    return RestStore(server.url)


def test_heron_registered_model_is_seen_by_mlflow(seen, runs):
    made = seen["heron_made"]
    assert made["aliases"] == {"champion": "1"}
    assert made["latest"] == ["2"]  # both in stage None: the newest
    first, second = made["versions"]
    assert [first["version"], second["version"]] == ["1", "2"]
    assert first["run_id"] == runs[0] and second["run_id"] == runs[1]
    assert first["source"] == f"runs:/{runs[0]}/iris-model" or first["source"].startswith(
        "models:/"
    )
    assert first["status"] == "READY" and first["stage"] == "None"
    assert first["aliases"] == ["champion"] and second["aliases"] == []
    assert made["champion"]["version"] == "1"


def test_versions_from_run_sources(seen, runs):
    v1, v2 = seen["v1"], seen["v2"]
    assert (v1["name"], v1["version"], v2["version"]) == ("iris", "1", "2")
    assert v1["run_id"] == runs[0] and v2["run_id"] == runs[1]
    assert v1["tags"] == {"k": "1"} and v1["description"] == "v one"
    assert v1["status"] == "READY" and v1["user"] == USER
    assert seen["get_v1"]["tags"] == {"k": "1"} and seen["get_v1"]["created"] > 0
    uri = seen["download_uri"]
    assert uri.startswith("mlflow-artifacts:/"), uri
    assert runs[1] in uri or "/models/" in uri


def test_aliases_and_their_history_in_heron(seen, store):
    assert seen["by_alias"]["version"] == "2"
    assert seen["by_alias"]["aliases"] == ["champion"]
    assert seen["aliases"] == {"champion": "2", "challenger": "1"}
    assert seen["aliases_after"] == {"champion": "2"}
    assert seen["alias_gone"][0] == "RESOURCE_DOES_NOT_EXIST"
    moves = [
        (e.alias, e.from_version, e.to_version, e.action, e.user)
        for e in store.get_alias_history("iris")
    ]
    assert moves == [
        ("champion", None, 1, "set", USER),
        ("champion", 1, 2, "set", USER),
        ("challenger", None, 1, "set", USER),
        ("challenger", 1, None, "delete", USER),
    ]


def test_tags_and_descriptions(seen, store):
    iris = seen["iris"]
    assert iris["tags"] == {"team": "a", "owner": "ml"}
    assert iris["description"] == "updated"
    assert iris["v2"]["tags"] == {"validated": "yes"}
    assert iris["v2"]["description"] == "v two"
    assert iris["v1_tags"] == {}
    assert store.get_registered_model("iris").tags == {"team": "a", "owner": "ml"}


def test_stages_are_tags_and_latest_versions_read_them(seen, store):
    assert seen["latest_prod"] == [["1", "Production"]]
    assert seen["latest_all"] == [["1", "Production"], ["2", "Staging"]]
    assert seen["after_archive"] == {"1": "Archived", "2": "Production"}
    assert seen["bad_stage"][0] == "INVALID_PARAMETER_VALUE"
    assert "None, Staging, Production, Archived" in seen["bad_stage"][1]
    assert seen["bad_archive"][0] == "INVALID_PARAMETER_VALUE"
    # Heron's own users see the stage as the tag heron.stage
    assert store.get_model_version("iris", 2).tags["heron.stage"] == "Production"
    assert store.get_model_version("iris", 1).tags["heron.stage"] == "Archived"


def test_search_registered_models(seen):
    search = seen["search"]
    assert search["like"] == ["iris", "iris-small"]
    assert search["ilike"] == ["Iris-Big", "iris", "iris-small"]
    assert search["eq"] == ["wine"]
    assert search["tag"] == ["Iris-Big", "iris"]
    assert search["all"] == ["Iris-Big", "heron-made", "iris", "iris-small", "wine"]
    assert search["desc"] == list(reversed(search["all"]))
    assert seen["pages"] == [["Iris-Big", "heron-made"], ["iris", "iris-small"], ["wine"], None]


def test_search_model_versions(seen, runs):
    search = seen["search_mv"]
    # MLflow's default order: last updated first (v1 was archived last)
    assert search["name"] == [["iris", "1"], ["iris", "2"]]
    assert search["run"] == [["iris", "2"], ["heron-made", "2"]]
    assert search["tag"] == [["iris-small", "1"]]
    assert search["number"] == [["iris", "2"]]
    # the same artifact (run b's model) under two names
    assert sorted(search["source"]) == [["heron-made", "2"], ["iris", "2"]]
    assert search["ordered"] == [
        ["iris-small", "1"],
        ["iris", "1"],
        ["iris", "2"],
        ["Iris-Big", "1"],
    ]
    assert seen["mv_pages"] == [[["iris", "1"]], [["iris", "2"]], None]


def test_rename_and_delete(seen, store):
    name, latest, old = seen["renamed"]
    assert name == "wine-2" and latest == ["1"]
    assert old[0] == "RESOURCE_DOES_NOT_EXIST"
    assert seen["deleted_version"][0] == "RESOURCE_DOES_NOT_EXIST"
    assert seen["deleted_model"][0] == "RESOURCE_DOES_NOT_EXIST"
    assert [m.name for m in store.list_registered_models()] == [
        "Iris-Big",
        "heron-made",
        "iris",
        "iris-small",
    ]


def test_error_paths(seen, store):
    errors = seen["errors"]
    codes = {key: value[0] if value else None for key, value in errors.items()}
    assert codes == {
        "unknown_model": "RESOURCE_DOES_NOT_EXIST",
        "unknown_version": "RESOURCE_DOES_NOT_EXIST",
        "duplicate": "RESOURCE_ALREADY_EXISTS",
        "s3_source": "INVALID_PARAMETER_VALUE",
        "local_source": "INVALID_PARAMETER_VALUE",
        "escape": "INVALID_PARAMETER_VALUE",
        "data_source": "INVALID_PARAMETER_VALUE",
        "wrong_run": "INVALID_PARAMETER_VALUE",
        "no_such_output": "INVALID_PARAMETER_VALUE",
        "unregistered": "RESOURCE_DOES_NOT_EXIST",
        "bad_alias": "INVALID_PARAMETER_VALUE",
        "alias_unknown_version": "RESOURCE_DOES_NOT_EXIST",
        "bad_filter": "INVALID_PARAMETER_VALUE",
        "bad_order": "INVALID_PARAMETER_VALUE",
        "too_many": "INVALID_PARAMETER_VALUE",
        "bad_token": "INVALID_PARAMETER_VALUE",
        "stage_tag": "INVALID_PARAMETER_VALUE",
    }
    s3 = errors["s3_source"][1]
    assert "Heron registers models it stores" in s3 and "log the model to a run first" in s3
    assert "at most 1000" in errors["too_many"][1]
    # none of the refused registrations wrote a version
    assert [v.version for v in store.search_model_versions("name = 'iris'")] == [2, 1]


LOGGED = """
import json
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

X, y = load_iris(return_X_y=True)
mlflow.set_experiment("mlflow-registry")
with mlflow.start_run() as run:
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    info = mlflow.sklearn.log_model(
        model, name="model", registered_model_name="tree", serialization_format="cloudpickle"
    )
c = MlflowClient()
first = c.get_model_version("tree", "1")
again = mlflow.register_model(f"runs:/{run.info.run_id}/model", "tree")
c.set_registered_model_alias("tree", "champion", again.version)
loaded = mlflow.pyfunc.load_model("models:/tree@champion")
by_version = mlflow.pyfunc.load_model("models:/tree/1")
print(json.dumps({
    "run_id": run.info.run_id, "model_id": info.model_id,
    "first": [first.version, first.source, first.run_id, first.status],
    "again": [again.version, again.source, again.run_id],
    "uri": c.get_model_version_download_uri("tree", "1"),
    "expected": model.predict(X[:20]).tolist(),
    "alias_predictions": np.asarray(loaded.predict(X[:20])).tolist(),
    "version_predictions": np.asarray(by_version.predict(X[:20])).tolist(),
}))
"""


@pytest.mark.skipif(not HAS_LOGGED_MODELS, reason="needs heron.server.mlflow.logged_models")
def test_mlflow_logged_model_registered_and_loaded_by_alias(server, store):
    result = run_client(client_venv(), LOGGED, server.url)
    seen = json.loads(check_client(result).strip().splitlines()[-1])
    model_id = seen["model_id"]
    assert seen["first"] == ["1", f"models:/{model_id}", seen["run_id"], "READY"]
    assert seen["again"] == ["2", f"models:/{model_id}", seen["run_id"]]
    # the 3.17 client does not read model_id back; the answer carries it (model_registry.proto)
    answer = httpx.get(
        f"{server.url}/api/2.0/mlflow/model-versions/get", params={"name": "tree", "version": "2"}
    ).json()["model_version"]
    assert answer["model_id"] == model_id
    assert seen["uri"].startswith("mlflow-artifacts:/") and model_id in seen["uri"]
    assert seen["alias_predictions"] == seen["expected"]
    assert seen["version_predictions"] == seen["expected"]
    # both versions are one Heron artifact, produced by the MLflow run
    one, two = store.get_model_version("tree", 1), store.get_model_version("tree", 2)
    assert one.artifact_id == two.artifact_id
    assert one.run_id == seen["run_id"]
    assert store.get_model_version_by_alias("tree", "champion").version == 2


HERON_LOADED = """
import json, sys
import mlflow
import numpy as np
from sklearn.datasets import load_iris

X, _ = load_iris(return_X_y=True)
model = mlflow.pyfunc.load_model("models:/heron-made@champion")
print(json.dumps(np.asarray(model.predict(X[:10])).tolist()))
"""


@pytest.mark.skipif(not HAS_LOGGED_MODELS, reason="needs heron.server.mlflow.logged_models")
def test_heron_model_loads_in_mlflow_by_alias(server, runs, seen):
    from sklearn.datasets import load_iris

    import heron

    result = run_client(client_venv(), HERON_LOADED, server.url)
    predictions = json.loads(check_client(result).strip().splitlines()[-1])
    X, _ = load_iris(return_X_y=True)
    expected = heron.Client(server.url).get_model_version("heron-made", 1)
    model = heron.load_model(f"models:/heron-made/{expected.version}", tracking_uri=server.url)
    assert predictions == model.predict(X[:10]).tolist()
