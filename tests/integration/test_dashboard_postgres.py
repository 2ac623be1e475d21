"""Every page of the dashboard on a PostgreSQL back-end: a real `heron server
--backend-store-uri postgresql://…` filled through heron's own API (tracked runs with params,
metrics, tags and a metric history, nested runs, artifacts, a cached @step/@pipeline pipeline,
a registered model with an alias), each page fetched with httpx and the values it shows
checked. The column chooser's loose index scan over a large experiment is read on the same
database, and the runs-table checks of ``test_dashboard_runs`` run here too, on PostgreSQL."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

import heron
from heron import pipeline, step
from heron.core import config
from heron.store import log_buffer, registry
from heron.store.rest.store import RestStore
from heron.tracking import fluent

# the runs-table checks of the SQLite module, run against this module's PostgreSQL server
# (their ``data`` fixture fills it through ``server``; ``http`` and ``page`` as there)
from tests.integration.test_dashboard_runs import (  # noqa: F401
    data,
    http,
    test_child_runs_are_nested_under_their_parent_and_flat_on_request,
    test_chosen_columns_come_from_the_url_and_the_chooser_lists_every_key,
    test_empty_states_and_error_pages,
    test_filter_uses_the_search_grammar_and_an_error_keeps_the_table,
    test_five_thousand_metric_keys_open_with_a_capped_set_of_columns,
    test_runs_table_sorts_by_a_metric_on_the_server_and_pages,
    test_untrusted_names_and_values_are_escaped_everywhere,
)
from tests.support.server import running_server
from tests.support.stores import open_sql_store

pytestmark = pytest.mark.integration

EVIL = "<script>alert(1)</script>"
EVIL_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
QUOTED = 'it\'s "quoted" ünïcødé ✓'


@step
def pg_load(n: int) -> list[int]:
    print("pg loading", n, "<b>rows</b>")
    return list(range(n))


@step
def pg_total(xs: list[int]) -> int:
    heron.log_metric("count", len(xs))
    return sum(xs)


@step
def pg_train(xs: list[int]):
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit([[x] for x in xs], [2 * x for x in xs])


@pipeline(name="pg-pipe " + EVIL)
def pg_pipe(n: int = 6):
    xs = pg_load(n)
    pg_total(xs)
    pg_train(xs)


class Page(HTMLParser):
    """A page's visible text (whitespace collapsed), its tags and its links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self._text: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.links: list[str] = []
        self.feed(html)
        self.text = " ".join(" ".join(self._text).split())

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        self.tags.append((tag, values))
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])

    def handle_data(self, text):
        self._text.append(text)


@pytest.fixture(scope="module")
def postgres_store_uri(postgres_server):
    """A database of this module's own on the session's PostgreSQL, dropped afterwards."""
    uri = postgres_server.create_database()
    yield uri
    registry.forget_stores()
    postgres_server.drop_database(uri)


