"""A store, a controllable clock and a launcher that starts no process: the scheduler's
decisions are tested against the database alone, time moved by hand."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import heron
from heron.core import config
from heron.core import status as run_status
from heron.store import registry
from heron.store.sql.store import SqlStore
from tests.support.stores import sqlite_uri

PIPELINES = """
import heron
from heron import pipeline, step


@step
def make(n: int) -> list:
    return list(range(n))


@step
def total(xs: list, day: str) -> str:
    return f"{day}:{sum(xs)}"


@pipeline
def daily(n: int = 10, day: str = heron.logical_date()):
    total(make(n), day)


@pipeline
def broken(n: int = 1):
    make(n)
"""


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self, moment: datetime) -> None:
        self.t = moment.timestamp()

    def __call__(self) -> float:
        return self.t

    def at(self, moment: datetime) -> None:
        self.t = moment.timestamp()

    def advance(self, seconds: float) -> None:
        self.t += seconds

    @property
    def ms(self) -> int:
        return int(self.t * 1000)


class FakeLaunched:
    """A "child" that creates its run in the store at once and ends when told to."""

    def __init__(self, store: SqlStore, spec: dict, env: dict, start: bool) -> None:
        self.store, self.spec, self.env = store, spec, env
        self.run_id = spec["run_id"]
        self.code: int | None = None
        self.terminated = False
        if start:
            experiment = store.get_experiment_by_name("Default")
            store.create_run(experiment.id, run_id=self.run_id, tags=spec["tags"])

    def poll(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.terminated = True
        self.end(run_status.CANCELLED)

    def log_tail(self) -> str:
        return "boom" if self.code else ""

    def end(self, status: str = run_status.COMPLETED) -> None:
        self.store.update_run(self.run_id, status=status, end_time=1)
        self.code = 0 if status == run_status.COMPLETED else 1


class FakeLauncher:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.launched: list[FakeLaunched] = []
        self.start_runs = True
        self.fail_with: Exception | None = None

    def launch(self, spec: dict, env: dict) -> FakeLaunched:
        if self.fail_with is not None:
            raise self.fail_with
        child = FakeLaunched(self.store, spec, env, self.start_runs)
        self.launched.append(child)
        return child

    def end_all(self, status: str = run_status.COMPLETED) -> None:
        for child in self.launched:
            if child.code is None:
                child.end(status)


@pytest.fixture
def pipelines_file(tmp_path) -> Path:
    path = tmp_path / "flows.py"
    path.write_text(PIPELINES)
    return path


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    uri = sqlite_uri(tmp_path / "heron.db")
    heron.set_tracking_uri(uri)
    store = registry.get_store(uri)
    if store.get_experiment_by_name("Default") is None:
        store.create_experiment("Default")
    yield store
    config.set_tracking_uri(None)
    registry.forget_stores()


@pytest.fixture
def clock(monkeypatch):
    """Starts 2026-06-01 00:00 UTC; schedules are created "now" on this clock."""
    clock = Clock(datetime(2026, 6, 1, tzinfo=ZoneInfo("UTC")))
    monkeypatch.setattr("heron.scheduling.definitions.now_ms", lambda: clock.ms)
    monkeypatch.setattr("heron.store.sql.schedules.now_ms", lambda: clock.ms)
    return clock


@pytest.fixture
def launcher(store) -> FakeLauncher:
    return FakeLauncher(store)
