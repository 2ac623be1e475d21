"""The model-registry part of the `Store` contract, written once for every back-end.

A test module runs it by importing everything from here and defining a function-scoped
``store`` fixture (a fresh, empty store per test), like :mod:`tests.store_contract.suite`.
The concurrency tests also fork processes that open ``type(store)(store.uri)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import multiprocessing
import random
import threading
import time
from collections import defaultdict

import pytest

from heron.core.entities import (
    ACTIVE,
    ALIAS_DELETED,
    ALIAS_ROLLBACK,
    ALIAS_SET,
    ALIAS_VERSION_DELETED,
    AliasEvent,
)
from heron.core.errors import (
    AlreadyExists,
    FilterError,
    HeronError,
    InvalidArgument,
    InvalidState,
    NotFound,
)
from heron.core.ids import now_ms

# --- helpers ---------------------------------------------------------------------------------

_counter = itertools.count()


def model_artifact(store, name: str = "model", producer_run_id: str | None = None):
    """A new artifact version (distinct content each time) to register."""
    n = next(_counter)
    return store.create_artifact_version(
        name,
        content_hash=hashlib.sha256(f"{name}-{n}".encode()).hexdigest(),
        type="sklearn.linear_model.LogisticRegression",
        materializer="joblib",
        size=100 + n,
        uri=f"file:///artifacts/{name}/{n}",
        producer_run_id=producer_run_id,
    )


def register(store, name: str = "iris", **kwargs):
    """A new version of model ``name`` on a new artifact version."""
    return store.create_model_version(name, model_artifact(store).id, **kwargs)


def register_many(store, name: str, count: int) -> list[int]:
    return [register(store, name).version for _ in range(count)]


def new_run(store, **kwargs):
    existing = store.get_experiment_by_name("exp")
    experiment_id = existing.id if existing else store.create_experiment("exp").id
    return store.create_run(experiment_id, **kwargs)


def moves(events) -> list[tuple]:
    """The (alias, from, to, action) of each event."""
    return [(e.alias, e.from_version, e.to_version, e.action) for e in events]


def versions_of(found) -> list[tuple[str, int]]:
    return [(mv.name, mv.version) for mv in found]


# --- registered models -----------------------------------------------------------------------


def test_create_registered_model_reads_back(store):
    made = store.create_registered_model("iris", description="Iris classifier", tags={"t": "a"})

    got = store.get_registered_model("iris")
    assert got == made
    assert (got.name, got.description, got.tags) == ("iris", "Iris classifier", {"t": "a"})
    assert got.aliases == {} and got.latest_version is None
    assert got.created_at == got.updated_at > 0 and len(got.id) == 32


def test_registered_model_names_are_unique_and_case_sensitive(store):
    store.create_registered_model("iris")

    with pytest.raises(AlreadyExists, match="iris"):
        store.create_registered_model("iris")
    assert store.create_registered_model("Iris").name == "Iris"
    with pytest.raises(NotFound, match="case-sensitive"):
        store.get_registered_model("IRIS")


@pytest.mark.parametrize("bad", ["", "   ", "x" * 257, "nul\0name", 3, None])
def test_invalid_model_names_are_refused(store, bad):
    with pytest.raises(InvalidArgument):
        store.create_registered_model(bad)
    with pytest.raises(InvalidArgument):
        store.create_model_version(bad, model_artifact(store).id)
    assert store.list_registered_models() == []


def test_descriptions_are_checked(store):
    store.create_registered_model("long", description="d" * 8000)
    assert store.get_registered_model("long").description == "d" * 8000
    for bad in ("d" * 8001, "nul\0", 42):
        with pytest.raises(InvalidArgument):
            store.create_registered_model("refused", description=bad)
        with pytest.raises(InvalidArgument):
            register(store, "refused-too", description=bad)
    with pytest.raises(NotFound):
        store.get_registered_model("refused")
    with pytest.raises(NotFound):
        store.get_registered_model("refused-too")


def test_update_registered_model_sets_and_clears_the_description(store):
    made = store.create_registered_model("iris")

    updated = store.update_registered_model("iris", "new text")
    assert updated.description == "new text" and updated.updated_at >= made.updated_at
    assert store.get_registered_model("iris").description == "new text"
    assert store.update_registered_model("iris", None).description is None
    with pytest.raises(NotFound):
        store.update_registered_model("missing", "x")


def test_list_registered_models_by_name_with_like_and_limit(store):
    for name in ("iris-b", "wine", "iris-a", "iris_c", "irisXc"):
        store.create_registered_model(name)
    register(store, "iris-a")

    listed = store.list_registered_models()
    assert [m.name for m in listed] == ["iris-a", "iris-b", "irisXc", "iris_c", "wine"]
    assert listed[0].latest_version == 1
    assert [m.name for m in store.list_registered_models("iris-%")] == ["iris-a", "iris-b"]
    assert [m.name for m in store.list_registered_models("iris\\_%")] == ["iris_c"]
    assert [m.name for m in store.list_registered_models("IRIS%")] == []
    assert [m.name for m in store.list_registered_models(max_results=2)] == ["iris-a", "iris-b"]
    for bad in (0, -1, 10**9, "5", True):
        with pytest.raises(InvalidArgument):
            store.list_registered_models(max_results=bad)


def test_registered_model_tags_are_upserted_and_deleted(store):
    store.create_registered_model("iris", tags={"a": "1"})

    store.set_registered_model_tag("iris", "a", "2")
    store.set_registered_model_tag("iris", "b", "x" * 8000)
    assert store.get_registered_model("iris").tags == {"a": "2", "b": "x" * 8000}
    store.delete_registered_model_tag("iris", "a")
    assert store.get_registered_model("iris").tags == {"b": "x" * 8000}
    with pytest.raises(NotFound, match="no tag"):
        store.delete_registered_model_tag("iris", "a")
    with pytest.raises(NotFound):
        store.set_registered_model_tag("missing", "a", "1")
    for key in ("", " a", "k" * 251):
        with pytest.raises(InvalidArgument):
            store.set_registered_model_tag("iris", key, "v")
    with pytest.raises(InvalidArgument):
        store.set_registered_model_tag("iris", "k", "v" * 8001)
    with pytest.raises(InvalidArgument):
        store.create_registered_model("other", tags={"": "v"})


def test_rename_keeps_versions_aliases_tags_and_history(store):
    register_many(store, "iris", 2)
    store.set_registered_model_tag("iris", "team", "a")
    store.set_model_alias("iris", "champion", 1, user="ann")
    store.set_model_alias("iris", "champion", 2, user="bob")
    before = store.get_registered_model("iris")

    renamed = store.rename_registered_model("iris", "flowers")

    assert renamed.id == before.id and renamed.name == "flowers"
    assert renamed.aliases == {"champion": 2} and renamed.tags == {"team": "a"}
    assert renamed.latest_version == 2
    with pytest.raises(NotFound):
        store.get_registered_model("iris")
    assert store.get_model_version("flowers", 2).aliases == ["champion"]
    assert store.get_model_version_by_alias("flowers", "champion").version == 2
    history = store.get_alias_history("flowers", "champion")
    assert moves(history) == [("champion", None, 1, "set"), ("champion", 1, 2, "set")]
    assert all(e.name == "flowers" for e in history)
    # the old name is free again: registering under it starts a new model at version 1
    assert register(store, "iris").version == 1
    assert store.get_alias_history("iris") == []


def test_rename_refusals(store):
    store.create_registered_model("a")
    store.create_registered_model("b")

    with pytest.raises(AlreadyExists, match="'b'"):
        store.rename_registered_model("a", "b")
    with pytest.raises(NotFound):
        store.rename_registered_model("missing", "c")
    with pytest.raises(InvalidArgument):
        store.rename_registered_model("a", "")
    assert store.rename_registered_model("a", "a").name == "a"  # its own name: nothing to do
    assert [m.name for m in store.list_registered_models()] == ["a", "b"]


def test_delete_registered_model_removes_everything_but_the_artifacts(store):
    arts = [model_artifact(store) for _ in range(3)]
    for art in arts:
        store.create_model_version("iris", art.id, tags={"k": "v"})
    store.set_registered_model_tag("iris", "team", "a")
    store.set_model_alias("iris", "champion", 2)
    store.delete_model_version("iris", 2)
    register(store, "other")

    store.delete_registered_model("iris")

    with pytest.raises(NotFound):
        store.get_registered_model("iris")
    with pytest.raises(NotFound):
        store.get_model_version("iris", 1)
    with pytest.raises(NotFound):
        store.get_alias_history("iris")
    assert versions_of(store.search_model_versions()) == [("other", 1)]
    assert [store.get_artifact_version(a.id).lifecycle for a in arts] == [ACTIVE] * 3
    with pytest.raises(NotFound):
        store.delete_registered_model("iris")
    # the name can be registered again, from version 1, with a clean history
    store.create_model_version("iris", arts[0].id)
    again = store.get_registered_model("iris")
    assert (again.latest_version, again.aliases, again.tags) == (1, {}, {})
    assert store.get_alias_history("iris") == []
    assert store.get_model_version("iris", 1).tags == {}


# --- model versions --------------------------------------------------------------------------


def test_first_version_registers_the_model(store):
    art = model_artifact(store)

    mv = store.create_model_version("iris", art.id)

    assert (mv.name, mv.version, mv.artifact_id, mv.lifecycle) == ("iris", 1, art.id, ACTIVE)
    assert mv.tags == {} and mv.aliases == [] and mv.created_at == mv.updated_at > 0
    model = store.get_registered_model("iris")
    assert model.latest_version == 1 and model.description is None
    assert store.get_model_version("iris", 1) == mv


def test_model_version_reads_back_with_every_field(store):
    pipeline_run = new_run(store, name="pipe", kind="pipeline")
    run = new_run(store, name="other")
    art = model_artifact(store)

    made = store.create_model_version(
        "iris",
        art.id,
        run_id=run.id,
        pipeline_run_id=pipeline_run.id,
        description="first",
        tags={"stage": "dev", "acc": "0.9"},
        user="ann",
    )

    got = store.get_model_version("iris", 1)
    assert got == made
    assert (got.run_id, got.pipeline_run_id) == (run.id, pipeline_run.id)
    assert (got.description, got.user, got.tags) == ("first", "ann", {"stage": "dev", "acc": "0.9"})
    assert got.to_dict()["version"] == 1 and not got.deleted


def test_version_numbers_count_up_per_model(store):
    assert register_many(store, "iris", 3) == [1, 2, 3]
    assert register_many(store, "wine", 2) == [1, 2]
    assert register(store, "iris").version == 4
    assert store.get_registered_model("iris").latest_version == 4
    store.create_registered_model("empty")
    assert register(store, "empty").version == 1


def test_version_numbers_are_never_reused_after_deletions(store):
    register_many(store, "iris", 3)

    store.delete_model_version("iris", 3)
    assert register(store, "iris").version == 4
    assert store.get_registered_model("iris").latest_version == 4
    store.delete_model_version("iris", 4)
    assert store.get_registered_model("iris").latest_version == 2  # active versions only
    for version in (1, 2):
        store.delete_model_version("iris", version)
    assert store.get_registered_model("iris").latest_version is None
    assert store.search_model_versions("name = 'iris'") == []
    assert register(store, "iris").version == 5


def test_one_artifact_may_back_several_versions_and_models(store):
    art = model_artifact(store)

    assert store.create_model_version("iris", art.id).version == 1
    assert store.create_model_version("iris", art.id).version == 2
    assert store.create_model_version("wine", art.id).artifact_id == art.id


def test_run_and_pipeline_run_default_to_the_artifact_lineage(store):
    pipeline_run = new_run(store, name="pipe", kind="pipeline")
    step_run = new_run(store, name="train", kind="step", parent_id=pipeline_run.id)
    plain_run = new_run(store, name="script")

    from_step = store.create_model_version(
        "iris", model_artifact(store, producer_run_id=step_run.id).id
    )
    from_script = store.create_model_version(
        "iris", model_artifact(store, producer_run_id=plain_run.id).id
    )
    from_pipeline = store.create_model_version(
        "iris", model_artifact(store, producer_run_id=pipeline_run.id).id
    )
    without_producer = register(store, "iris")

    assert (from_step.run_id, from_step.pipeline_run_id) == (step_run.id, pipeline_run.id)
    assert (from_script.run_id, from_script.pipeline_run_id) == (plain_run.id, None)
    assert (from_pipeline.run_id, from_pipeline.pipeline_run_id) == (
        pipeline_run.id,
        pipeline_run.id,
    )
    assert (without_producer.run_id, without_producer.pipeline_run_id) == (None, None)
    assert store.get_model_version("iris", 1).pipeline_run_id == pipeline_run.id


def test_create_model_version_refusals_write_nothing(store):
    art = model_artifact(store)

    with pytest.raises(NotFound, match="artifact version"):
        store.create_model_version("iris", "0" * 32)
    with pytest.raises(NotFound, match="run"):
        store.create_model_version("iris", art.id, run_id="0" * 32)
    with pytest.raises(NotFound, match="pipeline run"):
        store.create_model_version("iris", art.id, pipeline_run_id="0" * 32)
    for bad in ("", None, 5):
        with pytest.raises(InvalidArgument):
            store.create_model_version("iris", bad)
    with pytest.raises(InvalidArgument):
        store.create_model_version("iris", art.id, tags={"k": "v" * 8001})
    with pytest.raises(InvalidArgument):
        store.create_model_version("iris", art.id, user="u" * 257)
    with pytest.raises(NotFound):
        store.get_registered_model("iris")  # nothing was registered by the refused calls
    assert store.create_model_version("iris", art.id).version == 1


def test_a_deleted_artifact_version_cannot_be_registered(store):
    run = new_run(store)
    art = model_artifact(store, producer_run_id=run.id)
    store.delete_run(run.id)
    assert store.retire_orphan_artifacts() == 1

    with pytest.raises(InvalidState, match="deleted"):
        store.create_model_version("iris", art.id)


def test_a_registered_artifact_is_kept_when_its_run_is_deleted(store):
    run = new_run(store)
    art = model_artifact(store, producer_run_id=run.id)
    store.create_model_version("iris", art.id)
    store.delete_run(run.id)

    assert store.retire_orphan_artifacts() == 0
    assert store.get_artifact_version(art.id).lifecycle == ACTIVE
    assert art.content_hash in store.live_content_hashes()
    store.delete_model_version("iris", 1)  # no active version needs it any more
    assert store.retire_orphan_artifacts() == 1
    assert art.content_hash not in store.live_content_hashes()


def test_missing_and_deleted_versions_are_not_found(store):
    register_many(store, "iris", 2)
    store.delete_model_version("iris", 2)

    with pytest.raises(NotFound, match="deleted"):
        store.get_model_version("iris", 2)
    with pytest.raises(NotFound, match="no version 3"):
        store.get_model_version("iris", 3)
    with pytest.raises(NotFound, match="No registered model"):
        store.get_model_version("wine", 1)
    with pytest.raises(NotFound):
        store.delete_model_version("iris", 2)  # deleting twice
    for call in (
        lambda: store.update_model_version("iris", 2, "x"),
        lambda: store.set_model_version_tag("iris", 2, "k", "v"),
        lambda: store.delete_model_version_tag("iris", 2, "k"),
        lambda: store.set_model_alias("iris", "champion", 2),
    ):
        with pytest.raises(NotFound, match="deleted"):
            call()


@pytest.mark.parametrize("bad", [0, -1, "1", 1.0, True, None, 2**31])
def test_invalid_version_numbers_are_refused(store, bad):
    register(store, "iris")

    for call in (
        lambda: store.get_model_version("iris", bad),
        lambda: store.delete_model_version("iris", bad),
        lambda: store.set_model_alias("iris", "champion", bad),
        lambda: store.update_model_version("iris", bad, "d"),
    ):
        with pytest.raises(InvalidArgument):
            call()


def test_update_model_version_description(store):
    made = register(store, "iris", description="old")

    updated = store.update_model_version("iris", 1, "new")
    assert updated.description == "new" and updated.updated_at >= made.updated_at
    assert store.get_model_version("iris", 1).description == "new"
    assert store.update_model_version("iris", 1, None).description is None
    with pytest.raises(InvalidArgument):
        store.update_model_version("iris", 1, "d" * 8001)
    with pytest.raises(NotFound):
        store.update_model_version("iris", 2, "x")


def test_model_version_tags_are_upserted_and_deleted(store):
    register(store, "iris", tags={"a": "1"})
    register(store, "iris")

    store.set_model_version_tag("iris", 1, "a", "2")
    store.set_model_version_tag("iris", 1, "b", "x")
    store.set_model_version_tag("iris", 2, "a", "other")
    assert store.get_model_version("iris", 1).tags == {"a": "2", "b": "x"}
    store.delete_model_version_tag("iris", 1, "a")
    assert store.get_model_version("iris", 1).tags == {"b": "x"}
    assert store.get_model_version("iris", 2).tags == {"a": "other"}
    with pytest.raises(NotFound, match="no tag"):
        store.delete_model_version_tag("iris", 1, "a")
    with pytest.raises(InvalidArgument):
        store.set_model_version_tag("iris", 1, "", "v")
    with pytest.raises(InvalidArgument):
        store.set_model_version_tag("iris", 1, "k", "v" * 8001)
    with pytest.raises(NotFound):
        store.set_model_version_tag("iris", 3, "k", "v")


@pytest.mark.parametrize("text", ["ünïcødé ✓", 'it\'s "quoted" \\', "emoji 🦩", "tab\tnew\nline"])
def test_texts_round_trip(store, text):
    register(store, "iris", description=text, tags={"k": text}, user=text)
    store.create_registered_model(text, description=text, tags={text: text})

    got = store.get_model_version("iris", 1)
    assert (got.description, got.tags, got.user) == (text, {"k": text}, text)
    model = store.get_registered_model(text)
    assert (model.description, model.tags) == (text, {text: text})


# --- aliases ---------------------------------------------------------------------------------


def test_set_move_and_delete_an_alias_with_its_history(store):
    register_many(store, "iris", 3)
    start = now_ms()

    first = store.set_model_alias("iris", "champion", 1, user="ann")
    moved = store.set_model_alias("iris", "champion", 3, user="bob")
    back = store.set_model_alias("iris", "champion", 2, user="cy", action=ALIAS_ROLLBACK)
    removed = store.delete_model_alias("iris", "champion", user="dee")

    assert first == AliasEvent("iris", "champion", None, 1, ALIAS_SET, "ann", first.timestamp)
    assert (moved.from_version, moved.to_version, moved.user) == (1, 3, "bob")
    assert (back.from_version, back.to_version, back.action) == (3, 2, "rollback")
    assert (removed.from_version, removed.to_version, removed.action) == (2, None, "delete")
    history = store.get_alias_history("iris", "champion")
    assert history == [first, moved, back, removed]
    assert [e.user for e in history] == ["ann", "bob", "cy", "dee"]
    stamps = [e.timestamp for e in history]
    assert stamps == sorted(stamps) and start <= stamps[0] and stamps[-1] <= now_ms()
    assert store.get_registered_model("iris").aliases == {}
    with pytest.raises(NotFound, match="no alias 'champion'"):
        store.get_model_version_by_alias("iris", "champion")


def test_aliases_read_back_on_models_and_versions(store):
    register_many(store, "iris", 3)
    store.set_model_alias("iris", "champion", 2)
    store.set_model_alias("iris", "challenger", 3)
    store.set_model_alias("iris", "blessed", 2)

    assert store.get_registered_model("iris").aliases == {
        "blessed": 2,
        "challenger": 3,
        "champion": 2,
    }
    assert store.get_model_version("iris", 2).aliases == ["blessed", "champion"]
    assert store.get_model_version("iris", 1).aliases == []
    got = store.get_model_version_by_alias("iris", "challenger")
    assert (got.version, got.aliases) == (3, ["challenger"])
    by_version = {mv.version: mv.aliases for mv in store.search_model_versions()}
    assert by_version == {1: [], 2: ["blessed", "champion"], 3: ["challenger"]}


def test_setting_an_alias_to_its_current_version_records_nothing(store):
    register_many(store, "iris", 2)
    store.set_model_alias("iris", "champion", 1)

    again = store.set_model_alias("iris", "champion", 1, user="ann")

    assert (again.from_version, again.to_version, again.user) == (1, 1, "ann")
    assert moves(store.get_alias_history("iris")) == [("champion", None, 1, "set")]


def test_alias_history_of_all_aliases_is_oldest_first(store):
    register_many(store, "iris", 3)
    store.set_model_alias("iris", "champion", 1)
    store.set_model_alias("iris", "challenger", 2)
    store.set_model_alias("iris", "champion", 2)
    store.delete_model_alias("iris", "challenger")

    everything = store.get_alias_history("iris")

    assert moves(everything) == [
        ("champion", None, 1, "set"),
        ("challenger", None, 2, "set"),
        ("champion", 1, 2, "set"),
        ("challenger", 2, None, "delete"),
    ]
    assert moves(store.get_alias_history("iris", "challenger")) == [
        ("challenger", None, 2, "set"),
        ("challenger", 2, None, "delete"),
    ]
    assert store.get_alias_history("iris", "never-set") == []
    with pytest.raises(NotFound):
        store.get_alias_history("wine")


@pytest.mark.parametrize(
    "alias",
    ["3", "007", "latest", "LATEST", "Latest", "", "two words", "a/b", "x@y", "-x", ".x",
     "é", "a" * 251, " champion", None, 3],
)  # fmt: skip
def test_reserved_and_malformed_aliases_are_refused(store, alias):
    register(store, "iris")

    with pytest.raises(InvalidArgument):
        store.set_model_alias("iris", alias, 1)
    assert store.get_alias_history("iris") == []


@pytest.mark.parametrize("alias", ["champion", "v3", "prod-2024.1", "_x", "A_B", "3d", "a" * 250])
def test_word_like_aliases_are_accepted(store, alias):
    register(store, "iris")

    store.set_model_alias("iris", alias, 1)

    assert store.get_model_version_by_alias("iris", alias).version == 1


def test_alias_refusals_change_nothing(store):
    register_many(store, "iris", 2)
    store.set_model_alias("iris", "champion", 1)

    with pytest.raises(NotFound, match="no version 5"):
        store.set_model_alias("iris", "champion", 5)
    with pytest.raises(NotFound, match="No registered model"):
        store.set_model_alias("wine", "champion", 1)
    with pytest.raises(InvalidArgument, match="action"):
        store.set_model_alias("iris", "champion", 2, action="delete")
    with pytest.raises(NotFound, match="no alias 'other'"):
        store.delete_model_alias("iris", "other")
    with pytest.raises(NotFound):
        store.delete_model_alias("wine", "champion")
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("wine", "champion")
    assert store.get_registered_model("iris").aliases == {"champion": 1}
    assert moves(store.get_alias_history("iris")) == [("champion", None, 1, "set")]


def test_deleting_a_version_removes_its_aliases_and_records_it(store):
    register_many(store, "iris", 3)
    store.set_model_alias("iris", "champion", 2, user="ann")
    store.set_model_alias("iris", "blessed", 2, user="ann")
    store.set_model_alias("iris", "challenger", 3, user="ann")

    store.delete_model_version("iris", 2, user="bob")

    assert store.get_registered_model("iris").aliases == {"challenger": 3}
    with pytest.raises(NotFound):
        store.get_model_version_by_alias("iris", "champion")
    deletions = [e for e in store.get_alias_history("iris") if e.action == ALIAS_VERSION_DELETED]
    assert moves(deletions) == [
        ("blessed", 2, None, "version_deleted"),
        ("champion", 2, None, "version_deleted"),
    ]
    assert {e.user for e in deletions} == {"bob"}
    # the alias may be set again on an active version; its history goes on from None
    store.set_model_alias("iris", "champion", 1)
    assert moves(store.get_alias_history("iris", "champion"))[-2:] == [
        ("champion", 2, None, "version_deleted"),
        ("champion", None, 1, "set"),
    ]


def test_deleting_an_unaliased_version_records_no_alias_event(store):
    register_many(store, "iris", 2)
    store.set_model_alias("iris", "champion", 1)

    store.delete_model_version("iris", 2)

    assert moves(store.get_alias_history("iris")) == [("champion", None, 1, "set")]


def test_rollback_walks_the_history_back_in_the_store(store):
    register_many(store, "iris", 4)
    for version in (1, 2, 3, 4):
        store.set_model_alias("iris", "champion", version, user="ann")
    store.delete_model_version("iris", 2)

    back = store.rollback_model_alias("iris", "champion", user="bob")
    again = store.rollback_model_alias("iris", "champion", user="bob")  # 2 is skipped

    assert (back.from_version, back.to_version, back.action, back.user) == (4, 3, "rollback", "bob")
    assert (again.from_version, again.to_version) == (3, 1)
    assert store.get_model_version_by_alias("iris", "champion").version == 1
    with pytest.raises(InvalidState, match=r"'champion' of model 'iris'.*nothing to roll back"):
        store.rollback_model_alias("iris", "champion")
    with pytest.raises(InvalidState, match="'staging' of model 'iris' is not set"):
        store.rollback_model_alias("iris", "staging")
    with pytest.raises(NotFound, match="No registered model named 'nope'"):
        store.rollback_model_alias("nope", "champion")
    assert moves(store.get_alias_history("iris", "champion"))[-2:] == [
        ("champion", 4, 3, "rollback"),
        ("champion", 3, 1, "rollback"),
    ]


# --- search ----------------------------------------------------------------------------------


@pytest.fixture
def catalog(store):
    """iris 1-3, wine 1-2 (iris 2 deleted), with tags, users and runs."""
    run = new_run(store)
    made = {}
    for name, version, tags, user in [
        ("iris", 1, {"stage": "dev"}, "ann"),
        ("wine", 1, {"stage": "prod", "team": "b"}, "bob"),
        ("iris", 2, {"stage": "prod"}, "ann"),
        ("iris", 3, {"stage": "prod", "team": "a"}, "cy"),
        ("wine", 2, {}, None),
    ]:
        kwargs = {"run_id": run.id} if (name, version) == ("wine", 1) else {}
        mv = register(store, name, tags=tags, user=user, **kwargs)
        assert mv.version == version
        made[(name, version)] = mv
        time.sleep(0.002)  # distinct creation times
    store.delete_model_version("iris", 2)
    return made


def test_search_defaults_to_every_active_version_newest_first(store, catalog):
    found = store.search_model_versions()

    assert versions_of(found) == [("wine", 2), ("iris", 3), ("wine", 1), ("iris", 1)]
    assert found[1] == store.get_model_version("iris", 3)


@pytest.mark.parametrize(
    "filter_string, expected",
    [
        ("name = 'iris'", [("iris", 3), ("iris", 1)]),
        ("name != 'iris'", [("wine", 2), ("wine", 1)]),
        ("name LIKE 'i%'", [("iris", 3), ("iris", 1)]),
        ("name ILIKE 'WI%'", [("wine", 2), ("wine", 1)]),
        ("name IN ('iris', 'none')", [("iris", 3), ("iris", 1)]),
        ("version >= 2", [("wine", 2), ("iris", 3)]),
        ("version = 1", [("wine", 1), ("iris", 1)]),
        ("version_number < 2 and name = 'wine'", [("wine", 1)]),
        ("tags.stage = 'prod'", [("iris", 3), ("wine", 1)]),
        ("tags.stage = 'prod' and tags.team = 'a'", [("iris", 3)]),
        ("tags.team != 'a'", [("wine", 1)]),
        ("tags.`stage` NOT IN ('dev')", [("iris", 3), ("wine", 1)]),
        ("user = 'ann'", [("iris", 1)]),
        ("user_id IN ('bob', 'cy')", [("iris", 3), ("wine", 1)]),
        ("name = 'nothing'", []),
        ("", [("wine", 2), ("iris", 3), ("wine", 1), ("iris", 1)]),
    ],
)
def test_search_filters(store, catalog, filter_string, expected):
    assert versions_of(store.search_model_versions(filter_string)) == expected


def test_search_by_ids_and_creation_time(store, catalog):
    wine1, iris3 = catalog[("wine", 1)], catalog[("iris", 3)]

    assert versions_of(store.search_model_versions(f"run_id = '{wine1.run_id}'")) == [("wine", 1)]
    by_artifact = store.search_model_versions(f"artifact_id = '{iris3.artifact_id}'")
    assert versions_of(by_artifact) == [("iris", 3)]
    since = store.search_model_versions(f"created_at >= {iris3.created_at}")
    assert versions_of(since) == [("wine", 2), ("iris", 3)]


@pytest.mark.parametrize(
    "order_by, expected",
    [
        (["version ASC"], [("wine", 1), ("iris", 1), ("wine", 2), ("iris", 3)]),
        (["name", "version DESC"], [("iris", 3), ("iris", 1), ("wine", 2), ("wine", 1)]),
        (["created_at"], [("iris", 1), ("wine", 1), ("iris", 3), ("wine", 2)]),
        (["tags.team ASC"], [("iris", 3), ("wine", 1), ("wine", 2), ("iris", 1)]),
        (["tags.team DESC"], [("wine", 1), ("iris", 3), ("wine", 2), ("iris", 1)]),
        ("name DESC", [("wine", 2), ("wine", 1), ("iris", 3), ("iris", 1)]),
    ],
)
def test_search_order(store, catalog, order_by, expected):
    assert versions_of(store.search_model_versions(order_by=order_by)) == expected


def test_search_filter_and_order_on_one_tag_and_limit(store, catalog):
    found = store.search_model_versions(
        "tags.stage LIKE 'pr%'", order_by=["tags.stage", "version"], max_results=1
    )

    assert versions_of(found) == [("wine", 1)]


@pytest.mark.parametrize(
    "filter_string, match",
    [
        ("metrics.acc > 0.5", "tags"),
        ("params.lr = '1'", "version"),
        ("status = 'ACTIVE'", "created_at"),
        ("attributes.start_time > 1", "artifact_id"),
        ("version > 'x'", "number"),
        ("name > 'a'", "strings"),
        ("name = 'a' or version = 1", "OR"),
        ("tags.k = 'nul\0'", "NUL"),
    ],
)
def test_search_refuses_unknown_fields_and_bad_filters(store, catalog, filter_string, match):
    with pytest.raises(FilterError, match=match):
        store.search_model_versions(filter_string)


def test_search_refuses_bad_order_and_limits(store, catalog):
    with pytest.raises(FilterError, match="name, version"):
        store.search_model_versions(order_by=["metrics.acc"])
    with pytest.raises(FilterError):
        store.search_model_versions(order_by=["stage"])
    for bad in (0, -5, 10**9, "10"):
        with pytest.raises(InvalidArgument):
            store.search_model_versions(max_results=bad)


def test_errors_raised_by_the_registry_are_heron_errors(store):
    """The server maps HeronError to 4xx: a plain exception here would be a 500."""
    register(store, "m")
    for call in (
        lambda: store.get_model_version_by_alias("m", 3),
        lambda: store.get_model_version_by_alias("m", "nul\0"),
        lambda: store.delete_model_alias("m", None),
        lambda: store.get_alias_history("m", "nul\0"),
        lambda: store.delete_model_version_tag("m", 1, "nul\0"),
        lambda: store.delete_registered_model_tag("m", 7),
        lambda: store.list_registered_models("nul\0"),
        lambda: store.list_registered_models(5),
        lambda: store.get_registered_model("missing"),
        lambda: store.create_model_version("m", "nope"),
        lambda: store.set_model_alias("m", "3", 1),
        lambda: store.search_model_versions("version >"),
        lambda: store.get_model_version("m", "one"),
    ):
        with pytest.raises(HeronError):
            call()


# --- concurrency -----------------------------------------------------------------------------

ALIASES = ("champion", "challenger", "staging")


def run_all(targets) -> list[BaseException]:
    """Run each callable in its own thread, started together; return what they raised."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def worker(target) -> None:
        barrier.wait()
        try:
            target()
        except BaseException as e:  # collected and asserted on by the caller
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return errors


