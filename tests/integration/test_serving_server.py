"""``heron serve`` as a real server: a subprocess on 127.0.0.1 and a free port, spoken to over
HTTP. Every MLflow request format gives scikit-learn's own predictions; 1,000 malformed bodies
(a seeded generator: broken JSON, wrong shapes, wrong types, huge numbers, unicode) get only
4xx answers, and the server keeps serving."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from heron._version import __version__
from tests.support.serving import START_LIMIT_S, Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Any]:
    """A store with two iris models: `iris` (fitted on arrays; alias champion) and `iris-frame`
    (fitted on a DataFrame), logged by a separate process, as a training script would."""
    root = tmp_path_factory.mktemp("serving")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["HERON_HOME"] = str(root / "home")
    env["HERON_TRACKING_URI"] = "sqlite:///" + str(root / "heron.db")
    script = """
import heron
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
data = load_iris(as_frame=True)
X, y = data.data.to_numpy(), data.target.to_numpy()
with heron.start_run():
    heron.log_model(LogisticRegression(max_iter=1000).fit(X, y), "iris", input_example=X[:2],
                    registered_model_name="iris")
    heron.log_model(LogisticRegression(max_iter=1000).fit(data.data, y), "iris-frame",
                    input_example=data.data.head(2), registered_model_name="iris-frame")
