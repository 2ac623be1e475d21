"""The dashboard's layered DAG layout, the lineage walk's shape and the pipeline page's pure
helpers (structure → edges, timeline, metadata rows)."""

from __future__ import annotations

import itertools
import random
import time
import types

import pytest

from heron.server.dashboard import dag_layout
from heron.server.dashboard.dag_layout import count_crossings, layout
from heron.server.dashboard.pages.artifacts import group_names, metadata_rows
from heron.server.dashboard.pages.pipelines import StepView, clip, gantt, structure_steps


def _overlaps(placed) -> list[tuple]:
    boxes = list(placed.nodes.values())
    bad = []
    for a, b in itertools.combinations(boxes, 2):
        if (
            a.x < b.x + b.width
            and b.x < a.x + a.width
            and a.y < b.y + b.height
            and b.y < a.y + a.height
        ):
            bad.append((a.id, b.id))
    return bad


def _random_dag(n: int, seed: int = 7, fan_in: int = 2, reach: int = 12):
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(n)]
    edges = []
    for i in range(1, n):
        for j in rng.sample(range(max(0, i - reach), i), min(i, fan_in)):
            edges.append((f"n{j}", f"n{i}"))
    return nodes, edges


def test_chain_gets_one_layer_per_node_left_to_right():
    placed = layout(["a", "b", "c"], [("a", "b"), ("b", "c")])
    assert [placed.nodes[n].layer for n in "abc"] == [0, 1, 2]
    xs = [placed.nodes[n].x for n in "abc"]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert len({placed.nodes[n].cy for n in "abc"}) == 1  # a straight line
    assert placed.crossings == 0 and placed.layers == 3


def test_every_edge_points_rightwards_and_ends_on_its_nodes():
    nodes, edges = _random_dag(60)
    placed = layout(nodes, edges)
    assert len(placed.edges) == len(edges)
    for edge in placed.edges:
        source, target = placed.nodes[edge.source], placed.nodes[edge.target]
        assert target.layer > source.layer
        assert edge.points[0] == (source.x + source.width, source.cy)
        assert edge.points[-1] == (target.x, target.cy)
        xs = [x for x, _ in edge.points]
        assert xs == sorted(xs)
        assert edge.path.startswith("M")


