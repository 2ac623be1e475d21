"""The micro-batcher: concurrent requests share predict calls, each gets its own answer, and a
bad request never fails the others."""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
import pytest

from heron.models.signature import Signature, TensorSpec
from heron.serving.app import create_app
from heron.serving.batching import MicroBatcher
from heron.serving.settings import ServeSettings
from tests.unit.serving.conftest import memory_model

#: a generous bound for liveness checks only (a batcher that waits wrongly would hang)
LIVENESS_S = 60


class Recorder:
    """A row-wise model (ten times the first value of each row) recording its calls."""

    def __init__(self, fail_on_negative: bool = False) -> None:
        self.sizes: list[int] = []
        self.threads: list[str] = []
        self.fail_on_negative = fail_on_negative

    def predict(self, X, scale: float = 10.0):
        X = np.asarray(X, dtype=float)
        self.sizes.append(len(X))
        self.threads.append(threading.current_thread().name)
        if self.fail_on_negative and (X < 0).any():
            raise ValueError("negative values are not allowed")
        return X[:, 0] * scale

    def __call__(self, prepared, params=None):
        return self.predict(prepared, **(params or {}))


def rows(*values: float) -> list[np.ndarray]:
    return [np.array([[v, 0.0]]) for v in values]


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, LIVENESS_S))


async def together(batcher: MicroBatcher, inputs: list, params=None) -> list:
    return await asyncio.gather(
        *(batcher.predict(x, params) for x in inputs), return_exceptions=True
    )


def test_concurrent_requests_share_predict_calls_and_get_their_own_answers():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=64)
    answers = run(together(batcher, rows(*range(20))))
    assert [a.tolist() for a in answers] == [[10.0 * i] for i in range(20)]
    assert model.sizes == [20]  # all arrived together: one call
    assert batcher.batched_requests == 20


def test_batches_hold_at_most_max_rows():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=8)
    answers = run(together(batcher, rows(*range(20))))
    assert [a.tolist() for a in answers] == [[10.0 * i] for i in range(20)]
    assert model.sizes == [8, 8, 4]


def test_a_lone_request_does_not_wait_for_the_timeout():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=64, timeout_s=3600)
    assert run(batcher.predict(np.array([[2.0, 0.0]]))).tolist() == [20.0]
    assert model.sizes == [1]


def test_under_load_a_batch_waits_to_fill_until_full():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=4, timeout_s=3600)

    async def scenario():
        await together(batcher, rows(1, 2, 3, 4))  # requests arrive together: load
        # The next request waits for its batch to fill; three more fill it: no timer needed.
        first = asyncio.ensure_future(batcher.predict(rows(5)[0]))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not first.done()  # waiting for company
        rest = await together(batcher, rows(6, 7, 8))
        return [await first, *rest]

    answers = run(scenario())
    assert [a.tolist() for a in answers] == [[50.0], [60.0], [70.0], [80.0]]
    assert model.sizes == [4, 4]


def test_the_batch_timeout_bounds_the_wait():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=64, timeout_s=0.001)

    async def scenario():
        await together(batcher, rows(1, 2))
        return await together(batcher, rows(3, 4, 5))

    answers = run(scenario())
    assert [a.tolist() for a in answers] == [[30.0], [40.0], [50.0]]
    assert model.sizes == [2, 3]


def test_a_bad_request_fails_alone():
    model = Recorder(fail_on_negative=True)
    batcher = MicroBatcher(model, max_rows=64)
    answers = run(together(batcher, rows(1, -2, 3)))
    assert answers[0].tolist() == [10.0] and answers[2].tolist() == [30.0]
    assert isinstance(answers[1], ValueError) and "negative" in str(answers[1])
    assert model.sizes == [3, 1, 1, 1]  # the batch failed: each member alone


