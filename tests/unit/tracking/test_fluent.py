"""The module-level tracking API, as a user of MLflow would use it."""

from __future__ import annotations

import math
import threading

import pytest

import heron
from heron.core.errors import Conflict, InvalidArgument, InvalidState, NotFound


def test_run_records_params_metrics_tags_and_facts():
    heron.set_experiment("iris")
    with heron.start_run(name="baseline", tags={"team": "a"}) as run:
        heron.log_params({"lr": 0.1, "depth": 3})
        heron.log_metric("loss", 0.42, step=1)
        heron.log_metrics({"acc": 0.9, "f1": 0.88}, step=1)
        heron.set_tag("stage", "dev")
    got = heron.Client().get_run(run.id)
    assert got.name == "baseline"
    assert got.status == "completed"
    assert got.kind == "run"
    assert got.params == {"lr": "0.1", "depth": "3"}
    assert got.metrics == {"loss": 0.42, "acc": 0.9, "f1": 0.88}
    assert got.tags == {"team": "a", "stage": "dev"}
    assert got.end_time is not None and got.end_time >= got.start_time
    assert got.user and got.python_version
    assert got.source
    assert heron.Client().get_experiment(got.experiment_id).name == "iris"


def test_every_point_of_a_logging_loop_is_kept():
    with heron.start_run() as run:
        for i in range(10_000):
            heron.log_metric("loss", 1 / (i + 1), step=i)
    history = heron.Client().get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(10_000))
    assert history[-1].value == pytest.approx(1 / 10_000)
    assert heron.Client().get_run(run.id).metrics["loss"] == pytest.approx(1 / 10_000)


def test_reads_see_points_still_in_the_buffer():
    with heron.start_run() as run:
        heron.log_metric("x", 1.0)
        # no end_run yet, no wait: the Client flushes this process's buffer before reading
        assert heron.Client().get_run(run.id).metrics == {"x": 1.0}


def test_exception_in_block_marks_run_failed_with_the_error():
    with pytest.raises(ZeroDivisionError), heron.start_run() as run:
        heron.log_metric("before", 1.0)
        1 / 0  # noqa: B018
    got = heron.Client().get_run(run.id)
    assert got.status == "failed"
    assert got.status_reason.startswith("ZeroDivisionError: division by zero")
    assert "Traceback" in got.status_reason
    assert got.metrics == {"before": 1.0}


def test_keyboard_interrupt_marks_run_cancelled():
    with pytest.raises(KeyboardInterrupt), heron.start_run() as run:
        raise KeyboardInterrupt
    assert heron.Client().get_run(run.id).status == "cancelled"


def test_param_is_write_once():
    with heron.start_run() as run:
        heron.log_param("lr", 0.1)
        heron.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(Conflict, match="written once"):
            heron.log_param("lr", 0.2)
    assert heron.Client().get_run(run.id).params == {"lr": "0.1"}


def test_param_conflict_is_detected_for_resumed_runs():
    with heron.start_run() as run:
        heron.log_param("lr", 0.1)
    with heron.start_run(run_id=run.id), pytest.raises(Conflict):
        heron.log_param("lr", 0.3)


def test_nan_and_infinities_are_stored_faithfully():
    with heron.start_run() as run:
        heron.log_metric("nan", math.nan)
        heron.log_metric("inf", math.inf)
        heron.log_metric("ninf", -math.inf)
    metrics = heron.Client().get_run(run.id).metrics
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf
    assert metrics["ninf"] == -math.inf
    assert math.isnan(heron.Client().get_metric_history(run.id, "nan")[0].value)


def test_nested_runs_need_nested_true():
    with heron.start_run(name="parent") as parent:
        with pytest.raises(InvalidState, match="nested=True"):
            heron.start_run()
        with heron.start_run(name="child", nested=True) as child:
            assert heron.active_run().id == child.id
            heron.log_metric("m", 1)
        assert heron.active_run().id == parent.id
    got = heron.Client().get_run(child.id)
    assert got.parent_id == parent.id
    assert got.metrics == {"m": 1.0}


