"""`Store.search_runs`: filters, views, ordering and paging, against one fixed set of runs.

A test module runs this suite by importing everything from here and defining a module-scoped
``search_store`` fixture (a fresh, empty store that these read-only tests share). The runs are
the table ``ROWS`` below; each test states the filter and, through a small Python model of the
rows (``expected``), which runs must come back in which order. A few tests spell the answer
out by hand to keep the model honest.
"""

from __future__ import annotations

import base64
import functools
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import pytest

from heron.core.entities import Metric
from heron.core.errors import FilterError, HeronError, InvalidArgument
from heron.store import filters

T0 = 1_700_000_000_000  # start_time of r00; run rNN starts NN seconds later
_ = None  # missing
NAN, INF = math.nan, math.inf

# fmt: off
ROWS = [
    # name  exp  status       kind        user     acc    loss   params.opt  tags.team
    ("r00", "a", "completed", "run",      "alice", 0.10,  0.90,  "adam",     "Vision"),
    ("r01", "a", "completed", "run",      "bob",   0.50,  0.50,  "sgd",      "vision"),
    ("r02", "a", "running",   "pipeline", "alice", 0.90,  0.10,  "adam",     "nlp"),
    ("r03", "a", "failed",    "run",      "carol", 0.30,  _,     "rmsprop",  "NLP"),
    ("r04", "a", "completed", "step",     "bob",   0.50,  0.40,  "adam",     _),
    ("r05", "a", "completed", "step",     "alice", _,     0.30,  "sgd",      "Vision"),
    ("r06", "a", "completed", "run",      "dave",  0.70,  0.20,  "adam",     "vision"),
    ("r07", "a", "cancelled", "run",      "bob",   NAN,   0.60,  "sgd",      "vision"),
    ("r08", "a", "completed", "run",      "carol", INF,   0.05,  _,          "nlp"),
    ("r09", "a", "completed", "run",      "alice", -INF,  1.50,  "adam",     "Vision"),
    ("r10", "a", "pending",   "run",      "erin",  0.20,  0.80,  "Adam",     "vision"),
    ("r11", "a", "completed", "pipeline", "bob",   0.60,  _,     "sgd",      "nlp"),
    ("r12", "a", "completed", "step",     "alice", 0.65,  0.35,  "adam",     "nlp"),
    ("r13", "a", "failed",    "step",     "alice", _,     _,     _,          _),
    ("r14", "a", "completed", "run",      "carol", 0.85,  0.15,  "sgd",      "Vision"),
    ("r15", "a", "running",   "run",      "dave",  0.45,  0.55,  "adamw",    "vision"),
    ("r16", "a", "completed", "run",      "bob",   0.95,  0.02,  "adam",     "nlp"),
    ("r17", "a", "skipped",   "step",     "erin",  _,     _,     _,          _),
    ("r18", "a", "cached",    "step",     "erin",  0.40,  0.60,  "sgd",      "nlp"),
    ("r19", "a", "completed", "run",      "alice", 0.55,  0.45,  "adam",     "Vision"),
    ("r20", "b", "completed", "run",      "alice", 0.75,  0.25,  "adam",     "vision"),
    ("r21", "b", "completed", "run",      "bob",   0.15,  0.85,  "sgd",      "nlp"),
    ("r22", "b", "failed",    "run",      "carol", 0.50,  0.50,  "adam",     "Vision"),
    ("r23", "b", "running",   "pipeline", "dave",  0.80,  0.20,  "sgd",      "nlp"),
    ("r24", "b", "completed", "step",     "dave",  0.35,  0.65,  "adam",     "vision"),
    ("r25", "b", "completed", "run",      "erin",  _,     0.70,  "sgd",      _),
    ("r26", "b", "completed", "run",      "alice", 0.25,  0.75,  "adam",     "NLP"),
    ("r27", "b", "cancelled", "run",      "bob",   0.60,  0.40,  "rmsprop",  "vision"),
    ("r28", "b", "completed", "run",      "carol", 0.05,  0.95,  "adam",     "Vision"),
    ("r29", "b", "completed", "run",      "alice", 0.99,  0.01,  "sgd",      "nlp"),
]
# fmt: on
PARENTS = {"r04": "r02", "r05": "r02", "r12": "r11", "r13": "r11", "r24": "r23"}
DELETED = {"r06", "r14", "r26"}
EXTRA_METRICS = {"r01": {"val.acc": 0.7}, "r19": {"val.acc": 0.8}}
EXTRA_PARAMS = {"r01": {"batch size": "32"}, "r19": {"batch size": "64"}, "r05": {"q": "it's"}}
EXTRA_TAGS = {
    "r01": {"weird`key": "x", "dotted.key": "yes"},
    "r03": {"note": "100% done"},
    "r20": {"note": "1000 done"},
    "r21": {"note": "100_ done"},
}
# Points logged after the main batch that must NOT become the latest value: an older step
# arriving later, or the same step with an older timestamp.
LATE_POINTS = {
    "r02": [("acc", 0.2, 0)],
    "r16": [("acc", 0.1, 0)],
    "r07": [("acc", 0.77, 0)],
    "r19": [("acc", 0.99, 1, T0)],
}


