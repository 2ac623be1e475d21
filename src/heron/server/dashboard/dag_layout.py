"""A layered (Sugiyama-style) layout of a directed graph, computed on the server.

The dashboard draws pipeline DAGs and lineage graphs as SVG from this layout:

1. cycles are broken by reversing the back edges of a depth-first search (the edges are drawn
   in their own direction all the same);
2. longest-path layering: a node sits one layer after the furthest of its predecessors, and a
   source is pulled forward to just before its first consumer;
3. edges longer than one layer get a chain of dummy nodes, one per layer crossed, so that they
   bend around the nodes instead of crossing them;
4. barycenter sweeps (down, then up, repeated) order each layer by the mean position of its
   neighbours, keeping the ordering with the fewest crossings seen;
5. coordinates: each layer is placed as close as possible to its neighbours' positions while
   keeping the nodes apart and in order (a least-squares fit solved by pooling adjacent
   violators), over a few passes.

Pure Python, no dependency; 200 nodes take a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: how many barycenter sweeps (each down or up) are tried at most
MAX_SWEEPS = 24


@dataclass(slots=True)
class NodeBox:
    """A placed node: its top-left corner, size, layer and position within the layer."""

    id: Any
    x: float
    y: float
    width: float
    height: float
    layer: int
    order: int

    @property
    def cx(self) -> float:
        """The x of the node's centre."""
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        """The y of the node's centre."""
        return self.y + self.height / 2


@dataclass(slots=True)
class EdgePath:
    """A drawn edge: from ``source`` to ``target`` through ``points`` (at least two)."""

    source: Any
    target: Any
    points: list[tuple[float, float]]

    @property
    def path(self) -> str:
        """The SVG path data of the edge (a smooth curve through its points)."""
        return svg_path(self.points)


@dataclass(slots=True)
class Layout:
    """Where every node and edge of a graph goes, and the size of the drawing."""

    nodes: dict[Any, NodeBox] = field(default_factory=dict)
    edges: list[EdgePath] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    crossings: int = 0
    layers: int = 0


def layout(
    nodes: Sequence[Hashable],
    edges: Sequence[tuple[Hashable, Hashable]],
    *,
    node_width: float = 168.0,
    node_height: float = 46.0,
    layer_gap: float = 56.0,
    node_gap: float = 18.0,
    margin: float = 12.0,
) -> Layout:
    """Lay out a graph left to right: layers are columns, data flows rightwards.

    ``nodes`` are ids in a preferred order (it breaks ties), ``edges`` ``(source, target)``
    pairs; duplicate edges, self-loops and edges to unknown nodes are ignored.

    >>> placed = layout(["a", "b", "c"], [("a", "b"), ("b", "c")])
    >>> [placed.nodes[n].layer for n in "abc"]
    [0, 1, 2]
    """
    index = {}
    for node in nodes:
        if node not in index:
            index[node] = len(index)
    n = len(index)
    result = Layout()
    if n == 0:
        return result
    pairs: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for source, target in edges:
        s, t = index.get(source), index.get(target)
        if s is None or t is None or s == t or (s, t) in seen:
            continue
        seen.add((s, t))
        pairs.append((s, t))
    forward = _break_cycles(n, pairs)
    layer = _layers(n, forward)
    # the graph with dummy nodes: real nodes are 0..n-1, dummies n.. (one per layer crossed)
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    chains: list[tuple[int, int, list[int], bool]] = []  # (source, target, via, reversed)
    for (s, t), (fs, ft) in zip(pairs, forward):
        via = []
        previous = fs
        for lay in range(layer[fs] + 1, layer[ft]):
            dummy = len(layer)
            layer.append(lay)
            succ.append([])
            pred.append([])
            succ[previous].append(dummy)
            pred[dummy].append(previous)
            via.append(dummy)
            previous = dummy
        succ[previous].append(ft)
        pred[ft].append(previous)
        chains.append((s, t, via, (fs, ft) != (s, t)))
    count = len(layer)
    layers: list[list[int]] = [[] for _ in range(max(layer) + 1)]
    for v in _initial_order(n, count, succ, pred, layer):
        layers[layer[v]].append(v)
    layers, crossings = _order(layers, succ, pred, count)
    result.crossings = crossings
    result.layers = len(layers)

    sizes = [node_height] * n + [0.0] * (count - n)
    gaps = node_gap
    centre = _coordinates(layers, succ, pred, sizes, gaps, count)
    low = min(centre[v] - sizes[v] / 2 for v in range(count))
    shift = margin - low
    step = node_width + layer_gap
    position = [0] * count
    for lay in layers:
        for i, v in enumerate(lay):
            position[v] = i
    names = list(index)
    for v in range(n):
        result.nodes[names[v]] = NodeBox(
            names[v],
            margin + layer[v] * step,
            centre[v] + shift - node_height / 2,
            node_width,
            node_height,
            layer[v],
            position[v],
        )
    for s, t, via, reversed_ in chains:
        if reversed_:  # drawn from the forward chain's end: the target sits before the source
            start, end = result.nodes[names[t]], result.nodes[names[s]]
        else:
            start, end = result.nodes[names[s]], result.nodes[names[t]]
        points = [(start.x + start.width, start.cy)]
        points += [(margin + layer[d] * step + node_width / 2, centre[d] + shift) for d in via]
        points.append((end.x, end.cy))
        if reversed_:
            points.reverse()
        result.edges.append(EdgePath(names[s], names[t], points))
    result.width = margin * 2 + (len(layers) - 1) * step + node_width
    result.height = max(centre[v] + shift + sizes[v] / 2 for v in range(count)) + margin
    return result


