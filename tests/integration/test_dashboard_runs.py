"""The experiments list and the runs table of a real `heron server`, filled through heron's
own API: values shown, sorting, paging, filtering (an error inline with the table kept),
chosen columns, nested runs, 5,000 metric keys, escaping, and what the live refresh reads."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

import heron
from heron.core.entities import Metric
from heron.store import log_buffer, registry
from heron.store.rest.store import RestStore
from heron.tracking import fluent
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

EVIL = "<script>alert(1)</script>"
LONG = "v" * 6000  # the longest param value a store takes (tags: 8,000)


class Table(HTMLParser):
    """Rows of the runs table: ``{run_id: {"cells": [text...], "attrs": {...}}}`` in order,
    and the header ids (``data-col``)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.headers: list[str] = []
        self._row: dict | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "th" and "data-col" in a:
            self.headers.append(a["data-col"])
        elif tag == "tr" and "data-run-id" in a:
            self._row = {"attrs": a, "cells": []}
            self.rows[a["data-run-id"]] = self._row
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard-runs")
    with running_server(
        sqlite_uri(folder / "heron.db"), str(folder / "artifacts"), folder / "server.log"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def data(server):
    """The module's runs, logged through heron's API to the server (and the process's tracking
    settings put back afterwards, for the modules that run later)."""
    heron.set_tracking_uri(server.url)
    try:
        yield _fill(server)
    finally:
        log_buffer.flush_all(raise_errors=False)
        fluent._experiment_name = None
        heron.set_tracking_uri(None)
        registry.forget_stores()


def _fill(server) -> dict[str, str]:
    store = RestStore(server.url)
    ids: dict[str, str] = {}
    heron.set_experiment("tour")
    for i in range(30):
        with heron.start_run(name=f"run-{i:02d}", tags={"team": "ab"[i % 2]}):
            heron.log_params({"depth": str(i % 3), "lr": 0.1})
            heron.log_metrics({"acc": i / 100, "loss": 1 - i / 100})
    with heron.start_run(name="parent") as parent:
        heron.log_metric("acc", 0.5)
        for j in range(3):
            with heron.start_run(name=f"kid-{j}", nested=True):
                heron.log_metric("kid_metric", j)
    ids["parent"] = parent.id
    tour = store.get_experiment_by_name("tour")
    ids["tour"] = tour.id
    live = store.create_run(tour.id, name="still-running")
    store.log_batch(live.id, [Metric("acc", 0.001, 0, 0)])
    ids["live"] = live.id

    evil = store.create_experiment(EVIL, tags={"note": 'it\'s "quoted" ünï'})
    ids["evil"] = evil.id
    bad = store.create_run(evil.id, name=EVIL, tags={EVIL: EVIL, "long": "v" * 8000})
    store.log_batch(
        bad.id, [Metric(EVIL, 1.5, 0, 0)], {"p'\"": EVIL, "big": LONG}, status="completed"
    )
    ids["bad"] = bad.id

    wide = store.create_experiment("wide")
    ids["wide"] = wide.id
    w = store.create_run(wide.id, name="wide-run")
    store.log_batch(w.id, [Metric(f"k{i:04d}", float(i), 0, 0) for i in range(5000)])
    store.update_run(w.id, status="completed")

    ids["empty"] = store.create_experiment("empty").id
    gone = store.create_experiment("gone-experiment")
    store.delete_experiment(gone.id)
    return ids


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def page(http, path, params=None, status=200) -> str:
    response = http.get(path, params=params)
    assert response.status_code == status, response.text[:2000]
    body = response.text
    # the Content-Security-Policy allows no inline script or style: pages use none
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", body)
    assert " style=" not in body
    return body


def names(body: str, children: bool = True) -> list[str]:
    """The run names of the table's rows, in order (the expand button's "▸ 3" left out)."""
    rows = Table(body).rows.values()
    shown = [r for r in rows if children or "data-parent" not in r["attrs"]]
    return [re.sub(r"^▸ \d+\s*", "", r["cells"][1]).split(" ")[0] for r in shown]


def test_experiments_list_shows_counts_and_hides_deleted_ones(http, data):
    body = page(http, "/experiments")
    assert "tour" in body and "wide" in body and "gone-experiment" not in body
    row = re.search(r'href="/experiments/' + data["tour"] + r'".*?</tr>', body, re.S).group(0)
    assert '<td class="num">35</td>' in row  # 30 + parent + 3 children + running
    shown = page(http, "/experiments", {"deleted": "1"})
    assert "gone-experiment" in shown and "deleted" in shown
    assert "wide" not in page(http, "/experiments", {"q": "TOU"})


def test_runs_table_sorts_by_a_metric_on_the_server_and_pages(http, data):
    path = f"/experiments/{data['tour']}"
    body = page(http, path, {"sort": "metrics.acc", "dir": "desc"})
    table = Table(body)
    assert names(body, children=False)[:3] == ["parent", "run-29", "run-28"]
    assert len(table.rows) == 25 + 3  # 25 top-level runs, the parent's 3 children hidden
    assert 'rel="next"' in body and "Top-level runs 1\u201325" in body
    assert 'aria-sort="descending"' in body
    second = page(http, path, {"sort": "metrics.acc", "dir": "desc", "page": "2"})
    assert names(second) == [
        "run-05",
        "run-04",
        "run-03",
        "run-02",
        "run-01",
        "still-running",
        "run-00",
    ]
    assert 'rel="next"' not in second and 'rel="prev"' in second
    up = page(http, path, {"sort": "metrics.acc", "dir": "asc", "per_page": "50"})
    assert names(up)[:2] == ["run-00", "still-running"] and len(names(up)) == 32 + 3
    by_name = page(http, path, {"sort": "name", "dir": "asc"})
    assert names(by_name, children=False)[0] == "parent"
    acc = Table(body).rows
    row = next(r for r in acc.values() if r["cells"][1].startswith("run-29"))
    assert "0.29" in row["cells"] and "completed" in row["cells"]


def test_filter_uses_the_search_grammar_and_an_error_keeps_the_table(http, data):
    path = f"/experiments/{data['tour']}"
    body = page(http, path, {"filter": "metrics.acc > 0.25 and params.depth = '0'"})
    assert sorted(names(body)) == ["run-27"]
    assert 'value="metrics.acc &gt; 0.25 and params.depth = &#39;0&#39;"' in body
    bad = page(http, path, {"filter": "metrics.acc >> 1"})
    assert "The filter was not applied" in bad and "position 12" in bad
    assert "unknown operator" in bad and 'aria-invalid="true"' in bad
    assert "metrics.acc &gt;&gt; 1\n" + " " * 12 + "^" in bad
    assert len(names(bad, children=False)) == 25  # the table is still there, unfiltered
    none = page(http, path, {"filter": "metrics.acc > 5"})
    assert "No runs match this filter" in none and not Table(none).rows


def test_chosen_columns_come_from_the_url_and_the_chooser_lists_every_key(http, data):
    path = f"/experiments/{data['tour']}"
    body = page(http, path, {"col": ["params.lr", "tags.team"]})
    headers = Table(body).headers
    assert headers == ["name", "status", "start_time", "duration", "user", "params.lr", "tags.team"]
    default = Table(page(http, path)).headers
    assert {"metrics.acc", "metrics.loss", "params.depth", "params.lr"} <= set(default)
    chooser = page(http, f"{path}/columns", {"col": "params.lr", "q": "a"})
    assert 'value="metrics.acc"' in chooser and 'value="tags.team"' in chooser
    assert 'value="params.depth"' not in chooser  # no "a" in it
    assert '<input type="hidden" name="col" value="params.lr">' in chooser  # stays chosen
    assert "1 more chosen column not listed here" in chooser
    listed = page(http, f"{path}/columns", {"col": "params.lr", "q": "L"})
    assert 'value="params.lr" checked' in listed and 'value="metrics.loss">' in listed


def test_five_thousand_metric_keys_open_with_a_capped_set_of_columns(http, data):
    path = f"/experiments/{data['wide']}"
    body = page(http, path)
    headers = Table(body).headers
    assert 5 < len(headers) <= 5 + 8 and "metrics.k0000" in headers
    chooser = page(http, f"{path}/columns")
    assert "5,000" in chooser and chooser.count('name="col" value="metrics.') == 500
    found = page(http, f"{path}/columns", {"q": "k4999"})
    assert 'value="metrics.k4999"' in found and "(1 matching)" in found
    chosen = page(http, path, {"col": "metrics.k4999", "sort": "metrics.k4999"})
    row = next(iter(Table(chosen).rows.values()))
    assert row["cells"][-1] == "4999"


def test_child_runs_are_nested_under_their_parent_and_flat_on_request(http, data):
    path = f"/experiments/{data['tour']}"
    body = page(http, path, {"filter": "attributes.name = 'parent'"})
    rows = Table(body).rows
    assert len(rows) == 4
    parent = rows[data["parent"]]
    assert "▸ 3" in parent["cells"][1] and "hidden" not in parent["attrs"]
    kids = [r for r in rows.values() if r["attrs"].get("data-parent") == data["parent"]]
    assert len(kids) == 3 and all("hidden" in r["attrs"] for r in kids)
    # children sort by start time; three started in the same millisecond may come in any order
    assert sorted(r["cells"][1] for r in kids) == ["kid-0", "kid-1", "kid-2"]
    flat = page(http, path, {"flat": "1", "filter": "metrics.kid_metric >= 1"})
    assert sorted(names(flat)) == ["kid-1", "kid-2"]
    hint = page(http, path, {"filter": "metrics.kid_metric >= 1"})
    assert "Filter child runs too" in hint


def test_untrusted_names_and_values_are_escaped_everywhere(http, data):
    for body in (
        page(http, "/experiments"),
        page(http, f"/experiments/{data['evil']}", {"col": ["params.p'\"", "tags." + EVIL]}),
        page(http, f"/experiments/{data['evil']}"),
        page(http, f"/experiments/{data['evil']}/columns", {"q": "<"}),
    ):
        assert EVIL not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    body = page(http, f"/experiments/{data['evil']}", {"col": ["params.big", "tags.long"]})
    assert "v" * 1001 not in body and "v" * 119 + "…" in body
    assert "ünï" in page(http, "/experiments")


def test_running_runs_turn_live_refresh_on_and_the_api_answers_its_poll(http, server, data):
    body = page(http, f"/experiments/{data['tour']}", {"sort": "metrics.acc", "dir": "asc"})
    assert 'data-live="1"' in body
    row = Table(body).rows[data["live"]]
    assert row["attrs"]["data-status"] == "running" and "running" in row["cells"]
    # what static/runs.js sends every few seconds
    response = http.post(
        "/api/v1/runs/search",
        json={
            "experiment_ids": [data["tour"]],
            "filter_string": f"attributes.run_id IN ('{data['live']}')",
            "max_results": 1,
            "view": "all",
        },
    )
    items = response.json()["result"]["items"]
    assert [(r["id"], r["status"], r["metrics"]) for r in items] == [
        (data["live"], "running", {"acc": 0.001})
    ]
    done = page(http, f"/experiments/{data['wide']}")
    assert 'data-live="0"' in done


def test_compare_selection_run_links_and_static_files(http, data):
    body = page(http, f"/experiments/{data['tour']}")
    assert '<form id="compare-form" action="/compare" method="get">' in body
    assert f'form="compare-form" name="runs" value="{data["live"]}"' in body
    assert f'href="/runs/{data["live"]}"' in body
    for name in ("runs.js", "runs.css"):
        assert http.get(f"/static/{name}").status_code == 200


def test_empty_states_and_error_pages(http, data):
    empty = page(http, f"/experiments/{data['empty']}")
    assert (
        "No runs in this experiment yet" in empty
        and "heron.set_experiment(&#39;empty&#39;)" in empty
    )
    assert "heron quickstart" in empty
    page(http, "/experiments/" + "0" * 32, status=404)
    assert "per_page must be one of 25, 50, 100" in page(
        http, f"/experiments/{data['tour']}", {"per_page": "7"}, status=400
    )
    assert "Cannot sort on" in page(
        http, f"/experiments/{data['tour']}", {"sort": "duration"}, status=400
    )
    assert page(http, f"/experiments/{data['tour']}", {"page": "99"}).count("No runs on page 99")