@dataclass(frozen=True)
class Spec:
    """One row of ``ROWS`` with its extras: what the run must look like once stored."""

    index: int
    name: str
    exp: str
    status: str
    kind: str
    user: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parent: str | None = None
    deleted: bool = False

    @property
    def start_time(self) -> int:
        return T0 + self.index * 1000

    @property
    def end_time(self) -> int | None:
        if self.status in ("running", "pending"):
            return None
        return self.start_time + 100 * (self.index + 1)


def _specs() -> list[Spec]:
    specs = []
    for i, (name, exp, status, kind, user, acc, loss, opt, team) in enumerate(ROWS):
        metrics = {k: v for k, v in (("acc", acc), ("loss", loss)) if v is not None}
        params = {"opt": opt} if opt is not None else {}
        tags = {"team": team} if team is not None else {}
        specs.append(
            Spec(
                index=i,
                name=name,
                exp=exp,
                status=status,
                kind=kind,
                user=user,
                metrics=metrics | EXTRA_METRICS.get(name, {}),
                params=params | EXTRA_PARAMS.get(name, {}),
                tags=tags | EXTRA_TAGS.get(name, {}),
                parent=PARENTS.get(name),
                deleted=name in DELETED,
            )
        )
    return specs


SPECS = _specs()
BY_NAME = {s.name: s for s in SPECS}


@dataclass
class World:
    store: object
    experiment_ids: dict[str, str]  # "a"/"b" -> id
    run_ids: dict[str, str]  # run name -> id

    def search(self, filter_string=None, experiments=None, **kwargs) -> list[str]:
        """Names of the runs found, in order."""
        exp_ids = None if experiments is None else [self.experiment_ids[e] for e in experiments]
        runs = self.store.search_runs(exp_ids, filter_string, **kwargs)
        return [self.name_of[r.id] for r in runs]

    @functools.cached_property
    def name_of(self) -> dict[str, str]:
        return {run_id: name for name, run_id in self.run_ids.items()}


def build_world(store) -> World:
    exps = {e: store.create_experiment(f"search-{e}").id for e in ("a", "b")}
    run_ids: dict[str, str] = {}
    for s in SPECS:
        initial = "pending" if s.status in ("pending", "skipped", "cached") else "running"
        run = store.create_run(
            exps[s.exp],
            name=s.name,
            kind=s.kind,
            status=initial,
            parent_id=run_ids.get(s.parent) if s.parent else None,
            start_time=s.start_time,
            user=s.user,
            tags=s.tags,
        )
        run_ids[s.name] = run.id
        if initial == "running":
            store.heartbeat([run.id])  # alive, whatever its (historical) start time
        ts = s.start_time + 10
        store.log_batch(
            run.id, metrics=[Metric(k, v, 1, ts) for k, v in s.metrics.items()], params=s.params
        )
        late = [
            Metric(k, v, step, *rest or (ts + 5,))
            for k, v, step, *rest in LATE_POINTS.get(s.name, [])
        ]
        if late:
            store.log_batch(run.id, metrics=late)
        if s.status != initial:
            store.update_run(run.id, status=s.status, end_time=s.end_time)
    for name in DELETED:
        store.delete_run(run_ids[name])
    return World(store, exps, run_ids)


@pytest.fixture(scope="module")
def world(search_store) -> World:
    return build_world(search_store)


# --- the model of the rows -------------------------------------------------------------------


def value_of(s: Spec, entity: str, key: str, run_ids: dict[str, str]):
    """What the store compares for ``entity.key`` of ``s``; None when missing (NaN is a value)."""
    if entity == filters.ENTITY_METRIC:
        return s.metrics.get(key)
    if entity == filters.ENTITY_PARAM:
        return s.params.get(key)
    if entity == filters.ENTITY_TAG:
        return s.tags.get(key)
    return {
        "run_id": run_ids[s.name],
        "name": s.name,
        "status": s.status,
        "kind": s.kind,
        "user": s.user,
        "start_time": s.start_time,
        "end_time": s.end_time,
        "parent_id": run_ids[s.parent] if s.parent else None,
    }[key]


def _visible(s: Spec, view: str) -> bool:
    return view == "all" or (view == "deleted") == s.deleted


