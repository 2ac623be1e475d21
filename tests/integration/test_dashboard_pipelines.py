"""The dashboard's pipelines, pipeline run, artifacts and artifact pages on a real `heron
server`, over a store filled by real pipelines (@step/@pipeline): what the pages show (step
statuses, cached and retried marks, durations, captured output, lineage nodes), escaped."""

from __future__ import annotations

import json
import re
import time
import types
from html.parser import HTMLParser

import httpx
import pytest

import heron
from heron import pipeline, step
from heron.core import config
from heron.store import log_buffer, registry
from heron.tracking import fluent
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

EVIL = "<script>alert(1)</script> \"quoted\" 'single' ünïcødé"


@step
def load(n: int) -> list[int]:
    print("loading <script>alert(2)</script> rows:", n)
    return list(range(n))


@step
def total(xs: list[int]) -> int:
    heron.log_metric("count", len(xs))
    return sum(xs)


@step
def describe(xs: list[int], s: int) -> dict:
    return {"n": len(xs), "sum": s}


@pipeline(name="demo " + EVIL)
def demo(n: int = 10):
    xs = load(n)
    describe(xs, total(xs))


_calls = {"flaky": 0}


@step(retries=2, retry_delay=0.0)
def flaky(x: int) -> int:
    _calls["flaky"] += 1
    if _calls["flaky"] < 2:
        raise RuntimeError("first attempt fails")
    return x + 1


@step
def broken(x: int) -> int:
    raise ValueError("this step always fails <b>bold</b>")


@step
def after_broken(x: int) -> int:
    return x


@pipeline
def mixed():
    a = load(3)
    flaky(total(a))
    after_broken(broken(total(a)))


@step
def inc(x: int) -> int:
    return x + 1


@step
def add(a: int, b: int) -> int:
    return a + b


@pipeline
def big():
    """A 200-step DAG: a chain with a side branch every 5 steps joined back in."""
    value = inc(0)
    made = 1
    while made < 200:
        if made % 5 == 0 and made + 2 <= 200:
            side = inc(value)
            value = add(inc(value), side)
            made += 3
        else:
            value = inc(value)
            made += 1


