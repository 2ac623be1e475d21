"""The log buffer keeps what a server outage refuses, spills it past a limit, and
`heron.store.pending` sends it later, each batch once."""

from __future__ import annotations

import math

import pytest

from heron.core.errors import Conflict, StoreUnavailable
from heron.store import pending
from heron.store.log_buffer import LogBuffer

URI = "http://fake.test:5151"


class FakeStore:
    """Applies each request id at most once; refuses everything while ``down``."""

    uri = URI

    def __init__(self) -> None:
        self.down = False
        self.applied: list[str] = []
        self.points: dict[str, list[tuple]] = {}
        self.status: dict[str, str] = {}
        self.refuse: set[str] = set()

    def log_batch(
        self,
        run_id,
        metrics=(),
        params=None,
        tags=None,
        *,
        status=None,
        status_reason=None,
        links=(),
        request_id=None,
    ):
        if self.down:
            raise StoreUnavailable(f"The Heron server at {URI} cannot be reached.")
        if run_id in self.refuse:
            raise Conflict(f"run {run_id} refuses")
        assert request_id
        if request_id in self.applied:
            return
        self.applied.append(request_id)
        self.points.setdefault(run_id, []).extend(tuple(m) for m in metrics)
        if status is not None:
            self.status[run_id] = status

    def update_run(self, run_id, status=None, status_reason=None):
        self.status[run_id] = status

    def heartbeat(self, run_ids):
        if self.down:
            raise StoreUnavailable("down")


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HERON_OUTAGE_WAIT", "0.3")
    monkeypatch.setenv("HERON_FLUSH_INTERVAL", "100")  # no background flushes mid-test


def _log(buf, run_id, start, stop):
    for step in range(start, stop):
        buf.add_metric(run_id, "loss", float(step), step, step)


def test_points_are_kept_during_an_outage_and_resent_in_order_once():
    store = FakeStore()
    buf = LogBuffer(store)
    _log(buf, "r1", 0, 10)
    store.down = True
    buf.flush()
    _log(buf, "r1", 10, 20)
    buf.flush()  # the outage is known: queued, no network
    assert buf.pending_points() == 20
    store.down = False
    buf._next_retry = 0
    buf._flush({}, raise_errors=True, retry=True)
    assert [p[2] for p in store.points["r1"]] == list(range(20))
    assert buf.pending_points() == 0
    assert len(store.applied) == len(set(store.applied))


def test_a_batch_is_resent_with_its_request_id():
    store = FakeStore()
    calls = []
    real = store.log_batch

    def flaky(run_id, metrics=(), *a, request_id=None, **k):
        calls.append(request_id)
        if len(calls) == 1:
            real(run_id, metrics, *a, request_id=request_id, **k)
            raise StoreUnavailable("answer lost")
        return real(run_id, metrics, *a, request_id=request_id, **k)

    store.log_batch = flaky
    buf = LogBuffer(store)
    _log(buf, "r1", 0, 5)
    buf.flush()
    buf._next_retry = 0
    buf._flush({}, raise_errors=True, retry=True)
    assert calls[0] == calls[1]
    assert [p[2] for p in store.points["r1"]] == list(range(5))


def test_past_the_limit_the_oldest_batches_go_to_disk(monkeypatch):
    monkeypatch.setenv("HERON_PENDING_LIMIT", "100")
    store = FakeStore()
    store.down = True
    buf = LogBuffer(store)
    for i in range(10):
        _log(buf, "r1", i * 50, (i + 1) * 50)
        buf.flush()
    assert buf._queued_points <= 100
    files = pending.batch_files(URI)
    assert files
    assert buf.pending_points() == 500
    store.down = False
    buf._next_retry = 0
    buf._flush({}, raise_errors=True, retry=True)
    assert [p[2] for p in store.points["r1"]] == list(range(500))
    assert pending.batch_files(URI) == []


def test_finish_during_an_outage_waits_then_spills_and_warns():
    store = FakeStore()
    buf = LogBuffer(store)
    _log(buf, "r1", 0, 7)
    store.down = True
    with pytest.warns(pending.PendingDataWarning) as record:
        buf.finish("r1", "completed")
    message = str(record[0].message)
    folder = pending.folder_for(URI)
    assert "7 points" in message and str(folder) in message and "heron sync" in message
    assert "completed" in message
    assert len(pending.batch_files(URI)) >= 1
    store.down = False
    report = pending.sync(store, URI)
    assert report.sent_points == 7 and report.unavailable is None
    assert store.status["r1"] == "completed"
    assert pending.batch_files(URI) == []
    assert pending.sync(store, URI).sent_batches == 0


def test_the_server_back_before_the_end_spills_nothing(monkeypatch):
    monkeypatch.setenv("HERON_OUTAGE_WAIT", "5")
    store = FakeStore()
    buf = LogBuffer(store)
    _log(buf, "r1", 0, 3)
    store.down = True
    buf.flush()
    real_drain = buf._drain
    tries = []

    def drain():
        tries.append(1)
        if len(tries) > 1:
            store.down = False
        real_drain()

    buf._drain = drain
    buf.finish("r1", "completed")
    assert store.status["r1"] == "completed"
    assert [p[2] for p in store.points["r1"]] == [0, 1, 2]
    assert pending.batch_files(URI) == []


def test_sync_stops_at_an_outage_and_moves_refused_and_corrupt_batches_aside():
    store = FakeStore()
    pending.write_batch(URI, "bad", "q1", [("x", 1.0, 0, 0)], status="completed")
    pending.write_batch(URI, "good", "q2", [("x", 1.0, 0, 0)])
    (pending.folder_for(URI) / "00000000000000000001-broken.json").write_text("{not json")
    store.refuse.add("bad")
    store.down = True
    first = pending.sync(store, URI)
    assert first.unavailable and first.remaining_points >= 1
    assert len(first.rejected) == 1  # the corrupt file, read before the outage was met
    store.down = False
    report = pending.sync(store, URI)
    assert report.sent_points == 1
    assert len(report.rejected) == 1
    rejected = pending.folder_for(URI) / pending.REJECTED
    assert len(list(rejected.glob("*.json"))) == 2
    assert any("Conflict" in p.read_text() for p in rejected.glob("*.error.txt"))
    assert store.status["bad"] == "completed"  # the run still ends
    assert pending.batch_files(URI) == []


def test_non_finite_values_survive_the_disk():
    pending.write_batch(
        URI, "r", "q", [("a", math.nan, 0, 0), ("b", math.inf, 1, 0), ("c", -math.inf, 2, 0)]
    )
    (batch,), _ = pending.list_batches(URI)
    values = [m[1] for m in batch.metrics]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


def test_other_errors_still_raise_at_the_end():
    store = FakeStore()
    store.refuse.add("r1")
    buf = LogBuffer(store)
    _log(buf, "r1", 0, 3)
    with pytest.raises(Conflict):
        buf.finish("r1", "completed")
    assert store.status["r1"] == "completed"