def test_a_model_that_is_not_row_wise_is_predicted_request_by_request():
    sizes = []

    def total(prepared, params=None):
        sizes.append(len(prepared))
        return float(np.asarray(prepared).sum())  # one number for the whole call

    batcher = MicroBatcher(total, max_rows=64)
    answers = run(together(batcher, rows(1, 2, 3)))
    assert answers == [1.0, 2.0, 3.0]
    assert not batcher.enabled
    run(together(batcher, rows(4, 5)))
    assert sizes == [3, 1, 1, 1, 1, 1]  # batching stays off


def test_inputs_that_do_not_concatenate_are_not_batched_together():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=64)
    wide = np.array([[7.0, 0.0, 0.0]])
    ints = np.array([[9, 0]])
    answers = run(together(batcher, [*rows(1, 2), wide, ints, *rows(3)]))
    assert [a.tolist() for a in answers] == [[10.0], [20.0], [70.0], [90.0], [30.0]]
    assert model.sizes == [3, 1, 1]  # the float rows of width 2 together, in arrival order


def test_requests_with_params_are_predicted_alone():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=64)
    answers = run(together(batcher, rows(1, 2), params={"scale": 2.0}))
    assert [a.tolist() for a in answers] == [[2.0], [4.0]]
    assert model.sizes == [1, 1]


def test_large_batches_are_predicted_in_a_worker_thread():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=1000, thread_rows=50)

    async def scenario():
        big = asyncio.ensure_future(batcher.predict(np.ones((60, 2))))
        await asyncio.sleep(0)  # the big batch goes to the thread
        small = await together(batcher, rows(1, 2))  # queued meanwhile, then batched
        return [await big, *small]

    answers = run(scenario())
    assert answers[0].tolist() == [10.0] * 60
    assert [a.tolist() for a in answers[1:]] == [[10.0], [20.0]]
    assert model.sizes == [60, 2]
    assert model.threads[0].startswith("heron-predict")
    assert model.threads[1] == threading.main_thread().name
    batcher.close()


def test_data_frames_are_batched_by_columns():
    pd = pytest.importorskip("pandas")
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=64)
    frames = [pd.DataFrame({"a": [float(i)], "b": [0.0]}) for i in range(3)]
    other = pd.DataFrame({"c": [5.0], "d": [0.0]})
    answers = run(together(batcher, [*frames, other]))
    assert [a.tolist() for a in answers] == [[0.0], [10.0], [20.0], [50.0]]
    assert model.sizes == [3, 1]


def test_batching_off_predicts_each_request_alone():
    model = Recorder()
    batcher = MicroBatcher(model, max_rows=1)
    assert not batcher.enabled
    run(together(batcher, rows(1, 2, 3)))
    assert model.sizes == [1, 1, 1]


# --- through the app: concurrent HTTP requests -----------------------------------------------
def test_concurrent_http_requests_are_grouped_into_fewer_predict_calls():
    recorder = Recorder()
    model = memory_model(recorder, Signature(TensorSpec("float64", (-1, 2))), flavor="predict")
    settings = ServeSettings(model_uri="memory://model", batching="on")
    app = create_app(model, settings)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(
                *(client.post("/invocations", json={"inputs": [[i, 1]]}) for i in range(32))
            )
            meta = (await client.get("/metadata")).json()
        return responses, meta

    responses, meta = run(scenario())
    assert [r.json()["predictions"] for r in responses] == [[10.0 * i] for i in range(32)]
    assert sum(recorder.sizes) == 32 and len(recorder.sizes) < 32
    assert meta["server"]["predict_calls"] == len(recorder.sizes)
    assert meta["server"]["batched_requests"] > 0


def test_auto_batching_is_off_for_user_code():
    recorder = Recorder()
    model = memory_model(recorder, Signature(TensorSpec("float64", (-1, 2))), flavor="predict")
    app = create_app(model, ServeSettings(model_uri="memory://model"))
    assert not app.service.batcher.enabled
    assert ServeSettings(model_uri="m").batching_for("sklearn")
    assert not ServeSettings(model_uri="m", batch_max_size=1).batching_for("sklearn")
    assert not ServeSettings(model_uri="m", batching="off").batching_for("sklearn")