@pytest.fixture(scope="module")
def server(tmp_path_factory, postgres_store_uri):
    folder = tmp_path_factory.mktemp("dashboard-postgres")
    with running_server(
        postgres_store_uri, str(folder / "artifacts"), folder / "server.log"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def site(server, tmp_path_factory):
    """The store filled through the server: ids of what the pages show."""
    files = tmp_path_factory.mktemp("pg-files")
    (files / "folder" / "sub").mkdir(parents=True)
    (files / "folder" / "one.txt").write_text("one")
    (files / "folder" / "sub" / "two é.txt").write_text("two")
    (files / "data.csv").write_text("a,b\n1,2.5\n3,4.5\n")
    ids: dict[str, str] = {}
    config.set_tracking_uri(server.url)
    try:
        heron.set_experiment("pg-dash " + QUOTED)
        for i in range(12):
            with heron.start_run(name=f"pg-run-{i:02d}", tags={"team": "ab"[i % 2]}) as run:
                heron.log_params({"depth": str(i % 3), "lr": 0.01 * (i + 1)})
                heron.log_metrics({"acc": i / 20, "loss": 1 - i / 20})
            ids[f"run{i}"] = run.id
        with heron.start_run(name=EVIL, tags={"note": QUOTED, EVIL: EVIL}) as run:
            heron.log_params({"depth": "9", "evil": EVIL, "long": "p" * 6000})
            for s in range(40):
                heron.log_metric("loss", 1.0 / (s + 1), step=s)
            heron.log_text("hello " + EVIL, "notes.txt")
            heron.log_artifact(str(files / "data.csv"))
            heron.log_artifact(str(files / "folder"))
            ids["evil"] = run.id
        with heron.start_run(name="pg-parent") as parent:
            heron.log_metric("acc", 0.99)
            for j in range(3):
                with heron.start_run(name=f"pg-kid-{j}", nested=True) as kid:
                    heron.log_metric("kid_metric", j)
                ids[f"kid{j}"] = kid.id
        ids["parent"] = parent.id
        first = pg_pipe(n=6)
        again = pg_pipe(n=6)  # every step cached
        log_buffer.flush_all(raise_errors=False)
        client = heron.Client(server.url)
        total = first.steps["pg_total"].outputs["output"]
        model = first.steps["pg_train"].outputs["output"]
        client.register_model("pg-model", source=model.id)
        client.set_model_alias("pg-model", "champion", 1)
    finally:
        while fluent.active_run() is not None:
            fluent.end_run()
        log_buffer.flush_all(raise_errors=False)
        config.set_tracking_uri(None)
    store = RestStore(server.url)
    ids["experiment"] = store.get_experiment_by_name("pg-dash " + QUOTED).id
    ids.update(
        pipeline=first.id,
        again=again.id,
        load_step=first.steps["pg_load"].id,
        total_step=first.steps["pg_total"].id,
        load_output=first.steps["pg_load"].outputs["output"].id,
        total_output=total.id,
        train_step=first.steps["pg_train"].id,
        model_output=first.steps["pg_train"].outputs["output"].id,
        total_sum=str(total.load()),
    )
    return ids


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as http_client:
        yield http_client


def get(client, path, params=None, status=200) -> tuple[str, Page]:
    response = client.get(path, params=params, headers={"accept": "text/html"})
    assert response.status_code == status, response.text[:2000]
    html = response.text
    if response.headers.get("content-type", "").startswith("text/html"):
        assert EVIL not in html  # escaped everywhere
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html)
        assert " style=" not in html
    return html, Page(html)


def run_names(page: Page) -> list[str]:
    """Names of the runs table's rows, in order (links to /runs/ inside the table rows)."""
    rows = [a for tag, a in page.tags if tag == "tr" and "data-run-id" in a]
    return [a["data-run-id"] for a in rows]


def test_home_and_experiments_list(client, site):
    response = client.get("/")
    assert response.status_code == 307 and response.headers["location"] == "/experiments"
    html, page = get(client, "/experiments")
    assert "pg-dash " + QUOTED in page.text
    row = re.search(r'href="/experiments/' + site["experiment"] + r'".*?</tr>', html, re.S)
    assert '<td class="num">17</td>' in row.group(0)  # 12 + evil + parent + 3 children


def test_runs_table_sorted_filtered_and_nested(client, site):
    path = f"/experiments/{site['experiment']}"
    html, page = get(client, path, {"sort": "metrics.acc", "dir": "desc"})
    ordered = run_names(page)
    assert ordered[:3] == [site["parent"], site["kid0"], site["kid1"]]  # children follow
    assert ordered.index(site["run11"]) < ordered.index(site["run10"])
    assert "0.55" in page.text and 'aria-sort="descending"' in html
    html, page = get(
        client, path, {"filter": "metrics.acc > 0.2 and params.depth = '1'", "sort": "name"}
    )
    assert run_names(page) == [site["run7"], site["run10"]]  # acc 0.35 and 0.5, by name
    assert 'value="metrics.acc &gt; 0.2 and params.depth = &#39;1&#39;"' in html
    html, page = get(client, path, {"sort": "metrics.acc", "dir": "asc", "per_page": "50"})
    assert run_names(page)[0] == site["run0"]
    html, page = get(client, path, {"flat": "1", "filter": "metrics.kid_metric >= 1"})
    assert sorted(run_names(page)) == sorted([site["kid1"], site["kid2"]])


