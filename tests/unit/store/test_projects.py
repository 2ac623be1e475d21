"""Projects on `SqlStore` (SQLite): names of experiments, registered models and artifact
versions are unique within a project and looked up there; ids reach every project."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import heron
from heron.core import config
from heron.core.errors import AlreadyExists, InvalidArgument, NotFound
from heron.store.sql import schema as t

HASH_A = "a" * 64
HASH_B = "b" * 64


@pytest.fixture(autouse=True)
def no_project_chosen(monkeypatch):
    """Every test starts in ``default``, whatever the environment running the tests says (and
    leaves HERON_PROJECT as it found it: ``heron --project`` sets it)."""
    monkeypatch.setenv(config.PROJECT_ENV, "default")
    monkeypatch.delenv(config.PROJECT_ENV)
    config.set_project(None)
    yield
    config.set_project(None)


def make_project(store, name: str) -> None:
    """What `heron projects create NAME` leaves in the database."""
    with store.engine.begin() as conn:
        conn.execute(t.projects.insert().values(name=name, description=None, created_at=0))


@pytest.fixture
def store(sqlite_store):
    make_project(sqlite_store, "fraud")
    return sqlite_store


@pytest.fixture
def fraud(store):
    return store.in_project("fraud")


def artifact(store, name: str, content_hash: str = HASH_A, run_id: str | None = None):
    return store.create_artifact_version(
        name,
        content_hash=content_hash,
        type="builtins.int",
        materializer="json",
        size=1,
        uri=f"/objects/{content_hash[:2]}/{content_hash[2:]}",
        producer_run_id=run_id,
    )


# --- the same name in two projects -------------------------------------------------------------


def test_the_same_experiment_name_in_two_projects_is_two_experiments(store, fraud):
    mine = store.create_experiment("scoring")
    theirs = fraud.create_experiment("scoring")
    assert mine.id != theirs.id
    assert (mine.project, theirs.project) == ("default", "fraud")
    assert store.get_experiment_by_name("scoring").id == mine.id
    assert fraud.get_experiment_by_name("scoring").id == theirs.id
    assert [e.id for e in store.list_experiments()] == [mine.id]
    assert [e.id for e in fraud.list_experiments("all")] == [theirs.id]
    with pytest.raises(AlreadyExists, match="in project 'fraud'"):
        fraud.create_experiment("scoring")


def test_the_same_model_name_in_two_projects_is_numbered_from_1_in_each(store, fraud):
    first = store.create_model_version("iris", artifact(store, "model").id)
    second = store.create_model_version("iris", artifact(store, "model").id)
    other = fraud.create_model_version("iris", artifact(fraud, "model").id)
    assert (first.version, second.version, other.version) == (1, 2, 1)
    mine, theirs = store.get_registered_model("iris"), fraud.get_registered_model("iris")
    assert mine.id != theirs.id
    assert (mine.project, theirs.project) == ("default", "fraud")
    assert (mine.latest_version, theirs.latest_version) == (2, 1)
    assert fraud.get_model_version("iris", 1).artifact_id == other.artifact_id
    with pytest.raises(NotFound, match="no version 2"):
        fraud.get_model_version("iris", 2)


def test_the_same_artifact_name_in_two_projects_is_numbered_from_1_in_each(store, fraud):
    versions = [artifact(store, "train.output").version for _ in range(2)]
    other = artifact(fraud, "train.output", HASH_B)
    assert versions == [1, 2]
    assert (other.version, other.project) == (1, "fraud")
    assert store.get_artifact_version_by_name("train.output").version == 2
    assert fraud.get_artifact_version_by_name("train.output").id == other.id
    assert [a.version for a in store.list_artifact_versions("train.output")] == [2, 1]
    assert [a.id for a in fraud.list_artifact_versions()] == [other.id]
    assert store.get_artifact_version(other.id).project == "fraud"


# --- lookups by name stay in the project, lookups by id do not -----------------------------------


def test_names_are_not_found_in_another_project(store, fraud):
    store.create_experiment("only-mine")
    mv = store.create_model_version("iris", artifact(store, "model").id)
    store.set_model_alias("iris", "champion", mv.version)
    store.set_registered_model_tag("iris", "team", "a")
    assert fraud.get_experiment_by_name("only-mine") is None
    assert fraud.list_experiments() == []
    assert fraud.list_registered_models() == []
    assert fraud.list_artifact_versions(name="model") == []
    assert fraud.search_model_versions() == []
    assert fraud.search_model_versions("name = 'iris'") == []
    assert fraud.newest_artifact_versions(["model"]) == {}
    for read in (
        lambda: fraud.get_registered_model("iris"),
        lambda: fraud.get_model_version("iris", 1),
        lambda: fraud.get_model_version_by_alias("iris", "champion"),
        lambda: fraud.get_alias_history("iris"),
        lambda: fraud.set_model_alias("iris", "champion", 1),
        lambda: fraud.set_registered_model_tag("iris", "team", "b"),
        lambda: fraud.delete_registered_model("iris"),
        lambda: fraud.rename_registered_model("iris", "iris2"),
    ):
        with pytest.raises(NotFound, match="in project 'fraud'"):
            read()
    with pytest.raises(NotFound, match="artifact named 'model' in project 'fraud'"):
        fraud.get_artifact_version_by_name("model")
    # nothing of default's was touched
    assert store.get_registered_model("iris").tags == {"team": "a"}
    assert store.get_model_version_by_alias("iris", "champion").version == 1


def test_ids_reach_every_project(store, fraud):
    exp = fraud.create_experiment("theirs")
    run = fraud.create_run(exp.id)
    art = artifact(fraud, "data", run_id=run.id)
    assert store.get_experiment(exp.id).project == "fraud"
    assert store.get_run(run.id).experiment_id == exp.id
    assert store.get_artifact_version(art.id).id == art.id
    assert [a.id for a in store.list_artifact_versions(run_id=run.id)] == [art.id]
    assert [r.id for r in store.search_runs([exp.id])] == [run.id]
    store.log_batch(run.id, params={"lr": "0.1"})
    assert fraud.get_run(run.id).params == {"lr": "0.1"}


def test_search_runs_without_experiment_ids_stays_in_the_project(store, fraud):
    mine = store.create_run(store.create_experiment("e").id)
    theirs = fraud.create_run(fraud.create_experiment("e").id)
    assert [r.id for r in store.search_runs()] == [mine.id]
    assert [r.id for r in fraud.search_runs()] == [theirs.id]
    assert [r.id for r in fraud.search_runs(view="all")] == [theirs.id]
    assert [r.id for r in fraud.search_runs(filter_string="attributes.status = 'running'")] == [
        theirs.id
    ]
    page, more = fraud.search_runs_page(None, None, None, limit=10)
    assert ([r.id for r in page], more) == ([theirs.id], False)
    both = store.search_runs([store.get_experiment_by_name("e").id, theirs.experiment_id])
    assert {r.id for r in both} == {mine.id, theirs.id}


def test_find_cached_run_never_reuses_another_projects_run(store, fraud):
    run = store.create_run(store.create_experiment("p").id, kind="step", cache_key="k" * 64)
    store.update_run(run.id, status="completed")
    assert store.find_cached_run("k" * 64).id == run.id
    assert fraud.find_cached_run("k" * 64) is None
    theirs = fraud.create_run(fraud.create_experiment("p").id, kind="step", cache_key="k" * 64)
    fraud.update_run(theirs.id, status="completed")
    assert fraud.find_cached_run("k" * 64).id == theirs.id
    assert store.find_cached_run("k" * 64).id == run.id


def test_renames_are_checked_in_the_objects_own_project(store, fraud):
    store.create_experiment("a")
    theirs = fraud.create_experiment("b")
    store.rename_experiment(theirs.id, "a")  # by id, in fraud: "a" is free there
    assert fraud.get_experiment_by_name("a").id == theirs.id
    with pytest.raises(AlreadyExists, match="in project 'fraud'"):
        store.rename_experiment(fraud.create_experiment("c").id, "a")
    store.create_registered_model("m")
    fraud.create_registered_model("n")
    assert fraud.rename_registered_model("n", "m").project == "fraud"
    fraud.create_registered_model("x")
    with pytest.raises(AlreadyExists, match="exists already in project 'fraud'"):
        fraud.rename_registered_model("x", "m")


# --- projects that do not exist, and choosing the project ----------------------------------------


def test_a_name_made_in_an_unknown_project_says_how_to_create_it(store):
    nowhere = store.in_project("nowhere")
    for make in (
        lambda: nowhere.create_experiment("e"),
        lambda: nowhere.create_registered_model("m"),
        lambda: nowhere.create_model_version("m", artifact(store, "model").id),
        lambda: artifact(nowhere, "data"),
    ):
        with pytest.raises(NotFound, match="heron projects create nowhere"):
            make()
    assert store.list_experiments() == [] and store.list_registered_models() == []
    with store.engine.connect() as conn:
        projects = {row.project for row in conn.execute(t.artifact_versions.select())}
    assert projects == {"default"}


def test_views_share_the_engine_and_leave_the_store_as_it_was(store):
    view = store.in_project("fraud")
    assert view is not store
    assert view.engine is store.engine
    assert (view.project, store.project) == ("fraud", "default")
    assert view.in_project("default").project == "default"
    for bad in ("", "has space", "-dash", "x" * 129, "a/b", None):
        with pytest.raises(InvalidArgument, match="project name"):
            store.in_project(bad)


def test_heron_project_and_set_project_choose_the_project(store, monkeypatch):
    assert heron.get_project() == "default"
    heron.set_project("fraud")
    assert (heron.get_project(), store.project) == ("fraud", "fraud")
    exp = store.create_experiment("chosen")
    assert exp.project == "fraud"
    assert store.in_project("default").get_experiment_by_name("chosen") is None
    monkeypatch.setenv("HERON_PROJECT", "other")  # the environment wins
    assert store.project == "other"
    assert store.in_project("fraud").project == "fraud"  # a view keeps its own
    monkeypatch.setenv("HERON_PROJECT", "not valid!")
    with pytest.raises(InvalidArgument, match="project name"):
        heron.get_project()
    monkeypatch.delenv("HERON_PROJECT")
    heron.set_project(None)
    assert store.project == "default"
    with pytest.raises(InvalidArgument):
        heron.set_project("no spaces please")


def test_the_default_project_behaves_as_before_projects_existed(sqlite_store):
    store = sqlite_store
    with store.engine.begin() as conn:  # even without the default row (an emptied table)
        conn.execute(t.projects.delete())
    exp = store.create_experiment("e")
    run = store.create_run(exp.id, cache_key="c" * 64)
    store.update_run(run.id, status="completed")
    art = artifact(store, "out", run_id=run.id)
    mv = store.create_model_version("m", art.id)
    assert (exp.project, art.project, store.get_registered_model("m").project) == ("default",) * 3
    assert [r.id for r in store.search_runs()] == [run.id]
    assert store.find_cached_run("c" * 64).id == run.id
    assert store.get_model_version("m", 1).id == mv.id
    with pytest.raises(AlreadyExists, match=r"^An experiment named 'e' exists already \("):
        store.create_experiment("e")
    with pytest.raises(NotFound, match=r"^No registered model named 'x' \(names"):
        store.get_registered_model("x")


# --- who owns what --------------------------------------------------------------------------------


def test_ownership_of_experiments_runs_artifacts_models_and_content(store, fraud):
    exp = fraud.create_experiment("e")
    run = fraud.create_run(exp.id)
    art = artifact(fraud, "data", HASH_B, run_id=run.id)
    fraud.create_model_version("m", art.id)
    artifact(store, "data", HASH_B)  # the same bytes in default too
    assert store.project_of_experiment(exp.id) == "fraud"
    assert store.project_of_run(run.id) == "fraud"
    assert store.project_of_artifact(art.id) == "fraud"
    assert fraud.project_of_model("m") == "fraud"
    assert store.project_of_model("m") is None  # names mean something within a project
    for missing in (store.project_of_experiment, store.project_of_run, store.project_of_artifact):
        assert missing("0" * 32) is None
    assert store.projects_of_content_hash(HASH_B) == {"default", "fraud"}
    assert store.projects_of_content_hash(HASH_A) == set()
    assert store.projects_of_content_hash("not a hash") == set()


def test_content_only_a_runs_logs_or_an_uploading_logged_model_hold_has_their_project(store, fraud):
    run = fraud.create_run(fraud.create_experiment("e").id)
    logs = "c" * 64
    fraud.log_batch(run.id, tags={"heron.logs": f"/root/objects/{logs[:2]}/{logs[2:]}"})
    assert store.projects_of_content_hash(logs) == {"fraud"}
    exp = store.create_experiment("mlflow")
    model = store.create_logged_model(
        {
            "id": "m-1",
            "experiment_id": exp.id,
            "name": "model",
            "status": "pending",
            "tags": "{}",
            "params": "{}",
            "output_runs": "[]",
            "created_at": 0,
            "updated_at": 0,
            "lifecycle": "active",
        }
    )
    store.put_logged_model_file(model["id"], "MLmodel", "d" * 64, 10)
    assert store.projects_of_content_hash("d" * 64) == {"default"}


# --- the Client and the CLI -----------------------------------------------------------------------


def test_client_works_in_its_project(store, tmp_path):
    uri = store.uri
    mine, theirs = heron.Client(uri), heron.Client(uri, project="fraud")
    assert (mine.project, theirs.project) == ("default", "fraud")
    assert "project='fraud'" in repr(theirs)
    theirs.create_experiment("only-theirs")
    assert mine.get_experiment_by_name("only-theirs") is None
    assert theirs.get_experiment("only-theirs").project == "fraud"
    with pytest.raises(NotFound):
        mine.get_experiment("only-theirs")


def test_cli_project_option_lists_only_the_projects_names(store, monkeypatch):
    from heron.cli.main import cli

    store.create_experiment("mine")
    store.in_project("fraud").create_experiment("theirs")
    monkeypatch.setenv("HERON_TRACKING_URI", store.uri)
    runner = CliRunner()
    listed = runner.invoke(cli, ["--project", "fraud", "experiments", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [e["name"] for e in json.loads(listed.output)] == ["theirs"]
    monkeypatch.delenv("HERON_PROJECT", raising=False)
    config.set_project(None)
    listed = runner.invoke(cli, ["experiments", "list", "--json"])
    assert [e["name"] for e in json.loads(listed.output)] == ["mine"]
    empty = runner.invoke(cli, ["--project", "fraud", "models", "list"])
    assert "No registered models in project 'fraud'" in empty.output
    bad = runner.invoke(cli, ["--project", "no way", "experiments", "list"])
    assert bad.exit_code == 2 and "project name" in bad.output
    assert "--project" in runner.invoke(cli, ["--help"]).output


def test_model_uris_resolve_in_the_current_project(store, fraud, monkeypatch):
    from heron.models.uris import resolve

    mine = artifact(store, "model")
    theirs = artifact(fraud, "model", HASH_B)
    store.create_model_version("iris", mine.id)
    fraud.create_model_version("iris", theirs.id)
    store.set_model_alias("iris", "champion", 1)
    fraud.set_model_alias("iris", "champion", 1)
    for uri in ("models:/iris@champion", "models:/iris/1", "models:/iris", "models:/iris/latest"):
        assert resolve(store, uri).artifact.id == mine.id
        assert resolve(fraud, uri).artifact.id == theirs.id
    monkeypatch.setenv("HERON_PROJECT", "fraud")
    assert resolve(store, "models:/iris@champion").artifact.id == theirs.id