def expected(
    world: World,
    where: Callable[[Spec], bool] = lambda s: True,
    experiments=None,
    view: str = "active",
    order_by=(),
) -> list[str]:
    """The names a search must return: matching rows in the order the clauses give."""
    orders = [filters.parse_order_by(o) for o in order_by]

    def compare(a: Spec, b: Spec) -> int:
        for o in orders:
            x = value_of(a, o.entity, o.key, world.run_ids)
            y = value_of(b, o.entity, o.key, world.run_ids)
            # numbers, then NaN, then missing, in both directions
            rank_x, rank_y = _rank(x), _rank(y)
            if rank_x != rank_y:
                return -1 if rank_x < rank_y else 1
            if rank_x:
                continue
            if x != y:
                return (-1 if x < y else 1) * (1 if o.ascending else -1)
        return b.start_time - a.start_time  # then newest first

    rows = [
        s
        for s in SPECS
        if _visible(s, view) and (experiments is None or s.exp in experiments) and where(s)
    ]
    return [s.name for s in sorted(rows, key=functools.cmp_to_key(compare))]


def _rank(v) -> int:
    if v is None:
        return 2
    return 1 if isinstance(v, float) and math.isnan(v) else 0


_OPS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def metric(key: str, op: str, x: float) -> Callable[[Spec], bool]:
    def test(s: Spec) -> bool:
        v = s.metrics.get(key)
        return v is not None and _OPS[op](v, x)  # NaN: != is true, the rest false

    return test