def move_aliases(store, name: str, seed: int, rounds: int, top: int) -> int:
    """Point random aliases at random versions (some deleted or not there yet), now and
    then remove one; returns how many moves were made (setting an alias to the version it
    points at already is accepted but moves nothing)."""
    rng = random.Random(seed)
    accepted = 0
    for _ in range(rounds):
        alias = rng.choice(ALIASES)
        try:
            if rng.random() < 0.15:
                event = store.delete_model_alias(name, alias, user=f"setter-{seed}")
            else:
                action = ALIAS_ROLLBACK if rng.random() < 0.2 else ALIAS_SET
                event = store.set_model_alias(
                    name, alias, rng.randint(1, top), user=f"setter-{seed}", action=action
                )
            accepted += event.from_version != event.to_version
        except NotFound:
            pass  # a deleted (or not yet created) version, or an unset alias: refused
    return accepted


def delete_versions(store, name: str, seed: int, versions: list[int]) -> None:
    rng = random.Random(seed)
    for version in rng.sample(versions, len(versions)):
        with contextlib.suppress(NotFound):  # another deleter may be first
            store.delete_model_version(name, version, user="deleter")
        time.sleep(rng.random() * 0.003)


def add_versions(store, name: str, count: int) -> None:
    for _ in range(count):
        register(store, name)


