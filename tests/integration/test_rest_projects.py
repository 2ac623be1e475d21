"""Projects through a live `heron server` (SQLite): each `RestStore` view sends its project in
``x-heron-project``, the server looks names up there, and the credentials in force travel
with every request (a refusal is raised as Unauthenticated / PermissionDenied)."""

from __future__ import annotations

import pytest

from heron.core import config
from heron.core.errors import NotFound, PermissionDenied, Unauthenticated
from heron.store.rest.store import RestStore
from heron.store.sql.governance import GovernanceStore
from heron.store.sql.store import SqlStore
from tests.support.server import running_server
from tests.support.stores import close_store, empty_sql_store, sqlite_uri

pytestmark = pytest.mark.integration

HASH = "e" * 64


@pytest.fixture(autouse=True)
def no_project_or_credentials_chosen(monkeypatch):
    for name in (config.PROJECT_ENV, config.TOKEN_ENV, config.USERNAME_ENV, config.PASSWORD_ENV):
        monkeypatch.setenv(name, "x")  # recorded, so that the test leaves it as it was
        monkeypatch.delenv(name)
    config.set_project(None)
    config.set_tracking_credentials()
    yield
    config.set_project(None)
    config.set_tracking_credentials()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest-projects")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--no-access-log",),
    ) as running:
        yield running


@pytest.fixture
def backend(server):
    """The server's database, emptied, with the project ``fraud``."""
    close_store(empty_sql_store(server.backend_store_uri))
    GovernanceStore(server.backend_store_uri).create_project("fraud")
    store = SqlStore(server.backend_store_uri)
    yield store
    close_store(store)


def _artifact(store, name):
    return store.create_artifact_version(
        name, content_hash=HASH, type="builtins.int", materializer="json", size=1, uri="u"
    )


def test_two_views_of_one_server_see_their_own_experiments_and_models(server, backend):
    mine = RestStore(server.url)
    theirs = mine.in_project("fraud")
    assert theirs.session is mine.session  # one connection pool
    a = mine.create_experiment("scoring")
    b = theirs.create_experiment("scoring")
    assert a.id != b.id and (a.project, b.project) == ("default", "fraud")
    assert [e.id for e in mine.list_experiments()] == [a.id]
    assert [e.id for e in theirs.list_experiments()] == [b.id]
    assert theirs.get_experiment_by_name("scoring").id == b.id
    assert theirs.get_experiment(a.id).project == "default"  # ids reach every project

    v1 = mine.create_model_version("iris", _artifact(mine, "model").id)
    w1 = theirs.create_model_version("iris", _artifact(theirs, "model").id)
    assert (v1.version, w1.version) == (1, 1)
    theirs.set_model_alias("iris", "champion", 1)
    assert theirs.get_model_version_by_alias("iris", "champion").artifact_id == w1.artifact_id
    with pytest.raises(NotFound, match="no alias 'champion'"):
        mine.get_model_version_by_alias("iris", "champion")
    assert [m.project for m in theirs.list_registered_models()] == ["fraud"]

    run = theirs.create_run(b.id)
    assert [r.id for r in theirs.search_runs()] == [run.id]
    assert list(mine.search_runs()) == []

    # the header travelled: the server made each object in the project its view named
    assert backend.get_experiment(b.id).project == "fraud"
    assert backend.project_of_run(run.id) == "fraud"
    assert backend.in_project("fraud").get_registered_model("iris").latest_version == 1


def test_the_process_project_travels_and_an_unknown_one_says_how_to_create_it(server, backend):
    store = RestStore(server.url)
    config.set_project("fraud")
    exp = store.create_experiment("chosen-in-process")
    assert backend.get_experiment(exp.id).project == "fraud"
    config.set_project(None)
    assert store.get_experiment_by_name("chosen-in-process") is None
    with pytest.raises(NotFound, match="heron projects create nowhere"):
        store.in_project("nowhere").create_experiment("e")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest-projects-auth")
    uri = sqlite_uri(folder / "heron.db")
    SqlStore(uri)  # the schema, then the users the server will know
    governance = GovernanceStore(uri)
    governance.create_project("fraud")
    governance.create_user("ada", "a-long-password")
    governance.create_user("bob", "another-long-password")
    governance.grant("fraud", "ada", "editor")
    _record, secret = governance.create_token("ada", "tests")
    with running_server(
        uri, str(folder / "artifacts"), folder / "server.log", extra_args=("--auth",)
    ) as running:
        yield running, secret


def test_credentials_travel_and_refusals_are_raised_with_the_servers_message(
    auth_server, monkeypatch
):
    server, secret = auth_server
    store = RestStore(server.url).in_project("fraud")
    with pytest.raises(Unauthenticated):
        store.list_experiments()
    monkeypatch.setenv(config.TOKEN_ENV, secret)  # read again on every request
    exp = store.create_experiment("signed-in")
    assert exp.project == "fraud"
    monkeypatch.delenv(config.TOKEN_ENV)
    monkeypatch.setenv(config.USERNAME_ENV, "ada")
    monkeypatch.setenv(config.PASSWORD_ENV, "a-long-password")
    assert [e.name for e in store.list_experiments()] == ["signed-in"]
    config.set_tracking_credentials(username="bob", password="another-long-password")
    with pytest.raises(PermissionDenied) as denied:
        store.create_experiment("not-allowed")
    assert denied.value.message  # the server's own words
    config.set_tracking_credentials(username="bob", password="wrong")
    with pytest.raises(Unauthenticated):
        store.list_experiments()
    assert secret not in server.log()  # a token is never logged