def _like(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def string(entity: str, key: str, op: str, x) -> Callable[[Spec], bool]:
    def test(s: Spec) -> bool:
        v = s.params.get(key) if entity == "params" else s.tags.get(key)
        if v is None:
            return False
        return {
            "=": lambda: v == x,
            "!=": lambda: v != x,
            "LIKE": lambda: _like(x, v, False),
            "ILIKE": lambda: _like(x, v, True),
            "IN": lambda: v in x,
            "NOT IN": lambda: v not in x,
        }[op]()

    return test


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def filter_text(entity: str, key: str, op: str, x) -> str:
    if isinstance(x, tuple):
        return f"{entity}.{key} {op} ({', '.join(quote(v) for v in x)})"
    return f"{entity}.{key} {op} {quote(x)}"


# --- the world itself ------------------------------------------------------------------------


def test_search_returns_every_active_run_newest_first(world):
    assert world.search() == expected(world)
    assert world.search()[:3] == ["r29", "r28", "r27"]
    assert len(world.search()) == 27


def test_search_returns_runs_with_params_latest_metrics_and_tags(world):
    runs = {r.name: r for r in world.store.search_runs(view="all")}

    for s in SPECS:
        run = runs[s.name]
        assert run.params == s.params, s.name
        assert run.tags == s.tags, s.name
        assert set(run.metrics) == set(s.metrics), s.name
        for key, value in s.metrics.items():
            got = run.metrics[key]
            assert (math.isnan(got) and math.isnan(value)) or got == value, (s.name, key)
        assert (run.status, run.kind, run.user) == (s.status, s.kind, s.user), s.name
        assert (run.start_time, run.end_time) == (s.start_time, s.end_time), s.name
        assert run.deleted == s.deleted, s.name


# --- metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
@pytest.mark.parametrize("threshold", [0.5, 0, -1e300])
def test_metric_comparison(world, op, threshold):
    found = world.search(f"metrics.acc {op} {threshold}")

    assert found == expected(world, metric("acc", op, threshold))


def test_metric_equality_by_hand(world):
    assert world.search("metrics.acc = 0.5") == ["r22", "r04", "r01"]
    assert world.search("metrics.acc > 0.9") == ["r29", "r16", "r08"]  # r08 is +inf
    assert world.search("metrics.acc < -1e308") == ["r09"]  # -inf


def test_nan_metric_is_unequal_to_every_number(world):
    for op in _OPS:
        assert ("r07" in world.search(f"metrics.acc {op} 0.5")) == (op == "!="), op
    assert "r07" in world.search("metrics.acc != 0.91 and metrics.acc IS NOT NULL")


def test_metric_filter_uses_the_latest_value(world):
    assert "r16" in world.search("metrics.acc > 0.9")  # latest 0.95, a late step 0 was 0.1
    assert "r02" not in world.search("metrics.acc < 0.5")  # latest 0.9, late step 0 was 0.2
    assert "r19" not in world.search("metrics.acc > 0.9")  # 0.99 came with an older timestamp


def test_metric_compared_with_a_quoted_number(world):
    assert world.search("metrics.acc >= '0.9'") == world.search("metrics.acc >= 0.9")


def test_unknown_metric_matches_nothing(world):
    assert world.search("metrics.nope > -1e300") == []


# --- params and tags -------------------------------------------------------------------------

STRING_CASES = [
    ("params", "opt", "=", "adam"),
    ("params", "opt", "!=", "adam"),
    ("params", "opt", "LIKE", "adam%"),
    ("params", "opt", "LIKE", "Adam%"),
    ("params", "opt", "LIKE", "s_d"),
    ("params", "opt", "ILIKE", "ADAM"),
    ("params", "opt", "ILIKE", "%A%"),
    ("params", "opt", "IN", ("sgd", "rmsprop")),
    ("params", "opt", "NOT IN", ("adam", "sgd")),
    ("params", "opt", "IN", ("none",)),
    ("tags", "team", "=", "vision"),
    ("tags", "team", "!=", "vision"),
    ("tags", "team", "LIKE", "V%"),
    ("tags", "team", "LIKE", "%ision"),
    ("tags", "team", "ILIKE", "v%"),
    ("tags", "team", "ILIKE", "NLP"),
    ("tags", "team", "IN", ("nlp", "NLP")),
    ("tags", "team", "NOT IN", ("nlp",)),
    ("tags", "note", "=", "100% done"),
    ("tags", "note", "=", "100_ done"),
    ("tags", "note", "LIKE", "100%"),
    ("tags", "note", "LIKE", "100_ done"),
]


@pytest.mark.parametrize(
    "entity, key, op, value", STRING_CASES, ids=[filter_text(*c) for c in STRING_CASES]
)
def test_string_comparison(world, entity, key, op, value):
    found = world.search(filter_text(entity, key, op, value))

    assert found == expected(world, string(entity, key, op, value))


def test_like_is_case_sensitive_and_ilike_is_not_by_hand(world):
    assert world.search("tags.team LIKE 'V%'") == ["r28", "r22", "r19", "r09", "r05", "r00"]
    assert world.search("params.opt LIKE 'adam'") == world.search("params.opt = 'adam'")
    assert "r10" not in world.search("params.opt LIKE 'adam'")  # "Adam"
    assert world.search("params.opt ILIKE 'adam'") == expected(
        world, lambda s: s.params.get("opt") in ("adam", "Adam")
    )


def test_equality_takes_percent_and_underscore_literally(world):
    assert world.search("tags.note = '100% done'") == ["r03"]
    assert world.search("tags.note = '100_ done'") == ["r21"]
    assert world.search("tags.note LIKE '100_ done'") == ["r21", "r20", "r03"]


def test_like_pattern_can_escape_wildcards_with_a_backslash(world):
    """The same LIKE pattern must mean the same thing on every back-end; PostgreSQL's
    default (backslash escapes % and _) is the only one that can match a literal %."""
    assert world.search(r"tags.note LIKE '100\\%%'") == ["r03"]
    assert world.search(r"tags.note LIKE '100\\_%'") == ["r21"]


def test_quotes_in_values(world):
    assert world.search("params.q = 'it''s'") == ["r05"]
    assert world.search("params.q = 'it\\'s'") == ["r05"]
    assert world.search('params.q = "it\'s"') == ["r05"]


def test_not_equal_and_not_in_skip_runs_without_the_key(world):
    found = world.search("tags.team != 'nothing'")
    assert "r04" not in found and "r13" not in found
    assert found == expected(world, lambda s: "team" in s.tags)
    assert world.search("tags.team NOT IN ('x')") == found


# --- attributes ------------------------------------------------------------------------------


def test_attribute_status(world):
    assert world.search("attributes.status = 'failed'") == ["r22", "r13", "r03"]
    assert world.search("status IN ('running', 'pending')") == ["r23", "r15", "r10", "r02"]
    assert world.search("attributes.status != 'completed'") == expected(
        world, lambda s: s.status != "completed"
    )
    assert world.search("attributes.status NOT IN ('completed', 'failed')") == expected(
        world, lambda s: s.status not in ("completed", "failed")
    )


def test_attribute_name(world):
    assert world.search("attributes.name = 'r05'") == ["r05"]
    assert world.search("run_name LIKE 'r1%'") == [
        f"r1{i}" for i in (9, 8, 7, 6, 5, 3, 2, 1, 0)
    ]  # r14 is deleted
    assert world.search("attributes.name ILIKE 'R2_'") == expected(
        world, lambda s: s.name.startswith("r2")
    )


def test_attribute_kind(world):
    assert world.search("attributes.kind = 'step'") == [
        "r24",
        "r18",
        "r17",
        "r13",
        "r12",
        "r05",
        "r04",
    ]
    assert world.search("attributes.kind = 'pipeline'") == ["r23", "r11", "r02"]


def test_attribute_run_id(world):
    r07 = world.run_ids["r07"]
    assert world.search(f"attributes.run_id = '{r07}'") == ["r07"]
    assert world.search(f"id IN ('{r07}', '{world.run_ids['r00']}')") == ["r07", "r00"]
    assert world.search(f"attributes.run_id != '{r07}'") == expected(
        world, lambda s: s.name != "r07"
    )


def test_attribute_user(world):
    assert world.search("attributes.user = 'erin'") == ["r25", "r18", "r17", "r10"]
    assert world.search("attributes.user != 'alice'") == expected(
        world, lambda s: s.user != "alice"
    )
    assert world.search("attributes.user LIKE '%o%'") == expected(world, lambda s: "o" in s.user)


def test_attribute_parent_id(world):
    assert world.search(f"attributes.parent_id = '{world.run_ids['r02']}'") == ["r05", "r04"]
    assert world.search(f"parent_id = '{world.run_ids['r11']}'") == ["r13", "r12"]


def test_attribute_experiment_id(world):
    b = world.experiment_ids["b"]
    assert world.search(f"attributes.experiment_id = '{b}'") == expected(world, experiments=["b"])


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_attribute_start_time(world, op):
    bound = T0 + 12_000
    assert world.search(f"attributes.start_time {op} {bound}") == expected(
        world, lambda s: _OPS[op](s.start_time, bound)
    )


def test_attribute_start_time_by_hand(world):
    assert world.search(f"start_time >= {T0 + 25_000}") == ["r29", "r28", "r27", "r25"]
    assert world.search(f"attributes.start_time < {T0 + 2_000}") == ["r01", "r00"]


def test_attribute_end_time(world):
    assert world.search(f"attributes.end_time <= {T0 + 5_000}") == ["r04", "r03", "r01", "r00"]
    assert world.search("attributes.end_time > 0") == expected(
        world, lambda s: s.end_time is not None
    )


# --- several comparisons ---------------------------------------------------------------------


def test_conjunction_of_metric_param_tag_and_attribute(world):
    found = world.search(
        "metrics.acc > 0.3 and params.opt = 'adam' and tags.team ILIKE 'vision' "
        "AND attributes.status = 'completed'"
    )

    assert found == ["r24", "r20", "r19"]
    assert found == expected(
        world,
        lambda s: (
            metric("acc", ">", 0.3)(s)
            and s.params.get("opt") == "adam"
            and s.tags.get("team", "").lower() == "vision"
            and s.status == "completed"
        ),
    )


def test_the_same_key_twice_is_a_range(world):
    assert world.search("metrics.acc > 0.2 and metrics.acc < 0.6") == expected(
        world, lambda s: metric("acc", ">", 0.2)(s) and metric("acc", "<", 0.6)(s)
    )
    assert world.search("params.opt != 'adam' and params.opt != 'sgd'") == [
        "r27",
        "r15",
        "r10",
        "r03",
    ]


def test_metric_and_param_with_the_same_key_are_different_things(world):
    assert world.search("metrics.acc > 0 and params.acc = 'x'") == []


def test_contradictory_conjunction_finds_nothing(world):
    assert world.search("metrics.acc > 0.6 and metrics.acc < 0.4") == []


def test_keys_with_dots_spaces_and_backticks(world):
    assert world.search("metrics.`val.acc` > 0.75") == ["r19"]
    assert world.search("metrics.val.acc > 0") == ["r19", "r01"]  # bare keys may hold dots
    assert world.search('metrics."val.acc" < 0.75') == ["r01"]
    assert world.search("params.`batch size` = '32'") == ["r01"]
    assert world.search("tags.`weird``key` = 'x'") == ["r01"]
    assert world.search("tags.`dotted.key` = 'yes'") == ["r01"]
    assert world.search("`tags`.`dotted.key` = 'yes'") == ["r01"]


def test_keywords_and_prefixes_are_case_insensitive(world):
    assert world.search("METRICS.acc > 0.9 AnD Params.opt In ('sgd')") == ["r29"]


# --- experiments and views -------------------------------------------------------------------


def test_search_by_experiment_ids(world):
    assert world.search(experiments=["a"]) == expected(world, experiments=["a"])
    in_b = ["r29", "r28", "r27", "r25", "r24", "r23", "r22", "r21", "r20"]  # r26 is deleted
    assert world.search(experiments=["b"]) == in_b
    assert world.search(experiments=["a", "b"]) == world.search()
    assert world.search(experiments=[]) == []
    assert world.store.search_runs(["0" * 32]) == []


def test_search_by_experiment_with_a_filter(world):
    assert world.search("params.opt = 'sgd'", experiments=["b"]) == ["r29", "r25", "r23", "r21"]


def test_views(world):
    assert world.search(view="deleted") == ["r26", "r14", "r06"]
    assert world.search(view="all") == [s.name for s in reversed(SPECS)]
    assert world.search(view="active") == world.search()
    assert world.search("metrics.acc > 0.8", view="deleted") == ["r14"]
    assert world.search("metrics.acc > 0.8", view="all") == expected(
        world, metric("acc", ">", 0.8), view="all"
    )


def test_unknown_view_is_refused(world):
    with pytest.raises(InvalidArgument):
        world.search(view="archived")


# --- ordering --------------------------------------------------------------------------------


def test_order_by_metric_puts_missing_last_in_both_directions_by_hand(world):
    assert world.search(experiments=["b"], order_by=["metrics.acc DESC"]) == [
        "r29",
        "r23",
        "r20",
        "r27",
        "r22",
        "r24",
        "r21",
        "r28",
        "r25",
    ]
    assert world.search(experiments=["b"], order_by=["metrics.acc ASC"]) == [
        "r28",
        "r21",
        "r24",
        "r22",
        "r27",
        "r20",
        "r23",
        "r29",
        "r25",
    ]


ORDER_CASES = [
    ["metrics.acc DESC"],
    ["metrics.acc ASC"],
    ["metrics.acc"],
    ["metrics.loss desc"],
    ["metrics.`val.acc` DESC"],
    ["params.opt ASC"],
    ["params.opt DESC"],
    ["tags.team ASC"],
    ["attributes.name DESC"],
    ["attributes.start_time ASC"],
    ["start_time DESC"],
    ["attributes.end_time DESC"],
    ["attributes.status", "attributes.name DESC"],
    ["params.opt ASC", "metrics.acc DESC"],
    ["tags.team DESC", "metrics.loss ASC", "attributes.name ASC"],
]


@pytest.mark.parametrize("order_by", ORDER_CASES, ids=[" | ".join(o) for o in ORDER_CASES])
def test_order_by(world, order_by):
    assert world.search(order_by=order_by, view="all") == expected(
        world, view="all", order_by=order_by
    )


def test_nan_metric_sorts_after_the_numbers_and_before_the_missing(world):
    asc = world.search(experiments=["a"], order_by=["metrics.acc ASC"])
    desc = world.search(experiments=["a"], order_by=["metrics.acc DESC"])
    filtered = world.search("metrics.acc != 0.91", experiments=["a"], order_by=["metrics.acc"])

    for found in (asc, desc):
        assert found[0] in ("r09", "r08")  # -inf first ascending, +inf first descending
        assert found[-4:] == ["r07", "r17", "r13", "r05"]  # r07 holds NaN, the rest none
    assert filtered[-1] == "r07"


def test_order_by_a_filtered_key(world):
    found = world.search("metrics.acc >= 0.5", order_by=["metrics.acc DESC"])

    assert found == expected(world, metric("acc", ">=", 0.5), order_by=["metrics.acc DESC"])
    assert found[:2] == ["r08", "r29"]


def test_order_by_accepts_a_single_string(world):
    assert world.search(order_by="metrics.acc DESC") == world.search(order_by=["metrics.acc DESC"])


def test_default_order_is_newest_start_time_first(world):
    assert world.search(view="all") == [f"r{i:02d}" for i in range(29, -1, -1)]


# --- paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 7, 10, 29, 30, 31, 1000])
@pytest.mark.parametrize(
    "order_by", [None, ["metrics.acc DESC"], ["params.opt ASC", "attributes.name DESC"]]
)
def test_paging_returns_every_run_exactly_once_in_order(world, page_size, order_by):
    whole = world.search(order_by=order_by, view="all", max_results=1000)
    pages, token = [], None
    while True:
        page = world.store.search_runs(
            None, None, order_by, max_results=page_size, page_token=token, view="all"
        )
        pages.append([world.name_of[r.id] for r in page])
        token = page.token
        if token is None:
            break
        assert len(pages) <= 31, "paging does not end"

    assert [name for page in pages for name in page] == whole
    assert len(whole) == 30
    assert all(len(page) == page_size for page in pages[:-1])
    assert 0 < len(pages[-1]) <= page_size


def test_the_last_page_has_no_token(world):
    assert world.store.search_runs(max_results=27).token is None
    assert world.store.search_runs(max_results=26).token is not None


def test_paging_a_filtered_search(world):
    first = world.store.search_runs(filter_string="params.opt = 'adam'", max_results=4)
    second = world.store.search_runs(
        filter_string="params.opt = 'adam'", max_results=4, page_token=first.token
    )

    names = [world.name_of[r.id] for r in [*first, *second]]
    assert names == expected(world, lambda s: s.params.get("opt") == "adam")[:8]


@pytest.mark.parametrize("bad", [0, -1, 50_001, 2.5, "10", None])
def test_bad_max_results_is_refused(world, bad):
    with pytest.raises(InvalidArgument):
        world.store.search_runs(max_results=bad)


def _token(payload) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        "!!!",
        _token({"offset": -1}),
        _token({"offset": "3"}),
        _token({"offset": 1.5}),
        _token([3]),
        _token({}),
        "é",
    ],
)
def test_bad_page_token_is_refused(world, bad):
    with pytest.raises(InvalidArgument):
        world.store.search_runs(page_token=bad)


