"""Issue 8, items 9, 10, 23 and 24 on the scoring server: large bodies read off the event
loop, one input rule for every model, MLflow's client conventions (params, error fields,
/ping, /version), DataFrame-fitted models served on arrays."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import numpy as np

from heron._version import __version__
from tests.unit.serving.conftest import app_for, log, same

ROW = [5.1, 3.5, 1.4, 0.2]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


# --- item 23: MLflow's clients ------------------------------------------------------------
def test_params_the_model_does_not_take_are_ignored_with_a_warning(serve, iris, fitted, caplog):
    X, _, _, _ = iris
    client = serve(fitted[0], X[:2])
    with caplog.at_level(logging.WARNING, logger="heron.serving"):
        got = client.post("/invocations", json={"inputs": [ROW], "params": {"temperature": 1}})
    assert got.status_code == 200, got.text
    assert got.json()["predictions"] == fitted[0].predict([ROW]).tolist()
    assert (
        got.headers["warning"].startswith("299 heron ") and "temperature" in got.headers["warning"]
    )
    assert any("temperature" in r.getMessage() for r in caplog.records)
    plain = client.post("/invocations", json={"inputs": [ROW]})
    assert "warning" not in plain.headers


def test_params_the_model_takes_still_reach_it(serve):
    class Scaled:
        def predict(self, X, scale=1.0):
            return np.asarray(X).sum(axis=1) * scale

    client = serve(Scaled(), np.ones((2, 3)))
    got = client.post(
        "/invocations", json={"inputs": [[1, 2, 3]], "params": {"scale": 10, "nope": 1}}
    )
    assert got.json()["predictions"] == [60.0]
    assert "nope" in got.headers["warning"] and "scale" in got.headers["warning"]


def test_strict_params_refuses_them(serve, iris, fitted):
    X, _, _, _ = iris
    client = serve(fitted[0], X[:2], strict_params=True)
    body = error_of(
        client.post("/invocations", json={"inputs": [ROW], "params": {"temperature": 1}}), 400
    )
    assert "temperature" in body["message"]


def test_a_column_named_twice_in_dataframe_split_is_a_400(serve, iris, fitted):
    _, _, frame, _ = iris
    columns = list(frame.columns)
    for client in (serve(fitted[1], frame.head(2)), serve(fitted[0], frame.to_numpy()[:2])):
        split = {"columns": [*columns[:3], columns[0]], "data": [ROW]}
        body = error_of(client.post("/invocations", json={"dataframe_split": split}), 400)
        assert columns[0] in body["message"] and "more than once" in body["message"]


def test_error_bodies_carry_mlflows_fields_beside_herons(serve, iris, fitted):
    X, _, _, _ = iris
    client = serve(fitted[0], X[:2])
    body = error_of(client.post("/invocations", content=b"{nope"), 400)
    assert body["error_code"] == "BAD_REQUEST"
    assert body["message"] == body["error"]["message"] and body["error"]["code"]
    assert error_of(client.get("/nowhere"), 404)["error_code"] == "ENDPOINT_NOT_FOUND"


def test_ping_and_version_answer_as_mlflows(serve, iris, fitted):
    X, _, _, _ = iris
    client = serve(fitted[0], X[:2])
    ping = client.get("/ping")
    assert (ping.status_code, ping.content) == (200, b"\n")
    version = client.get("/version")
    assert (version.status_code, version.text) == (200, __version__)
    assert client.get("/health").json() == {"status": "ok"}


# --- item 10: one rule for every model ----------------------------------------------------
def test_text_for_numeric_features_is_a_400_naming_the_column(serve, iris, fitted):
    X, _, frame, _ = iris
    clients = (serve(fitted[0], X[:2]), serve(fitted[1], frame.head(2)))
    for text in ("5.1", " 5 "):
        row = [ROW[0], text, *ROW[2:]]
        split = {"columns": list(frame.columns), "data": [row]}
        for client in clients:
            for body in ({"inputs": [row]}, {"dataframe_split": split}):
                message = error_of(client.post("/invocations", json=body), 400)["message"]
                assert repr(text) in message, message
                assert "Column 1" in message or "sepal width" in message, message


# --- item 24: DataFrame-fitted models on arrays -----------------------------------------------
def test_a_frame_fitted_model_is_served_on_arrays(serve, iris, fitted):
    X, _, frame, _ = iris
    client = serve(fitted[1], frame.head(2))
    assert client.get("/metadata").json()["server"]["input_path"] == "array"
    split = {"columns": list(frame.columns[::-1]), "data": X[:, ::-1].tolist()}
    got = client.post("/invocations", json={"dataframe_split": split})
    assert same(got.json()["predictions"], fitted[1].predict(frame))
    missing = {"columns": list(frame.columns[:3]), "data": X[:2, :3].tolist()}
    message = error_of(client.post("/invocations", json={"dataframe_split": missing}), 400)
    assert "petal width" in message["message"]


# --- item 9: a large body does not stall the server ------------------------------------------
async def _get(app, path: str) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "GET", "headers": []}
    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def test_health_and_small_requests_are_answered_while_a_large_body_is_read(iris, fitted):
    X, _, _, _ = iris
    app = app_for(log(fitted[0], X[:2]))
    service = app.service
    rows = np.tile(X, (100, 1))
    large = json.dumps({"inputs": rows.tolist()}).encode()
    small = json.dumps({"inputs": [ROW]}).encode()
    assert len(large) >= service.thread_bytes > len(small)
    started, release = threading.Event(), threading.Event()
    parse = service.parser.parse

    def slow_parse(body, content_type):
        if len(body) >= service.thread_bytes:
            started.set()
            release.wait(10)  # only reached in full when the parse blocks the loop (the bug)
        return parse(body, content_type)

    service.parser.parse = slow_parse

    async def scenario():
        big = asyncio.ensure_future(service.score(large, "application/json"))
        while not started.is_set() and not big.done():
            await asyncio.sleep(0.001)
        health = await _get(app, "/health")
        status, answer, _ = await service.score(small, "application/json")
        answered_during = not big.done()
        release.set()
        big_status, big_answer, _ = await big
        return health, (status, answer), answered_during, (big_status, big_answer)

    health, (status, answer), during, (big_status, big_answer) = asyncio.run(scenario())
    assert during, "the large request finished before /health was answered: it blocked the loop"
    assert health == (200, b'{"status":"ok"}')
    assert status == 200 and json.loads(answer)["predictions"] == fitted[0].predict([ROW]).tolist()
    assert big_status == 200
    assert same(json.loads(big_answer)["predictions"], fitted[0].predict(rows))
