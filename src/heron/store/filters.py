"""Parse run-search filters and order-by clauses (MLflow's search syntax).

Stores compile the result to parameterized SQL; this module only checks and reads the text, and
imports nothing but the standard library.

Grammar (keywords, prefixes and attribute names are case-insensitive; whitespace between tokens
is free)::

    filter      := <empty> | comparison ("AND" comparison)*
    comparison  := identifier operator value | identifier IS [NOT] NULL
    identifier  := prefix "." key | attribute          # an attribute needs no prefix
    prefix      := metrics | metric                     -> metric
                 | params | param | parameters | parameter -> param
                 | tags | tag                           -> tag
                 | attributes | attribute | attr | run  -> attribute
    key         := bare-key | `backticked` | "double-quoted"
    operator    := = | == | != | <> | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value       := number | 'string' | "string" | "(" string ("," string)* ")"   # list: IN only
    order_by    := identifier [ASC | DESC]

Examples::

    metrics.acc > 0.8 and params.depth = '3'
    metrics.val.acc >= 1e-3                       key "val.acc": bare keys may hold dots
    tags.`mlflow.note` LIKE '%baseline%'
    params."batch size" = '32' AND attributes.status IN ('completed', 'FAILED')
    params.lr IS NULL and tags.team IS NOT NULL   runs lacking param lr, having tag team
    run.id = 'a1b2' and start_time < 1718000000000
    metrics.acc DESC    params.lr    attributes.start_time asc    `metrics`.`my key` DESC

Lexical rules:

* A bare key runs up to whitespace or one of  = ! < > ( ) , ' "  and the backtick; it may hold
  dots (a bare prefix ends at the first dot). Put keys holding spaces or those characters in
  backticks or double quotes; the prefix may be quoted the same way.
* Inside backticks the only escape is a doubled backtick: metrics.`a``b` is the key a`b.
* Inside single- or double-quoted strings (values, and double-quoted keys) the enclosing quote
  is written doubled or after a backslash: 'it''s' and 'it\\'s' both read it's. Two
  backslashes read one backslash; any other backslash is kept as is.
* Numbers are plain decimal literals: ``3``, ``-1.5``, ``.5``, ``+2E6``, ``1e-3``. Bare words
  (``inf``, ``nan``, ``true``, unquoted strings) are not values.

Typing rules:

* Metrics and the numeric attributes (``start_time``, ``end_time``: epoch milliseconds) compare
  with ``= != < <= > >=`` to a number, or to a quoted string holding one; the value is a float.
* Params, tags and the other attributes are strings: ``= != LIKE ILIKE IN NOT IN`` with quoted
  values (``params.depth = '3'``, never ``params.depth = 3``).
* ``<key> IS NULL`` matches the runs that lack a metric, param or tag; ``IS NOT NULL`` those
  that have it (a NaN metric is a value: it IS NOT NULL). The comparison's value is None.
* A NaN metric is unequal to every number: it matches ``!=`` and no other comparison.
* Run statuses are matched case-insensitively, and MLflow's names are read as Heron's:
  FINISHED -> completed, FAILED -> failed, RUNNING -> running, KILLED -> cancelled,
  SCHEDULED -> pending. ``status = 'done'`` (an unknown status) is an error listing the valid
  ones. (LIKE and ILIKE patterns on the status are not translated.)

Limits: a filter holds at most ``MAX_COMPARISONS`` comparisons, and its ``IN`` lists at most
``MAX_LIST_VALUES`` values in all; ``parse_order_by_list`` refuses a key named twice.

Every mistake raises :class:`~heron.core.errors.FilterError` saying what is wrong, at which
character position (0-based) and how to fix it.

The grammar above is the runs' one. Other searches reuse it over their own fields by passing a
:class:`Vocabulary` (``vocabulary=MODEL_VERSION_FIELDS``: ``name``, ``version``, ``run_id``,
``artifact_id``, ``user``, ``created_at`` and ``tags.<key>`` of model versions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from heron.core.errors import FilterError

__all__ = [
    "ENTITY_ATTRIBUTE",
    "ENTITY_METRIC",
    "ENTITY_PARAM",
    "ENTITY_TAG",
    "MAX_COMPARISONS",
    "MAX_LIST_VALUES",
    "MODEL_VERSION_FIELDS",
    "NUMERIC_ATTRIBUTES",
    "RUN_FIELDS",
    "STRING_ATTRIBUTES",
    "Comparison",
    "OrderBy",
    "Vocabulary",
    "parse_filter",
    "parse_order_by",
    "parse_order_by_list",
]

#: The most comparisons one filter may join with AND.
MAX_COMPARISONS = 200
#: The most values the IN / NOT IN lists of one filter may hold in all.
MAX_LIST_VALUES = 1000

ENTITY_METRIC = "metric"
ENTITY_PARAM = "param"
ENTITY_TAG = "tag"
ENTITY_ATTRIBUTE = "attribute"

#: Canonical names of the string-valued run attributes.
STRING_ATTRIBUTES = frozenset(
    {
        "status",
        "name",
        "kind",
        "run_id",
        "user",
        "experiment_id",
        "parent_id",
        "source",
        "git_commit",
    }
)
#: Canonical names of the numeric run attributes (epoch milliseconds).
NUMERIC_ATTRIBUTES = frozenset({"start_time", "end_time"})

#: Run statuses as filters may write them (lower-case): Heron's own and MLflow's names.
RUN_STATUS_NAMES = {
    "pending": "pending",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "cached": "cached",
    "finished": "completed",  # MLflow's names
    "killed": "cancelled",
    "scheduled": "pending",
}


@dataclass(frozen=True)
class Comparison:
    """One ``<entity>.<key> <op> <value>`` test of a filter.

    ``op`` is canonical and upper-case (``==`` becomes ``=``, ``<>`` becomes ``!=``). ``value`` is
    a float for metrics and numeric attributes, a str for params, tags and string attributes,
    a tuple of str for ``IN`` / ``NOT IN``, and None for ``IS NULL`` / ``IS NOT NULL``.

    >>> parse_filter("metrics.acc >= 0.9")
    (Comparison(entity='metric', key='acc', op='>=', value=0.9),)
    """

    entity: str
    key: str
    op: str
    value: object


@dataclass(frozen=True)
class OrderBy:
    """One sort key of a search: ``parse_order_by("metrics.acc DESC")``.

    >>> parse_order_by("metrics.acc DESC")
    OrderBy(entity='metric', key='acc', ascending=False)
    """

    entity: str
    key: str
    ascending: bool = True


_PREFIXES = {
    "metrics": ENTITY_METRIC,
    "metric": ENTITY_METRIC,
    "params": ENTITY_PARAM,
    "param": ENTITY_PARAM,
    "parameters": ENTITY_PARAM,
    "parameter": ENTITY_PARAM,
    "tags": ENTITY_TAG,
    "tag": ENTITY_TAG,
    "attributes": ENTITY_ATTRIBUTE,
    "attribute": ENTITY_ATTRIBUTE,
    "attr": ENTITY_ATTRIBUTE,
    "run": ENTITY_ATTRIBUTE,
}
_SHOWN_PREFIX = {
    ENTITY_METRIC: "metrics",
    ENTITY_PARAM: "params",
    ENTITY_TAG: "tags",
    ENTITY_ATTRIBUTE: "attributes",
}
_ATTRIBUTE_ALIASES = {
    "run_id": "run_id",
    "id": "run_id",
    "run_uuid": "run_id",
    "name": "name",
    "run_name": "name",
    "start_time": "start_time",
    "created": "start_time",
    "end_time": "end_time",
    "status": "status",
    "kind": "kind",
    "user": "user",
    "user_id": "user",
    "experiment_id": "experiment_id",
    "parent_id": "parent_id",
    "source": "source",
    "git_commit": "git_commit",
}
assert set(_ATTRIBUTE_ALIASES.values()) == STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES
_VALID_ATTRIBUTES = ", ".join(sorted(_ATTRIBUTE_ALIASES))

_SYMBOL_OPS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"})
_LIST_OPS = frozenset({"IN", "NOT IN"})
_NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
_ALL_OPS = "=, ==, !=, <>, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL"

_ONLY_AND = (
    "Only AND is supported: join comparisons with AND, without parentheses, and run one "
    "search per alternative instead of OR."
)
_PREFIX_FIX = (
    "Name keys as metrics.<key>, params.<key>, tags.<key> or attributes.<name> (prefix aliases: "
    "metric, param, parameter(s), tag, attribute, attr, run)."
)


@dataclass(frozen=True)
class Vocabulary:
    """What one kind of search may name, and the advice its error messages give.

    ``attributes`` maps each accepted attribute name (lower-case, aliases included) to its
    canonical name; ``numeric`` holds the canonical names compared as numbers; ``entities``
    the prefixed kinds of keys the searched objects have (``ENTITY_ATTRIBUTE`` always).
    """

    subject: str
    attributes: Mapping[str, str]
    numeric: frozenset[str]
    entities: frozenset[str]
    prefix_fix: str
    attribute_fix: str
    numeric_hint: str
    string_hint: str = ""
    example_key: str = "metrics.acc"
    field_word: str = "attribute"
    #: canonical attribute -> {accepted value (lower-case) -> stored value}, for =, !=, IN
    enums: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: whether ``IS [NOT] NULL`` applies to the prefixed keys
    null_tests: bool = False

    def canonical(self, name: str) -> str | None:
        return self.attributes.get(_fold(name))


RUN_FIELDS = Vocabulary(
    subject="run",
    attributes=_ATTRIBUTE_ALIASES,
    numeric=NUMERIC_ATTRIBUTES,
    entities=frozenset({ENTITY_METRIC, ENTITY_PARAM, ENTITY_TAG, ENTITY_ATTRIBUTE}),
    prefix_fix=_PREFIX_FIX,
    attribute_fix=(
        f"Valid attributes: {_VALID_ATTRIBUTES}. Prefix metric, param and tag keys: "
        "metrics.acc, params.lr, tags.team."
    ),
    numeric_hint="only metrics and attributes.start_time/end_time compare as numbers",
    string_hint="to compare numerically, log the value as a metric and filter on metrics.<key>",
    enums=MappingProxyType({"status": RUN_STATUS_NAMES}),
    null_tests=True,
)

_MODEL_VERSION_ALIASES = {
    "name": "name",
    "model_name": "name",
    "version": "version",
    "version_number": "version",
    "run_id": "run_id",
    "artifact_id": "artifact_id",
    "user": "user",
    "user_id": "user",
    "created_at": "created_at",
    "creation_timestamp": "created_at",
}
_MODEL_VERSION_NAMES = "name, version, run_id, artifact_id, user, created_at"

#: The fields of model-version searches (``Store.search_model_versions``).
MODEL_VERSION_FIELDS = Vocabulary(
    subject="model version",
    attributes=_MODEL_VERSION_ALIASES,
    numeric=frozenset({"version", "created_at"}),
    entities=frozenset({ENTITY_TAG, ENTITY_ATTRIBUTE}),
    prefix_fix=(
        f"Model versions are searched by {_MODEL_VERSION_NAMES} and tags.<key> "
        "(e.g. name = 'iris' and tags.stage = 'prod')."
    ),
    attribute_fix=(
        f"Valid fields: {_MODEL_VERSION_NAMES} (aliases: model_name, version_number, user_id, "
        "creation_timestamp). Prefix tag keys: tags.stage."
    ),
    numeric_hint="only version and created_at compare as numbers",
    string_hint="tags hold strings",
    example_key="tags.stage",
    field_word="field",
)

_SPACE = re.compile(r"\s*")
_BARE = re.compile(r"[^\s=!<>(),'\"`]*")
_BARE_NO_DOT = re.compile(r"[^\s=!<>(),'\"`.]*")
_OP_CHARS = re.compile(r"[=!<>]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Inside each kind of quote: the characters that end a plain run of text.
_QUOTE_STOPS = {"'": re.compile(r"['\\]"), '"': re.compile(r'["\\]'), "`": re.compile("`")}


def parse_filter(text: str | None, vocabulary: Vocabulary = RUN_FIELDS) -> tuple[Comparison, ...]:
    """Parse a search filter into the comparisons it joins with AND.

    ``vocabulary`` says which fields may be named (default: those of runs).

    ``None``, an empty or an all-whitespace string mean "no filter" and give ``()``.
    Raises :class:`FilterError` for any text outside the grammar (see the module docstring),
    for more than ``MAX_COMPARISONS`` comparisons, and if ``text`` is neither a str nor None.

    >>> parse_filter("metrics.acc > 0.8 and params.depth = '3'")  # doctest: +NORMALIZE_WHITESPACE
    (Comparison(entity='metric', key='acc', op='>', value=0.8),
     Comparison(entity='param', key='depth', op='=', value='3'))
    """
    if text is None:
        return ()
    if not isinstance(text, str):
        raise FilterError(
            f"A filter must be a str or None, got {type(text).__name__}: write it as one "
            "string, e.g. \"metrics.acc > 0.8 and params.lr = '0.01'\"."
        )
    sc = _Scanner(text, "filter", vocabulary)
    sc.skip_space()
    if sc.at_end():
        return ()
    comparisons = [_parse_comparison(sc)]
    while True:
        sc.skip_space()
        if sc.at_end():
            values = sum(len(c.value) for c in comparisons if isinstance(c.value, tuple))
            if values > MAX_LIST_VALUES:
                raise FilterError(
                    f"Invalid filter: its IN / NOT IN lists hold {values} values, more than "
                    f"the {MAX_LIST_VALUES} a filter may hold; search in several steps."
                )
            return tuple(comparisons)
        pos = sc.pos
        word = _fold(sc.bare())
        if word == "and":
            sc.skip_space()
            if sc.at_end():
                raise sc.error(pos, "dangling AND", "Remove it or add a comparison after it.")
            if len(comparisons) >= MAX_COMPARISONS:
                raise sc.error(
                    pos,
                    f"more than {MAX_COMPARISONS} comparisons",
                    f"A filter holds at most {MAX_COMPARISONS} comparisons joined with AND; "
                    "use IN ('a', 'b', ...) for many values of one key, or narrow the search "
                    "in steps.",
                )
            comparisons.append(_parse_comparison(sc))
        elif word == "or":
            raise sc.error(pos, "OR is not supported", _ONLY_AND)
        elif text[pos] in ("(", ")"):
            raise sc.error(pos, "parentheses are not supported", _ONLY_AND)
        else:
            raise sc.error(
                pos,
                f"unexpected {sc.describe(pos)} after a complete comparison",
                "Join comparisons with AND, and quote values that hold spaces: "
                "params.note = 'two words'.",
            )


def parse_order_by(clause: str, vocabulary: Vocabulary = RUN_FIELDS) -> OrderBy:
    """Parse one order-by clause: ``<prefix>.<key>`` or an attribute name, then ASC or DESC.

    ``vocabulary`` says which fields may be named (default: those of runs).

    The direction is case-insensitive and defaults to ascending. Raises :class:`FilterError` for
    anything else (empty text, unknown prefix or attribute, extra tokens, not a str).

    >>> parse_order_by("`metrics`.`my key` desc")
    OrderBy(entity='metric', key='my key', ascending=False)
    >>> parse_order_by("start_time")
    OrderBy(entity='attribute', key='start_time', ascending=True)
    """
    if not isinstance(clause, str):
        raise FilterError(
            f"An order_by clause must be a str, got {type(clause).__name__}: write e.g. "
            "'metrics.acc DESC', and pass several clauses as a list of such strings."
        )
    sc = _Scanner(clause, "order_by clause", vocabulary)
    sc.skip_space()
    if sc.at_end():
        raise sc.error(sc.pos, "empty clause", "Name what to sort by, e.g. 'metrics.acc DESC'.")
    entity, key = _parse_identifier(sc, in_filter=False)
    sc.skip_space()
    ascending = True
    if not sc.at_end():
        pos = sc.pos
        direction = _fold(sc.bare())
        if direction not in ("asc", "desc"):
            raise sc.error(
                pos,
                f"expected ASC or DESC but found {sc.describe(pos)}",
                "Write '<prefix>.<key> [ASC|DESC]', e.g. 'metrics.acc DESC'; put keys with "
                "spaces or special characters in backticks: 'params.`my key` ASC'.",
            )
        ascending = direction == "asc"
        sc.skip_space()
        if not sc.at_end():
            raise sc.error(
                sc.pos,
                f"unexpected {sc.describe(sc.pos)} after the direction",
                "One clause holds one key and an optional ASC/DESC; pass several clauses as "
                "separate list items.",
            )
    return OrderBy(entity, key, ascending)


def parse_order_by_list(
    clauses: str | Sequence[str] | None, vocabulary: Vocabulary = RUN_FIELDS
) -> tuple[OrderBy, ...]:
    """Parse the ``order_by`` of a search: None, one clause, or a list or tuple of clauses.

    Raises :class:`FilterError` for a clause :func:`parse_order_by` refuses, for anything but a
    str or a list/tuple of str, and for a key named twice (``['metrics.acc', 'metrics.acc
    DESC']``: the second clause could never apply), as MLflow does.

    >>> parse_order_by_list("metrics.acc DESC")
    (OrderBy(entity='metric', key='acc', ascending=False),)
    """
    if clauses is None:
        return ()
    if isinstance(clauses, str):
        clauses = [clauses]
    if not isinstance(clauses, (list, tuple)):
        raise FilterError(
            f"order_by must be a str or a list of str, got {type(clauses).__name__}: write "
            "e.g. ['metrics.acc DESC', 'start_time']."
        )
    orders = tuple(parse_order_by(c, vocabulary) for c in clauses)
    seen: dict[tuple[str, str], int] = {}
    for i, o in enumerate(orders):
        first = seen.setdefault((o.entity, o.key), i)
        if first != i:
            shown = _show_identifier(o.entity, o.key)
            raise FilterError(
                f"Invalid order_by: {shown} is named twice (clauses {first + 1} and {i + 1}: "
                f"{clauses[first]!r}, {clauses[i]!r}). Sort by each key once, e.g. "
                f"'{shown} DESC'."
            )
    return orders


class _Scanner:
    """A cursor over the text, with the lexical rules and the error format."""

    def __init__(self, text: str, what: str, vocabulary: Vocabulary = RUN_FIELDS) -> None:
        self.text = text
        self.pos = 0
        self.what = what
        self.vocabulary = vocabulary

    def error(self, pos: int, problem: str, fix: str) -> FilterError:
        return FilterError(f"Invalid {self.what} at position {pos}: {problem}. {fix}")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        match = _SPACE.match(self.text, self.pos)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()

    def bare(self, pattern: re.Pattern[str] = _BARE) -> str:
        match = pattern.match(self.text, self.pos)
        assert match is not None  # the patterns match the empty string
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        """Read the quoted text starting at the cursor (on the opening quote) and unescape it."""
        text, start = self.text, self.pos
        quote = text[start]
        stops = _QUOTE_STOPS[quote]
        parts: list[str] = []
        i = start + 1
        while True:
            match = stops.search(text, i)
            if match is None:
                doubled = quote * 2
                raise self.error(
                    start,
                    f"unterminated {quote} quote",
                    f"Close it with a matching {quote}; inside, write {doubled} for a literal "
                    f"{quote}.",
                )
            j = match.start()
            parts.append(text[i:j])
            following = text[j + 1 : j + 2]
            if text[j] == "\\":  # only in ' and " strings
                if following in (quote, "\\"):
                    parts.append(following)
                    i = j + 2
                else:
                    parts.append("\\")
                    i = j + 1
            elif following == quote:
                parts.append(quote)
                i = j + 2
            else:
                self.pos = j + 1
                return "".join(parts)

    def describe(self, pos: int) -> str:
        """The token at ``pos`` (or its first character), for error messages."""
        if pos >= len(self.text):
            return "the end of the text"
        match = _BARE.match(self.text, pos)
        token = match.group() if match and match.group() else self.text[pos]
        return _show(token)


def _parse_comparison(sc: _Scanner) -> Comparison:
    if sc.peek() == "(":
        raise sc.error(sc.pos, "parentheses are not supported", _ONLY_AND)
    entity, key = _parse_identifier(sc, in_filter=True)
    ident = _show_identifier(entity, key)
    numeric = entity == ENTITY_METRIC or (
        entity == ENTITY_ATTRIBUTE and key in sc.vocabulary.numeric
    )
    sc.skip_space()
    op_pos = sc.pos
    op = _parse_operator(sc, ident)
    if op in _NULL_OPS:
        if entity == ENTITY_ATTRIBUTE or not sc.vocabulary.null_tests:
            raise sc.error(
                op_pos,
                f"{op} does not apply to {ident}",
                f"{op} tests whether a {sc.vocabulary.subject} has a key: "
                + (
                    "write it after metrics.<key>, params.<key> or tags.<key>."
                    if sc.vocabulary.null_tests
                    else f"{sc.vocabulary.subject} searches do not support it."
                ),
            )
        return Comparison(entity, key, op, None)
    if numeric and op not in _NUMERIC_OPS:
        raise sc.error(
            op_pos,
            f"operator {op} does not apply to the number {ident}",
            f"Compare numbers with =, !=, <, <=, > or >=, e.g. {ident} >= 0.5.",
        )
    if not numeric and op not in _STRING_OPS:
        hint = sc.vocabulary.string_hint
        if entity == ENTITY_ATTRIBUTE:
            hint = sc.vocabulary.numeric_hint
        raise sc.error(
            op_pos,
            f"operator {op} does not apply to {ident}, which holds strings",
            f"Use =, !=, LIKE, ILIKE, IN or NOT IN; {hint}.",
        )
    sc.skip_space()
    value_pos = sc.pos
    example = f"{ident} {op} {'0.5' if numeric else _quote('value')}"
    if sc.at_end():
        raise sc.error(value_pos, f"missing value after {ident} {op}", f"Write e.g. {example}.")
    enum = sc.vocabulary.enums.get(key) if entity == ENTITY_ATTRIBUTE else None
    if op in _LIST_OPS:
        items = _parse_list(sc, ident, op)
        if enum is not None:
            items = tuple(_enum_value(sc, value_pos, ident, enum, item) for item in items)
        return Comparison(entity, key, op, items)
    first = sc.peek()
    if first in ("'", '"'):
        string = sc.quoted()
        if enum is not None and op in ("=", "!="):
            string = _enum_value(sc, value_pos, ident, enum, string)
        if not numeric:
            return Comparison(entity, key, op, string)
        if _NUMBER.fullmatch(string.strip()):
            return Comparison(entity, key, op, float(string.strip()))
        raise sc.error(
            value_pos,
            f"{ident} is a number but the value {_show(string)} is not",
            f"Compare it with a number, e.g. {ident} {op} 0.5.",
        )
    if first == "(":
        raise sc.error(
            value_pos,
            f"a parenthesized list after {op}",
            f"Lists go only after IN or NOT IN: {ident} IN ('a', 'b').",
        )
    if first == "`":
        raise sc.error(
            value_pos,
            "a backticked value",
            f"Backticks quote keys; quote values with single quotes: {example}.",
        )
    word = sc.bare()
    if not word:
        raise sc.error(
            value_pos,
            f"expected a value after {ident} {op} but found {sc.describe(value_pos)}",
            f"Write e.g. {example}.",
        )
    is_number = _NUMBER.fullmatch(word) is not None
    if numeric and is_number:
        return Comparison(entity, key, op, float(word))
    if numeric:
        raise sc.error(
            value_pos,
            f"{ident} is a number but the value {_show(word)} is not",
            f"Write a decimal number such as 0.5, -3 or 1e-4: {ident} {op} 0.5.",
        )
    what = "unquoted number" if is_number else "unquoted value"
    raise sc.error(
        value_pos,
        f"{what} {_show(word)} for {ident}",
        f"Quote string values: {ident} {op} {_quote(_clip(word))}.",
    )


def _enum_value(sc: _Scanner, pos: int, ident: str, names: Mapping[str, str], value: str) -> str:
    """``value`` read case-insensitively as one of ``names`` (e.g. 'FINISHED' -> 'completed')."""
    found = names.get(_fold(value))
    if found is None:
        own = sorted(set(names.values()))
        others = sorted(k for k in names if k not in own)
        raise sc.error(
            pos,
            f"unknown value {_show(value)} for {ident}",
            f"Use one of {', '.join(own)} (case-insensitive; also "
            f"{', '.join(o.upper() for o in others)}).",
        )
    return found


def _parse_identifier(sc: _Scanner, in_filter: bool) -> tuple[str, str]:
    """Read ``prefix.key`` or a bare attribute name; return (entity, key or canonical attribute)."""
    start = sc.pos
    first, quoted = _read_name(sc, _BARE_NO_DOT)
    if sc.peek() == ".":
        if not first and not quoted:
            raise sc.error(start, "missing prefix before '.'", sc.vocabulary.prefix_fix)
        sc.pos += 1
        entity = _PREFIXES.get(_fold(first))
        if entity is None:
            raise sc.error(start, f"unknown prefix {_show(first)}", sc.vocabulary.prefix_fix)
        if entity not in sc.vocabulary.entities:
            raise sc.error(
                start,
                f"{sc.vocabulary.subject}s have no {_SHOWN_PREFIX[entity]}",
                sc.vocabulary.prefix_fix,
            )
        key_pos = sc.pos
        key, _ = _read_name(sc, _BARE)
        if not key:
            shown = _SHOWN_PREFIX[entity]
            raise sc.error(
                key_pos,
                f"empty key after {_show(first + '.')}",
                f"Write the key after the dot, e.g. {shown}.acc, and put keys with spaces in "
                f"backticks: {shown}.`my key`.",
            )
        if entity == ENTITY_ATTRIBUTE:
            key = _canonical_attribute(
                sc, key, key_pos, f"unknown {sc.vocabulary.field_word} {_show(key)}"
            )
        return entity, key
    if not first and not quoted:
        raise sc.error(
            start,
            f"expected a key such as {sc.vocabulary.example_key} but found {sc.describe(start)}",
            sc.vocabulary.prefix_fix,
        )
    keyword = _fold(first) if in_filter and not quoted else ""
    if keyword == "or":
        raise sc.error(start, "OR is not supported", _ONLY_AND)
    if keyword == "not":
        raise sc.error(start, "NOT is not supported", "Negate the operator instead: != or NOT IN.")
    if keyword == "and":
        raise sc.error(start, "expected a comparison but found AND", "Remove the extra AND.")
    return ENTITY_ATTRIBUTE, _canonical_attribute(
        sc,
        first,
        start,
        f"{_show(first)} is neither prefixed nor a {sc.vocabulary.subject} "
        f"{sc.vocabulary.field_word}",
    )


def _read_name(sc: _Scanner, bare: re.Pattern[str]) -> tuple[str, bool]:
    """A prefix or key: backticked, double-quoted or bare. Returns (name, was_quoted)."""
    if sc.peek() in ("`", '"'):
        return sc.quoted(), True
    return sc.bare(bare), False


def _canonical_attribute(sc: _Scanner, name: str, pos: int, problem: str) -> str:
    canonical = sc.vocabulary.canonical(name)
    if canonical is None:
        raise sc.error(pos, problem, sc.vocabulary.attribute_fix)
    return canonical


def _parse_operator(sc: _Scanner, ident: str) -> str:
    start = sc.pos
    if sc.at_end():
        raise sc.error(start, f"missing operator after {ident}", f"Use one of {_ALL_OPS}.")
    symbols = _OP_CHARS.match(sc.text, start)
    if symbols:
        sc.pos = symbols.end()
        op = _SYMBOL_OPS.get(symbols.group())
        if op is None:
            raise sc.error(
                start, f"unknown operator {_show(symbols.group())}", f"Use one of {_ALL_OPS}."
            )
        return op
    word = _fold(sc.bare())
    if word in ("like", "ilike", "in"):
        return word.upper()
    if word == "is":
        sc.skip_space()
        after = sc.pos
        nxt = _fold(sc.bare())
        negated = nxt == "not"
        if negated:
            sc.skip_space()
            after = sc.pos
            nxt = _fold(sc.bare())
        if nxt == "null":
            return "IS NOT NULL" if negated else "IS NULL"
        raise sc.error(
            after,
            f"expected NULL after {'IS NOT' if negated else 'IS'} but found {sc.describe(after)}",
            f"Write {ident} IS NULL or {ident} IS NOT NULL; compare values with = or !=.",
        )
    if word == "not":
        sc.skip_space()
        after = sc.pos
        if _fold(sc.bare()) == "in":
            return "NOT IN"
        raise sc.error(
            after,
            f"expected IN after NOT but found {sc.describe(after)}",
            "NOT is supported only in NOT IN; use != to negate an equality.",
        )
    raise sc.error(
        start,
        f"expected an operator after {ident} but found {sc.describe(start)}",
        f"Use one of {_ALL_OPS}; put keys with spaces or special characters in backticks: "
        "params.`my key` = 'x'.",
    )


def _parse_list(sc: _Scanner, ident: str, op: str) -> tuple[str, ...]:
    example = f"{ident} {op} ('a', 'b')"
    open_pos = sc.pos
    if sc.peek() != "(":
        raise sc.error(
            open_pos,
            f"{op} needs a parenthesized list but found {sc.describe(open_pos)}",
            f"Write {example}.",
        )
    sc.pos += 1
    items: list[str] = []
    while True:
        sc.skip_space()
        item_pos = sc.pos
        if len(items) >= MAX_LIST_VALUES:
            raise sc.error(
                item_pos,
                f"more than {MAX_LIST_VALUES} values in the {op} list",
                f"An {op} list holds at most {MAX_LIST_VALUES} values; search in several steps.",
            )
        first = sc.peek()
        if first in ("'", '"'):
            items.append(sc.quoted())
        elif not first:
            raise sc.error(open_pos, f"unclosed {op} list", f"Close it with ')': {example}.")
        elif first == ")":
            if items:
                raise sc.error(item_pos, "trailing comma", f"Remove it: {example}.")
            raise sc.error(item_pos, f"empty {op} list", f"List at least one value: {example}.")
        else:
            word = sc.bare()
            if word:
                raise sc.error(
                    item_pos,
                    f"unquoted list value {_show(word)}",
                    f"Quote string values: {ident} {op} ({_quote(_clip(word))}).",
                )
            raise sc.error(
                item_pos,
                f"expected a quoted string in the {op} list but found {sc.describe(item_pos)}",
                f"Write {example}.",
            )
        sc.skip_space()
        separator = sc.peek()
        if separator == ")":
            sc.pos += 1
            return tuple(items)
        if separator == ",":
            sc.pos += 1
        elif not separator:
            raise sc.error(open_pos, f"unclosed {op} list", f"Close it with ')': {example}.")
        else:
            raise sc.error(
                sc.pos,
                f"expected ',' or ')' in the {op} list but found {sc.describe(sc.pos)}",
                f"Separate quoted values with commas: {example}.",
            )


def _fold(word: str) -> str:
    """Lower-case an ASCII word for keyword look-ups; non-ASCII words never match a keyword.

    (Unicode case mapping would turn the Kelvin sign into ``k`` and make ``LIKE`` out of it.)
    """
    return word.lower() if word.isascii() else word


def _clip(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters (marked with ...), so messages stay short."""
    return text if len(text) <= limit else text[:limit] + "..."


def _show(token: str) -> str:
    """A token quoted and shortened for an error message."""
    return repr(_clip(token))


def _quote(value: str) -> str:
    """``value`` as a single-quoted string literal of the grammar."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _show_identifier(entity: str, key: str) -> str:
    """``<prefix>.<key>`` as a user would write it, backticking keys that need it."""
    key = _clip(key)
    if not _BARE.fullmatch(key) or not key:
        key = "`" + key.replace("`", "``") + "`"
    return f"{_SHOWN_PREFIX[entity]}.{key}"