@pytest.mark.parametrize("offset", [10**6, 2**63 - 1, 2**63, 2**64 - 1])
def test_page_token_far_past_the_end_is_empty_or_refused(world, offset):
    try:
        page = world.store.search_runs(page_token=_token({"offset": offset}))
    except InvalidArgument:
        return
    assert page == [] and page.token is None


# --- mistakes in the filter ------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "metrics.acc >",
        "metrics.acc",
        "acc > 1",
        "metrics.acc > 'high'",
        "metrics.acc LIKE '1%'",
        "params.opt > 'a'",
        "params.opt = adam",
        "params.opt = 3",
        "metrics.acc > 1 or metrics.acc < 0",
        "(metrics.acc > 1)",
        "metrics.acc > 1 and",
        "tags.team IN 'nlp'",
        "tags.team IN ()",
        "attributes.colour = 'red'",
        "foo.bar = 'x'",
        "params.`unterminated = 'x'",
        "params.opt = 'unterminated",
        "metrics.acc > nan",
        "metrics.acc > inf",
    ],
)
def test_malformed_filter_is_a_filter_error(world, bad):
    with pytest.raises(FilterError) as caught:
        world.search(bad)
    assert isinstance(caught.value, HeronError)
    assert caught.value.message


@pytest.mark.parametrize(
    "bad",
    [[""], ["metrics.acc sideways"], ["nope"], ["metrics."], ["metrics.acc DESC extra"]],
)
def test_malformed_order_by_is_a_filter_error(world, bad):
    with pytest.raises(FilterError):
        world.search(order_by=bad)