def test_resume_by_run_id_reopens_and_appends():
    with heron.start_run() as run:
        heron.log_metric("loss", 1.0, step=0)
    assert heron.Client().get_run(run.id).status == "completed"
    with heron.start_run(run_id=run.id) as again:
        assert heron.Client().get_run(again.id).status == "running"
        heron.log_metric("loss", 0.5, step=1)
    got = heron.Client().get_run(run.id)
    assert got.status == "completed"
    assert [m.value for m in heron.Client().get_metric_history(run.id, "loss")] == [1.0, 0.5]


def test_resume_unknown_run_is_not_found():
    with pytest.raises(NotFound):
        heron.start_run(run_id="0" * 32)


def test_logging_without_a_run_starts_one():
    heron.log_metric("auto", 1.0)
    run = heron.active_run()
    assert run is not None
    heron.end_run()
    assert heron.active_run() is None
    assert heron.Client().get_run(run.id).metrics == {"auto": 1.0}


def test_runs_go_to_default_experiment_unless_told():
    with heron.start_run() as run:
        pass
    assert heron.Client().get_experiment(run.experiment_id).name == "Default"
    with heron.start_run(experiment="other") as run2:
        pass
    assert heron.Client().get_experiment(run2.experiment_id).name == "other"


def test_set_experiment_refuses_a_deleted_experiment():
    heron.set_experiment("gone")
    heron.Client().delete_experiment("gone")
    with pytest.raises(InvalidState, match="restore"):
        heron.set_experiment("gone")


def test_bad_values_are_clear_errors():
    with heron.start_run():
        with pytest.raises(InvalidArgument, match="must be a number"):
            heron.log_metric("x", "abc")
        with pytest.raises(InvalidArgument, match="step must be an integer"):
            heron.log_metric("x", 1.0, step=1.5)
        with pytest.raises(InvalidArgument, match="non-empty"):
            heron.log_metric("", 1.0)
        with pytest.raises(InvalidArgument, match="limit is 6000"):
            heron.log_param("long", "x" * 7000)


def test_numpy_like_scalars_are_accepted():
    class Scalar:
        def __float__(self):
            return 2.5

    with heron.start_run() as run:
        heron.log_metric("s", Scalar())
    assert heron.Client().get_run(run.id).metrics == {"s": 2.5}


def test_active_run_stack_is_per_thread():
    # A thread sees the main thread's run (issue 8 item 13); runs it starts stay its own.
    seen = {}
    with heron.start_run() as run:

        def worker():
            seen["inherited"] = heron.active_run()
            with heron.start_run():
                seen["own"] = heron.active_run()
            seen["after"] = heron.active_run()

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert heron.active_run().id == run.id
    assert seen["inherited"].id == run.id
    assert seen["own"].id != run.id
    assert seen["after"].id == run.id


def test_end_run_with_status():
    run = heron.start_run()
    heron.end_run("failed")
    assert heron.Client().get_run(run.id).status == "failed"
    with pytest.raises(InvalidArgument):
        heron.start_run()
        heron.end_run("finished-ish")


def test_active_run_info_reads_current_state():
    with heron.start_run() as run:
        heron.log_param("p", 1)
        assert run.info.params == {"p": "1"}
        assert run.info.status == "running"


def test_delete_tag():
    with heron.start_run() as run:
        heron.set_tags({"a": 1, "b": 2})
        heron.delete_tag("a")
    assert heron.Client().get_run(run.id).tags == {"b": "2"}


def test_client_sets_and_deletes_experiment_tags_by_name():
    client = heron.Client()
    client.create_experiment("tagged")
    client.set_experiment_tag("tagged", "epochs", 10)
    assert client.get_experiment("tagged").tags == {"epochs": "10"}
    client.delete_experiment_tag("tagged", "epochs")
    assert client.get_experiment("tagged").tags == {}
