"""The runs table's model: its columns, how they sort, which show by default, and the state
a URL holds (filter, sort, columns, page). Pure functions: the pages read the store.

A column is named in URLs as the search grammar names it: ``metrics.acc``, ``params.lr``,
``tags.team`` (the key is everything after the first dot, so keys may hold dots), or an
attribute: ``name``, ``status``, ``start_time``, ``user``, ``duration``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from heron.core.entities import Run
from heron.core.errors import FilterError
from heron.store import filters

#: URL prefix of each entity, and back
PREFIX = {"metric": "metrics", "param": "params", "tag": "tags"}
ENTITY = {v: k for k, v in PREFIX.items()}
#: the attribute columns every table shows: (key, label, sortable)
ATTRIBUTES = (
    ("name", "Name", True),
    ("status", "Status", True),
    ("start_time", "Started", True),
    ("duration", "Duration", False),  # the store cannot order by it
    ("user", "User", True),
)
_ATTRIBUTE_LABELS = {key: label for key, label, _ in ATTRIBUTES}
_SORTABLE_ATTRIBUTES = {key for key, _, sortable in ATTRIBUTES if sortable}
PAGE_SIZES = (25, 50, 100)
#: default columns: at most this many metrics and this many params (of the first page)
DEFAULT_CAP = 8
#: system tags are never default columns
SYSTEM_TAG_PREFIXES = ("heron.", "mlflow.")
#: a cell shows this much of a long value (the title attribute a little more)
CELL_CHARS = 120
TITLE_CHARS = 1000


@dataclass(frozen=True)
class Column:
    """One column of the runs table: an attribute, or a metric, param or tag key."""

    entity: str  # "attribute", "metric", "param" or "tag"
    key: str

    @property
    def id(self) -> str:
        """How URLs name it: ``metrics.acc`` or ``start_time``."""
        return self.key if self.entity == "attribute" else f"{PREFIX[self.entity]}.{self.key}"

    @property
    def label(self) -> str:
        return _ATTRIBUTE_LABELS.get(self.key, self.key) if self.entity == "attribute" else self.key

    @property
    def sortable(self) -> bool:
        return self.entity != "attribute" or self.key in _SORTABLE_ATTRIBUTES

    @property
    def numeric(self) -> bool:
        return self.entity == "metric" or self.key in ("start_time", "duration")

    def order_by(self, descending: bool) -> str:
        """The ``order_by`` clause sorting on this column."""
        direction = "DESC" if descending else "ASC"
        if self.entity == "attribute":
            return f"attributes.{self.key} {direction}"
        return f"{PREFIX[self.entity]}.{quote_key(self.key)} {direction}"

    def default_descending(self) -> bool:
        """The direction a first click on its header sorts: biggest and newest first for
        numbers, A to Z for text."""
        return self.numeric

    def raw(self, run: Run) -> Any:
        """The run's value in this column (``None`` when it has none)."""
        if self.entity == "metric":
            return run.metrics.get(self.key)
        if self.entity == "param":
            return run.params.get(self.key)
        if self.entity == "tag":
            return run.tags.get(self.key)
        return getattr(run, self.key, None)


def quote_key(key: str) -> str:
    """A key in backticks as the filter grammar reads it (a backtick doubled)."""
    return "`" + key.replace("`", "``") + "`"


def parse_column(text: str | None) -> Column | None:
    """The column a URL names (``metrics.acc``, ``status``), or ``None`` if none."""
    if not text:
        return None
    prefix, dot, key = text.partition(".")
    if dot and prefix in ENTITY and key:
        return Column(ENTITY[prefix], key)
    if not dot and text in _ATTRIBUTE_LABELS:
        return Column("attribute", text)
    return None


ATTRIBUTE_COLUMNS = tuple(Column("attribute", key) for key, _, _ in ATTRIBUTES)
DEFAULT_SORT = Column("attribute", "start_time")


def parse_columns(values: Iterable[str]) -> list[Column]:
    """The key columns a URL chose (``col=`` values), in order, once each; attributes and
    names that are no column are dropped (an empty ``col=`` only marks a choice made)."""
    seen: dict[Column, None] = {}
    for value in values:
        column = parse_column(value)
        if column is not None and column.entity != "attribute":
            seen.setdefault(column, None)
    return list(seen)


def filter_columns(filter_string: str) -> list[Column]:
    """The key columns a (valid) filter names; none for an invalid one."""
    try:
        comparisons = filters.parse_filter(filter_string or None)
    except FilterError:
        return []
    seen: dict[Column, None] = {}
    for c in comparisons:
        if c.entity != filters.ENTITY_ATTRIBUTE:
            seen.setdefault(Column(c.entity, c.key), None)
    return list(seen)


def default_columns(
    runs: Sequence[Run], wanted: Iterable[Column] = (), cap: int = DEFAULT_CAP
) -> list[Column]:
    """The columns a table shows when the URL chose none: the ``wanted`` ones (the sort key,
    the filter's keys), then the metrics and params most runs of the page hold, at most
    ``cap`` of each, grouped metrics, params, tags and sorted by key in each group."""
    chosen = {c for c in wanted if c.entity != "attribute"}
    for entity, attribute in (("metric", "metrics"), ("param", "params")):
        counts: Counter[str] = Counter()
        for run in runs:
            counts.update(getattr(run, attribute).keys())
        room = cap - sum(1 for c in chosen if c.entity == entity)
        for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(0, room)]:
            chosen.add(Column(entity, key))
    order = {"metric": 0, "param": 1, "tag": 2}
    return sorted(chosen, key=lambda c: (order[c.entity], c.key))


def candidate_columns(runs: Sequence[Run], shown: Iterable[Column], cap: int = 100) -> list[Column]:
    """Keys the page's runs hold that are not shown (what the quick chooser offers), at most
    ``cap`` of each entity, system tags last."""
    shown = set(shown)
    out: list[Column] = []
    for entity, attribute in (("metric", "metrics"), ("param", "params"), ("tag", "tags")):
        keys: set[str] = set()
        for run in runs:
            keys.update(getattr(run, attribute))
        ordered = sorted(keys, key=lambda k: (k.startswith(SYSTEM_TAG_PREFIXES), k))
        out += [c for c in (Column(entity, k) for k in ordered) if c not in shown][:cap]
    return out


def error_position(message: str) -> int | None:
    """The 0-based character a FilterError message points at ("at position 14"), if any."""
    match = re.search(r"at position (\d+)", message)
    return int(match.group(1)) if match else None


def clip(value: Any, chars: int = CELL_CHARS) -> str:
    """A value as text, cut to ``chars`` characters with an ellipsis."""
    text = "" if value is None else str(value)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def run_href(run: Run) -> str:
    """Where a run is shown: pipeline runs on their pipeline page."""
    if run.kind == "pipeline":
        return f"/pipelines/runs/{run.id}"
    return f"/runs/{run.id}"


def sort_href_args(column: Column, sort: Column, descending: bool) -> dict[str, Any]:
    """The query changes of a click on ``column``'s header: the other direction when it is
    the sort column already, else its own first direction; back to page 1."""
    if column == sort:
        return {"sort": column.id, "dir": "asc" if descending else "desc", "page": None}
    first = column.default_descending()
    return {"sort": column.id, "dir": "desc" if first else "asc", "page": None}
