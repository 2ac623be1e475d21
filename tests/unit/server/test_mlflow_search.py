"""MLflow's search strings in Heron's grammar (heron.server.mlflow.search)."""

from __future__ import annotations

import pytest

from heron.server.mlflow.errors import MlflowError
from heron.server.mlflow.search import (
    decode_offset_token,
    like_matcher,
    search_experiments,
    translate_run_search,
)
from heron.store import filters


def heron(filter_string, order_by=()):
    search = translate_run_search(filter_string, list(order_by))
    assert search is not None
    # what we write must parse in Heron's own grammar
    filters.parse_filter(search.filter_string)
    filters.parse_order_by_list(search.order_by)
    return search.filter_string, search.order_by


def test_attributes_take_heron_names():
    assert heron("attributes.run_name = 'a' and attributes.user_id != 'b'") == (
        "attributes.name = 'a' and attributes.user != 'b'",
        [],
    )
    assert heron("attributes.created > 5", ["attributes.run_name DESC", "start_time"]) == (
        "attributes.start_time > 5.0",
        ["attributes.name DESC", "attributes.start_time ASC"],
    )
    assert heron("attributes.`Run name` LIKE 'x%'")[0] == "attributes.name LIKE 'x%'"


def test_keys_and_values_are_quoted_back_exactly():
    text, order = heron(
        "params.`batch size` = 'it''s' and tags.`a``b` ILIKE '%\\\\%' and metrics.val.acc >= 1e-3",
        ["metrics.`my key` ASC"],
    )
    parsed = filters.parse_filter(text)
    assert [(c.entity, c.key, c.op, c.value) for c in parsed] == [
        ("param", "batch size", "=", "it's"),
        ("tag", "a`b", "ILIKE", "%\\%"),
        ("metric", "val.acc", ">=", 0.001),
    ]
    assert order == ["metrics.`my key` ASC"]


def test_statuses_map_to_every_heron_status_answered_as_them():
    assert heron("attributes.status = 'FINISHED'")[0] == (
        "attributes.status IN ('cached', 'completed')"
    )
    assert heron("status != 'KILLED'")[0] == "attributes.status NOT IN ('cancelled', 'skipped')"
    assert heron("attributes.status LIKE 'F%'")[0] == (
        "attributes.status IN ('cached', 'completed', 'failed')"
    )
    assert heron("attributes.status ILIKE '%ing'")[0] == "attributes.status IN ('running')"
    assert translate_run_search("attributes.status LIKE 'X%'", []) is None
    with pytest.raises(MlflowError, match="unknown run status 'done'"):
        translate_run_search("attributes.status = 'done'", [])


def test_run_name_tag_is_the_run_name():
    assert heron("tags.mlflow.runName = 'r'", ["tags.`mlflow.runName` DESC"]) == (
        "attributes.name = 'r'",
        ["attributes.name DESC"],
    )
    assert translate_run_search("tags.mlflow.runName IS NULL", []) is None
    assert heron("tags.mlflow.runName IS NOT NULL and params.a IS NULL")[0] == (
        "params.`a` IS NULL"
    )


@pytest.mark.parametrize(
    ("filter_string", "order_by", "message"),
    [
        ("attributes.artifact_uri = 'x'", [], "filter on attributes.run_id"),
        ("", ["attributes.status"], "order_by on attributes.status"),
        ("metrics.acc > 1 or metrics.acc < 0", [], "OR is not supported"),
        ("params.depth = 3", [], "Quote string values"),
        ("datasets.name = 'x'", [], "unknown prefix"),
        ("", ["metrics.a", "metrics.a DESC"], "named twice"),
    ],
)
def test_unsupported_searches_are_400_with_a_fix(filter_string, order_by, message):
    with pytest.raises(MlflowError, match=message) as caught:
        translate_run_search(filter_string, order_by)
    assert caught.value.status == 400 and caught.value.code == "INVALID_PARAMETER_VALUE"


def test_like_matcher_is_sql_like():
    assert like_matcher("a%c", False)("abbbc") and not like_matcher("a%c", False)("Abc")
    assert like_matcher("a_c", False)("abc") and not like_matcher("a_c", False)("abbc")
    assert like_matcher("A.%", True)("a.x") and not like_matcher("a.%", True)("abx")


def experiment(id_, name, created, tags=()):
    return {
        "experiment_id": id_,
        "name": name,
        "creation_time": created,
        "last_update_time": created,
        "tags": [{"key": k, "value": v} for k, v in tags],
    }


EXPERIMENTS = [
    experiment("0", "Default", 10),
    experiment("b" * 32, "beta", 30, [("team", "x")]),
    experiment("a" * 32, "alpha", 30),
    experiment("c" * 32, "gamma", 20, [("team", "y")]),
]


def names(page):
    return [e["name"] for e in page]


def test_experiments_default_order_and_pages():
    page, token = search_experiments(EXPERIMENTS, None, None, 2, None)
    # creation_time DESC, then experiment_id ASC
    assert names(page) == ["alpha", "beta"] and token
    rest, last = search_experiments(EXPERIMENTS, None, None, 2, token)
    assert names(rest) == ["gamma", "Default"] and last is None
    assert decode_offset_token(token) == 2


def test_experiments_filters_and_orders():
    found = search_experiments(EXPERIMENTS, "name LIKE '%a'", ["name"], 10, None)
    assert names(found[0]) == ["alpha", "beta", "gamma"]
    found = search_experiments(EXPERIMENTS, "tags.team IS NOT NULL", ["name DESC"], 10, None)
    assert names(found[0]) == ["gamma", "beta"]
    found = search_experiments(EXPERIMENTS, "creation_time < 25 and name ILIKE 'd%'", [], 10, None)
    assert names(found[0]) == ["Default"]
    found = search_experiments(EXPERIMENTS, "experiment_id IN ('0')", None, 10, None)
    assert names(found[0]) == ["Default"]
    with pytest.raises(MlflowError, match="max_results"):
        search_experiments(EXPERIMENTS, None, None, 0, None)
    with pytest.raises(MlflowError, match="page token"):
        search_experiments(EXPERIMENTS, None, None, 1, "not a token")
    with pytest.raises(MlflowError):
        search_experiments(EXPERIMENTS, "metrics.a > 1", None, 1, None)
