"""The runs table's pieces that need no server: columns as URLs name them, sorting clicks,
default and offered columns, filter error positions, and the SQL helpers behind the page
(top-level paging, child runs, distinct keys of an experiment) on a SQLite store."""

from __future__ import annotations

import math

import pytest

from heron.core.entities import Metric, Run
from heron.core.errors import FilterError
from heron.server.dashboard.pages import experiments as pages
from heron.server.dashboard.pages import runs_table as rt
from heron.store import filters
from heron.store.sql import keys
from tests.support.stores import open_sql_store, sqlite_uri


def run(**fields) -> Run:
    return Run(id=fields.pop("id", "r1"), experiment_id="e", name=fields.pop("name", "n"), **fields)


def test_columns_are_named_as_the_search_grammar_names_them():
    assert rt.parse_column("metrics.val.acc") == rt.Column("metric", "val.acc")
    assert rt.parse_column("params.lr") == rt.Column("param", "lr")
    assert rt.parse_column("tags.a b") == rt.Column("tag", "a b")
    assert rt.parse_column("start_time") == rt.Column("attribute", "start_time")
    for text in ("", None, "metrics.", "bogus.x", "bogus", "start_time.x"):
        assert rt.parse_column(text) is None
    assert rt.Column("metric", "val.acc").id == "metrics.val.acc"
    assert rt.parse_columns(["metrics.a", "", "status", "metrics.a", "tags.t"]) == [
        rt.Column("metric", "a"),
        rt.Column("tag", "t"),
    ]


@pytest.mark.parametrize("key", ["acc", "val.acc", "a b", "we`ird", "ünï", "x'y\"z"])
def test_order_by_of_any_key_parses_back_to_that_key(key):
    for entity in ("metric", "param", "tag"):
        order = filters.parse_order_by(rt.Column(entity, key).order_by(True))
        assert (order.entity, order.key, order.ascending) == (entity, key, False)


def test_attribute_columns_sort_but_duration_does_not():
    sortable = {c.key for c in rt.ATTRIBUTE_COLUMNS if c.sortable}
    assert sortable == {"name", "status", "start_time", "user"}
    for column in rt.ATTRIBUTE_COLUMNS:
        if column.sortable:
            assert filters.parse_order_by(column.order_by(False)).key == column.key


def test_a_header_click_toggles_the_sort_column_and_starts_others_in_their_direction():
    acc, name = rt.Column("metric", "acc"), rt.Column("attribute", "name")
    assert rt.sort_href_args(acc, name, False) == {
        "sort": "metrics.acc",
        "dir": "desc",
        "page": None,
    }
    assert rt.sort_href_args(name, acc, True)["dir"] == "asc"
    assert rt.sort_href_args(acc, acc, True)["dir"] == "asc"
    assert rt.sort_href_args(acc, acc, False)["dir"] == "desc"


def test_default_columns_are_the_common_keys_capped_plus_the_wanted_ones():
    runs = [
        run(
            id=str(i), metrics={f"m{j}": 1.0 for j in range(12)} | {"rare": 1.0}, params={"lr": "1"}
        )
        for i in range(3)
    ]
    runs.append(run(id="x", metrics={"only_here": 2.0}))
    wanted = [rt.Column("tag", "team"), rt.Column("metric", "rare"), rt.DEFAULT_SORT]
    columns = rt.default_columns(runs, wanted, cap=4)
    metrics = [c.key for c in columns if c.entity == "metric"]
    assert len(metrics) == 4 and "rare" in metrics and "only_here" not in metrics
    assert [c.id for c in columns if c.entity != "metric"] == ["params.lr", "tags.team"]
    assert all(c.entity != "attribute" for c in columns)


def test_candidates_are_the_page_keys_not_shown_with_system_tags_last():
    runs = [run(metrics={"a": 1.0, "b": 2.0}, tags={"heron.x": "1", "team": "t"})]
    offered = rt.candidate_columns(runs, [rt.Column("metric", "a")])
    assert [c.id for c in offered] == ["metrics.b", "tags.team", "tags.heron.x"]


def test_filter_columns_are_the_keys_a_valid_filter_names():
    columns = rt.filter_columns("metrics.acc > 0.9 and params.depth = '3' and status = 'running'")
    assert columns == [rt.Column("metric", "acc"), rt.Column("param", "depth")]
    assert rt.filter_columns("metrics.acc >") == []


