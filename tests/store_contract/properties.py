"""Property tests of `Store.search_runs` (hypothesis).

A test module runs them by importing everything from here and from ``search_suite`` (for its
``world`` fixture), and defining a function-scoped ``store`` fixture and a module-scoped
``search_store`` one. Each example
works in an experiment of its own, so one store serves every example of a test.
"""

from __future__ import annotations

import math
import uuid

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from heron.core.entities import Metric
from heron.core.errors import FilterError, HeronError
from heron.core.validation import MAX_KEY_LENGTH
from heron.store import filters
from tests.store_contract.search_suite import World, expected

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Characters that quoting, escaping or LIKE could get wrong, plus anything else but NUL and
# lone surrogates (whether a store takes those is tested in the suite, not here).
_TRICKY = "'\"`%_;\\ .=()*\n\t\u00e9\u00df\u0130\u212a\U0001f680"
_ANY = st.characters(exclude_categories=("Cs",), exclude_characters="\0")
tricky_text = st.text(st.sampled_from(_TRICKY) | _ANY, min_size=1, max_size=30)
# What the store accepts as a key: no NUL, no surrounding whitespace, 1..250 characters.
keys = tricky_text.map(str.strip).filter(lambda k: k and "\0" not in k and len(k) <= MAX_KEY_LENGTH)


def quote(value: str) -> str:
    """``value`` as a single-quoted literal of the filter grammar."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def backtick(key: str) -> str:
    return "`" + key.replace("`", "``") + "`"


def similar_values(value: str) -> set[str]:
    """Values a wrong implementation of ``=`` (LIKE, case folding, trimming) might match."""
    variants = {
        value + "x",
        "x" + value,
        value.upper(),
        value.lower(),
        value.swapcase(),
        value + " ",
        " " + value,
        value.replace("%", "xy").replace("_", "z"),
        value.replace("\\", ""),
        value.replace("'", ""),
        value[:-1] or "x",
    }
    return {v for v in variants if v != value}


def fresh_experiment(store) -> str:
    return store.create_experiment(f"prop-{uuid.uuid4().hex}").id


@SETTINGS
@given(text=st.text())
def test_any_text_as_a_filter_answers_or_raises_a_heron_error(world: World, text: str):
    try:
        found = world.store.search_runs(filter_string=text)
    except HeronError:
        return
    assert isinstance(found, list)


@SETTINGS
@given(text=st.text())
def test_any_text_as_an_order_by_answers_or_raises_a_heron_error(world: World, text: str):
    try:
        found = world.store.search_runs(order_by=[text])
    except HeronError:
        return
    assert isinstance(found, list)


@SETTINGS
@given(value=tricky_text, key=keys)
def test_tag_value_is_matched_literally_by_equality(store, value, key):
    exp_id = fresh_experiment(store)
    target = store.create_run(exp_id, tags={key: value})
    decoys = similar_values(value)
    for decoy in decoys:
        store.create_run(exp_id, tags={key: decoy})

    found = store.search_runs([exp_id], f"tags.{backtick(key)} = {quote(value)}")

    assert [r.id for r in found] == [target.id]
    assert found[0].tags == {key: value}
    unequal = store.search_runs([exp_id], f"tags.{backtick(key)} != {quote(value)}")
    assert sorted(r.tags[key] for r in unequal) == sorted(decoys)


@SETTINGS
@given(value=tricky_text, key=keys, other_key=keys)
def test_param_key_in_backticks_is_matched_literally(store, value, key, other_key):
    assume(other_key != key)
    exp_id = fresh_experiment(store)
    target = store.create_run(exp_id)
    store.log_batch(target.id, params={key: value})
    decoy = store.create_run(exp_id)
    store.log_batch(decoy.id, params={other_key: value})

    found = store.search_runs([exp_id], f"params.{backtick(key)} = {quote(value)}")
    listed = store.search_runs([exp_id], f"params.{backtick(key)} IN ({quote(value)}, 'zz')")

    assert [r.id for r in found] == [target.id]
    assert [r.id for r in listed] == [target.id]


@SETTINGS
@given(
    values=st.lists(
        st.none() | st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=12
    ),
    ascending=st.booleans(),
)
def test_runs_missing_the_ordered_metric_come_last_after_nan(store, values, ascending):
    exp_id = fresh_experiment(store)
    runs = []
    for i, value in enumerate(values):
        run = store.create_run(exp_id, start_time=1_000_000 + i)
        store.log_batch(run.id, metrics=[Metric("other", 1.0, 0, 0)])
        if value is not None:
            store.log_batch(run.id, metrics=[Metric("m", value, 0, 0)])
        runs.append((run.id, i, value))

    order = "ASC" if ascending else "DESC"
    found = [r.id for r in store.search_runs([exp_id], order_by=[f"metrics.m {order}"])]

    def has_number(v) -> bool:
        return v is not None and not math.isnan(v)

    numbers = sorted(
        (r for r in runs if has_number(r[2])),
        key=lambda r: (r[2] if ascending else -r[2], -r[1]),  # ties: newest start first
    )
    # then NaN (a value, as in MLflow), then the runs lacking the metric: newest first
    nans = sorted((r for r in runs if r[2] is not None and math.isnan(r[2])), key=lambda r: -r[1])
    rest = sorted((r for r in runs if r[2] is None), key=lambda r: -r[1])
    assert found == [r[0] for r in numbers + nans + rest]


_ORDER_KEYS = [
    "metrics.acc",
    "metrics.loss",
    "metrics.`val.acc`",
    "metrics.absent",
    "params.opt",
    "tags.team",
    "attributes.name",
    "start_time",
    "attributes.start_time",
    "attributes.end_time",
]


@SETTINGS
@given(
    clauses=st.lists(
        st.tuples(st.sampled_from(_ORDER_KEYS), st.sampled_from(["", " ASC", " desc"])),
        min_size=1,
        max_size=4,
    ),
    page_size=st.sampled_from([1, 5, 13, 40]),
)
def test_any_order_by_list_pages_in_order_or_refuses_a_repeated_key(
    world: World, clauses, page_size
):
    """Issue 8 item 20: a repeated key (e.g. -o metrics.acc -o 'metrics.acc DESC' -n 40)
    crashed once a page ran past the runs having it; now it is refused, and any other list
    pages through every run exactly once, in the model's order."""
    order_by = [key + direction for key, direction in clauses]
    parsed = [filters.parse_order_by(o) for o in order_by]
    if len({(o.entity, o.key) for o in parsed}) < len(parsed):
        with pytest.raises(FilterError, match="named twice"):
            world.store.search_runs(order_by=order_by, max_results=page_size, view="all")
        return
    names, token = [], None
    while True:
        page = world.store.search_runs(
            order_by=order_by, max_results=page_size, page_token=token, view="all"
        )
        names += [world.name_of[r.id] for r in page]
        token = page.token
        if token is None:
            break
    assert names == expected(world, view="all", order_by=order_by)