heron.Client().set_model_alias("iris", "champion", 1)
"""
    subprocess.run([sys.executable, "-c", script], env=env, cwd=root, check=True)
    return {"env": env, "root": root}


@pytest.fixture(scope="module")
def iris_data():
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    return data.data.to_numpy(), data.data


@pytest.fixture(scope="module")
def direct(workspace):
    """The two models loaded in this process, to predict directly."""
    import heron

    uri = workspace["env"]["HERON_TRACKING_URI"]
    return (
        heron.load_model("models:/iris@champion", tracking_uri=uri).impl,
        heron.load_model("models:/iris-frame/1", tracking_uri=uri).impl,
    )


@contextlib.contextmanager
def serving(workspace, *args: str) -> Iterator[Server]:
    server = Server(list(args), workspace["env"], workspace["root"])
    try:
        yield server
    finally:
        errors = server.stop()
        assert "Traceback" not in errors, errors


@pytest.fixture(scope="module")
def arrays_server(workspace) -> Iterator[Server]:
    with serving(workspace, "models:/iris@champion") as server:
        yield server


@pytest.fixture(scope="module")
def frame_server(workspace) -> Iterator[Server]:
    with serving(workspace, "models:/iris-frame/1") as server:
        yield server


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_banner_says_what_is_served(arrays_server):
    banner = arrays_server.banner
    assert banner.startswith("Serving models:/iris@champion (sklearn LogisticRegression")
    assert "input float64[any, 4]" in banner and "batching up to 64 rows" in banner


def test_every_format_round_trips_against_the_model(arrays_server, frame_server, iris_data, direct):
    X, frame = iris_data
    on_arrays, on_frame = direct
    rows = X[::9]
    expected = on_arrays.predict(rows)
    for body in (
        {"inputs": rows.tolist()},
        {"instances": rows.tolist()},
        {"dataframe_split": {"data": rows.tolist()}},
        {"dataframe_split": {"columns": list(frame.columns), "data": rows.tolist()}},
    ):
        assert same(arrays_server.predictions(body), expected), body
    csv = frame.iloc[::9].to_csv(index=False).encode()
    assert same(arrays_server.predictions(csv, "text/csv"), expected)

    table = frame.iloc[::9]
    expected = on_frame.predict(table)
    for body in (
        {"dataframe_split": json.loads(table.to_json(orient="split", index=False))},
        {"dataframe_records": table.to_dict(orient="records")},
        {"instances": table.to_dict(orient="records")},
        {"inputs": table.to_dict(orient="list")},
        {"inputs": table.to_dict(orient="records")},
    ):
        assert same(frame_server.predictions(body), expected), body
    assert same(frame_server.predictions(table.to_csv(index=False).encode(), "text/csv"), expected)
    parquet = io.BytesIO()
    table.to_parquet(parquet)
    got = frame_server.predictions(parquet.getvalue(), "application/vnd.apache.parquet")
    assert same(got, expected)


def test_large_request(arrays_server, iris_data, direct):
    X, _ = iris_data
    rows = np.tile(X, (67, 1))[:10_000]
    assert same(arrays_server.predictions({"inputs": rows.tolist()}), direct[0].predict(rows))


def test_other_endpoints(arrays_server):
    assert arrays_server.get("/ping") == (200, b"\n")  # as MLflow's scoring server
    assert arrays_server.get("/health") == (200, b'{"status":"ok"}')
    meta = json.loads(arrays_server.get("/metadata")[1])
    assert (meta["name"], meta["version"], meta["flavor"]) == ("iris", 1, "sklearn")
    status, spec = arrays_server.get("/openapi.json")
    assert status == 200 and "/invocations" in json.loads(spec)["paths"]
    assert arrays_server.get("/version")[1].decode() == __version__  # bare, as MLflow's


# --- fuzzing: malformed bodies get 4xx, never a 500, and serving goes on ------------------------
def malformed_bodies(seed: int, n: int, columns: list[str]) -> Iterator[tuple[str, bytes, str]]:
    """``n`` (content type, body, kind) of bodies no 4-feature model can score."""
    rng = random.Random(seed)

    def text() -> str:
        alphabets = [
            "abcdefghij",
            "αβγδεζηθ",
            "漢字仮名交じり文",
            "🙂🚀💥🧪",
            "\u202e\u200b\u00a0\ufeff",
            "\\\"'{}[],:",
        ]
        value = "".join(rng.choice(rng.choice(alphabets)) for _ in range(rng.randint(1, 12)))
        try:
            float(value)
        except ValueError:
            return value
        return value + "x"

    def huge() -> str:
        return rng.choice(["1e400", "-1e400", "1" + "0" * rng.randint(320, 5000), "-2e308"])

    def good_row() -> list[float]:
        return [round(rng.uniform(0, 8), 1) for _ in range(4)]

    def bad_row() -> list[Any]:
        row: list[Any] = good_row()
        kind = rng.randrange(6)
        if kind == 0:
            return row[: rng.randrange(4)]  # too short
        if kind == 1:
            return row + [1.0] * rng.randint(1, 3)  # too long
        if kind == 2:
            row[rng.randrange(4)] = text()  # a word where a number goes
        elif kind == 3:
            row[rng.randrange(4)] = None  # a missing value: NaN
        elif kind == 4:
            row[rng.randrange(4)] = rng.choice([[1.0], {"a": 1}, [[2.0, 3.0]]])
        else:
            row[rng.randrange(4)] = "HUGE"
        return row

    def dump(value: Any) -> bytes:
        data = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        return data.replace('"HUGE"', huge()).encode()

    def rows_with_one_bad() -> list[list[Any]]:
        rows = [good_row() for _ in range(rng.randint(0, 4))]
        rows.insert(rng.randint(0, len(rows)), bad_row())
        return rows

    def records_with_one_bad() -> list[dict[str, Any]]:
        rows = rows_with_one_bad()
        records = [dict(zip(columns, r)) for r in rows if len(r) == 4]
        records.append(dict(zip(rng.sample(columns, 3), good_row())))  # a missing column
        rng.shuffle(records)
        return records

    makers = {
        "broken json": lambda: (
            "application/json",
            rng.choice(
                [
                    b'{"inputs": [[1, 2, 3, 4]]',
                    b'{"inputs": [[1, 2, 3, 4]],}',
                    b"{'inputs': [[1, 2, 3, 4]]}",
                    b'{"inputs": [[1 2 3 4]]}',
                    b"",
                    b"null",
                    b"[" * rng.randint(1, 5000),
                    rng.randbytes(rng.randint(1, 300)),
                    text().encode("utf-8"),
                    '{"inputs": ["\ud800"]}'.encode("utf-8", "surrogatepass"),
                ]
            ),
        ),
        "wrong envelope": lambda: (
            "application/json",
            dump(
                rng.choice(
                    [
                        [good_row()],
                        {"data": [good_row()]},
                        {"inputs": [good_row()], "instances": [good_row()]},
                        {"dataframe_split": [good_row()]},
                        {"dataframe_split": {"columns": columns}},
                        {"dataframe_records": {"a": 1}},
                        {"inputs": text()},
                        {"instances": rng.random()},
                        {"inputs": [good_row()], "params": [1, 2]},
                        {"inputs": []},
                        {text(): [good_row()]},
                    ]
                )
            ),
        ),
        "wrong shape": lambda: (
            "application/json",
            dump(
                rng.choice(
                    [
                        {"inputs": rows_with_one_bad()},
                        {"instances": rows_with_one_bad()},
                        {"dataframe_split": {"columns": columns, "data": rows_with_one_bad()}},
                        {"inputs": [[good_row(), good_row()]]},
                        {"inputs": [[[[1.0]]]] * rng.randint(1, 3)},
                    ]
                )
            ),
        ),
        "wrong types and huge numbers": lambda: (
            "application/json",
            dump(
                rng.choice(
                    [
                        {"inputs": [[text(), text(), text(), text()]]},
                        {"inputs": [["HUGE", 1.0, 2.0, 3.0]]},
                        {"dataframe_split": {"data": [[1.0, "HUGE", 2.0, 3.0]]}},
                        {"instances": [[1.0, 2.0, 3.0, None]]},
                        {"inputs": {c: [text()] for c in columns}},
                        {"dataframe_split": {"columns": [1, 2, 3, 4], "data": [good_row()]}},
                        {"dataframe_records": records_with_one_bad()},
                        # unknown params are ignored with a warning now, as MLflow does
                        # (issue 8); a column named twice is the malformed body instead
                        {"dataframe_split": {"columns": [columns[0]] * 4, "data": [good_row()]}},
                    ]
                )
            ),
        ),
        "bad csv": lambda: (
            "text/csv",
            rng.choice(
                [
                    ",".join(columns).encode(),
                    (",".join(columns) + "\n1,2,3\n").encode(),
                    (",".join(columns) + f"\n1,2,{text()},4\n").encode("utf-8"),
                    rng.randbytes(rng.randint(1, 200)),
                    b"a,b,c,d\n1e400,1,1,1\n",
                ]
            ),
        ),
        "wrong media type": lambda: (
            rng.choice(
                [
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "application/xml",
                    "application/json; charset=latin-1",
                    "application/json; format=pandas-split",
                    "image/png",
                ]
            ),
            dump({"inputs": [good_row()]}),
        ),
    }
    kinds = list(makers)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        content_type, body = makers[kind]()
        yield content_type, body, kind


def test_a_thousand_malformed_bodies_get_only_4xx(arrays_server, frame_server, iris_data, direct):
    X, frame = iris_data
    columns = list(frame.columns)
    statuses: dict[int, int] = {}
    for number, (content_type, body, kind) in enumerate(malformed_bodies(20261122, 1000, columns)):
        server = frame_server if number % 4 == 3 else arrays_server
        status, answer = server.request("POST", "/invocations", body, content_type)
        statuses[status] = statuses.get(status, 0) + 1
        assert 400 <= status < 500, (kind, content_type, body[:300], status, answer[:500])
        error = json.loads(answer)["error"]
        assert error["code"] and error["message"], answer
    assert statuses.keys() <= {400, 413, 415}
    # Both servers still serve, and correctly.
    assert same(arrays_server.predictions({"inputs": X[:5].tolist()}), direct[0].predict(X[:5]))
    expected = direct[1].predict(frame.head(5))
    assert same(
        frame_server.predictions(
            {"dataframe_split": json.loads(frame.head(5).to_json(orient="split", index=False))}
        ),
        expected,
    )
    assert arrays_server.get("/health")[0] == 200


def test_concurrent_clients_are_batched(workspace, arrays_server, iris_data, direct):
    from concurrent.futures import ThreadPoolExecutor

    X, _ = iris_data
    port = arrays_server.port

    def client(offset: int) -> list:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        got = []
        for i in range(offset, 150, 8):
            connection.request(
                "POST",
                "/invocations",
                json.dumps({"inputs": [X[i].tolist()]}),
                {"Content-Type": "application/json"},
            )
            got.append((i, json.loads(connection.getresponse().read())["predictions"][0]))
        connection.close()
        return got

    with ThreadPoolExecutor(8) as pool:
        answers = [a for part in pool.map(client, range(8)) for a in part]
    expected = direct[0].predict(X)
    assert sorted(answers) == [(i, int(expected[i])) for i in range(150)]


def test_several_workers(workspace, iris_data, direct):
    X, _ = iris_data
    with serving(workspace, "models:/iris/1", "--workers", "2") as server:
        assert "2 workers" in server.banner
        assert same(server.predictions({"inputs": X[:7].tolist()}), direct[0].predict(X[:7]))
        assert json.loads(server.get("/metadata")[1])["version"] == 1


def test_a_bad_model_uri_is_one_error_line(workspace):
    done = subprocess.run(
        [sys.executable, "-m", "heron", "serve", "models:/nope@champion", "--port", "0"],
        env=workspace["env"],
        cwd=workspace["root"],
        capture_output=True,
        text=True,
        timeout=START_LIMIT_S,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "nope" in lines[0], done.stderr


# --- issue 8: MLflow's client conventions, one input rule, frame-fitted models on arrays -------
def test_frame_model_over_http_follows_mlflows_conventions(frame_server, iris_data, direct):
    X, _ = iris_data
    columns = json.loads(frame_server.get("/metadata")[1])["signature"]["inputs"]["columns"]
    names = [c["name"] for c in columns]
    meta = json.loads(frame_server.get("/metadata")[1])
    assert meta["server"]["input_path"] == "array"
    body = {"dataframe_split": {"columns": names, "data": X[:3].tolist()}, "params": {"t": 1}}
    status, answer = frame_server.post(body)
    import pandas as pd

    expected = direct[1].predict(pd.DataFrame(X[:3], columns=names))
    assert status == 200 and same(answer["predictions"], expected)
    row = [5.1, " 5 ", 1.4, 0.2]
    status, answer = frame_server.post({"dataframe_split": {"columns": names, "data": [row]}})
    assert status == 400 and names[1] in answer["message"], answer
    assert answer["error_code"] == "BAD_REQUEST" and answer["error"]["message"]
    twice = {"dataframe_split": {"columns": [*names[:3], names[0]], "data": [X[0].tolist()]}}
    status, answer = frame_server.post(twice)
    assert status == 400 and "more than once" in answer["message"]


def test_logged_inferences_are_read_back_and_survive_a_sigkill(workspace, iris_data, tmp_path):
    """--log-inferences writes each request's rows; a flush written before SIGKILL is whole
    and readable (only rows recorded after the last flush can be lost)."""
    pytest.importorskip("pyarrow")
    from heron.monitoring.inferences import read_inferences

    log = tmp_path / "inferences"
    server = Server(
        ["models:/iris@champion", "--log-inferences", "--inference-log-uri", str(log)],
        workspace["env"],
        workspace["root"],
    )
    try:
        assert "logging inferences to" in server.banner
        rows = iris_data[0][:5].tolist()
        assert len(server.predictions({"inputs": rows})) == 5
        server.stop()  # a clean stop writes what is pending
        server = Server(
            ["models:/iris@champion", "--log-inferences", "--inference-log-uri", str(log)],
            workspace["env"],
            workspace["root"],
        )
        server.predictions({"inputs": rows[:2]})
        for _ in range(200):  # the background flush (every 5 s) writes the pending rows
            _, body = server.get("/metadata")
            if json.loads(body)["server"]["inference_log"]["files"] >= 1:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(0.1)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
    finally:
        if server.process.poll() is None:
            server.stop()
    table = read_inferences("iris", 1, log_uri=str(log)).to_pandas()
    assert len(table) == 7
    assert table["prediction"].notna().all()
    assert not list(log.rglob(".*.tmp"))