def assert_aliases_point_at_active_versions(store, name: str) -> None:
    """A checkpoint while writers run: every alias resolves to an active version."""
    for alias in store.get_registered_model(name).aliases:
        try:
            mv = store.get_model_version_by_alias(name, alias)
        except NotFound:
            continue  # removed since the model was read
        assert mv.lifecycle == ACTIVE, f"alias {alias!r} points at deleted version {mv.version}"


def assert_consistent_history(store, name: str) -> list[AliasEvent]:
    """At rest: aliases on active versions only, and each alias's history a chain that ends
    where the alias is now, never moving onto a version after its deletion was recorded."""
    model = store.get_registered_model(name)
    for alias, version in model.aliases.items():
        assert store.get_model_version(name, version).lifecycle == ACTIVE, alias
    history = store.get_alias_history(name)
    stamps = [e.timestamp for e in history]
    assert stamps == sorted(stamps)
    chains: dict[str, list[AliasEvent]] = defaultdict(list)
    deleted_at: dict[int, int] = {}
    for i, event in enumerate(history):
        chain = chains[event.alias]
        previous = chain[-1].to_version if chain else None
        assert event.from_version == previous, (event, chain[-1:] or None)
        assert event.from_version != event.to_version, event
        if event.action in (ALIAS_SET, ALIAS_ROLLBACK):
            assert event.to_version is not None, event
            assert event.to_version not in deleted_at, f"{event} after its version was deleted"
        else:
            assert event.action in (ALIAS_DELETED, ALIAS_VERSION_DELETED), event
            assert event.to_version is None, event
        if event.action == ALIAS_VERSION_DELETED:
            deleted_at.setdefault(event.from_version, i)
            with pytest.raises(NotFound):
                store.get_model_version(name, event.from_version)
        chain.append(event)
    for alias in ALIASES:
        chain = chains.get(alias)
        assert model.aliases.get(alias) == (chain[-1].to_version if chain else None), alias
    return history