@pytest.mark.parametrize(
    "text",
    [
        "tags.team = 'nul \0 inside'",
        "tags.`nul\0key` = 'x'",
        "params.opt = 'lone \ud800 surrogate'",
        "tags.team = '" + "x" * 100_000 + "'",
        "metrics.acc > 1e400",
        "start_time > 1e30",
        "attributes.start_time = 99999999999999999999999",
    ],
)
def test_odd_but_well_formed_filters_answer_without_crashing(world, text):
    try:
        found = world.search(text)
    except HeronError:
        return
    assert isinstance(found, list)


@pytest.mark.parametrize(
    "order_by",
    ["metrics.`nul\0key` DESC", "params.`lone \ud800` ASC", "tags.`" + "k" * 10_000 + "`"],
)
def test_odd_but_well_formed_order_by_answers_without_crashing(world, order_by):
    try:
        found = world.search(order_by=[order_by])
    except HeronError:
        return
    assert len(found) == 27


# --- hardening (issue 8): limits, bound page tokens, repeated order keys, IS NULL, statuses ---


def test_filter_naming_too_many_keys_is_refused_with_the_limit(world):
    from heron.store.sql.search import MAX_KEYS

    within = " and ".join(f"metrics.k{i} >= 0" for i in range(MAX_KEYS - 1))
    assert world.search(within, order_by=["params.opt DESC"]) == []
    for n in (MAX_KEYS + 1, 64, 100):
        text = " and ".join(f"metrics.k{i} >= 0" for i in range(n))
        with pytest.raises(FilterError, match=f"at most {MAX_KEYS}"):
            world.search(text)
    keys = [f"params.p{i}" for i in range(MAX_KEYS)]
    with pytest.raises(FilterError, match=f"at most {MAX_KEYS}"):
        world.search("metrics.acc > 0", order_by=keys)