def test_runs_table_filter_syntax_error_keeps_the_table(client, site):
    path = f"/experiments/{site['experiment']}"
    html, page = get(client, path, {"filter": "metrics.acc >> 1"})
    assert "The filter was not applied" in html and "unknown operator" in html
    assert 'aria-invalid="true"' in html
    assert len(run_names(page)) >= 14  # the table, unfiltered
    _, none = get(client, path, {"filter": "params.depth = 'nope'"})
    assert "No runs match this filter" in none.text


def test_columns_chooser_and_chosen_columns(client, site):
    path = f"/experiments/{site['experiment']}"
    html, _ = get(client, f"{path}/columns")
    for key in ("metrics.acc", "metrics.loss", "params.depth", "params.lr", "tags.team"):
        assert f'value="{key}"' in html
    assert 'value="tags.' + EVIL_ESCAPED + '"' in html
    html, _ = get(client, f"{path}/columns", {"q": "LO", "col": "params.lr"})
    assert 'value="metrics.loss"' in html and 'value="params.depth"' not in html
    html, _ = get(client, path, {"col": ["params.lr", "tags.team"]})
    headers = re.findall(r'data-col="([^"]+)"', html)
    assert headers[-2:] == ["params.lr", "tags.team"]


def test_run_page_of_a_tracked_run(client, site):
    html, page = get(client, f"/runs/{site['evil']}")
    assert EVIL_ESCAPED in html and "ünïcødé" in page.text
    assert "p" * 6000 in page.text  # a long value, whole
    assert "0.025" in page.text  # loss at step 39: 1/40
    assert [a["data-metric-key"] for _, a in page.tags if "data-metric-key" in a] == ["loss"]
    assert "hello " + EVIL in page.text  # the text preview, as text
    assert "one.txt" in page.text and "sub/two é.txt" in page.text
    history = client.get(
        f"/api/v1/runs/{site['evil']}/metrics/history", params={"key": "loss", "max_points": 8}
    ).json()["result"]
    assert len(history) <= 8 and history[0][2] == 0 and history[-1][2] == 39
    get(client, "/runs/no-such-run", status=404)


def test_run_pages_link_parents_children_and_pipelines(client, site):
    _, parent = get(client, f"/runs/{site['parent']}")
    assert all(f"/runs/{site[f'kid{j}']}" in parent.links for j in range(3))
    _, kid = get(client, f"/runs/{site['kid0']}")
    assert f"/runs/{site['parent']}" in kid.links
    html, step_page = get(client, f"/runs/{site['load_step']}")
    assert f"/pipelines/runs/{site['pipeline']}" in step_page.links
    assert "pg loading 6 &lt;b&gt;rows&lt;/b&gt;" in html  # its captured output, escaped
    _, pipe = get(client, f"/runs/{site['pipeline']}")
    assert f"/pipelines/runs/{site['pipeline']}" in pipe.links


def test_compare_two_runs(client, site):
    html, page = get(client, f"/compare?runs={site['run1']}&runs={site['run2']}")
    assert "lr (differs)" in page.text and "depth (differs)" in page.text
    assert "0.02" in page.text and "0.03" in page.text and "0.1" in page.text
    assert '<script type="application/json" id="compare-data">' in html
    get(client, f"/compare?runs={site['run1']}", status=400)


def test_raw_artifact_downloads(client, site):
    _, page = get(client, f"/runs/{site['evil']}")
    raw = sorted({h for h in page.links if h.endswith("/raw")})
    answers = {h: client.get(h) for h in raw}
    texts = {r.text for r in answers.values() if r.status_code == 200}
    assert "hello " + EVIL in texts and "a,b\n1,2.5\n3,4.5\n" in texts
    member = next(h for h in page.links if "member=sub/two" in h)
    assert client.get(member).text == "two"
    answer = client.get(f"/artifacts/{site['total_output']}/raw")
    assert answer.status_code == 200 and answer.headers["content-disposition"].startswith("attach")
    assert answer.text.strip() == site["total_sum"]  # the JSON of 15
    get(client, "/artifacts/no-such-artifact/raw", status=404)