def test_concurrent_versions_of_one_model_get_distinct_consecutive_numbers(store):
    register(store, "shared")
    made: list[int] = []
    arts = [[model_artifact(store).id for _ in range(5)] for _ in range(8)]

    def create(ids: list[str]) -> None:
        for artifact_id in ids:
            made.append(store.create_model_version("shared", artifact_id).version)

    errors = run_all([lambda ids=ids: create(ids) for ids in arts])

    assert errors == []
    assert sorted(made) == list(range(2, 42))
    assert store.get_registered_model("shared").latest_version == 41


def test_concurrent_first_registrations_of_a_name_make_one_model(store):
    made: list[tuple[str, int]] = []
    arts = [[model_artifact(store).id for _ in range(3)] for _ in range(8)]

    def create(ids: list[str]) -> None:
        for artifact_id in ids:
            mv = store.create_model_version("brand-new", artifact_id)
            made.append((mv.name, mv.version))

    errors = run_all([lambda ids=ids: create(ids) for ids in arts])

    assert errors == []
    assert sorted(made) == [("brand-new", v) for v in range(1, 25)]
    assert [m.name for m in store.list_registered_models()] == ["brand-new"]


def test_alias_moves_under_concurrent_threads_never_point_at_deleted_versions(store):
    """Setters move aliases at random while deleters remove versions and a creator adds
    some: no alias ever points at a deleted version, and the history is a consistent chain."""
    name = "racy"
    register_many(store, name, 12)
    for i, alias in enumerate(ALIASES):
        store.set_model_alias(name, alias, i + 1)
    doomed = random.Random(7).sample(range(1, 13), 9)
    accepted: list[int] = []
    done = threading.Event()
    checkpoints: list[int] = []
    checker_errors: list[BaseException] = []

    def checker() -> None:
        try:
            while not done.is_set():
                assert_aliases_point_at_active_versions(store, name)
                checkpoints.append(1)
        except BaseException as e:  # asserted on below
            checker_errors.append(e)

    def setter(seed: int) -> None:
        accepted.append(move_aliases(store, name, seed, rounds=60, top=16))

    workers = [
        *(lambda s=s: setter(s) for s in range(4)),
        lambda: delete_versions(store, name, 100, doomed),
        lambda: delete_versions(store, name, 101, doomed[::2]),
        lambda: add_versions(store, name, 4),
    ]
    check = threading.Thread(target=checker)
    check.start()
    try:
        errors = run_all(workers)
    finally:
        done.set()
        check.join(60)

    assert errors == [] and checker_errors == []
    assert checkpoints and sum(accepted) > 0
    history = assert_consistent_history(store, name)
    setters = [e for e in history if (e.user or "").startswith("setter-")]
    assert len(setters) == sum(accepted)
    for version in doomed:
        with pytest.raises(NotFound):
            store.get_model_version(name, version)
    assert store.get_registered_model(name).latest_version == 16