def test_long_chain_of_comparisons_works_up_to_the_limit_then_is_refused(world):
    chain = " and ".join(f"metrics.acc != {i}" for i in range(filters.MAX_COMPARISONS))
    assert world.search(chain) == world.search("metrics.acc IS NOT NULL")
    attributes = " and ".join(f"start_time > {i}" for i in range(filters.MAX_COMPARISONS))
    assert world.search(attributes) == world.search()
    with pytest.raises(FilterError, match=f"at most {filters.MAX_COMPARISONS} comparisons"):
        world.search(chain + " and metrics.acc > 0")
    many = "tags.team IN (" + ", ".join(f"'v{i}'" for i in range(filters.MAX_LIST_VALUES)) + ")"
    assert world.search(many) == []
    with pytest.raises(FilterError, match=str(filters.MAX_LIST_VALUES)):
        world.search(many + " and params.opt IN ('adam')")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter_string": 3},
        {"filter_string": ["metrics.acc > 0"]},
        {"filter_string": b"metrics.acc > 0"},
        {"order_by": 5},
        {"order_by": [3]},
        {"order_by": [None]},
        {"order_by": {"metrics.acc": "DESC"}},
        {"order_by": b"metrics.acc"},
    ],
)
def test_non_string_filter_or_order_by_is_an_invalid_argument(world, kwargs):
    with pytest.raises(InvalidArgument):
        world.store.search_runs(**kwargs)


@pytest.mark.parametrize(
    "order_by",
    [
        ["metrics.acc", "metrics.acc DESC"],
        ["metrics.acc DESC", "params.opt", "metrics.acc"],
        ["start_time", "attributes.start_time DESC"],
        ["tags.team", "tag.team"],
        ["params.opt", "params.`opt` DESC"],
    ],
)
@pytest.mark.parametrize("max_results", [5, 40])
def test_repeated_order_by_key_is_refused(world, order_by, max_results):
    with pytest.raises(FilterError, match="named twice"):
        world.search(order_by=order_by, max_results=max_results)


