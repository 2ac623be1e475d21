"""The registry through `heron.Client`: sources, alias history, time travel and rollback."""

from __future__ import annotations

import pytest

import heron
from heron.core.entities import AliasEvent
from heron.core.errors import InvalidArgument, InvalidState, NotFound
from heron.registry.operations import version_at
from heron.store.alias_history import rollback_target


@pytest.fixture
def client(fitted):
    """A client with model 'iris' at versions 1..4 (all the same estimator)."""
    with heron.start_run():
        for _ in range(4):
            heron.log_model(fitted[0], "model", registered_model_name="iris")
    return heron.Client()


def test_register_from_every_kind_of_source(fitted):
    with heron.start_run() as run:
        info = heron.log_model(fitted[0], "model")
    client = heron.Client()
    artifact = client.get_artifact(info.artifact_id)
    sources = [info, info.artifact_id, artifact, f"runs:/{run.id}/model", "models:/m/1"]
    versions = [client.register_model("m", source) for source in sources]
    assert [v.version for v in versions] == [1, 2, 3, 4, 5]
    assert {v.artifact_id for v in versions} == {info.artifact_id}
    assert all(v.run_id == run.id and v.pipeline_run_id is None for v in versions)
    with pytest.raises(InvalidArgument, match="Cannot register a int"):
        client.register_model("m", 42)


def test_alias_moves_are_recorded_with_who_and_when(client):
    client.set_model_alias("iris", "champion", 1)
    client.set_model_alias("iris", "champion", 3)
    client.delete_model_alias("iris", "champion")
    history = client.alias_history("iris", "champion")
    assert [(e.from_version, e.to_version, e.action) for e in history] == [
        (None, 1, "set"),
        (1, 3, "set"),
        (3, None, "delete"),
    ]
    assert all(e.user for e in history)
    assert [e.timestamp for e in history] == sorted(e.timestamp for e in history)
    with pytest.raises(NotFound):
        client.get_model_version_by_alias("iris", "champion")


def test_which_version_was_champion_at_a_time(client):
    client.set_model_alias("iris", "champion", 1)
    first = client.alias_history("iris", "champion")[-1].timestamp
    client.set_model_alias("iris", "champion", 2)
    second = client.alias_history("iris", "champion")[-1].timestamp
    assert client.get_model_version_by_alias("iris", "champion", at=first).version == 1
    assert client.get_model_version_by_alias("iris", "champion", at=second).version == 2
    with pytest.raises(NotFound, match="not set at that time"):
        client.get_model_version_by_alias("iris", "champion", at=first - 1)
    from datetime import datetime

    now = datetime.now()
    assert client.get_model_version_by_alias("iris", "champion", at=now).version == 2


def test_rollback_walks_back_one_move_at_a_time(client):
    for version in (1, 2, 3):
        client.set_model_alias("iris", "champion", version)
    assert client.rollback_model_alias("iris", "champion").version == 2
    assert client.rollback_model_alias("iris", "champion").version == 1
    with pytest.raises(InvalidState, match="nothing to roll back to"):
        client.rollback_model_alias("iris", "champion")
    assert client.get_model_version_by_alias("iris", "champion").version == 1
    actions = [e.action for e in client.alias_history("iris", "champion")]
    assert actions == ["set", "set", "set", "rollback", "rollback"]


def test_rollback_skips_deleted_versions(client):
    for version in (1, 2, 3):
        client.set_model_alias("iris", "champion", version)
    client.delete_model_version("iris", 2)
    assert client.rollback_model_alias("iris", "champion").version == 1


def test_rollback_after_a_new_move_goes_to_the_version_before_it(client):
    client.set_model_alias("iris", "champion", 1)
    client.set_model_alias("iris", "champion", 2)
    client.rollback_model_alias("iris", "champion")  # -> 1
    client.set_model_alias("iris", "champion", 4)
    assert client.rollback_model_alias("iris", "champion").version == 1


def test_deleting_the_aliased_version_unsets_the_alias(client):
    client.set_model_alias("iris", "champion", 4)
    client.delete_model_version("iris", 4)
    with pytest.raises(NotFound):
        client.get_model_version_by_alias("iris", "champion")
    assert client.alias_history("iris", "champion")[-1].action == "version_deleted"
    assert client.get_latest_model_version("iris").version == 3


def test_versions_take_strings_and_refuse_nonsense(client):
    assert client.get_model_version("iris", "2").version == 2
    for bad in ("two", 0, -1, True):
        with pytest.raises(InvalidArgument, match="from 1 up"):
            client.get_model_version("iris", bad)


def _event(to, frm=None, action="set", ts=0):
    return AliasEvent("m", "a", frm, to, action, "u", ts)


def test_replays_of_a_history():
    events = [_event(1, ts=10), _event(2, 1, ts=20), _event(None, 2, "delete", ts=30)]
    assert [version_at(events, t) for t in (5, 10, 15, 20, 29, 30)] == [None, 1, 1, 2, 2, None]
    assert rollback_target(events[:2], lambda v: True) == 1
    with pytest.raises(InvalidState, match="not set"):
        rollback_target(events, lambda v: True)


@pytest.mark.parametrize("name", ["a/b", "a@b", "models:x", " padded"])
def test_model_names_that_would_make_uris_ambiguous_are_refused(fitted, name):
    with heron.start_run():
        info = heron.log_model(fitted[0], "model")
    with pytest.raises(InvalidArgument, match="unambiguous"):
        heron.Client().register_model(name, info)


def test_rollback_after_the_current_version_was_deleted_restores_the_one_before(client):
    for version in (1, 2, 3):
        client.set_model_alias("iris", "champion", version)
    client.delete_model_version("iris", 3)  # removes the alias
    assert client.rollback_model_alias("iris", "champion").version == 2
    assert client.get_model_version_by_alias("iris", "champion").version == 2
    assert client.rollback_model_alias("iris", "champion").version == 1


def test_latest_version_counts_only_active_versions(client):
    client.delete_model_version("iris", 4)
    assert client.get_registered_model("iris").latest_version == 3
    assert client.get_latest_model_version("iris").version == 3