def test_long_edges_bend_through_one_point_per_layer_crossed():
    placed = layout(["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    long_edge = next(e for e in placed.edges if (e.source, e.target) == ("a", "d"))
    assert len(long_edge.points) == 2 + 2  # through layers 1 and 2


def test_nodes_never_overlap_and_fit_the_drawing():
    for seed in range(5):
        nodes, edges = _random_dag(80, seed=seed, fan_in=3)
        placed = layout(nodes, edges)
        assert _overlaps(placed) == []
        for box in placed.nodes.values():
            assert box.x >= 0 and box.y >= 0
            assert box.x + box.width <= placed.width + 1e-6
            assert box.y + box.height <= placed.height + 1e-6


def test_sources_sit_just_before_their_first_consumer():
    placed = layout(["a", "b", "c", "late"], [("a", "b"), ("b", "c"), ("late", "c")])
    assert placed.nodes["late"].layer == 1


def test_barycenter_sweeps_remove_avoidable_crossings():
    # two parallel chains given in an order that crosses: a1→b2, a2→b1
    placed = layout(["a1", "a2", "b1", "b2"], [("a1", "b2"), ("a2", "b1")])
    assert placed.crossings == 0
    nodes, edges = _random_dag(120, seed=3)
    assert layout(nodes, edges).crossings < _unordered_crossings(nodes, edges)


def _unordered_crossings(nodes, edges) -> int:
    original = dag_layout.MAX_SWEEPS
    dag_layout.MAX_SWEEPS = 0
    try:
        return layout(nodes, edges).crossings
    finally:
        dag_layout.MAX_SWEEPS = original


def test_count_crossings_counts_pairs_of_crossing_edges():
    layers = [[0, 1, 2], [3, 4, 5]]
    succ = [[5], [4], [3], [], [], []]  # every pair of the three edges crosses
    assert count_crossings(layers, succ) == 3
    succ = [[3], [4], [5], [], [], []]
    assert count_crossings(layers, succ) == 0
    succ = [[3, 4], [3], [], [], [], []]  # 0→4 crosses 1→3
    assert count_crossings(layers, succ) == 1


def test_cycles_duplicates_self_loops_and_unknown_ends_are_tolerated():
    placed = layout(
        ["a", "b", "c", "a"],
        [("a", "b"), ("b", "c"), ("c", "a"), ("a", "b"), ("a", "a"), ("a", "zzz")],
    )
    assert set(placed.nodes) == {"a", "b", "c"}
    assert len(placed.edges) == 3
    back = next(e for e in placed.edges if (e.source, e.target) == ("c", "a"))
    assert back.points[0][0] <= placed.nodes["c"].x + 1e-6  # drawn from c back to a
    assert _overlaps(placed) == []


def test_empty_graph_and_isolated_nodes():
    assert layout([], []).nodes == {}
    placed = layout(["x", "y"], [])
    assert placed.nodes["x"].layer == placed.nodes["y"].layer == 0
    assert _overlaps(placed) == []


@pytest.mark.parametrize("shape", ["random", "chain", "fan"])
def test_200_nodes_take_well_under_100_ms(shape):
    if shape == "random":
        nodes, edges = _random_dag(200, fan_in=2, reach=15)
    elif shape == "chain":
        nodes = [f"n{i}" for i in range(200)]
        edges = [(nodes[i], nodes[i + 1]) for i in range(199)]
    else:
        nodes = ["src", *[f"m{i}" for i in range(198)], "sink"]
        edges = [("src", m) for m in nodes[1:-1]] + [(m, "sink") for m in nodes[1:-1]]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        placed = layout(nodes, edges)
        best = min(best, time.perf_counter() - started)
    assert len(placed.nodes) == 200
    assert best < 0.1  # typically 2-15 ms; the bound only catches a blow-up in complexity


# --- the pages' pure helpers --------------------------------------------------------------
STRUCTURE = {
    "pipeline": "p",
    "nodes": [
        {"id": "load", "step": "load", "outputs": ["output"], "inputs": {}, "after": []},
        {
            "id": "total",
            "step": "total",
            "outputs": ["output"],
            "inputs": {"xs": ["load", "output"]},
            "after": [],
        },
        {
            "id": "merge",
            "step": "merge",
            "outputs": ["output"],
            "inputs": {"parts": [["load", "output"], ["total", "output"]]},
            "after": ["total"],
        },
    ],
}


def test_structure_steps_reads_single_list_and_after_references():
    steps, edges = structure_steps(STRUCTURE)
    assert [s.id for s in steps] == ["load", "total", "merge"]
    assert steps[2].upstream == ["load", "total"]
    assert edges[("load", "total")] == ["load.output → xs"]
    assert edges[("total", "merge")] == ["total.output → parts", "after"]


def _run(status, start, end, **tags):
    return types.SimpleNamespace(
        id=f"r-{start}", status=status, start_time=start, end_time=end, tags=tags, kind="step"
    )


def test_step_view_marks_and_summary():
    retried = StepView("s", "s", _run("completed", 1000, 3500, **{"heron.attempts": "3"}))
    assert retried.retried and retried.attempts == 3 and not retried.cached
    assert retried.summary == "completed · 2.5 s"
    cached = StepView("c", "c", _run("cached", 1000, 1012))
    assert cached.cached and cached.attempts == 0 and cached.duration == "12 ms"
    assert StepView("k", "k", _run("skipped", 1000, 1001)).duration == ""
    waiting = StepView("w", "w")
    assert waiting.status == "pending" and waiting.href is None and waiting.summary == "pending"


def test_gantt_places_bars_in_start_order_on_one_scale():
    steps = [
        StepView("b", "b", _run("completed", 2000, 4000)),
        StepView("a", "a", _run("completed", 1000, 2000)),
        StepView("never", "never"),
    ]
    chart = gantt(steps, now_ms=5000, width=1000, label_width=200)
    assert [bar.step.id for bar in chart.bars] == ["a", "b"]
    area = 1000 - 200 - 90
    assert chart.bars[0].x == pytest.approx(200)
    assert chart.bars[1].x == pytest.approx(200 + area / 3)
    assert chart.bars[1].width == pytest.approx(area * 2 / 3)
    assert chart.ticks[0][1] == "+0 ms" and chart.ticks[-1][1] == "+3.0 s"
    assert gantt([StepView("x", "x")], now_ms=1).bars == []


def test_clip_and_metadata_rows():
    assert clip("short") == "short"
    assert clip("x" * 30, 10) == "x" * 9 + "…"
    rows = dict(metadata_rows({"shape": [3, 4], "dtype": "int64", "long": "y" * 5000}))
    assert rows["shape"] == "[3, 4]" and rows["dtype"] == "int64"
    assert rows["long"].startswith("y" * 2000) and "5,000 characters" in rows["long"]
    assert metadata_rows(None) == []


def test_group_names_keeps_the_newest_version_of_each_name():
    def av(name, version):
        return types.SimpleNamespace(name=name, version=version)

    rows = group_names([av("a", 3), av("b", 1), av("a", 2)])
    assert list(rows) == ["a", "b"]
    assert rows["a"].latest.version == 3 and rows["a"].versions == 3
    assert rows["b"].versions == 1


# --- the lineage walk ---------------------------------------------------------------------
class _LineageStore:
    """A store of runs r1 → a1 → r2 → a2 → r3 (and r2c, a cached copy of r2 reusing a2)."""

    def __init__(self, extra_consumers: int = 0) -> None:
        from heron.core.entities import ArtifactLink

        self.artifacts = {
            "a1": types.SimpleNamespace(id="a1", name="load.output", version=1, type="list",
                                        producer_run_id="r1"),
            "a2": types.SimpleNamespace(id="a2", name="total.output", version=1, type="int",
                                        producer_run_id="r2"),
        }  # fmt: skip
        self.runs = {
            r: types.SimpleNamespace(id=r, name=r, kind="step", status="completed")
            for r in ("r1", "r2", "r2c", "r3")
        }
        self.links = [
            ArtifactLink("r1", "a1", "output", "output"),
            ArtifactLink("r2", "a1", "input", "xs"),
            ArtifactLink("r2", "a2", "output", "output"),
            ArtifactLink("r2c", "a1", "input", "xs"),
            ArtifactLink("r2c", "a2", "output", "output"),
            ArtifactLink("r3", "a2", "input", "s"),
        ]
        for i in range(extra_consumers):
            self.runs[f"c{i}"] = types.SimpleNamespace(
                id=f"c{i}", name=f"c{i}", kind="run", status="running"
            )
            self.links.append(ArtifactLink(f"c{i}", "a2", "input", "s"))

    def get_artifact_version(self, artifact_id):
        from heron.core.errors import NotFound

        if artifact_id not in self.artifacts:
            raise NotFound(artifact_id)
        return self.artifacts[artifact_id]

    def get_run(self, run_id):
        return self.runs[run_id]

    def list_artifact_links(self, run_id=None, artifact_id=None):
        return [
            link
            for link in self.links
            if (run_id is None or link.run_id == run_id)
            and (artifact_id is None or link.artifact_id == artifact_id)
        ]


def test_lineage_walks_both_ways_and_skips_cached_reusers_as_producers():
    from heron.server.dashboard.lineage import artifact_lineage

    graph = artifact_lineage(_LineageStore(), "a2", depth=3)
    assert set(graph.nodes) == {"a2", "r2", "a1", "r1", "r3"}  # r2c did not make a2
    assert ("r2", "a2") in graph.edges and ("a2", "r3") in graph.edges
    assert ("a1", "r2") in graph.edges and ("r1", "a1") in graph.edges
    assert graph.nodes["r1"].distance == -3 and graph.nodes["r3"].distance == 1
    assert graph.nodes["a1"].href == "/artifacts/a1" and graph.nodes["r3"].href == "/runs/r3"
    shallow = artifact_lineage(_LineageStore(), "a2", depth=1)
    assert set(shallow.nodes) == {"a2", "r2", "r3"}
    assert "r2" in shallow.frontier and not shallow.truncated


def test_lineage_stops_at_max_nodes_and_says_so():
    from heron.server.dashboard.lineage import artifact_lineage

    graph = artifact_lineage(_LineageStore(extra_consumers=40), "a2", depth=2, max_nodes=10)
    assert len(graph.nodes) == 10 and graph.truncated
    assert all(s in graph.nodes and t in graph.nodes for s, t in graph.edges)
    with pytest.raises(Exception, match="No artifact version"):
        artifact_lineage(_LineageStore(), "missing")