def _process_main(store, role: str, name: str, seed: int, doomed: list[int]) -> None:
    """The body of one forked writer process, on a store of its own."""
    own = type(store)(store.uri)
    if role == "setter":
        move_aliases(own, name, seed, rounds=40, top=14)
    elif role == "deleter":
        delete_versions(own, name, seed, doomed)
    else:
        add_versions(own, name, 2)


def test_alias_moves_under_concurrent_processes_never_point_at_deleted_versions(store):
    """The same race between processes: their only common ground is the database."""
    name = "racy"
    register_many(store, name, 12)
    for i, alias in enumerate(ALIASES):
        store.set_model_alias(name, alias, i + 1)
    doomed = random.Random(11).sample(range(1, 13), 8)
    roles = ["setter", "setter", "setter", "deleter", "deleter", "creator"]
    fork = multiprocessing.get_context("fork")
    processes = [
        fork.Process(target=_process_main, args=(store, role, name, seed, doomed))
        for seed, role in enumerate(roles)
    ]
    for process in processes:
        process.start()
    checkpoints = 0
    try:
        while any(p.is_alive() for p in processes):
            assert_aliases_point_at_active_versions(store, name)
            checkpoints += 1
            time.sleep(0.005)
    finally:
        for process in processes:
            process.join(120)
            if process.is_alive():
                process.kill()

    assert [p.exitcode for p in processes] == [0] * len(processes)
    assert checkpoints > 0
    assert_consistent_history(store, name)
    for version in doomed:
        with pytest.raises(NotFound):
            store.get_model_version(name, version)
    assert store.get_registered_model(name).latest_version == 14