def _break_cycles(n: int, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The edges with every back edge of a depth-first search reversed (a DAG)."""
    out: list[list[int]] = [[] for _ in range(n)]
    for k, (s, _t) in enumerate(pairs):
        out[s].append(k)
    state = [0] * n  # 0 unseen, 1 on the stack, 2 done
    back: set[int] = set()
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, 0)]
        while stack:
            v, i = stack[-1]
            if i < len(out[v]):
                stack[-1] = (v, i + 1)
                k = out[v][i]
                t = pairs[k][1]
                if state[t] == 1:
                    back.add(k)
                elif state[t] == 0:
                    state[t] = 1
                    stack.append((t, 0))
            else:
                state[v] = 2
                stack.pop()
    return [(t, s) if k in back else (s, t) for k, (s, t) in enumerate(pairs)]


def _layers(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Longest-path layers of a DAG; sources move forward to just before their consumers."""
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for s, t in edges:
        succ[s].append(t)
        indegree[t] += 1
    sources = [v for v in range(n) if indegree[v] == 0]
    order: list[int] = []
    queue = list(sources)
    remaining = indegree[:]
    while queue:
        v = queue.pop()
        order.append(v)
        for t in succ[v]:
            remaining[t] -= 1
            if remaining[t] == 0:
                queue.append(t)
    layer = [0] * n
    for v in order:
        for t in succ[v]:
            if layer[t] < layer[v] + 1:
                layer[t] = layer[v] + 1
    for v in sources:
        if succ[v]:
            layer[v] = min(layer[t] for t in succ[v]) - 1
    return layer


def _initial_order(
    n: int, count: int, succ: list[list[int]], pred: list[list[int]], layer: list[int]
) -> list[int]:
    """Nodes in depth-first order from the sources (in input order): a start that keeps a
    chain's nodes together."""
    placed = [False] * count
    order: list[int] = []
    for root in range(count):
        if placed[root] or pred[root]:
            continue
        stack = [root]
        while stack:
            v = stack.pop()
            if placed[v]:
                continue
            placed[v] = True
            order.append(v)
            stack.extend(reversed(succ[v]))
    order += [v for v in range(count) if not placed[v]]
    return order


def _order(
    layers: list[list[int]], succ: list[list[int]], pred: list[list[int]], count: int
) -> tuple[list[list[int]], int]:
    """Barycenter sweeps; the layers in the ordering with the fewest crossings found."""
    position = [0] * count
    for lay in layers:
        for i, v in enumerate(lay):
            position[v] = i
    best = [lay[:] for lay in layers]
    best_crossings = count_crossings(layers, succ)
    stale = 0
    for sweep in range(MAX_SWEEPS):
        if best_crossings == 0:
            break
        down = sweep % 2 == 0
        span = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        neighbours = pred if down else succ
        for k in span:
            lay = layers[k]
            keys = {}
            for v in lay:
                around = neighbours[v]
                if around:
                    keys[v] = sum(position[u] for u in around) / len(around)
                else:
                    keys[v] = position[v]
            lay.sort(key=keys.__getitem__)
            for i, v in enumerate(lay):
                position[v] = i
        crossings = count_crossings(layers, succ)
        if crossings < best_crossings:
            best_crossings = crossings
            best = [lay[:] for lay in layers]
            stale = 0
        else:
            stale += 1
            if stale >= 4:
                break
    return best, best_crossings


def count_crossings(layers: Sequence[Sequence[int]], succ: Sequence[Sequence[int]]) -> int:
    """How many pairs of edges cross between adjacent layers (edges only join adjacent
    layers), counted as inversions with a Fenwick tree: O(E log V) per pair of layers."""
    total = 0
    for k in range(len(layers) - 1):
        lower = {v: i for i, v in enumerate(layers[k + 1])}
        ends = []
        for v in layers[k]:
            ends.extend(sorted(lower[t] for t in succ[v] if t in lower))
        size = len(layers[k + 1])
        tree = [0] * (size + 1)
        for seen, end in enumerate(ends):
            # edges seen so far that end strictly right of this one cross it
            j = end + 1
            not_greater = 0
            while j > 0:
                not_greater += tree[j]
                j -= j & -j
            total += seen - not_greater
            j = end + 1
            while j <= size:
                tree[j] += 1
                j += j & -j
    return total


def _coordinates(
    layers: list[list[int]],
    succ: list[list[int]],
    pred: list[list[int]],
    sizes: list[float],
    gap: float,
    count: int,
) -> list[float]:
    """Centre coordinates across layers: each node near the mean of its neighbours, nodes
    of a layer in order and at least ``gap`` apart (dummies half that)."""
    centre = [0.0] * count
    offsets: list[list[float]] = []
    for lay in layers:
        at = 0.0
        offset = []
        for i, v in enumerate(lay):
            if i:
                previous = lay[i - 1]
                dummy_pair = sizes[v] == 0 or sizes[previous] == 0
                at += sizes[previous] / 2 + sizes[v] / 2 + (gap / 2 if dummy_pair else gap)
            offset.append(at)
        offsets.append(offset)
        half = at / 2
        for v, o in zip(lay, offset):
            centre[v] = o - half
    passes = [pred, succ, pred, succ, None, None]
    for neighbours in passes:
        span = range(len(layers)) if neighbours is not succ else range(len(layers) - 1, -1, -1)
        for k in span:
            lay = layers[k]
            wanted = []
            for v in lay:
                around = (pred[v] + succ[v]) if neighbours is None else neighbours[v]
                if around:
                    wanted.append(sum(centre[u] for u in around) / len(around))
                else:
                    wanted.append(centre[v])
            for v, c in zip(lay, _fit_in_order(wanted, offsets[k])):
                centre[v] = c
    return centre


def _fit_in_order(wanted: list[float], offset: list[float]) -> list[float]:
    """Positions ``p`` closest (least squares) to ``wanted`` with ``p[i] - p[i-1] >=
    offset[i] - offset[i-1]``: isotonic regression of ``wanted - offset`` (pool adjacent
    violators), shifted back."""
    blocks: list[list[float]] = []  # [mean, weight]
    for w, o in zip(wanted, offset):
        value, weight = w - o, 1.0
        while blocks and blocks[-1][0] > value:
            mean, count = blocks.pop()
            value = (mean * count + value * weight) / (count + weight)
            weight += count
        blocks.append([value, weight])
    fitted: list[float] = []
    for mean, weight in blocks:
        fitted.extend([mean] * int(weight))
    return [f + o for f, o in zip(fitted, offset)]


def svg_path(points: Sequence[tuple[float, float]]) -> str:
    """SVG path data through ``points``: a straight start, then cubic curves whose control
    points run horizontally (edges of a left-to-right drawing)."""
    (x, y), rest = points[0], points[1:]
    parts = [f"M{x:.1f},{y:.1f}"]
    for nx, ny in rest:
        mid = (x + nx) / 2
        parts.append(f"C{mid:.1f},{y:.1f} {mid:.1f},{ny:.1f} {nx:.1f},{ny:.1f}")
        x, y = nx, ny
    return " ".join(parts)
