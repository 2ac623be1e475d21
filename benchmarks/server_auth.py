"""What governance costs: the server's ``log_batch`` and ``create_run`` figures with and
without ``--auth``, in one run on one machine.

    python benchmarks/server_auth.py            # full size (about 2 minutes)
    python benchmarks/server_auth.py --quick    # a smoke test

Three servers answer the same workloads as ``benchmarks/server.py`` (``Client.log_batch`` of
10,000 points a call; ``Client.create_run`` + ``set_terminated``), one worker each, on SQLite:
``heron server`` as today, ``heron server --auth`` with the client signing in with an API token
(``HERON_TRACKING_TOKEN``) and with a password (``HERON_TRACKING_USERNAME``/``PASSWORD``, as
MLflow clients send Basic credentials). With auth every request is authenticated, its role
checked on the run's project and every write audited in its own transaction. The rounds
alternate between the servers so that machine noise falls on all of them; the figure is the
median round. Prints one JSON line per figure on stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack

import _harness as h
import server as srv

h.BENCHMARK = "server_auth"
MODES = ("off", "token", "password")
PASSWORD = "bench-password-1"


def _server_argv(workdir: str, auth: bool) -> srv.Callable[[int, int], list[str]]:
    plain = srv.heron_argv(workdir)

    def argv(port: int, workers: int) -> list[str]:
        return [*plain(port, workers), *(["--auth"] if auth else []), "--no-access-log"]

    return argv


def _prepare(workdir: str) -> str:
    """The server's database with an admin (password) and their API token; the token."""
    from heron.store.sql.governance import GovernanceStore
    from heron.store.sql.migrate import upgrade_database

    db = os.path.join(workdir, "server", "heron.db")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    upgrade_database("sqlite:///" + db)
    governance = GovernanceStore("sqlite:///" + db)
    governance.create_user("bench", PASSWORD)
    governance.grant("default", "bench", "editor")
    _token, secret = governance.create_token("bench", "benchmark")
    return secret


def _credentials(mode: str, token: str) -> None:
    for name in ("HERON_TRACKING_TOKEN", "HERON_TRACKING_USERNAME", "HERON_TRACKING_PASSWORD"):
        os.environ.pop(name, None)
    if mode == "token":
        os.environ["HERON_TRACKING_TOKEN"] = token
    elif mode == "password":
        os.environ["HERON_TRACKING_USERNAME"] = "bench"
        os.environ["HERON_TRACKING_PASSWORD"] = PASSWORD


def _log_batch(client: srv.Any, experiment_id: str, calls: int) -> float:
    from heron.core.entities import Metric

    keys = [f"m{j}" for j in range(1_000)]
    steps = 10
    run = client.create_run(experiment_id)
    t0 = time.perf_counter()
    for c in range(calls):
        ts = srv.now_ms()
        client.log_batch(
            run.id, [Metric(k, c * 0.5, c * steps + s, ts) for s in range(steps) for k in keys]
        )
    elapsed = time.perf_counter() - t0
    client.set_terminated(run.id)
    stored = len(client.get_metric_history(run.id, keys[-1]))
    if stored != calls * steps:
        raise SystemExit(f"log_batch: {stored} points stored, {calls * steps} logged")
    return calls * steps * len(keys) / elapsed


def _create_run(client: srv.Any, experiment_id: str, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        client.set_terminated(client.create_run(experiment_id).id)
    return n / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    calls, runs, rounds = (5, 100, 2) if args.quick else (30, 1_000, args.rounds)
    srv.worker_setup()
    import heron

    results: dict[str, dict[str, list[float]]] = {
        m: {"log_batch": [], "create_run": []} for m in MODES
    }
    with tempfile.TemporaryDirectory(prefix="heron-auth-bench-") as root, ExitStack() as stack:
        servers, tokens = {}, {}
        for mode in MODES:
            workdir = os.path.join(root, mode)
            tokens[mode] = _prepare(workdir)
            argv = _server_argv(workdir, auth=mode != "off")
            servers[mode] = stack.enter_context(srv.running_server(argv, 1, workdir))
        stack.callback(_credentials, "off", "")
        for r in range(rounds):
            for mode in MODES if r % 2 == 0 else tuple(reversed(MODES)):
                _credentials(mode, tokens[mode])
                heron.set_tracking_uri(servers[mode].url)
                client = heron.Client()
                experiment = client.get_experiment_by_name(f"auth-{mode}")
                if experiment is None:
                    experiment = client.create_experiment(f"auth-{mode}")
                    _log_batch(client, experiment.id, 2)  # warm up
                    _create_run(client, experiment.id, 20)
                results[mode]["log_batch"].append(_log_batch(client, experiment.id, calls))
                results[mode]["create_run"].append(_create_run(client, experiment.id, runs))
                h.progress(
                    f"round {r + 1} {mode}: log_batch {results[mode]['log_batch'][-1]:,.0f} "
                    f"points/s, create_run {results[mode]['create_run'][-1]:,.0f} runs/s"
                )
    for figure, unit in (("log_batch", "points/s"), ("create_run", "runs/s")):
        base = statistics.median(results["off"][figure])
        for mode in MODES:
            value = statistics.median(results[mode][figure])
            h.emit(
                f"{figure}_auth_{mode}_1w_{unit.split('/')[0]}_per_s",
                "heron",
                value,
                unit,
                higher_is_better=True,
                n=rounds,
                detail={
                    "overhead_vs_no_auth_pct": (base - value) / base * 100,
                    "rounds": [round(v, 1) for v in results[mode][figure]],
                    "auth": "none" if mode == "off" else f"--auth, signed in with a {mode}",
                },
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
