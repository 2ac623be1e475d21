"""Issue 8, search items: limits (7), page tokens bound to their query (18), repeated order keys
(20), IS NULL and status names (21), NaN as a value (22), on SQLite through the Client and the
CLI. The store-level contract is in tests/store_contract/search_suite.py (SQLite and PostgreSQL).
"""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

import heron
from heron.cli import main as cli_main
from heron.core import config
from heron.core.entities import Metric
from heron.core.errors import FilterError, InvalidArgument
from heron.store.sql.search import MAX_KEYS
from tests.support.stores import open_sql_store, sqlite_uri

VALUES = [0.91, math.nan, math.inf, -math.inf, 0.5, None]  # None: acc never logged


@pytest.fixture
def client(tmp_path):
    uri = sqlite_uri(tmp_path / "heron.db")
    with open_sql_store(uri):
        c = heron.Client(uri)
        exp = c.create_experiment("nan")
        for i, value in enumerate(VALUES):
            run = c.store.create_run(exp.id, name=f"r{i}", start_time=1_000_000 + i)
            c.store.log_batch(run.id, metrics=[Metric("other", 1.0, 0, 0)])
            if value is not None:
                c.store.log_batch(
                    run.id, metrics=[Metric("acc", 0.1, 0, 5), Metric("acc", value, 1, 6)]
                )
        yield c


def names(runs) -> list[str]:
    return [r.name for r in runs]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# --- item 22: NaN and infinities are values ----------------------------------------------------


def test_nan_and_infinities_are_kept_in_latest_value_and_history(client):
    for run in client.search_runs("nan"):
        i = int(run.name[1:])
        if VALUES[i] is None:
            assert "acc" not in run.metrics
            continue
        assert same(run.metrics["acc"], VALUES[i]), run.name
        history = client.get_metric_history(run.id, "acc")
        assert [p.step for p in history] == [0, 1]
        assert same(history[-1].value, VALUES[i])
        assert same(client.get_run(run.id).metrics["acc"], VALUES[i])


def test_not_equal_includes_nan_runs(client):
    assert names(client.search_runs("nan", "metrics.acc != 0.91")) == ["r4", "r3", "r2", "r1"]
    assert "r1" not in names(client.search_runs("nan", "metrics.acc = 0.91"))
    assert "r1" not in names(client.search_runs("nan", "metrics.acc < 1e308"))
    assert "r1" not in names(client.search_runs("nan", "metrics.acc > -1e308"))


@pytest.mark.parametrize(
    ("order", "first"),
    [("ASC", ["r3", "r4", "r0", "r2"]), ("DESC", ["r2", "r0", "r4", "r3"])],
)
@pytest.mark.parametrize("page_size", [1, 2, 4, 100])
def test_order_is_numbers_then_nan_then_missing(client, order, first, page_size):
    wanted = [*first, "r1", "r5"]
    for query in ({}, {"filter": "metrics.other = 1"}, {"filter": "metrics.acc != 7"}):
        page = client.search_runs(
            "nan", order_by=f"metrics.acc {order}", max_results=page_size, **query
        )
        found = names(page)
        while page.token:
            page = client.search_runs(
                "nan",
                order_by=f"metrics.acc {order}",
                max_results=page_size,
                page_token=page.token,
                **query,
            )
            found += names(page)
        expected = wanted if "acc" not in query.get("filter", "") else wanted[:-1]
        assert found == expected, query


# --- item 21: IS NULL, status names -------------------------------------------------------------


def test_is_null_and_is_not_null_through_the_client(client):
    assert names(client.search_runs("nan", "metrics.acc IS NULL")) == ["r5"]
    assert len(client.search_runs("nan", "metrics.acc IS NOT NULL")) == 5
    assert names(client.search_runs("nan", "params.lr is null and tags.x IS NULL"))[0] == "r5"


def test_mlflow_status_names_and_unknown_status(client):
    run = client.search_runs("nan", "attributes.name = 'r0'")[0]
    client.store.update_run(run.id, status="cancelled")
    assert names(client.search_runs("nan", "status = 'KILLED'")) == ["r0"]
    assert names(client.search_runs("nan", "status IN ('killed', 'FINISHED')")) == ["r0"]
    with pytest.raises(FilterError, match="cancelled, completed, failed"):
        client.search_runs("nan", "status = 'nope'")


def test_the_filters_docstring_status_example_matches():
    from heron.store import filters

    example = "params.\"batch size\" = '32' AND attributes.status IN ('completed', 'FAILED')"
    assert example in filters.__doc__
    assert filters.parse_filter(example)[1].value == ("completed", "failed")


# --- item 18: page tokens ----------------------------------------------------------------------


def test_page_token_with_another_query_is_refused_not_an_unfiltered_listing(client):
    query = {"filter": "metrics.acc != 0.91", "order_by": ["metrics.acc DESC"]}
    first = client.search_runs("nan", max_results=2, **query)
    with pytest.raises(InvalidArgument, match="different search"):
        client.search_runs("nan", page_token=first.token)  # the old docs example
    rest = client.search_runs("nan", max_results=10, page_token=first.token, **query)
    assert names(first) + names(rest) == names(client.search_runs("nan", **query))


# --- item 7: limits and types --------------------------------------------------------------------


def test_64_distinct_keys_is_a_filter_error_naming_the_limit(client):
    text = " and ".join(f"metrics.k{i} > 0" for i in range(48))
    order_by = [f"params.p{i}" for i in range(16)]
    with pytest.raises(FilterError, match=f"64 distinct .* at most {MAX_KEYS}"):
        client.search_runs("nan", text, order_by=order_by)
    assert client.search_runs("nan", text, order_by=order_by[: MAX_KEYS - 48]) == []


@pytest.mark.parametrize(
    "kwargs", [{"filter": 1}, {"filter": ("a",)}, {"order_by": 2}, {"order_by": [b"x"]}]
)
def test_non_string_filter_or_order_by_is_invalid_argument(client, kwargs):
    with pytest.raises(InvalidArgument) as caught:
        client.search_runs("nan", **kwargs)
    assert not isinstance(caught.value, TypeError)


# --- item 20: repeated order keys, from the CLI --------------------------------------------------


def _cli(client, *args: str):
    try:
        return CliRunner().invoke(cli_main.cli, ["--tracking-uri", client.store.uri, *args])
    finally:
        config.set_tracking_uri(None)


def test_cli_repeated_order_key_is_a_clear_error(client):
    result = _cli(client, "runs", "list", "-o", "metrics.acc", "-o", "metrics.acc DESC", "-n", "40")
    assert result.exit_code != 0
    assert "names the same key twice" in result.output
    assert "Traceback" not in result.output and "OperationalError" not in result.output


def test_repeated_order_key_from_the_client_at_any_page_size(client):
    for n in (1, 5, 40):
        with pytest.raises(FilterError, match="named twice"):
            client.search_runs("nan", order_by=["metrics.acc", "metrics.acc DESC"], max_results=n)


def test_cli_status_filter_with_mlflow_names(client):
    result = _cli(client, "runs", "list", "--filter", "status = 'FAILED'")
    assert result.exit_code == 0, result.output
    result = _cli(client, "runs", "list", "--filter", "status = 'oops'")
    assert result.exit_code != 0
    assert "completed" in result.output and "Traceback" not in result.output
