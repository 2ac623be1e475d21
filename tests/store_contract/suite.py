"""The `Store` contract: what every metadata back-end must do, written once.

A test module runs this suite against a back-end by importing everything from here and
defining a function-scoped ``store`` fixture (a fresh, empty store per test)::

    from tests.store_contract.suite import *  # noqa: F403

    @pytest.fixture
    def store(tmp_path): ...

Search is covered by :mod:`tests.store_contract.search_suite`, property tests by
:mod:`tests.store_contract.properties`.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time

import pytest

from heron.core import status as run_status
from heron.core.entities import Metric
from heron.core.errors import (
    AlreadyExists,
    Conflict,
    HeronError,
    InvalidArgument,
    InvalidState,
    NotFound,
)
from heron.core.ids import now_ms

# --- helpers ---------------------------------------------------------------------------------


def experiment(store, name: str = "exp", tags=None) -> str:
    """The id of a new experiment."""
    return store.create_experiment(name, tags=tags).id


def new_run(store, experiment_id: str | None = None, **kwargs):
    """A new run, in a new experiment unless one is given."""
    if experiment_id is None:
        existing = store.get_experiment_by_name("exp")
        experiment_id = existing.id if existing else experiment(store)
    return store.create_run(experiment_id, **kwargs)


def ids(items) -> list[str]:
    return [item.id for item in items]


def same_float(a: float, b: float) -> bool:
    """Equality that also holds for NaN == NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def run_threads(count: int, target) -> list[BaseException]:
    """Run ``target(i)`` in ``count`` threads started together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as e:  # collected and asserted on by the caller
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


# --- experiments -----------------------------------------------------------------------------


def test_create_experiment_returns_it_active_with_its_tags(store):
    exp = store.create_experiment("iris", tags={"team": "vision", "owner": "ana"})

    assert exp.name == "iris"
    assert exp.lifecycle == "active" and not exp.deleted
    assert exp.tags == {"team": "vision", "owner": "ana"}
    assert exp.created_at > 0
    assert store.get_experiment(exp.id) == exp


def test_experiment_names_are_unique(store):
    store.create_experiment("iris")

    with pytest.raises(AlreadyExists):
        store.create_experiment("iris")


def test_a_deleted_experiment_still_holds_its_name(store):
    exp_id = experiment(store, "iris")
    store.delete_experiment(exp_id)

    with pytest.raises(AlreadyExists):
        store.create_experiment("iris")


def test_get_experiment_by_id_and_by_name(store):
    exp_id = experiment(store, "iris", tags={"k": "v"})

    assert store.get_experiment(exp_id).name == "iris"
    by_name = store.get_experiment_by_name("iris")
    assert by_name is not None and by_name.id == exp_id and by_name.tags == {"k": "v"}


def test_unknown_experiment_is_not_found(store):
    with pytest.raises(NotFound):
        store.get_experiment("0" * 32)
    assert store.get_experiment_by_name("nope") is None


def test_experiment_names_are_case_sensitive(store):
    experiment(store, "iris")

    assert store.get_experiment_by_name("IRIS") is None
    store.create_experiment("IRIS")  # another name


@pytest.mark.parametrize("bad", ["", "   ", "x" * 257])
def test_invalid_experiment_name_is_refused(store, bad):
    with pytest.raises(InvalidArgument):
        store.create_experiment(bad)


def test_list_experiments_by_view_sorted_by_name(store):
    b = experiment(store, "b")
    a = experiment(store, "a")
    c = experiment(store, "c")
    store.delete_experiment(b)

    assert ids(store.list_experiments()) == [a, c]
    assert ids(store.list_experiments(view="active")) == [a, c]
    assert ids(store.list_experiments(view="deleted")) == [b]
    assert ids(store.list_experiments(view="all")) == [a, b, c]


def test_list_experiments_refuses_an_unknown_view(store):
    with pytest.raises(InvalidArgument):
        store.list_experiments(view="archived")


def test_delete_and_restore_experiment(store):
    exp_id = experiment(store, "iris")

    store.delete_experiment(exp_id)
    deleted = store.get_experiment(exp_id)
    assert deleted.deleted and deleted.lifecycle == "deleted"
    assert store.get_experiment_by_name("iris").id == exp_id  # still found by name

    store.restore_experiment(exp_id)
    assert not store.get_experiment(exp_id).deleted
    assert ids(store.list_experiments()) == [exp_id]


def test_delete_or_restore_unknown_experiment_is_not_found(store):
    with pytest.raises(NotFound):
        store.delete_experiment("0" * 32)
    with pytest.raises(NotFound):
        store.restore_experiment("0" * 32)


def test_deleting_an_experiment_hides_its_runs_from_default_search(store):
    kept = experiment(store, "kept")
    gone = experiment(store, "gone")
    kept_run = store.create_run(kept)
    gone_run = store.create_run(gone)

    store.delete_experiment(gone)

    assert ids(store.search_runs()) == [kept_run.id]
    assert ids(store.search_runs([kept, gone])) == [kept_run.id]
    assert gone_run.id in ids(store.search_runs(view="all"))

    store.restore_experiment(gone)
    assert set(ids(store.search_runs())) == {kept_run.id, gone_run.id}


def test_rename_experiment(store):
    exp_id = experiment(store, "old")

    store.rename_experiment(exp_id, "new")

    assert store.get_experiment(exp_id).name == "new"
    assert store.get_experiment_by_name("old") is None
    assert store.get_experiment_by_name("new").id == exp_id
    store.create_experiment("old")  # the old name is free again


def test_experiment_tags_are_set_replaced_and_deleted(store):
    exp_id = experiment(store, "tagged")

    store.set_experiment_tag(exp_id, "team", "vision")
    store.set_experiment_tag(exp_id, "team", "nlp")
    store.set_experiment_tag(exp_id, "stage", "dev")
    assert store.get_experiment(exp_id).tags == {"team": "nlp", "stage": "dev"}

    store.delete_experiment_tag(exp_id, "stage")
    assert store.get_experiment(exp_id).tags == {"team": "nlp"}
    with pytest.raises(NotFound):
        store.delete_experiment_tag(exp_id, "stage")
    with pytest.raises(NotFound):
        store.set_experiment_tag("no-such-experiment", "a", "b")
    with pytest.raises(InvalidArgument):
        store.set_experiment_tag(exp_id, "", "b")
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidState):
        store.set_experiment_tag(exp_id, "team", "x")
    assert store.get_experiment(exp_id).tags == {"team": "nlp"}


def test_rename_experiment_to_its_own_name_is_a_no_op(store):
    exp_id = experiment(store, "same")

    store.rename_experiment(exp_id, "same")

    assert store.get_experiment(exp_id).name == "same"


def test_rename_experiment_to_a_taken_name_is_refused(store):
    a = experiment(store, "a")
    experiment(store, "b")

    with pytest.raises(AlreadyExists):
        store.rename_experiment(a, "b")
    assert store.get_experiment(a).name == "a"


def test_rename_unknown_experiment_is_not_found(store):
    with pytest.raises(NotFound):
        store.rename_experiment("0" * 32, "x")


def test_rename_experiment_to_an_invalid_name_is_refused(store):
    exp_id = experiment(store, "a")

    with pytest.raises(InvalidArgument):
        store.rename_experiment(exp_id, " ")


def test_concurrent_creation_of_one_experiment_name_makes_one_and_refuses_the_rest(store):
    for round in range(5):  # the pool's connections are warm after the first round
        made = []

        def create(i: int, name=f"race-{round}", made=made) -> None:
            made.append(store.create_experiment(name).id)

        errors = run_threads(8, create)

        assert len(made) == 1
        assert len(errors) == 7
        assert all(isinstance(e, AlreadyExists) for e in errors), errors


# --- runs ------------------------------------------------------------------------------------


def test_create_run_with_every_field_reads_back(store):
    exp_id = experiment(store)
    parent = store.create_run(exp_id, kind="pipeline")

    run = store.create_run(
        exp_id,
        run_id="a" * 32,
        name="baseline",
        kind="step",
        status="pending",
        parent_id=parent.id,
        start_time=1_700_000_000_123,
        user="ana",
        source="train.py",
        git_commit="0123456789abcdef0123456789abcdef01234567",
        python_version="3.11.7",
        tags={"team": "vision", "stage": "dev"},
    )

    got = store.get_run("a" * 32)
    assert got == run
    assert (got.id, got.experiment_id, got.name, got.kind, got.status) == (
        "a" * 32,
        exp_id,
        "baseline",
        "step",
        "pending",
    )
    assert got.parent_id == parent.id
    assert got.start_time == 1_700_000_000_123
    assert got.end_time is None
    assert (got.user, got.source, got.python_version) == ("ana", "train.py", "3.11.7")
    assert got.git_commit == "0123456789abcdef0123456789abcdef01234567"
    assert got.tags == {"team": "vision", "stage": "dev"}
    assert got.params == {} and got.metrics == {}
    assert got.lifecycle == "active" and not got.deleted


def test_create_run_defaults(store):
    before = now_ms()
    run = new_run(store)
    after = now_ms()

    assert len(run.id) == 32
    assert run.name  # a generated, non-empty name
    assert run.kind == "run" and run.status == "running"
    assert before <= run.start_time <= after
    got = store.get_run(run.id)
    assert got.name == run.name and got.status == "running" and got.end_time is None


def test_each_run_gets_its_own_default_name_and_id(store):
    exp_id = experiment(store)
    a, b = store.create_run(exp_id), store.create_run(exp_id)

    assert a.id != b.id
    assert a.name != b.name


@pytest.mark.parametrize("kind", ["run", "pipeline", "step"])
def test_every_run_kind_is_accepted(store, kind):
    run = new_run(store, kind=kind)

    assert store.get_run(run.id).kind == kind


def test_unknown_run_kind_is_refused(store):
    with pytest.raises(InvalidArgument):
        new_run(store, kind="job")


def test_unknown_run_status_is_refused(store):
    with pytest.raises(InvalidArgument):
        new_run(store, status="FINISHED")


def test_run_in_unknown_experiment_is_not_found(store):
    with pytest.raises(NotFound):
        store.create_run("0" * 32)


def test_run_parent_must_exist(store):
    with pytest.raises(NotFound):
        new_run(store, parent_id="0" * 32)


def test_deleted_experiment_refuses_new_runs(store):
    exp_id = experiment(store)
    store.delete_experiment(exp_id)

    with pytest.raises(InvalidState):
        store.create_run(exp_id)
    assert store.search_runs(view="all") == []


def test_duplicate_run_id_is_refused(store):
    exp_id = experiment(store)
    store.create_run(exp_id, run_id="b" * 32, name="first")

    with pytest.raises(AlreadyExists):
        store.create_run(exp_id, run_id="b" * 32, name="second")
    assert store.get_run("b" * 32).name == "first"


def test_create_run_writes_nothing_when_a_tag_is_invalid(store):
    exp_id = experiment(store)

    with pytest.raises(InvalidArgument):
        store.create_run(exp_id, tags={"ok": "1", " bad": "2"})
    assert store.search_runs(view="all") == []


def test_get_unknown_run_is_not_found(store):
    with pytest.raises(NotFound):
        store.get_run("0" * 32)


def test_running_run_created_with_an_old_start_time_is_not_stale(store):
    """A run's liveness starts at creation: importing or backfilling a run that started an
    hour ago must not make it read as dead before its process had a chance to heartbeat."""
    an_hour_ago = now_ms() - 3_600_000

    run = new_run(store, start_time=an_hour_ago)

    got = store.get_run(run.id)
    assert got.status == "running", got.status_reason
    assert got.start_time == an_hour_ago
    assert ids(store.search_runs(filter_string="attributes.status = 'running'")) == [run.id]


@pytest.mark.parametrize(
    "field, value",
    [
        ("run_id", "r" * 40),
        ("user", "u" * 300),
        ("git_commit", "c" * 100),
        ("python_version", "3.11.7+" + "x" * 40),
        ("source", "s" * 10_000),
    ],
)
def test_long_run_fields_are_stored_or_refused_cleanly(store, field, value):
    """Every back-end keeps what it accepts; too long is InvalidArgument, never a DB error."""
    try:
        run = new_run(store, **{field: value})
    except InvalidArgument:
        return
    got = store.get_run(run.id)
    assert getattr(got, "id" if field == "run_id" else field) == value


@pytest.mark.parametrize("start_time", [2**63, -(2**63) - 1])
def test_out_of_range_start_time_is_refused(store, start_time):
    with pytest.raises(InvalidArgument):
        new_run(store, start_time=start_time)


def test_allowed_and_refused_status_transitions_follow_the_table(store):
    exp_id = experiment(store)
    mismatches = []
    for current in run_status.ALL:
        for new in run_status.ALL:
            run = store.create_run(exp_id, status=current)
            allowed = new == current or new in run_status.TRANSITIONS[current]
            try:
                store.update_run(run.id, status=new)
                moved = True
            except InvalidState:
                moved = False
            final = store.get_run(run.id).status
            if moved != allowed or final != (new if allowed else current):
                mismatches.append((current, new, moved, final))

    assert mismatches == []


def test_terminal_status_sets_end_time_to_now_by_default(store):
    run = new_run(store)
    before = now_ms()

    done = store.update_run(run.id, status="completed")

    assert done.status == "completed"
    assert before <= done.end_time <= now_ms()
    assert done.duration_ms == done.end_time - done.start_time
    assert store.get_run(run.id).end_time == done.end_time


@pytest.mark.parametrize("terminal", ["completed", "failed", "cancelled"])
def test_terminal_status_keeps_the_given_end_time_and_reason(store, terminal):
    run = new_run(store, start_time=now_ms())

    store.update_run(run.id, status=terminal, end_time=run.start_time + 42, status_reason="why")

    got = store.get_run(run.id)
    assert (got.status, got.end_time, got.status_reason) == (
        terminal,
        run.start_time + 42,
        "why",
    )


def test_resumed_run_is_running_again_without_end_time(store):
    run = new_run(store)
    store.update_run(run.id, status="completed")

    resumed = store.update_run(run.id, status="running")
    assert resumed.status == "running" and resumed.end_time is None
    assert store.get_run(run.id).status == "running"

    again = store.update_run(run.id, status="completed")
    assert again.status == "completed" and again.end_time is not None


def test_refused_transition_changes_nothing(store):
    run = new_run(store, status="pending")
    store.update_run(run.id, status="cached", end_time=123)

    with pytest.raises(InvalidState):
        store.update_run(run.id, status="running", name="renamed")

    got = store.get_run(run.id)
    assert (got.status, got.end_time, got.name) == ("cached", 123, run.name)


def test_update_run_renames_and_sets_end_time(store):
    run = new_run(store, name="before")

    renamed = store.update_run(run.id, name="after")
    assert renamed.name == "after" and renamed.status == "running"

    store.update_run(run.id, end_time=run.start_time + 5)
    assert store.get_run(run.id).end_time == run.start_time + 5


def test_update_run_refuses_unknown_status_and_unknown_run(store):
    run = new_run(store)

    with pytest.raises(InvalidArgument):
        store.update_run(run.id, status="done")
    with pytest.raises(NotFound):
        store.update_run("0" * 32, status="completed")
    assert store.get_run(run.id).status == "running"


# --- log_batch -------------------------------------------------------------------------------


def test_log_batch_writes_params_metrics_and_tags(store):
    run = new_run(store)

    store.log_batch(
        run.id,
        metrics=[Metric("acc", 0.9, 1, 1000), Metric("loss", 0.1, 1, 1000)],
        params={"lr": "0.1", "depth": "3"},
        tags={"stage": "dev"},
    )

    got = store.get_run(run.id)
    assert got.params == {"lr": "0.1", "depth": "3"}
    assert got.metrics == {"acc": 0.9, "loss": 0.1}
    assert got.tags == {"stage": "dev"}


def test_log_batch_accepts_plain_tuples_and_stringifies_params(store):
    run = new_run(store)

    store.log_batch(run.id, metrics=[("acc", 1, 0, 5)], params={"depth": 3, "lr": 0.5})

    got = store.get_run(run.id)
    assert got.params == {"depth": "3", "lr": "0.5"}
    assert got.metrics == {"acc": 1.0}
    assert store.get_metric_history(run.id, "acc") == [Metric("acc", 1.0, 0, 5)]


def test_logging_a_param_again_with_the_same_value_is_fine(store):
    run = new_run(store)
    store.log_batch(run.id, params={"lr": "0.1"})

    store.log_batch(run.id, params={"lr": "0.1", "depth": "3"})

    assert store.get_run(run.id).params == {"lr": "0.1", "depth": "3"}


def test_param_conflict_writes_nothing_from_the_batch(store):
    run = new_run(store)
    store.log_batch(run.id, params={"lr": "0.1"}, tags={"stage": "dev"})

    with pytest.raises(Conflict) as caught:
        store.log_batch(
            run.id,
            metrics=[Metric("acc", 0.5, 0, 1)],
            params={"depth": "3", "lr": "0.2"},
            tags={"stage": "prod", "new": "x"},
        )

    assert "lr" in str(caught.value)
    got = store.get_run(run.id)
    assert got.params == {"lr": "0.1"}
    assert got.tags == {"stage": "dev"}
    assert got.metrics == {}
    assert store.get_metric_history(run.id, "acc") == []


def test_invalid_metric_writes_nothing_from_the_batch(store):
    run = new_run(store)

    with pytest.raises(InvalidArgument):
        store.log_batch(
            run.id,
            metrics=[Metric("acc", 0.5, 0, 1), Metric("loss", "high", 0, 1)],
            params={"lr": "0.1"},
            tags={"t": "v"},
        )

    got = store.get_run(run.id)
    assert (got.params, got.metrics, got.tags) == ({}, {}, {})


@pytest.mark.parametrize("bad_key", ["", " lead", "trail ", "k" * 251, "nul\0"])
def test_invalid_keys_are_refused(store, bad_key):
    run = new_run(store)

    with pytest.raises(InvalidArgument):
        store.log_batch(run.id, metrics=[Metric(bad_key, 1.0, 0, 0)])
    with pytest.raises(InvalidArgument):
        store.log_batch(run.id, params={bad_key: "v"})
    with pytest.raises(InvalidArgument):
        store.log_batch(run.id, tags={bad_key: "v"})
    assert store.get_run(run.id).metrics == {}


def test_keys_of_the_maximum_length_are_accepted(store):
    run = new_run(store)
    key = "k" * 250

    store.log_batch(run.id, metrics=[Metric(key, 1.0, 0, 0)], params={key: "p"}, tags={key: "t"})

    got = store.get_run(run.id)
    assert (got.metrics, got.params, got.tags) == ({key: 1.0}, {key: "p"}, {key: "t"})


def test_tags_are_upserted(store):
    run = new_run(store, tags={"stage": "dev", "team": "a"})

    store.log_batch(run.id, tags={"stage": "prod"})
    store.log_batch(run.id, tags={"stage": "prod", "new": "1"})

    assert store.get_run(run.id).tags == {"stage": "prod", "team": "a", "new": "1"}


def test_metric_history_is_complete_and_ordered_by_step(store):
    run = new_run(store)
    store.log_batch(run.id, metrics=[Metric("loss", 0.5, 2, 200), Metric("loss", 0.9, 0, 100)])
    store.log_batch(run.id, metrics=[Metric("loss", 0.7, 1, 300), Metric("acc", 0.1, 0, 100)])
    store.log_batch(run.id, metrics=[Metric("loss", 0.6, 1, 150)])

    assert store.get_metric_history(run.id, "loss") == [
        Metric("loss", 0.9, 0, 100),
        Metric("loss", 0.6, 1, 150),
        Metric("loss", 0.7, 1, 300),
        Metric("loss", 0.5, 2, 200),
    ]
    assert store.get_metric_history(run.id, "acc") == [Metric("acc", 0.1, 0, 100)]


def test_metric_history_keeps_repeated_points(store):
    run = new_run(store)
    point = Metric("loss", 0.5, 1, 100)

    store.log_batch(run.id, metrics=[point, point])
    store.log_batch(run.id, metrics=[point])

    assert store.get_metric_history(run.id, "loss") == [point, point, point]


def test_latest_metric_is_the_highest_step_even_when_it_came_first(store):
    run = new_run(store)
    store.log_batch(run.id, metrics=[Metric("loss", 0.1, 10, 100)])

    store.log_batch(run.id, metrics=[Metric("loss", 0.9, 3, 500)])  # an older step, later

    assert store.get_run(run.id).metrics == {"loss": 0.1}


def test_latest_metric_at_equal_step_is_the_newest_timestamp(store):
    run = new_run(store)
    store.log_batch(run.id, metrics=[Metric("loss", 0.5, 1, 200)])

    store.log_batch(run.id, metrics=[Metric("loss", 0.4, 1, 100)])  # older timestamp
    assert store.get_run(run.id).metrics == {"loss": 0.5}

    store.log_batch(run.id, metrics=[Metric("loss", 0.3, 1, 300)])  # newer timestamp
    assert store.get_run(run.id).metrics == {"loss": 0.3}


def test_latest_metric_within_one_batch(store):
    run = new_run(store)

    a_points = [Metric("a", 1.0, 5, 1), Metric("a", 2.0, 2, 9)]  # the highest step wins
    b_points = [Metric("b", 1.0, 0, 5), Metric("b", 2.0, 0, 7), Metric("b", 3.0, 0, 6)]

    store.log_batch(run.id, metrics=[*a_points, *b_points])

    assert store.get_run(run.id).metrics == {"a": 1.0, "b": 2.0}


def test_latest_metric_moves_on_with_newer_steps(store):
    run = new_run(store)
    for step in range(5):
        store.log_batch(run.id, metrics=[Metric("x", float(step * step), step, step)])

    assert store.get_run(run.id).metrics == {"x": 16.0}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324])
def test_special_float_values_are_stored_faithfully(store, value):
    run = new_run(store)

    store.log_batch(run.id, metrics=[Metric("m", value, 0, 1)])

    (point,) = store.get_metric_history(run.id, "m")
    assert same_float(point.value, value)
    latest = store.get_run(run.id).metrics["m"]
    assert same_float(latest, value)


def test_nan_then_a_number_then_nan_again(store):
    run = new_run(store)
    store.log_batch(run.id, metrics=[Metric("m", math.nan, 0, 1)])
    assert math.isnan(store.get_run(run.id).metrics["m"])

    store.log_batch(run.id, metrics=[Metric("m", 2.5, 1, 2)])
    assert store.get_run(run.id).metrics["m"] == 2.5

    store.log_batch(run.id, metrics=[Metric("m", math.nan, 2, 3)])
    assert math.isnan(store.get_run(run.id).metrics["m"])
    values = [p.value for p in store.get_metric_history(run.id, "m")]
    assert math.isnan(values[0]) and values[1] == 2.5 and math.isnan(values[2])


def test_extreme_steps_and_timestamps_are_kept(store):
    run = new_run(store)
    big = 2**63 - 1

    store.log_batch(run.id, metrics=[Metric("m", 1.0, -big, 0), Metric("m", 2.0, big, big)])

    assert store.get_metric_history(run.id, "m") == [
        Metric("m", 1.0, -big, 0),
        Metric("m", 2.0, big, big),
    ]
    assert store.get_run(run.id).metrics == {"m": 2.0}


def test_step_outside_64_bits_is_refused(store):
    run = new_run(store)

    with pytest.raises(InvalidArgument):
        store.log_batch(run.id, metrics=[Metric("m", 1.0, 2**63, 0)])


def test_a_large_batch_is_written_whole(store):
    run = new_run(store)
    points = [Metric(f"m{i % 10}", float(i), i // 10, i) for i in range(2000)]

    store.log_batch(run.id, metrics=points, params={f"p{i}": str(i) for i in range(100)})

    got = store.get_run(run.id)
    assert len(got.params) == 100
    assert got.metrics == {f"m{k}": float(1990 + k) for k in range(10)}
    assert len(store.get_metric_history(run.id, "m3")) == 200


def test_log_batch_to_unknown_run_is_not_found(store):
    with pytest.raises(NotFound):
        store.log_batch("0" * 32, metrics=[Metric("m", 1.0, 0, 0)])
    with pytest.raises(NotFound):
        store.log_batch("0" * 32)


def test_log_batch_to_deleted_run_is_refused_and_writes_nothing(store):
    run = new_run(store)
    store.delete_run(run.id)

    with pytest.raises(InvalidState):
        store.log_batch(
            run.id, metrics=[Metric("m", 1.0, 0, 0)], params={"p": "1"}, tags={"t": "1"}
        )

    store.restore_run(run.id)
    got = store.get_run(run.id)
    assert (got.params, got.metrics, got.tags) == ({}, {}, {})


@pytest.mark.parametrize(
    "value",
    ['quote \' and "double"', "percent % under_score", "back\\slash", "ünïcødé ✓ 🚀", "\n\t"],
)
def test_string_values_round_trip(store, value):
    run = new_run(store, name=f"name {value}")

    store.log_batch(run.id, params={"p": value}, tags={"t": value})

    got = store.get_run(run.id)
    assert (got.params["p"], got.tags["t"], got.name) == (value, value, f"name {value}")


@pytest.mark.parametrize("value", ["nul \0 inside", "lone surrogate \ud800"])
def test_unstorable_characters_are_refused_or_kept(store, value):
    """A NUL or a lone surrogate cannot be stored by every database: it must be kept exactly
    or refused as InvalidArgument, never fail inside the driver."""
    run = new_run(store)
    try:
        store.log_batch(run.id, params={"p": value}, tags={"t": value})
    except InvalidArgument:
        assert store.get_run(run.id).params == {}
        return
    got = store.get_run(run.id)
    assert (got.params, got.tags) == ({"p": value}, {"t": value})


def test_log_batch_can_close_the_run_with_its_last_points(store):
    run = new_run(store)

    store.log_batch(
        run.id, metrics=[Metric("acc", 0.9, 1, 1)], status="completed", status_reason="done"
    )

    got = store.get_run(run.id)
    assert (got.status, got.status_reason, got.metrics) == ("completed", "done", {"acc": 0.9})
    assert got.end_time is not None and got.end_time >= got.start_time


def test_log_batch_with_a_refused_status_keeps_the_data_and_says_so(store):
    # Points are never dropped because of a status conflict: the data lands, the status
    # change is refused.
    run = new_run(store, status="pending")
    store.update_run(run.id, status="skipped")

    with pytest.raises(InvalidState, match="cannot move from status 'skipped' to 'running'"):
        store.log_batch(
            run.id, metrics=[Metric("m", 1.0, 0, 0)], params={"p": "1"}, status="running"
        )
    with pytest.raises(InvalidArgument):  # an unknown status: nothing is written
        store.log_batch(run.id, params={"q": "1"}, status="finished")

    got = store.get_run(run.id)
    assert (got.status, got.params, got.metrics) == ("skipped", {"p": "1"}, {"m": 1.0})


_TEXT_WRITES = {
    "experiment name": lambda store, run, v: store.create_experiment(v),
    "experiment tag": lambda store, run, v: store.create_experiment("e2", tags={"t": v}),
    "run name": lambda store, run, v: store.update_run(run.id, name=v),
    "status reason": lambda store, run, v: store.update_run(
        run.id, status="failed", status_reason=v
    ),
    "run user and source": lambda store, run, v: new_run(store, user=v, source=v),
    "metric key": lambda store, run, v: store.log_batch(run.id, [Metric("k" + v, 1.0, 0, 0)]),
    "artifact name": lambda store, run, v: artifact(store, "a" + v),
    "artifact metadata": lambda store, run, v: artifact(store, metadata={"k": v}),
    "link name": lambda store, run, v: store.link_artifact(run.id, artifact(store).id, "input", v),
}


@pytest.mark.parametrize("value", ["nul \0 inside", "lone surrogate \ud800"])
@pytest.mark.parametrize("where", list(_TEXT_WRITES))
def test_unstorable_characters_anywhere_are_refused_or_kept(store, where, value):
    run = new_run(store)
    with contextlib.suppress(InvalidArgument):
        _TEXT_WRITES[where](store, run, value)


def test_concurrent_log_batch_of_the_same_param_value_succeeds(store):
    exp_id = experiment(store)
    for _ in range(5):  # the pool's connections are warm after the first round
        run = store.create_run(exp_id)

        def log(i: int, run_id=run.id) -> None:
            store.log_batch(run_id, params={"lr": "0.1", f"p{i}": "x"})

        assert run_threads(8, log) == []
        assert len(store.get_run(run.id).params) == 9


def test_concurrent_metric_logging_keeps_every_point(store):
    run = new_run(store)

    def log(i: int) -> None:
        for j in range(20):
            store.log_batch(run.id, metrics=[Metric("m", float(i), i * 100 + j, j)])

    assert run_threads(6, log) == []
    history = store.get_metric_history(run.id, "m")
    assert len(history) == 120
    assert [p.step for p in history] == sorted(i * 100 + j for i in range(6) for j in range(20))
    assert store.get_run(run.id).metrics == {"m": 5.0}


# --- tags and metric history -----------------------------------------------------------------


def test_delete_tag(store):
    run = new_run(store, tags={"a": "1", "b": "2"})

    store.delete_tag(run.id, "a")

    assert store.get_run(run.id).tags == {"b": "2"}


def test_delete_missing_tag_is_not_found(store):
    run = new_run(store, tags={"a": "1"})

    with pytest.raises(NotFound):
        store.delete_tag(run.id, "nope")
    with pytest.raises(NotFound):
        store.delete_tag("0" * 32, "a")
    assert store.get_run(run.id).tags == {"a": "1"}


def test_metric_history_of_unknown_key_is_empty_and_of_unknown_run_not_found(store):
    run = new_run(store)

    assert store.get_metric_history(run.id, "never") == []
    with pytest.raises(NotFound):
        store.get_metric_history("0" * 32, "m")


# --- deleting and restoring runs -------------------------------------------------------------


def _family(store):
    """A pipeline run with a step run that has a child of its own, and an unrelated run."""
    exp_id = experiment(store)
    pipeline = store.create_run(exp_id, kind="pipeline", name="pipeline")
    step = store.create_run(exp_id, kind="step", name="step", parent_id=pipeline.id)
    inner = store.create_run(exp_id, kind="step", name="inner", parent_id=step.id)
    other = store.create_run(exp_id, name="other")
    return pipeline, step, inner, other


def test_delete_run_cascades_to_its_descendants(store):
    pipeline, step, inner, other = _family(store)

    store.delete_run(pipeline.id)

    assert all(store.get_run(r.id).deleted for r in (pipeline, step, inner))
    assert not store.get_run(other.id).deleted
    assert ids(store.search_runs()) == [other.id]
    assert ids(store.search_runs(view="active")) == [other.id]
    assert set(ids(store.search_runs(view="deleted"))) == {pipeline.id, step.id, inner.id}
    assert len(store.search_runs(view="all")) == 4


def test_restore_run_cascades_to_its_descendants(store):
    pipeline, step, inner, other = _family(store)
    store.delete_run(pipeline.id)

    store.restore_run(pipeline.id)

    assert not any(store.get_run(r.id).deleted for r in (pipeline, step, inner, other))
    assert len(store.search_runs()) == 4
    assert store.search_runs(view="deleted") == []


def test_deleting_a_child_leaves_the_parent_active(store):
    pipeline, step, inner, _ = _family(store)

    store.delete_run(step.id)

    assert not store.get_run(pipeline.id).deleted
    assert store.get_run(step.id).deleted and store.get_run(inner.id).deleted


def test_delete_or_restore_unknown_run_is_not_found(store):
    with pytest.raises(NotFound):
        store.delete_run("0" * 32)
    with pytest.raises(NotFound):
        store.restore_run("0" * 32)


def test_deleted_run_keeps_its_data(store):
    run = new_run(store)
    store.log_batch(run.id, metrics=[Metric("m", 1.0, 0, 0)], params={"p": "1"})

    store.delete_run(run.id)

    got = store.get_run(run.id)
    assert got.deleted and got.params == {"p": "1"} and got.metrics == {"m": 1.0}


# --- heartbeats ------------------------------------------------------------------------------


def test_fail_stale_runs_fails_only_running_runs_with_an_old_heartbeat(store):
    exp_id = experiment(store)
    now = now_ms()
    stale = store.create_run(exp_id, name="stale")
    alive = store.create_run(exp_id, name="alive")
    done = store.create_run(exp_id, name="done")
    pending = store.create_run(exp_id, name="pending", status="pending")
    store.update_run(done.id, status="completed")
    store.heartbeat([stale.id, done.id, pending.id], now=now - 60_000)
    store.heartbeat([alive.id], now=now)

    assert store.fail_stale_runs(30_000, now=now) == 1

    failed = store.get_run(stale.id)
    assert failed.status == "failed"
    assert "heartbeat" in failed.status_reason.lower()
    assert failed.end_time == now - 60_000  # the last sign of life
    assert store.get_run(alive.id).status == "running"
    assert store.get_run(done.id).status == "completed"
    assert store.get_run(pending.id).status == "pending"
    assert store.fail_stale_runs(30_000, now=now) == 0


def test_heartbeat_keeps_a_run_alive(store):
    run = new_run(store)
    now = now_ms()

    store.heartbeat([run.id], now=now + 10_000)

    assert store.fail_stale_runs(5_000, now=now + 12_000) == 0
    assert store.get_run(run.id).heartbeat_at == now + 10_000


def test_heartbeat_of_no_runs_or_unknown_runs_is_harmless(store):
    store.heartbeat([])
    store.heartbeat(["0" * 32])


def test_get_run_reads_a_stale_running_run_as_failed(store, monkeypatch):
    monkeypatch.setenv("HERON_HEARTBEAT_TIMEOUT", "0.05")
    run = new_run(store)
    time.sleep(0.15)

    got = store.get_run(run.id)

    assert got.status == "failed"
    assert "heartbeat" in got.status_reason.lower()


def test_search_reads_stale_running_runs_as_failed(store, monkeypatch):
    monkeypatch.setenv("HERON_HEARTBEAT_TIMEOUT", "0.05")
    run = new_run(store)
    time.sleep(0.15)

    (found,) = store.search_runs()

    assert found.id == run.id and found.status == "failed"


def test_a_failed_stale_run_may_be_resumed(store):
    run = new_run(store)
    now = now_ms()
    store.heartbeat([run.id], now=now - 60_000)
    store.fail_stale_runs(30_000, now=now)

    resumed = store.update_run(run.id, status="running")

    assert resumed.status == "running" and resumed.end_time is None
    assert store.fail_stale_runs(30_000) == 0


# --- artifacts and lineage -------------------------------------------------------------------


def artifact(store, name: str = "data", **kwargs):
    fields = {
        "content_hash": "ab" * 32,
        "type": "builtins.list",
        "materializer": "json",
        "size": 10,
        "uri": f"file:///artifacts/{name}",
    }
    fields.update(kwargs)
    return store.create_artifact_version(name, **fields)


def test_artifact_versions_count_up_per_name(store):
    assert [artifact(store, "data").version for _ in range(3)] == [1, 2, 3]
    assert artifact(store, "model").version == 1
    assert artifact(store, "data").version == 4


def test_artifact_version_reads_back_with_every_field(store):
    run = new_run(store)
    made = artifact(
        store,
        "model",
        content_hash="cd" * 32,
        type="sklearn.linear_model.LogisticRegression",
        materializer="joblib",
        materializer_version="2",
        size=12345,
        uri="file:///art/model",
        producer_run_id=run.id,
        metadata={"shape": [3, 4], "dtype": "float32", "rows": 3, "nested": {"a": None}},
    )

    got = store.get_artifact_version(made.id)
    assert got == made
    assert (got.name, got.version, got.content_hash, got.size) == ("model", 1, "cd" * 32, 12345)
    assert (got.type, got.materializer, got.materializer_version) == (
        "sklearn.linear_model.LogisticRegression",
        "joblib",
        "2",
    )
    assert got.producer_run_id == run.id and got.uri == "file:///art/model"
    assert got.created_at > 0 and got.lifecycle == "active"


def test_artifact_metadata_json_round_trips(store):
    metadata = {
        "str": "ünï ✓ 'q' \"dq\" \\",
        "int": 2**53,
        "neg": -7,
        "float": 0.1,
        "bool": True,
        "none": None,
        "list": [1, "two", [3.5], {"four": 4}],
        "dict": {"a": {"b": {"c": []}}},
        "empty": {},
    }

    made = artifact(store, metadata=metadata)

    assert store.get_artifact_version(made.id).metadata == metadata
    assert store.get_artifact_version_by_name("data").metadata == metadata


def test_unserializable_artifact_metadata_is_refused(store):
    with pytest.raises(InvalidArgument):
        artifact(store, metadata={"f": object()})
    with pytest.raises(NotFound):
        store.get_artifact_version_by_name("data")


def test_artifact_producer_must_exist(store):
    with pytest.raises(NotFound):
        artifact(store, producer_run_id="0" * 32)
    assert artifact(store).version == 1  # the refused one used no version number


def test_artifact_producer_is_linked_as_output(store):
    run = new_run(store)

    default_name = artifact(store, "total.output", producer_run_id=run.id)
    named = artifact(store, "model", producer_run_id=run.id, link_name="output")

    links = store.list_artifact_links(run_id=run.id)
    assert [(link.direction, link.name, link.artifact_id) for link in links] == [
        ("output", "output", named.id),
        ("output", "total.output", default_name.id),
    ]
    assert all(link.run_id == run.id for link in links)


def test_get_artifact_version_by_name_latest_or_given_version(store):
    v1, v2, v3 = (artifact(store, "data", size=i) for i in range(3))

    assert store.get_artifact_version_by_name("data").id == v3.id
    assert store.get_artifact_version_by_name("data", version=1).id == v1.id
    assert store.get_artifact_version_by_name("data", 2).id == v2.id


def test_unknown_artifacts_are_not_found(store):
    artifact(store, "data")

    with pytest.raises(NotFound):
        store.get_artifact_version("0" * 32)
    with pytest.raises(NotFound):
        store.get_artifact_version_by_name("nope")
    with pytest.raises(NotFound):
        store.get_artifact_version_by_name("data", version=2)


def test_list_artifact_versions_by_name_newest_first(store):
    made = [artifact(store, "data") for _ in range(3)]
    artifact(store, "other")

    listed = store.list_artifact_versions(name="data")

    assert [a.version for a in listed] == [3, 2, 1]
    assert ids(listed) == ids(reversed(made))
    assert [a.version for a in store.list_artifact_versions(name="data", max_results=2)] == [3, 2]
    assert store.list_artifact_versions(name="missing") == []


def test_list_artifact_versions_of_a_run_has_its_inputs_and_outputs(store):
    producer = new_run(store, name="producer")
    consumer = new_run(store, name="consumer")
    data = artifact(store, "data", producer_run_id=producer.id)
    model = artifact(store, "model", producer_run_id=consumer.id)
    artifact(store, "unrelated")
    store.link_artifact(consumer.id, data.id, "input", "xs")

    assert ids(store.list_artifact_versions(run_id=producer.id)) == [data.id]
    assert set(ids(store.list_artifact_versions(run_id=consumer.id))) == {data.id, model.id}
    assert len(store.list_artifact_versions()) == 3


def test_list_artifact_links_of_a_run_and_of_an_artifact(store):
    producer = new_run(store, name="producer")
    consumer = new_run(store, name="consumer")
    data = artifact(store, "data", producer_run_id=producer.id, link_name="output")
    model = artifact(store, "model", producer_run_id=consumer.id, link_name="model")
    store.link_artifact(consumer.id, data.id, "input", "xs")

    links = store.list_artifact_links(run_id=consumer.id)
    assert [(x.direction, x.name, x.artifact_id) for x in links] == [
        ("input", "xs", data.id),
        ("output", "model", model.id),
    ]
    of_data = store.list_artifact_links(artifact_id=data.id)
    assert {(x.run_id, x.direction, x.name) for x in of_data} == {
        (producer.id, "output", "output"),
        (consumer.id, "input", "xs"),
    }
    assert store.list_artifact_links(run_id=producer.id, artifact_id=model.id) == []
    assert store.list_artifact_links(run_id="0" * 32) == []


def test_relinking_a_name_points_it_at_the_new_artifact(store):
    run = new_run(store)
    first, second = artifact(store, "data"), artifact(store, "data")

    store.link_artifact(run.id, first.id, "input", "xs")
    store.link_artifact(run.id, second.id, "input", "xs")

    links = store.list_artifact_links(run_id=run.id)
    assert [(x.name, x.artifact_id) for x in links] == [("xs", second.id)]


def test_link_artifact_validates_its_arguments(store):
    run = new_run(store)
    data = artifact(store)

    with pytest.raises(InvalidArgument):
        store.link_artifact(run.id, data.id, "sideways", "xs")
    with pytest.raises(InvalidArgument):
        store.link_artifact(run.id, data.id, "input", "")
    with pytest.raises(NotFound):
        store.link_artifact("0" * 32, data.id, "input", "xs")
    with pytest.raises(NotFound):
        store.link_artifact(run.id, "0" * 32, "input", "xs")
    assert store.list_artifact_links(run_id=run.id) == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("type", "pkg." * 80 + "Type"),
        ("materializer", "m" * 200),
        ("materializer_version", "1." * 20),
        ("content_hash", "f" * 100),
        ("uri", "file:///" + "d/" * 3000),
    ],
)
def test_long_artifact_fields_are_stored_or_refused_cleanly(store, field, value):
    try:
        made = artifact(store, **{field: value})
    except InvalidArgument:
        return
    assert getattr(store.get_artifact_version(made.id), field) == value


@pytest.mark.parametrize("size", [-1, 2**63])
def test_impossible_artifact_size_is_refused(store, size):
    with pytest.raises(InvalidArgument):
        artifact(store, size=size)


def test_concurrent_artifact_versions_of_one_name_get_distinct_numbers(store):
    made = []

    def create(i: int) -> None:
        for _ in range(5):
            made.append(artifact(store, "shared", size=i).version)

    errors = run_threads(8, create)

    assert errors == []
    assert sorted(made) == list(range(1, 41))


def test_errors_raised_by_the_store_are_heron_errors(store):
    """The server maps HeronError to 4xx: a plain exception here would be a 500."""
    for call in (
        lambda: store.get_run("0" * 32),
        lambda: store.create_run("0" * 32),
        lambda: store.get_experiment("0" * 32),
        lambda: store.search_runs(filter_string="metrics.m >"),
    ):
        with pytest.raises(HeronError):
            call()


# --- stacks --------------------------------------------------------------------------------


def test_stacks_are_created_changed_listed_and_deleted(store):
    options = {"address": "tcp://sched:8786", "n_workers": 2}
    created = store.create_stack(
        "cluster",
        {
            "tracking_uri": "http://heron:5151",
            "orchestrator": "dask",
            "orchestrator_options": options,
        },
    )
    assert created.name == "cluster" and created.orchestrator_options == options
    assert created.artifact_uri is None and created.parallelism is None
    assert created.created_at == created.updated_at > 0
    with pytest.raises(AlreadyExists, match="heron stack update cluster"):
        store.create_stack("cluster", {})
    changed = store.update_stack("cluster", {"parallelism": 4, "artifact_uri": "s3://b/heron"})
    assert (changed.parallelism, changed.artifact_uri) == (4, "s3://b/heron")
    assert changed.orchestrator == "dask" and changed.orchestrator_options == options
    assert changed.created_at == created.created_at
    store.create_stack("a-local", {})
    assert [s.name for s in store.list_stacks()] == ["a-local", "cluster"]
    assert store.get_stack("a-local").orchestrator == "local"
    store.delete_stack("cluster")
    with pytest.raises(NotFound, match="heron stack list"):
        store.get_stack("cluster")
    with pytest.raises(NotFound):
        store.delete_stack("cluster")
    with pytest.raises(NotFound):
        store.update_stack("cluster", {"parallelism": 2})


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("bad name", {}, "Invalid stack name"),
        ("x", {"orchestrator": "kubernetes"}, "Unknown orchestrator"),
        ("x", {"parallelism": 0}, "parallelism"),
        ("x", {"orchestrator_options": ["address"]}, "mapping"),
        ("x", {"colour": "blue"}, "no field"),
        ("x", {"tracking_uri": "ftp://nowhere"}, "tracking URI"),
    ],
)
def test_bad_stacks_are_refused_and_store_nothing(store, name, values, message):
    with pytest.raises(HeronError, match=message) as caught:
        store.create_stack(name, values)
    assert caught.value.code in ("INVALID_ARGUMENT", "CONFIG_ERROR")
    assert store.list_stacks() == []