def _page_through(world, **kwargs) -> list[str]:
    names, token = [], None
    while True:
        page = world.store.search_runs(page_token=token, **kwargs)
        names += [world.name_of[r.id] for r in page]
        token = page.token
        if token is None:
            return names


def test_page_token_is_bound_to_its_search(world):
    query = dict(filter_string="params.opt = 'adam'", order_by=["metrics.acc DESC"])
    first = world.store.search_runs(max_results=4, **query)
    for other in (
        {},
        {"filter_string": "params.opt = 'adam'"},
        {"order_by": ["metrics.acc DESC"]},
        {**query, "order_by": ["metrics.acc ASC"]},
        {**query, "filter_string": "params.opt = 'sgd'"},
        {**query, "view": "all"},
        {**query, "experiment_ids": [world.experiment_ids["a"]]},
    ):
        with pytest.raises(InvalidArgument, match="different search"):
            world.store.search_runs(max_results=4, page_token=first.token, **other)
    # the same query (spelled differently) continues, whatever the page size
    same = dict(filter_string="params.opt='adam'", order_by="metrics.acc desc")
    second = world.store.search_runs(max_results=3, page_token=first.token, **same)
    names = [world.name_of[r.id] for r in [*first, *second]]
    assert names == world.search(**query)[:7]


def test_paging_any_search_returns_what_one_page_does(world):
    for query in (
        {"filter_string": "metrics.acc != 0.5", "order_by": ["metrics.acc DESC"]},
        {"order_by": ["metrics.acc", "params.opt DESC"]},
        {"filter_string": "params.opt IS NULL", "order_by": ["metrics.loss DESC"]},
    ):
        whole = world.search(max_results=1000, view="all", **query)
        for size in (1, 4, 9):
            assert _page_through(world, max_results=size, view="all", **query) == whole


def has_key(entity: str, key: str) -> Callable[[Spec], bool]:
    def test(s: Spec) -> bool:
        return key in {"metrics": s.metrics, "params": s.params, "tags": s.tags}[entity]

    return test


@pytest.mark.parametrize(
    ("entity", "key"),
    [("metrics", "acc"), ("metrics", "loss"), ("params", "opt"), ("tags", "team"), ("tags", "no")],
)
def test_is_null_and_is_not_null(world, entity, key):
    present = has_key(entity, key)
    assert world.search(f"{entity}.{key} IS NOT NULL") == expected(world, present)
    assert world.search(f"{entity}.{key} is null") == expected(world, lambda s: not present(s))
    both = world.search(f"{entity}.{key} IS NULL and {entity}.{key} IS NOT NULL")
    assert both == []


def test_is_null_by_hand(world):
    assert world.search("params.opt IS NULL", view="all") == ["r17", "r13", "r08"]
    assert "r07" in world.search("metrics.acc IS NOT NULL")  # NaN is a value
    assert "r07" not in world.search("metrics.acc IS NULL")
    found = world.search("metrics.acc IS NULL and tags.team IS NOT NULL", order_by=["tags.team"])
    assert found == expected(
        world,
        lambda s: "acc" not in s.metrics and "team" in s.tags,
        order_by=["tags.team"],
    )


@pytest.mark.parametrize(
    ("text", "statuses"),
    [
        ("status = 'FINISHED'", {"completed"}),
        ("attributes.status = 'Completed'", {"completed"}),
        ("status = 'FAILED'", {"failed"}),
        ("status = 'RUNNING'", {"running"}),
        ("status = 'KILLED'", {"cancelled"}),
        ("status = 'SCHEDULED'", {"pending"}),
        (
            "status != 'finished'",
            {"failed", "running", "cancelled", "pending", "skipped", "cached"},
        ),
        ("status IN ('FINISHED', 'FAILED')", {"completed", "failed"}),
        (
            "status NOT IN ('FINISHED', 'killed', 'Running')",
            {"failed", "pending", "skipped", "cached"},
        ),
    ],
)
def test_status_values_match_case_insensitively_and_by_mlflow_name(world, text, statuses):
    assert world.search(text, view="all") == expected(
        world, lambda s: s.status in statuses, view="all"
    )


@pytest.mark.parametrize("value", ["done", "FINISH", "ok", ""])
def test_unknown_status_value_lists_the_valid_ones(world, value):
    with pytest.raises(FilterError, match="completed, failed") as caught:
        world.search(f"attributes.status = '{value}'")
    assert "FINISHED" in caught.value.message
    with pytest.raises(FilterError, match="unknown value"):
        world.search(f"status IN ('failed', '{value}')")