def test_pipelines_and_pipeline_run_pages(client, site):
    html, page = get(client, "/pipelines")
    assert "pg-pipe " + EVIL in page.text
    assert f"/pipelines/runs/{site['pipeline']}" in page.links
    assert f"/pipelines/runs/{site['again']}" in page.links
    html, page = get(client, f"/pipelines/runs/{site['pipeline']}")
    for name in ("load_step", "total_step", "train_step"):
        assert f"/runs/{site[name]}" in page.links
    assert html.count('class="edge"') == 2 and 'data-node="pg_total"' in html
    assert "completed" in page.text
    html, _ = get(client, f"/pipelines/runs/{site['again']}")
    assert html.count('class="node st-cached"') == 3
    html, page = get(client, f"/pipelines/runs/{site['pipeline']}", {"log": "pg_load"})
    assert "pg loading 6 <b>rows</b>" in page.text
    redirect = client.get(f"/pipelines/runs/{site['load_step']}")
    assert redirect.status_code == 307


def test_artifacts_list_and_lineage_with_depth(client, site):
    _, page = get(client, "/artifacts")
    assert "pg_load.output" in page.text and "pg_total.output" in page.text
    _, found = get(client, "/artifacts", {"q": "PG_LOAD"})
    assert "pg_load.output" in found.text and "pg_total.output" not in found.text
    html, page = get(client, f"/artifacts/{site['total_output']}", {"depth": "2"})
    lineage = html.split('class="lineage"', 1)[1].split("</svg>", 1)[0]
    assert f"/runs/{site['total_step']}" in lineage  # its producer
    assert f"/artifacts/{site['load_output']}" in lineage  # two hops upstream
    assert f"/runs/{site['load_step']}" not in lineage  # three hops: past depth 2
    _, deep = get(client, f"/artifacts/{site['total_output']}", {"depth": "3"})
    assert f"/runs/{site['load_step']}" in deep.links
    get(client, f"/artifacts/{site['total_output']}", {"depth": "99"}, status=400)


def test_models_pages(client, site):
    html, page = get(client, "/models")
    assert ">pg-model</a>" in html and "@champion → v1" in html
    html, page = get(client, "/models/pg-model")
    assert "/models/pg-model/versions/1" in page.links
    assert f"/runs/{site['train_step']}" in page.links
    assert f"/pipelines/runs/{site['pipeline']}" in page.links
    assert html.count('<svg class="tl"') == 1
    html, page = get(client, "/models/pg-model/versions/1")
    assert f"/artifacts/{site['model_output']}" in page.links
    assert f"/artifacts/{site['load_output']}" in page.links  # the training data
    assert "sklearn.linear_model" in html
    assert "@champion" in html
    get(client, "/models/pg-model/versions/7", status=404)
    get(client, "/models/no-such-model", status=404)


def test_column_keys_of_a_large_experiment_walk_the_key_index(
    postgres_store_uri,
    site,
    data,  # noqa: F811 - the fixture imported above
    monkeypatch,
):
    """The loose index scan (used past ``DIRECT_RUNS`` runs) on PostgreSQL answers what the
    direct read does: the keys this experiment's runs hold, none of another experiment's."""
    from heron.store.sql import keys

    with open_sql_store(postgres_store_uri) as store:
        direct = {
            entity: store.experiment_keys(site["experiment"], entity)
            for entity in ("metric", "param", "tag")
        }
        monkeypatch.setattr(keys, "DIRECT_RUNS", 0)
        for entity, expected in direct.items():
            assert store.experiment_keys(site["experiment"], entity) == expected
        assert direct["metric"][0] == ["acc", "kid_metric", "loss"]
        assert store.experiment_keys(site["experiment"], "param", "D", 1) == (["depth"], 1)
        assert "k0000" not in direct["metric"][0]  # one of the 5,000 keys of "wide" only
        wide = store.experiment_keys(data["wide"], "metric")
        assert wide[1] == 5000 and wide[0][0] == "k0000" and len(wide[0]) == 500
