"""The tracking server's hot routes behind FastAPI vs behind Heron's plain ASGI app.

    .venv/bin/python benchmarks/server_routing.py [--requests 3000] [--json]

Both apps answer ``POST /api/v1/runs/{run_id}/batch`` (one point per request, as an
unbuffered ``log_metric`` sends) and ``POST /api/v1/runs`` (create a run) by calling the same
handler (:func:`heron.server.api.handle`) over the same SQLite store, under the same uvicorn
settings, one process each; a client on one keep-alive connection sends the requests one
after another. The difference is the framework: FastAPI's routing, request object and
response classes against :class:`heron.server.app.TrackingApp`'s dictionary router.
"""

# no "from __future__ import annotations": FastAPI reads the handlers' annotations
import argparse
import http.client
import json
import multiprocessing
import socket
import tempfile
import time


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fastapi_app(store):  # type: ignore[no-untyped-def]
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    from heron.server import api
    from heron.store.rest import protocol

    app = FastAPI()
    batch = protocol.BY_NAME["log_batch"]
    create = protocol.BY_NAME["create_run"]

    @app.post("/api/v1/runs/{run_id}/batch")
    async def log_batch(run_id: str, request: Request) -> Response:
        body = await request.body()
        headers = {k.encode(): v.encode() for k, v in request.headers.items()}
        status, payload = api.handle(store, batch, {"run_id": run_id}, b"", body, headers)
        return Response(payload, status_code=status, media_type="application/json")

    @app.post("/api/v1/runs")
    async def create_run(request: Request) -> Response:
        body = await request.body()
        headers = {k.encode(): v.encode() for k, v in request.headers.items()}
        status, payload = api.handle(store, create, {}, b"", body, headers)
        return Response(payload, status_code=status, media_type="application/json")

    return app


def _serve(kind: str, db: str, port: int) -> None:
    import uvicorn

    from heron.server.runner import uvicorn_options
    from heron.server.settings import ServerSettings

    folder = db.split(":///", 1)[1].rsplit("/", 1)[0]
    settings = ServerSettings(backend_store_uri=db, artifacts_uri=folder + "/artifacts")
    options = uvicorn_options(settings)
    options["lifespan"] = "off"
    if kind == "fastapi":
        from heron.store.sql.store import SqlStore

        app = _fastapi_app(SqlStore(db))
    else:
        from heron.server.app import create_app

        app = create_app(settings)
    uvicorn.run(app, host="127.0.0.1", port=port, **options)


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _measure(port: int, experiment_id: str, run_id: str, n: int) -> dict[str, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json", "x-heron-owner": "1:1@bench"}
    figures = {}
    started = time.perf_counter()
    for i in range(n):
        body = json.dumps({"metrics": [["loss", 0.5, i, 1]], "request_id": f"b{port}x{i}"})
        conn.request("POST", f"/api/v1/runs/{run_id}/batch", body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 200, answer
    figures["log_batch_requests_per_s"] = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(n // 2):
        conn.request(
            "POST",
            "/api/v1/runs",
            body=json.dumps({"experiment_id": experiment_id}),
            headers=headers,
        )
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 200, answer
    figures["create_run_per_s"] = (n // 2) / (time.perf_counter() - started)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from heron.store.sql.store import SqlStore

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("plain", "fastapi"):
            db = f"sqlite:///{tmp}/{kind}.db"
            store = SqlStore(db)
            experiment = store.create_experiment("routing")
            run = store.create_run(experiment.id)
            store.engine.dispose()
            port = _free_port()
            process = multiprocessing.get_context("spawn").Process(
                target=_serve, args=(kind, db, port), daemon=True
            )
            process.start()
            try:
                _wait(port)
                _measure(port, experiment.id, run.id, 200)  # warm-up
                results[kind] = _measure(port, experiment.id, run.id, args.requests)
            finally:
                process.terminate()
                process.join(10)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'figure':28} {'plain ASGI':>12} {'FastAPI':>12}")
    for figure in results["plain"]:
        print(f"{figure:28} {results['plain'][figure]:12.0f} {results['fastapi'][figure]:12.0f}")


if __name__ == "__main__":
    main()