def _create_in_process(store, name: str, count: int, queue) -> None:
    own = type(store)(store.uri)
    queue.put([register(own, name).version for _ in range(count)])


def test_concurrent_processes_get_distinct_consecutive_version_numbers(store):
    fork = multiprocessing.get_context("fork")
    queue = fork.Queue()
    processes = [
        fork.Process(target=_create_in_process, args=(store, "shared", 5, queue)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)

    assert [p.exitcode for p in processes] == [0] * 4
    made = [queue.get(timeout=10) for _ in processes]
    assert sorted(v for part in made for v in part) == list(range(1, 21))
    assert all(part == sorted(part) for part in made)


def test_writers_racing_a_model_deletion_fail_cleanly(store):
    """Tagging, aliasing and versioning a model while it is deleted: each call either lands
    before the deletion, or after it (NotFound; a new version registers the name anew)."""
    register_many(store, "doomed", 5)
    unexpected: list[BaseException] = []

    def keep_writing(write) -> None:
        for i in range(30):
            try:
                write(i)
            except NotFound:
                pass
            except BaseException as e:  # asserted on below
                unexpected.append(e)

    def delete_model() -> None:
        time.sleep(0.01)
        store.delete_registered_model("doomed")

    errors = run_all(
        [
            lambda: keep_writing(
                lambda i: store.set_model_version_tag("doomed", i % 5 + 1, "k", "v")
            ),
            lambda: keep_writing(lambda i: store.set_model_alias("doomed", "champion", i % 5 + 1)),
            lambda: keep_writing(lambda i: store.update_model_version("doomed", 1, str(i))),
            lambda: keep_writing(lambda i: store.set_registered_model_tag("doomed", "k", str(i))),
            lambda: keep_writing(lambda i: register(store, "doomed") if i % 10 == 9 else None),
            delete_model,
        ]
    )

    assert errors == [] and unexpected == []
    try:
        model = store.get_registered_model("doomed")  # registered anew after the deletion
    except NotFound:
        return  # the deletion came after every registration
    assert model.latest_version <= 3
    assert_consistent_history(store, "doomed")


def _rollback_in_process(store, name: str, calls: int, barrier, queue) -> None:
    """One forked process: ``calls`` rollbacks on a store of its own, started together with
    the others; puts the (from, to) of each, or the error that stopped it."""
    own = type(store)(store.uri)
    barrier.wait(60)
    done: list[tuple[int | None, int | None]] = []
    try:
        for _ in range(calls):
            event = own.rollback_model_alias(name, "champion", user="roller")
            done.append((event.from_version, event.to_version))
    except HeronError as e:
        queue.put(f"{type(e).__name__}: {e}")
        return
    queue.put(done)


def test_concurrent_rollbacks_from_processes_are_each_applied_and_recorded(store):
    """4 processes x 2 rollbacks at once: each reads the history and moves the alias in one
    transaction, so all 8 land, one step back each, as one unbroken chain."""
    name = "rolled"
    register_many(store, name, 9)
    for version in range(1, 10):
        store.set_model_alias(name, "champion", version, user="setter-0")
    fork = multiprocessing.get_context("fork")
    barrier = fork.Barrier(4)
    queue = fork.Queue()
    processes = [
        fork.Process(target=_rollback_in_process, args=(store, name, 2, barrier, queue))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [queue.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(120)
            if process.is_alive():
                process.kill()

    assert [o for o in outcomes if isinstance(o, str)] == []
    results = [moved for outcome in outcomes for moved in outcome]
    assert [p.exitcode for p in processes] == [0] * 4
    assert sorted(results) == [(v + 1, v) for v in range(1, 9)]
    history = assert_consistent_history(store, name)
    rollbacks = [e for e in history if e.action == ALIAS_ROLLBACK]
    assert [(e.from_version, e.to_version) for e in rollbacks] == [
        (v, v - 1) for v in range(9, 1, -1)
    ]
    assert len(history) == 9 + 8
    assert store.get_model_version_by_alias(name, "champion").version == 1
    with pytest.raises(InvalidState, match="nothing to roll back"):
        store.rollback_model_alias(name, "champion")


def test_concurrent_rollbacks_and_moves_from_threads_keep_one_chain(store):
    """Rollbacks racing alias moves: every call that reports a move is one event, and the
    history stays a chain that ends where the alias points."""
    name = "mixed"
    register_many(store, name, 10)
    for version in range(1, 11):
        store.set_model_alias(name, "champion", version)
    rolled: list[bool] = []
    set_moved: list[bool] = []

    def roll(rounds: int) -> None:
        for _ in range(rounds):
            try:
                event = store.rollback_model_alias(name, "champion", user="roller")
            except InvalidState:
                continue  # rolled back to the start of the history: nothing left
            rolled.append(event.from_version != event.to_version)

    def set_some(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(10):
            event = store.set_model_alias(name, "champion", rng.randint(1, 10), user="setter")
            set_moved.append(event.from_version != event.to_version)

    errors = run_all(
        [*(lambda: roll(6) for _ in range(3)), lambda: set_some(1), lambda: set_some(2)]
    )

    assert errors == []
    assert sum(rolled) > 0
    history = assert_consistent_history(store, name)
    assert sum(e.action == ALIAS_ROLLBACK for e in history) == sum(rolled)
    assert sum(e.user == "setter" for e in history) == sum(set_moved)
    assert len(history) == 10 + sum(rolled) + sum(set_moved)