class Page(HTMLParser):
    """What a test reads from a page: text, links and script tags."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.scripts: list[dict] = []
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        if tag == "script":
            self.scripts.append(attributes)

    def handle_data(self, data):
        self.text.append(data)

    @property
    def content(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard-pipelines")
    uri = sqlite_uri(folder / "heron.db")
    artifacts = str(folder / "artifacts")
    config.set_tracking_uri(uri)
    config.set_artifact_uri(artifacts)
    try:
        first = demo.with_options(run_name=EVIL)(n=5)
        again = demo(n=5)  # every step cached
        failed = mixed.with_options(raise_on_failure=False)()
        large = big()
        log_buffer.flush_all(raise_errors=False)
        store = registry.get_store(uri)
        from heron.artifacts.store import open_artifact_store

        timing = _time_handler(store, open_artifact_store(artifacts), large.id)
    finally:
        while fluent.active_run() is not None:
            fluent.end_run()
        log_buffer.flush_all(raise_errors=False)
        config.set_tracking_uri(None)
        config.set_artifact_uri(None)
        registry.forget_stores()
    with running_server(
        uri, artifacts, folder / "server.log", extra_args=("--no-access-log",)
    ) as server:
        yield types.SimpleNamespace(
            server=server,
            first=first,
            again=again,
            failed=failed,
            large=large,
            timing=timing,
            client=httpx.Client(base_url=server.url, timeout=30),
        )


def _time_handler(store, blobs, run_id: str) -> float:
    """Server time of the 200-node pipeline run page (handler and template), best of 5."""
    from heron.server.dashboard.face import DashboardFace, Request
    from heron.server.dashboard.pages.pipelines import pipeline_run_page

    face = DashboardFace(types.SimpleNamespace(store=store, blobs=blobs))
    path = f"/pipelines/runs/{run_id}"
    request = Request("GET", path, {"run_id": run_id}, {}, {}, face)
    face._answer(pipeline_run_page, request)  # templates compiled once
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        page = face._answer(pipeline_run_page, request)
        best = min(best, time.perf_counter() - started)
        assert page.status == 200
    print(json.dumps({"figure": "dashboard 200-node DAG page, server ms", "value": best * 1000}))
    return best


def get(filled, path: str, status: int = 200) -> tuple[str, Page]:
    response = filled.client.get(path)
    assert response.status_code == status, response.text[:2000]
    return response.text, Page(response.text)


def assert_escaped(html: str, page: Page) -> None:
    assert "<script>alert" not in html
    assert all("src" in s for s in page.scripts)  # no inline script, only files


# --- /pipelines ------------------------------------------------------------------------------
def test_pipelines_lists_names_versions_and_recent_runs(filled):
    html, page = get(filled, "/pipelines")
    assert_escaped(html, page)
    assert "demo " + EVIL in page.content
    assert "mixed" in page.content and "big" in page.content
    for run in (filled.first, filled.again, filled.failed, filled.large):
        assert f"/pipelines/runs/{run.id}" in page.links
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_pipelines_filter_keeps_query_and_finds_part_of_name(filled):
    html, page = get(filled, "/pipelines?q=MIX")
    assert f"/pipelines/runs/{filled.failed.id}" in page.links
    assert f"/pipelines/runs/{filled.first.id}" not in page.links
    assert 'value="MIX"' in html
    _, page = get(filled, "/pipelines?q=nothing-like-this")
    assert "No pipeline name contains" in page.content
    get(filled, "/pipelines?page=x", 400)


# --- /pipelines/runs/{id} --------------------------------------------------------------------
def test_pipeline_run_draws_every_step_linked_to_its_run(filled):
    html, page = get(filled, f"/pipelines/runs/{filled.first.id}")
    assert_escaped(html, page)
    assert EVIL in page.content  # run name, shown as text
    for name in ("load", "total", "describe"):
        step_run = filled.first.steps[name]
        assert f"/runs/{step_run.id}" in page.links
        assert f'data-node="{name}"' in html
    assert html.count('class="edge"') == 3  # load→total, load→describe, total→describe
    assert "completed" in page.content
    assert re.search(r"completed · \d+(\.\d)? (ms|s)", page.content)  # status and duration per node


def test_cached_rerun_marks_every_step_cached(filled):
    html, page = get(filled, f"/pipelines/runs/{filled.again.id}")
    assert html.count('class="node st-cached"') == 3
    assert "⟲" in html
    cached_from = filled.first.steps["load"].id
    assert f"/runs/{cached_from}" in page.links  # "cached from" the first run's step


def test_failed_run_shows_retries_failure_skip_and_the_failing_output(filled):
    html, page = get(filled, f"/pipelines/runs/{filled.failed.id}")
    assert 'class="node st-failed"' in html
    assert 'class="node st-skipped"' in html
    assert "↻2" in html  # flaky took two attempts
    # the failed step's output is shown by default: its traceback, escaped
    assert "Output of broken" in page.content
    assert "this step always fails <b>bold</b>" in page.content
    assert "<b>bold</b>" not in html
    assert "ValueError" in page.content


def test_step_output_is_shown_escaped(filled):
    html, page = get(filled, f"/pipelines/runs/{filled.first.id}?log=load")
    assert "loading <script>alert(2)</script> rows: 5" in page.content
    assert_escaped(html, page)
    get(filled, f"/pipelines/runs/{filled.first.id}?log=no-such-step", 400)


def test_timeline_has_a_bar_per_started_step(filled):
    html, _ = get(filled, f"/pipelines/runs/{filled.failed.id}")
    timeline = html.split('class="gantt"', 1)[1].split("</svg>", 1)[0]
    started = [s for s in filled.failed.steps.values()]
    assert timeline.count('<g class="bar') == len(started)


def test_200_node_dag_page(filled):
    html, page = get(filled, f"/pipelines/runs/{filled.large.id}")
    assert html.count('class="node-link"') == 200
    assert len({link for link in page.links if link.startswith("/runs/")}) >= 200
    assert filled.timing < 5  # the figure itself is printed (benchmarks compare it)


def test_unknown_and_non_pipeline_runs(filled):
    _, missing = get(filled, "/pipelines/runs/no-such-run", 404)
    assert "no-such-run" in missing.content
    step_run = filled.first.steps["load"].id
    response = filled.client.get(f"/pipelines/runs/{step_run}")
    assert response.status_code == 307
    assert response.headers["location"] == f"/runs/{step_run}"


# --- /artifacts --------------------------------------------------------------------------------
def test_artifacts_lists_names_with_versions(filled):
    _, page = get(filled, "/artifacts")
    # 200 of the big pipeline; load, total, describe; mixed's total_2 (its second total) and
    # flaky (broken failed, after_broken was skipped: no outputs)
    names = 200 + 5
    assert f"{names} names" in page.content
    assert "Page 1 of 5" in page.content and "inc_200.output" not in page.content
    _, last = get(filled, "/artifacts?page=5")
    assert len([a for a in last.links if a.startswith("/artifacts/")]) == 2 * (names - 200)
    client = heron.Client(filled.server.url)
    load_output = client.get_artifact("load.output")  # made by demo (v1) and mixed (v2)
    assert load_output.version == 2
    _, page = get(filled, "/artifacts?q=LOAD.out")
    assert "load.output" in page.content and "total.output" not in page.content
    row = page.content.split("load.output", 1)[1]
    assert row.split()[0] == "2" and row.split()[1] == "v2"  # versions, latest version
    assert f"/artifacts/{load_output.id}" in page.links
    get(filled, "/artifacts?page=99", 400)


def test_artifact_page_metadata_consumers_versions_and_lineage(filled):
    total_output = filled.first.steps["total"].outputs["output"]
    html, page = get(filled, f"/artifacts/{total_output.id}")
    assert_escaped(html, page)
    assert total_output.content_hash in page.content
    assert f"/artifacts/{total_output.id}/raw" in page.links
    assert f"/runs/{filled.first.steps['total'].id}" in page.links  # producer
    assert f"/runs/{filled.first.steps['describe'].id}" in page.links  # consumer
    lineage = html.split('class="lineage"', 1)[1].split("</svg>", 1)[0]
    load_output = filled.first.steps["load"].outputs["output"]
    assert f"/artifacts/{load_output.id}" in lineage  # upstream: load → its output → total
    assert f"/runs/{filled.first.steps['load'].id}" in lineage
    describe_output = filled.first.steps["describe"].outputs["output"]
    assert f"/artifacts/{describe_output.id}" in lineage  # downstream
    _, shallow = get(filled, f"/artifacts/{total_output.id}?depth=1")
    assert f"/artifacts/{load_output.id}" not in shallow.links
    get(filled, f"/artifacts/{total_output.id}?depth=99", 400)
    get(filled, "/artifacts/no-such-artifact", 404)
