"""The registry face's pure pieces: which model-version sources are refused before any look-up,
page tokens, stages, versions, LIKE patterns, order-by clauses and the acting user."""

from __future__ import annotations

import base64

import pytest

from heron.core.entities import ModelVersion
from heron.server.mlflow import registry, registry_search, sources
from heron.server.mlflow.errors import INVALID_PARAMETER_VALUE, MlflowError


class _NoStore:
    """A store that fails the test if a refused source reaches it."""

    def __getattr__(self, name):
        raise AssertionError(f"the store was asked {name} for a source that should be refused")


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("s3://bucket/models/iris", "Heron registers models it stores"),
        ("/tmp/model", "Heron registers models it stores"),
        ("file:///tmp/model", "Heron registers models it stores"),
        ("https://example.com/model.pkl", "Heron registers models it stores"),
        ("runs:/abc/../../etc", "'..'"),
        ("runs:/abc/%2e%2e/x", "'..'"),
        ("runs:/abc/%252e%252e/x", "'..'"),
        ("runs:/abc/model%00", "NUL"),
        ("runs:/", "runs:/<run_id>/<name>"),
        ("runs:/abc", "runs:/<run_id>/<name>"),
        ("models:/", "models:/<model_id>"),
        ("mlflow-artifacts:/0/abc", "Invalid artifact path"),
        ("mlflow-artifacts:/0/abc/artifacts", "whole artifact folder"),
    ],
)
def test_sources_heron_does_not_store_are_refused_with_why_and_how(source, why):
    with pytest.raises(MlflowError) as caught:
        sources.artifact_for_source(_NoStore(), source)
    assert caught.value.code == INVALID_PARAMETER_VALUE and caught.value.status == 400
    assert why in caught.value.message
    assert caught.value.message.startswith("Invalid model version source:")


def test_a_run_id_that_does_not_hold_the_source_is_refused():
    with pytest.raises(MlflowError, match="must identify the run"):
        sources.artifact_for_source(_NoStore(), "runs:/aaa/model", run_id="bbb")
    with pytest.raises(MlflowError, match="must identify the run"):
        sources.artifact_for_source(_NoStore(), "mlflow-artifacts:/1/aaa/artifacts/m", run_id="b")


def test_a_model_id_that_does_not_hold_the_source_is_refused():
    with pytest.raises(MlflowError, match="must identify the logged model"):
        sources.artifact_for_source(_NoStore(), "runs:/aaa/model", model_id="m-1")
    with pytest.raises(MlflowError, match="must identify the logged model"):
        sources.artifact_for_source(_NoStore(), "models:/m-2", model_id="m-1")


def test_page_tokens_round_trip_in_mlflow_format():
    token = registry.page_token(200)
    assert base64.b64decode(token) == b'{"offset":200}'
    assert registry.page_offset({"page_token": token}) == 200
    assert registry.page_offset({}) == 0
    for bad in ("not base64!", base64.b64encode(b"[1]").decode(), registry.page_token(-1)):
        with pytest.raises(MlflowError, match="Invalid page token"):
            registry.page_offset({"page_token": bad})


def test_paged_gives_a_token_only_before_the_last_page():
    items = list(range(5))
    assert registry.paged(items, 0, 2) == ([0, 1], registry.page_token(2))
    assert registry.paged(items, 4, 2) == ([4], None)
    assert registry.paged(items, 3, 2) == ([3, 4], None)


def test_stages_are_read_in_any_case_and_unknown_ones_refused():
    assert registry.canonical_stage("production") == "Production"
    assert registry.canonical_stage("NONE") == "None"
    with pytest.raises(MlflowError, match="must be one of None, Staging, Production, Archived"):
        registry.canonical_stage("prod")


def _version(number: int, stage: str | None = None) -> ModelVersion:
    tags = {registry.STAGE_TAG: stage} if stage else {}
    return ModelVersion(id=str(number), name="m", version=number, artifact_id="a", tags=tags)


def test_latest_per_stage_keeps_the_highest_version_of_each_stage():
    versions = [
        _version(3, "Production"),
        _version(1),
        _version(2, "Production"),
        _version(4, "Staging"),
        _version(5),
    ]
    latest = registry.latest_per_stage(versions)
    assert [(v.version, registry.stage_of(v)) for v in latest] == [
        (5, "None"),
        (3, "Production"),
        (4, "Staging"),
    ]


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "x", "", "2147483648", "\u0661"])
def test_version_numbers_must_be_positive_integers(raw):
    with pytest.raises(MlflowError) as caught:
        registry.version_number({"version": raw})
    assert caught.value.code == INVALID_PARAMETER_VALUE


def test_version_numbers_accept_strings_and_ints():
    assert registry.version_number({"version": "12"}) == 12
    assert registry.version_number({"version": 3}) == 3


def test_max_results_defaults_and_limits():
    assert registry.max_results({}, 100, 1000) == 100
    assert registry.max_results({"max_results": "7"}, 100, 1000) == 7
    with pytest.raises(MlflowError, match="at most 1000, but got value 1001"):
        registry.max_results({"max_results": 1001}, 100, 1000)
    with pytest.raises(MlflowError, match="positive integer"):
        registry.max_results({"max_results": 0}, 100, 1000)


def test_the_stage_tag_cannot_be_written_as_a_tag():
    with pytest.raises(MlflowError, match="transition_model_version_stage"):
        registry.tag_pairs({"tags": [{"key": registry.STAGE_TAG, "value": "Production"}]})
    assert registry.tag_pairs({"tags": [{"key": "a", "value": "1"}]}) == {"a": "1"}
    with pytest.raises(MlflowError, match="non-empty string 'key'"):
        registry.tag_pairs({"tags": [{"value": "1"}]})


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("iris%", "iris-small", True),
        ("iris%", "Iris", False),
        ("i_is", "iris", True),
        ("i_is", "iiris", False),
        ("100\\%", "100%", True),
        ("100\\%", "1000", False),
        ("a.b", "axb", False),
        ("%", "", True),
    ],
)
def test_like_patterns(pattern, text, matches):
    assert (registry_search.like_pattern(pattern).fullmatch(text) is not None) is matches


def test_order_by_clauses_add_tie_breaks_and_refuse_unknown_or_repeated_keys():
    order = registry_search._order(
        ["last_updated_timestamp DESC"],
        registry_search._VERSION_ORDER_KEYS,
        tie_breaks=[("name", True), ("version", False)],
    )
    assert order == [("updated_at", False), ("name", True), ("version", False)]
    with pytest.raises(MlflowError, match="Invalid order by key 'owner'"):
        registry_search._order(["owner"], registry_search._MODEL_ORDER_KEYS, [])
    with pytest.raises(MlflowError, match="duplicate"):
        registry_search._order(
            ["timestamp", "last_updated_timestamp"], registry_search._MODEL_ORDER_KEYS, []
        )
    with pytest.raises(MlflowError, match="Could not be parsed"):
        registry_search._order(["name sideways"], registry_search._MODEL_ORDER_KEYS, [])


class _Request:
    def __init__(self, authorization: str | None) -> None:
        self._authorization = authorization

    def header(self, name: str) -> str | None:
        return self._authorization if name == "authorization" else None


def test_the_acting_user_comes_from_basic_credentials():
    basic = "Basic " + base64.b64encode(b"alice:secret").decode()
    assert registry.acting_user(_Request(basic)) == "alice"
    assert registry.acting_user(_Request(None)) is None
    assert registry.acting_user(_Request("Bearer token")) is None
    assert registry.acting_user(_Request("Basic !!!")) is None