def test_error_position_reads_where_the_filter_went_wrong():
    with pytest.raises(FilterError) as e:
        filters.parse_filter("metrics.acc >> 1")
    assert rt.error_position(str(e.value)) == 12
    assert rt.error_position("no position here") is None


def test_clip_and_run_links():
    assert rt.clip("x" * 200, 10) == "x" * 9 + "…" and rt.clip(None) == "" and rt.clip(3) == "3"
    assert rt.run_href(run(kind="pipeline")) == "/pipelines/runs/r1"
    assert rt.run_href(run(kind="step")) == "/runs/r1"


def test_the_empty_state_snippet_is_python_that_compiles():
    for name in (None, "iris", 'it\'s "quoted" <b>'):
        compile(pages.start_snippet(name), "<snippet>", "exec")
    assert "set_experiment('iris')" in pages.start_snippet("iris")


# --- the SQL helpers ----------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    with open_sql_store(sqlite_uri(tmp_path / "heron.db")) as s:
        yield s


def _tree(store):
    exp = store.create_experiment("tree")
    parents = []
    for i in range(3):
        parent = store.create_run(exp.id, name=f"p{i}", start_time=1000 + i)
        store.log_batch(parent.id, [Metric("acc", i / 10, 0, 0)], status="completed")
        parents.append(parent)
        for j in range(i * 2):  # p0 none, p1 two, p2 four children
            child = store.create_run(
                exp.id, name=f"c{i}{j}", parent_id=parent.id, start_time=2000 + j
            )
            store.log_batch(child.id, [Metric("acc", 0.99, 0, 0)], status="completed")
    return exp, parents


def test_top_level_pages_skip_children_and_keep_the_search_order(store):
    exp, _ = _tree(store)
    runs, more = store.search_runs_page(
        [exp.id], None, ["metrics.acc DESC"], limit=2, top_level=True
    )
    assert [r.name for r in runs] == ["p2", "p1"] and more
    runs, more = store.search_runs_page(
        [exp.id], None, ["metrics.acc DESC"], limit=2, offset=2, top_level=True
    )
    assert [r.name for r in runs] == ["p0"] and not more
    flat, _ = store.search_runs_page([exp.id], "metrics.acc > 0.5", None, limit=50)
    assert len(flat) == 6 and all(r.parent_id for r in flat)
    with pytest.raises(FilterError):
        store.search_runs_page([exp.id], "metrics.acc >", None, limit=5)


def test_child_runs_come_capped_with_their_count(store):
    exp, parents = _tree(store)
    tree = store.child_runs([p.id for p in parents], per_parent=3)
    assert parents[0].id not in tree
    kids, count = tree[parents[2].id]
    assert count == 4 and [k.name for k in kids] == ["c20", "c21", "c22"]
    assert tree[parents[1].id][1] == 2 and tree[parents[1].id][0][0].metrics["acc"] == 0.99
    assert store.child_runs([]) == {}
    stats = store.experiment_run_stats()
    assert stats[exp.id][0] == 9 and store.experiment_run_stats(["nope"]) == {}


@pytest.mark.parametrize("direct_runs", [10_000, 0])  # read directly / by the loose index scan
def test_experiment_keys_are_those_of_its_runs_only(store, monkeypatch, direct_runs):
    monkeypatch.setattr(keys, "DIRECT_RUNS", direct_runs)
    mine, other = store.create_experiment("mine"), store.create_experiment("other")
    a = store.create_run(mine.id)
    store.log_batch(
        a.id,
        [Metric(f"m{i:02d}", float(i), 0, 0) for i in range(30)] + [Metric("nan", math.nan, 0, 0)],
        {"Depth": "3"},
        {"team": "x"},
    )
    b = store.create_run(other.id)
    store.log_batch(b.id, [Metric("theirs", 1.0, 0, 0)], {"p_other": "1"})
    names, count = store.experiment_keys(mine.id, "metric")
    assert count == 31 and "theirs" not in names and "nan" in names
    assert store.experiment_keys(mine.id, "metric", "M0", limit=3) == (
        ["m00", "m01", "m02"],
        10,
    )
    assert store.experiment_keys(mine.id, "param", "depth") == (["Depth"], 1)
    assert store.experiment_keys(mine.id, "tag") == (["team"], 1)
    assert store.experiment_keys(other.id, "param") == (["p_other"], 1)
