"""SQLite plan hints of the search (search.RunSearch._hints) change the plan, never the rows:
every search answers the same runs in the same order, page by page, with and without them."""

from __future__ import annotations

import random

import pytest

from heron.core.entities import Metric
from heron.store.sql import search

FILTERS = [
    None,
    "metrics.a > 0.5",
    "metrics.a > 0.5 and params.p = '1'",
    "params.p = '1'",
    "params.p IN ('0', '2')",
    "metrics.b <= 0.3 and tags.t = 'x'",
    "metrics.a >= 0.2 and metrics.b < 0.9 and params.q = 'z'",
    "tags.t != 'y'",
    "attributes.status = 'completed' and metrics.a > 0.1",
]
ORDERS = [
    None,
    ["metrics.b DESC"],
    ["metrics.a ASC"],
    ["params.q ASC"],
    ["tags.t DESC", "metrics.b ASC"],
    ["attributes.start_time ASC"],
]


@pytest.fixture
def seeded(sqlite_store):
    rng = random.Random(7)
    experiments = [sqlite_store.create_experiment(f"e{i}").id for i in range(2)]
    for i in range(80):
        run = sqlite_store.create_run(experiments[i % 2], name=f"r{i}", start_time=1000 + i % 13)
        metrics = []
        if rng.random() < 0.9:
            metrics.append(Metric("a", rng.choice([rng.random(), float("nan")]), 0, 0))
        if rng.random() < 0.8:
            metrics.append(Metric("b", rng.random(), 0, 0))
        params = {"p": str(rng.randrange(3))} if rng.random() < 0.85 else {}
        if rng.random() < 0.7:
            params["q"] = rng.choice("xyz")
        tags = {"t": rng.choice("xy")} if rng.random() < 0.75 else {}
        sqlite_store.log_batch(run.id, metrics, params, tags, status="completed")
    return sqlite_store, experiments


def _pages(store, experiment_ids, filter_string, order_by, size=7):
    ids, token = [], None
    while True:
        page = store.search_runs(experiment_ids, filter_string, order_by, size, token)
        ids += [r.id for r in page]
        token = page.token
        if not token:
            return ids


@pytest.mark.parametrize("few, many", [(1, 1), (4, 4), (15, 1000), (60, 60)])
def test_hinted_plans_give_the_same_pages_as_unhinted_ones(seeded, monkeypatch, few, many):
    store, experiments = seeded
    scopes = [None, experiments[:1], experiments]
    expected = {}
    with monkeypatch.context() as unhinted:
        unhinted.setattr(search.RunSearch, "_hints", lambda self, conn: frozenset())
        for scope in scopes:
            for f in FILTERS:
                for o in ORDERS:
                    expected[(str(scope), f, str(o))] = _pages(store, scope, f, o)
    monkeypatch.setattr(search, "FEW", few)
    monkeypatch.setattr(search, "MANY", many)
    for scope in scopes:
        for f in FILTERS:
            for o in ORDERS:
                got = _pages(store, scope, f, o)
                assert got == expected[(str(scope), f, str(o))], (scope, f, o)
