"""Tests of the run-search filter grammar and order-by clauses (heron.store.filters)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.core.errors import FilterError, InvalidArgument
from heron.store.filters import (
    ENTITY_ATTRIBUTE,
    ENTITY_METRIC,
    ENTITY_PARAM,
    ENTITY_TAG,
    MAX_COMPARISONS,
    NUMERIC_ATTRIBUTES,
    STRING_ATTRIBUTES,
    Comparison,
    OrderBy,
    parse_filter,
    parse_order_by,
)

M, P, T, A = ENTITY_METRIC, ENTITY_PARAM, ENTITY_TAG, ENTITY_ATTRIBUTE


def one(text: str) -> Comparison:
    """The single comparison of ``text``."""
    result = parse_filter(text)
    assert len(result) == 1, result
    return result[0]


def backtick(key: str) -> str:
    return "`" + key.replace("`", "``") + "`"


def double_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'


def single_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def single_quote_backslashed(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- empty filters -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", " ", "\t\n  \r", "\u00a0\u2003"])
def test_empty_filter_means_no_comparisons(text):
    assert parse_filter(text) == ()


@pytest.mark.parametrize("bad", [3, b"metrics.a > 1", ["metrics.a > 1"], object()])
def test_parse_filter_rejects_non_strings_with_filter_error(bad):
    with pytest.raises(FilterError, match="str or None"):
        parse_filter(bad)


@pytest.mark.parametrize("bad", [None, 3, b"metrics.a"])
def test_parse_order_by_rejects_non_strings_with_filter_error(bad):
    with pytest.raises(FilterError, match="must be a str"):
        parse_order_by(bad)


def test_filter_error_is_an_invalid_argument():
    with pytest.raises(InvalidArgument) as info:
        parse_filter("metrics.a >")
    assert isinstance(info.value, FilterError)
    assert info.value.code == "INVALID_FILTER"


# --- metrics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("metrics.acc > 0.8", ">", 0.8),
        ("metrics.acc >= 0.8", ">=", 0.8),
        ("metrics.acc < 1", "<", 1.0),
        ("metrics.acc <= -1", "<=", -1.0),
        ("metrics.acc = 3", "=", 3.0),
        ("metrics.acc == 3", "=", 3.0),
        ("metrics.acc != 3", "!=", 3.0),
        ("metrics.acc <> 3", "!=", 3.0),
        ("metrics.acc>0.8", ">", 0.8),
        ("metrics.acc>=-2", ">=", -2.0),
        ("metrics.acc<-2", "<", -2.0),
        ("metrics.acc > 1e-3", ">", 0.001),
        ("metrics.acc > 1E3", ">", 1000.0),
        ("metrics.acc > -2.5e+2", ">", -250.0),
        ("metrics.acc > +4", ">", 4.0),
        ("metrics.acc > .5", ">", 0.5),
        ("metrics.acc > 5.", ">", 5.0),
        ("metrics.acc > 1718000000000", ">", 1718000000000.0),
        ("metrics.acc > '0.5'", ">", 0.5),
        ('metrics.acc > "1e2"', ">", 100.0),
        ("metrics.acc > ' 7 '", ">", 7.0),
    ],
)
def test_metric_comparisons(text, op, value):
    c = one(text)
    assert c == Comparison(M, "acc", op, value)
    assert type(c.value) is float


@pytest.mark.parametrize("prefix", ["metrics", "metric", "METRICS", "Metric", "`metrics`"])
def test_metric_prefix_aliases(prefix):
    assert one(f"{prefix}.loss < 1") == Comparison(M, "loss", "<", 1.0)


def test_huge_exponent_gives_infinity_not_an_error():
    assert one("metrics.a < 1e999").value == float("inf")


# --- params, tags, string attributes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.depth = '3'", Comparison(P, "depth", "=", "3")),
        ("params.depth == '3'", Comparison(P, "depth", "=", "3")),
        ("params.depth != '3'", Comparison(P, "depth", "!=", "3")),
        ("params.depth <> '3'", Comparison(P, "depth", "!=", "3")),
        ("params.opt LIKE 'ad%'", Comparison(P, "opt", "LIKE", "ad%")),
        ("params.opt like 'ad%'", Comparison(P, "opt", "LIKE", "ad%")),
        ("params.opt ILIKE '%AD_M'", Comparison(P, "opt", "ILIKE", "%AD_M")),
        ("params.opt iLike '%a'", Comparison(P, "opt", "ILIKE", "%a")),
        ('params.opt = "adam"', Comparison(P, "opt", "=", "adam")),
        ("params.opt = ''", Comparison(P, "opt", "=", "")),
        ("params.opt='adam'", Comparison(P, "opt", "=", "adam")),
        ("params.opt LIKE'a%'", Comparison(P, "opt", "LIKE", "a%")),
        (
            "params.opt = 'two words; DROP TABLE runs'",
            Comparison(P, "opt", "=", "two words; DROP TABLE runs"),
        ),
        ("tags.team = 'vision'", Comparison(T, "team", "=", "vision")),
        ("tags.team != 'vision'", Comparison(T, "team", "!=", "vision")),
        ("tags.team ILIKE 'V%'", Comparison(T, "team", "ILIKE", "V%")),
        ("attributes.status = 'FINISHED'", Comparison(A, "status", "=", "completed")),
        ("attributes.status = 'Failed'", Comparison(A, "status", "=", "failed")),
        ("attributes.name LIKE 'exp-%'", Comparison(A, "name", "LIKE", "exp-%")),
        ("attributes.experiment_id = '12'", Comparison(A, "experiment_id", "=", "12")),
    ],
)
def test_string_comparisons(text, expected):
    assert one(text) == expected


@pytest.mark.parametrize(
    "prefix", ["params", "param", "parameters", "parameter", "PARAMS", "`Param`"]
)
def test_param_prefix_aliases(prefix):
    assert one(f"{prefix}.lr = '0.1'") == Comparison(P, "lr", "=", "0.1")


@pytest.mark.parametrize("prefix", ["tags", "tag", "TAGS", "Tag", '"tags"'])
def test_tag_prefix_aliases(prefix):
    assert one(f"{prefix}.team = 'x'") == Comparison(T, "team", "=", "x")


@pytest.mark.parametrize("prefix", ["attributes", "attribute", "attr", "run", "ATTR", "Run"])
def test_attribute_prefix_aliases(prefix):
    assert one(f"{prefix}.status = 'RUNNING'") == Comparison(A, "status", "=", "running")


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("run_id", "run_id"),
        ("id", "run_id"),
        ("run_uuid", "run_id"),
        ("run_name", "name"),
        ("name", "name"),
        ("status", "status"),
        ("kind", "kind"),
        ("user", "user"),
        ("user_id", "user"),
        ("experiment_id", "experiment_id"),
        ("parent_id", "parent_id"),
        ("source", "source"),
        ("git_commit", "git_commit"),
        ("STATUS", "status"),
        ("Run_Id", "run_id"),
    ],
)
def test_string_attribute_aliases(alias, canonical):
    assert canonical in STRING_ATTRIBUTES
    x = "running" if canonical == "status" else "x"  # statuses are checked
    assert one(f"attributes.{alias} = '{x}'") == Comparison(A, canonical, "=", x)
    assert one(f"attributes.`{alias}` != '{x}'") == Comparison(A, canonical, "!=", x)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("start_time", "start_time"), ("created", "start_time"), ("end_time", "end_time")],
)
def test_numeric_attribute_aliases(alias, canonical):
    assert canonical in NUMERIC_ATTRIBUTES
    assert one(f"attributes.{alias} >= 1718000000000") == Comparison(
        A, canonical, ">=", 1718000000000.0
    )
    assert one(f"attributes.{alias} < '5'") == Comparison(A, canonical, "<", 5.0)


def test_unprefixed_attribute_names_are_accepted_like_mlflow():
    assert parse_filter("status = 'FAILED' and start_time > 5 and id IN ('a')") == (
        Comparison(A, "status", "=", "failed"),
        Comparison(A, "start_time", ">", 5.0),
        Comparison(A, "run_id", "IN", ("a",)),
    )


def test_keys_are_case_sensitive_but_prefixes_are_not():
    assert one("METRICS.Acc > 1") == Comparison(M, "Acc", ">", 1.0)


# --- IN / NOT IN -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params.opt IN ('adam')", Comparison(P, "opt", "IN", ("adam",))),
        ("params.opt IN ('adam', 'sgd')", Comparison(P, "opt", "IN", ("adam", "sgd"))),
        ("params.opt in('adam','sgd')", Comparison(P, "opt", "IN", ("adam", "sgd"))),
        ("params.opt IN ( 'a' , \"b\" ,'c' )", Comparison(P, "opt", "IN", ("a", "b", "c"))),
        ("params.opt NOT IN ('a', 'b')", Comparison(P, "opt", "NOT IN", ("a", "b"))),
        ("params.opt not in ('a')", Comparison(P, "opt", "NOT IN", ("a",))),
        ("params.opt Not\n In ('a')", Comparison(P, "opt", "NOT IN", ("a",))),
        ("params.opt IN ('it''s', 'a,b', ')')", Comparison(P, "opt", "IN", ("it's", "a,b", ")"))),
        ("tags.team IN ('x', 'x')", Comparison(T, "team", "IN", ("x", "x"))),
        (
            "attributes.status IN ('FINISHED', 'FAILED')",
            Comparison(A, "status", "IN", ("completed", "failed")),
        ),
        ("run.id NOT IN ('abc')", Comparison(A, "run_id", "NOT IN", ("abc",))),
    ],
)
def test_in_lists(text, expected):
    assert one(text) == expected


# --- keys: dots, backticks, double quotes ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entity", "key"),
    [
        ("metrics.val.acc > 1", M, "val.acc"),
        ("metrics.a.b.c > 1", M, "a.b.c"),
        ("metrics.train/loss > 1", M, "train/loss"),
        ("metrics.loss-v2:ema > 1", M, "loss-v2:ema"),
        ("metrics.épreuve > 1", M, "épreuve"),
        ("metrics.`my key` > 1", M, "my key"),
        ("metrics.`my key.with dots` > 1", M, "my key.with dots"),
        ("metrics.`a``b` > 1", M, "a`b"),
        ("metrics.```` > 1", M, "`"),
        ("metrics.`a > 1 and b` > 1", M, "a > 1 and b"),
        ('metrics."my key" > 1', M, "my key"),
        ('metrics."say ""hi""" > 1', M, 'say "hi"'),
        ('metrics."say \\"hi\\"" > 1', M, 'say "hi"'),
        ("`metrics`.`my key` > 1", M, "my key"),
        ("`metrics`.acc > 1", M, "acc"),
        ("tags.`mlflow.note` = 'x'", T, "mlflow.note"),
        ("params.`it's` = 'x'", P, "it's"),
        ("params.`a\\b` = 'x'", P, "a\\b"),
    ],
)
def test_keys(text, entity, key):
    c = one(text)
    assert (c.entity, c.key) == (entity, key)


# --- string values: escapes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"it\'s"', "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'say \"hi\"'", 'say "hi"'),
        ("''''", "'"),
        ("'a\\\\'", "a\\"),
        ("'C:\\temp'", "C:\\temp"),
        ("'\\d+'", "\\d+"),
        ("'50%_off'", "50%_off"),
        ("'a;b -- c'", "a;b -- c"),
        ("'`x`'", "`x`"),
        ("'and metrics.a > 1'", "and metrics.a > 1"),
        ("'日本語 ✓'", "日本語 ✓"),
        ("'nul\x00byte'", "nul\x00byte"),
        ("'multi\nline'", "multi\nline"),
    ],
)
def test_string_value_escapes(literal, value):
    assert one(f"params.p = {literal}").value == value


# --- conjunctions ------------------------------------------------------------------------------


def test_conjunction_keeps_order():
    text = (
        "metrics.acc > 0.8 and params.depth = '3' AND tags.`team name` LIKE 'vis%' "
        "aNd attributes.status IN ('FINISHED') and run.created <= 1e12"
    )
    assert parse_filter(text) == (
        Comparison(M, "acc", ">", 0.8),
        Comparison(P, "depth", "=", "3"),
        Comparison(T, "team name", "LIKE", "vis%"),
        Comparison(A, "status", "IN", ("completed",)),
        Comparison(A, "start_time", "<=", 1e12),
    )


def test_and_after_a_quoted_value_needs_no_space():
    assert parse_filter("params.a='x'and params.b='y'") == (
        Comparison(P, "a", "=", "x"),
        Comparison(P, "b", "=", "y"),
    )


def test_same_key_twice_is_kept_twice():
    assert parse_filter("metrics.a > 1 and metrics.a < 2") == (
        Comparison(M, "a", ">", 1.0),
        Comparison(M, "a", "<", 2.0),
    )


def test_any_whitespace_separates_tokens():
    assert parse_filter("\n\tmetrics.a\t>\n1\r\nAND\u00a0params.b\u2003=\u3000'c'  ") == (
        Comparison(M, "a", ">", 1.0),
        Comparison(P, "b", "=", "c"),
    )


def test_many_comparisons_parse_without_recursion():
    text = " and ".join(f"metrics.m{i} > {i}" for i in range(MAX_COMPARISONS))
    result = parse_filter(text)
    assert len(result) == MAX_COMPARISONS
    assert result[-1] == Comparison(M, f"m{MAX_COMPARISONS - 1}", ">", MAX_COMPARISONS - 1.0)
    longer = " and ".join(f"metrics.m{i} > {i}" for i in range(20_000))
    with pytest.raises(FilterError, match=f"at most {MAX_COMPARISONS} comparisons"):
        parse_filter(longer)


def test_huge_key_and_value():
    key, value = "k" * 200_000, "v'" * 200_000
    assert one(f"params.{key} = {single_quote(value)}") == Comparison(P, key, "=", value)


# --- errors ------------------------------------------------------------------------------------


def check_error(text: str, *fragments: str) -> FilterError:
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return info.value


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("params.depth = 3", ["position 15", "unquoted number '3'", "params.depth = '3'"]),
        ("params.depth = 3.5e2", ["unquoted number", "params.depth = '3.5e2'"]),
        ("tags.team = vision", ["position 12", "unquoted value 'vision'", "tags.team = 'vision'"]),
        ("attributes.status = FINISHED", ["Quote string values: attributes.status = 'FINISHED'"]),
        ("attributes.experiment_id = 1", ["attributes.experiment_id = '1'"]),
        ("params.`my key` != 3", ["params.`my key` != '3'"]),
        ("params.depth IN (3, 4)", ["unquoted list value '3'", "params.depth IN ('3')"]),
    ],
)
def test_unquoted_strings_are_rejected_with_a_quoting_hint(text, fragments):
    check_error(text, "Quote string values", *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("metrics.acc > 'high'", ["position 14", "metrics.acc is a number", "'high'"]),
        ("metrics.acc > high", ["position 14", "'high'", "metrics.acc > 0.5"]),
        ("metrics.acc > inf", ["'inf'", "decimal number"]),
        ("metrics.acc > nan", ["'nan'"]),
        ("metrics.acc > 1.2.3", ["'1.2.3'"]),
        ("metrics.acc > 0x10", ["'0x10'"]),
        ("metrics.acc > 1_000", ["'1_000'"]),
        ("metrics.acc > -", ["'-'"]),
        ("metrics.acc > 1e", ["'1e'"]),
        ("metrics.acc > ٣", ["'٣'"]),
        ("attributes.start_time > 'yesterday'", ["attributes.start_time is a number"]),
    ],
)
def test_non_numbers_for_numeric_keys_are_rejected(text, fragments):
    check_error(text, *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("metrics.acc LIKE '1%'", ["position 12", "operator LIKE", "=, !=, <, <=, > or >="]),
        ("metrics.acc ILIKE '1'", ["operator ILIKE"]),
        ("metrics.acc IN (1, 2)", ["operator IN does not apply to the number metrics.acc"]),
        ("metrics.acc NOT IN ('1')", ["operator NOT IN"]),
        ("attributes.end_time LIKE '1'", ["operator LIKE", "attributes.end_time"]),
        ("params.lr > '0.1'", ["position 10", "operator > does not apply to params.lr", "metric"]),
        ("params.lr <= '0.1'", ["operator <=", "log the value as a metric"]),
        ("tags.t < 'b'", ["operator < does not apply to tags.t", "LIKE"]),
        ("attributes.name >= 'b'", ["operator >=", "start_time/end_time"]),
    ],
)
def test_operators_must_fit_the_value_type(text, fragments):
    check_error(text, *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("metrics.a > 1 or metrics.b > 2", ["position 14", "OR is not supported", "Only AND"]),
        ("metrics.a > 1 OR metrics.b > 2", ["OR is not supported"]),
        ("or metrics.a > 1", ["position 0", "OR is not supported"]),
        ("(metrics.a > 1)", ["position 0", "parentheses are not supported", "Only AND"]),
        ("metrics.a > 1 and (metrics.b > 2)", ["position 18", "parentheses"]),
        ("metrics.a > 1)", ["position 13", "parentheses"]),
        ("not metrics.a > 1", ["position 0", "NOT is not supported", "NOT IN"]),
        ("NOT params.a = 'x'", ["NOT is not supported"]),
        ("params.a NOT LIKE 'x'", ["expected IN after NOT", "'LIKE'"]),
        ("params.a NOT = 'x'", ["expected IN after NOT"]),
        ("params.a NOT", ["expected IN after NOT", "end of the text"]),
    ],
)
def test_only_and_is_supported(text, fragments):
    check_error(text, *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("metrics.a > 1 and", ["position 14", "dangling AND"]),
        ("metrics.a > 1 AND   ", ["dangling AND"]),
        ("and metrics.a > 1", ["position 0", "expected a comparison but found AND"]),
        ("metrics.a > 1 and and metrics.b > 1", ["position 18", "found AND"]),
        ("metrics.a > 1 metrics.b > 2", ["position 14", "unexpected 'metrics.b'", "with AND"]),
        ("params.a = 'x' 'y'", ["position 15", "unexpected"]),
        ("params.a = 'x' ,", ["unexpected ','"]),
        ("metrics.a > 1 andmetrics.b > 2", ["unexpected 'andmetrics.b'"]),
        ("metrics.a > 1and metrics.b > 2", ["'1and'"]),
        ("params.a = two words", ["unquoted value 'two'"]),
    ],
)
def test_structure_errors(text, fragments):
    check_error(text, *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("metrics.a", ["position 9", "missing operator after metrics.a", "LIKE"]),
        ("metrics.a 1", ["position 10", "expected an operator", "'1'"]),
        ("params.my key = 'x'", ["position 10", "found 'key'", "params.`my key`"]),
        ("metrics.a =< 1", ["position 10", "unknown operator '=<'"]),
        ("metrics.a => 1", ["unknown operator '=>'"]),
        ("metrics.a ! 1", ["unknown operator '!'"]),
        ("metrics.a === 1", ["unknown operator '==='"]),
        ("metrics.a ~ 1", ["expected an operator", "'~'"]),
        ("params.a CONTAINS 'x'", ["found 'CONTAINS'"]),
        ("metrics.a >", ["position 11", "missing value after metrics.a >", "metrics.a > 0.5"]),
        ("params.a =", ["missing value", "params.a = 'value'"]),
        ("params.a = )", ["expected a value", "')'"]),
        ("params.a = `x`", ["backticked value", "single quotes"]),
        ("params.a = ('x')", ["parenthesized list", "IN"]),
    ],
)
def test_operator_and_value_errors(text, fragments):
    check_error(text, *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("params.a IN 'x'", ["position 12", "IN needs a parenthesized list", "('a', 'b')"]),
        ("params.a NOT IN x", ["NOT IN needs a parenthesized list"]),
        ("params.a IN ()", ["position 13", "empty IN list"]),
        ("params.a IN (  )", ["empty IN list"]),
        ("params.a IN ('x',)", ["position 17", "trailing comma"]),
        ("params.a IN ('x' 'y')", ["position 17", "expected ',' or ')'"]),
        ("params.a IN ('x'", ["position 12", "unclosed IN list", "')'"]),
        ("params.a IN ('x',", ["unclosed IN list"]),
        ("params.a IN (", ["unclosed IN list"]),
        ("params.a IN (,'x')", ["expected a quoted string", "','"]),
        ("params.a IN (('x'))", ["expected a quoted string", "'('"]),
        ("params.a IN ('x'))", ["parentheses are not supported"]),
    ],
)
def test_in_list_errors(text, fragments):
    check_error(text, *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("params.a = 'x", ["position 11", "unterminated ' quote", "''"]),
        ('params.a = "x', ["position 11", 'unterminated " quote']),
        ("params.a = 'it''s", ["unterminated"]),
        ("params.a = 'x\\'", ["unterminated"]),
        ("metrics.`a > 1", ["position 8", "unterminated ` quote", "``"]),
        ("`metrics.a > 1", ["position 0", "unterminated `"]),
        ('metrics."a > 1', ['unterminated "']),
    ],
)
def test_unterminated_quotes(text, fragments):
    check_error(text, *fragments)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("metrics. > 1", ["position 8", "empty key after 'metrics.'", "metrics.`my key`"]),
        ("metrics.", ["empty key"]),
        ("metrics.`` > 1", ["empty key"]),
        ("params.\"\" = 'x'", ["empty key"]),
        (".acc > 1", ["position 0", "missing prefix", "metrics.<key>"]),
        ("foo.bar = 'x'", ["position 0", "unknown prefix 'foo'", "metrics.<key>", "attr"]),
        ("metricz.acc > 1", ["unknown prefix 'metricz'"]),
        ("`metrics.acc` > 1", ["'metrics.acc' is neither prefixed nor a run attribute"]),
        ("acc > 0.5", ["position 0", "'acc' is neither prefixed", "metrics.acc"]),
        (
            "attributes.foo = 'x'",
            ["position 11", "unknown attribute 'foo'", "start_time", "run_id"],
        ),
        ("run.duration > 1", ["unknown attribute 'duration'", "Valid attributes:"]),
        ("= 'x'", ["position 0", "expected a key", "'='"]),
        ("'x' = 'x'", ["expected a key", '"\'"']),
        ("\x00 = 'x'", ["'\\x00'"]),
    ],
)
def test_identifier_errors(text, fragments):
    check_error(text, *fragments)


def test_unicode_case_folding_does_not_create_keywords():
    # U+212A KELVIN SIGN lower-cases to an ASCII "k": it must not spell LIKE, kind or metrics.
    with pytest.raises(FilterError):
        parse_filter("params.a LI\u212aE 'x'")
    with pytest.raises(FilterError, match="unknown attribute"):
        parse_filter("attributes.\u212aind = 'x'")
    assert one("params.\u212aind = 'x'").key == "\u212aind"


BIG = "x" * 100_000


@pytest.mark.parametrize(
    "text",
    [
        f"params.a = {BIG}",
        f"params.a IN ({BIG})",
        f"params.{BIG} = 3",
        f"params.{BIG}",
        f"params.{BIG} > '1'",
        f"metrics.{BIG} > '{BIG}'",
        f"metrics.a > {BIG}",
        f"{BIG}.a > 1",
        f"{BIG} > 1",
        f"attributes.{BIG} = 'x'",
        f"metrics.a {'<' * 100_000} 1",
        f"metrics.a > 1 {BIG}",
    ],
)
def test_errors_shorten_huge_tokens(text):
    with pytest.raises(FilterError) as info:
        parse_filter(text)
    assert len(str(info.value)) < 1_000


def test_error_messages_with_pytest_match():
    with pytest.raises(
        FilterError, match="(?i)" + re.escape("quote string values: params.depth = '3'")
    ):
        parse_filter("params.depth = 3")
    with pytest.raises(FilterError, match=r"(?i)position \d+.*only and is supported"):
        parse_filter("metrics.a > 1 OR metrics.b > 1")


@pytest.mark.parametrize(
    "text",
    ["(" * 100_000, ")" * 100_000, "'" * 100_001, "`" * 100_001, "metrics.a > " + "-" * 10**6],
)
def test_pathological_inputs_raise_filter_error(text):
    with pytest.raises(FilterError):
        parse_filter(text)


# --- order by ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("metrics.acc DESC", OrderBy(M, "acc", False)),
        ("metrics.acc desc", OrderBy(M, "acc", False)),
        ("metrics.acc ASC", OrderBy(M, "acc", True)),
        ("metrics.acc", OrderBy(M, "acc", True)),
        ("  metrics.acc   Desc  ", OrderBy(M, "acc", False)),
        ("metric.val.acc DESC", OrderBy(M, "val.acc", False)),
        ("params.lr", OrderBy(P, "lr", True)),
        ("parameters.lr asc", OrderBy(P, "lr", True)),
        ("tags.team DESC", OrderBy(T, "team", False)),
        ("attributes.start_time asc", OrderBy(A, "start_time", True)),
        ("attr.created DESC", OrderBy(A, "start_time", False)),
        ("run.id", OrderBy(A, "run_id", True)),
        ("`metrics`.`my key` DESC", OrderBy(M, "my key", False)),
        ("metrics.`a``b`", OrderBy(M, "a`b", True)),
        ('metrics."my key" desc', OrderBy(M, "my key", False)),
        ("start_time DESC", OrderBy(A, "start_time", False)),
        ("name", OrderBy(A, "name", True)),
        ("run_name asc", OrderBy(A, "name", True)),
        ("END_TIME desc", OrderBy(A, "end_time", False)),
        ("`status`", OrderBy(A, "status", True)),
        ("metrics.acc\tDESC", OrderBy(M, "acc", False)),
    ],
)
def test_order_by(clause, expected):
    assert parse_order_by(clause) == expected


def test_order_by_default_is_ascending():
    assert OrderBy(M, "acc").ascending is True


@pytest.mark.parametrize(
    ("clause", "fragments"),
    [
        ("", ["position 0", "empty clause", "metrics.acc DESC"]),
        ("   ", ["empty clause"]),
        ("metrics.acc DESC NULLS LAST", ["position 17", "unexpected 'NULLS'", "separate list"]),
        ("metrics.acc DESC, params.lr", ["unexpected ','"]),
        ("metrics.acc up", ["position 12", "expected ASC or DESC", "'up'"]),
        ("metrics.acc > 1", ["expected ASC or DESC", "'>'"]),
        ("metrics.my key DESC", ["expected ASC or DESC", "'key'", "backticks"]),
        ("foo.acc", ["position 0", "unknown prefix 'foo'"]),
        ("acc DESC", ["'acc' is neither prefixed nor a run attribute", "metrics.acc"]),
        ("attributes.duration", ["unknown attribute 'duration'"]),
        ("metrics.", ["empty key"]),
        ("metrics.`acc", ["unterminated `"]),
        ("DESC", ["'DESC' is neither prefixed"]),
    ],
)
def test_order_by_errors(clause, fragments):
    with pytest.raises(FilterError) as info:
        parse_order_by(clause)
    message = str(info.value)
    assert message.startswith("Invalid order_by clause at position")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# --- properties --------------------------------------------------------------------------------

_CANONICAL_OPS = {"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"}


def _assert_well_formed(result: object) -> None:
    assert isinstance(result, tuple)
    for c in result:
        assert isinstance(c, Comparison)
        assert c.op in _CANONICAL_OPS
        assert isinstance(c.key, str) and c.key
        numeric = c.entity == M or (c.entity == A and c.key in NUMERIC_ATTRIBUTES)
        if c.entity == A:
            assert c.key in STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES
        else:
            assert c.entity in (M, P, T)
        if numeric:
            assert type(c.value) is float
            assert c.op in {"=", "!=", "<", "<=", ">", ">="}
        elif c.op in ("IN", "NOT IN"):
            assert isinstance(c.value, tuple) and c.value
            assert all(isinstance(v, str) for v in c.value)
        else:
            assert isinstance(c.value, str)
            assert c.op in {"=", "!=", "LIKE", "ILIKE"}


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_arbitrary_text_parses_or_raises_filter_error(text):
    try:
        result = parse_filter(text)
    except FilterError as error:
        assert "position" in str(error)
    else:
        _assert_well_formed(result)


_FRAGMENTS = [
    "metrics.acc",
    "metric.val.acc",
    "params.depth",
    "tags.`a b`",
    "tags.`a``b`",
    'params."x y"',
    "attributes.status",
    "attr.start_time",
    "run.id",
    "start_time",
    "status",
    "`metrics`",
    "metrics.",
    "metrics",
    ".",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "=<",
    "LIKE",
    "ilike",
    "IN",
    "in",
    "NOT",
    "not",
    "and",
    "AND",
    "or",
    "(",
    ")",
    ",",
    "'a'",
    "'it''s'",
    "'it\\'s'",
    "'\\\\'",
    "'%'",
    '"x"',
    "''",
    "'",
    '"',
    "`",
    "\\",
    "3",
    "-1.5e3",
    ".5",
    "1e",
    "-",
    "inf",
    "nan",
    "\x00",
    "é",
    "\u212a",
    "\u00a0",
    "('a', 'b')",
    "('a',)",
    "()",
]


@st.composite
def near_valid_filters(draw):
    parts = draw(st.lists(st.sampled_from(_FRAGMENTS), max_size=12))
    separators = draw(st.lists(st.sampled_from(["", " ", "  ", "\t", "\n"]), min_size=len(parts)))
    return "".join(part + sep for part, sep in zip(parts, separators, strict=False))


@settings(max_examples=1000, deadline=None)
@given(near_valid_filters())
def test_near_valid_text_parses_or_raises_filter_error(text):
    try:
        result = parse_filter(text)
    except FilterError as error:
        assert re.search(r"at position \d+: ", str(error))
    else:
        _assert_well_formed(result)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_order_by_parses_or_raises_filter_error(text):
    try:
        result = parse_order_by(text)
    except FilterError:
        return
    assert isinstance(result, OrderBy)
    assert result.entity in (M, P, T, A)
    assert result.key


keys = st.text(min_size=1)
values = st.text()
_PREFIX_SPELLINGS = {
    M: ["metrics", "metric", "METRICS", "`metrics`"],
    P: ["params", "param", "parameters", "Parameter", "`params`"],
    T: ["tags", "tag", "TAGS", '"tags"'],
}
_STRING_QUOTERS = [single_quote, single_quote_backslashed, double_quote]
_KEY_QUOTERS = [backtick, double_quote]


@st.composite
def comparisons(draw):
    """(text, expected Comparison) for a random, properly quoted comparison."""
    entity = draw(st.sampled_from([M, P, T]))
    key = draw(keys)
    prefix = draw(st.sampled_from(_PREFIX_SPELLINGS[entity]))
    ident = f"{prefix}.{draw(st.sampled_from(_KEY_QUOTERS))(key)}"
    if entity == M:
        spelled, op = draw(
            st.sampled_from(
                [
                    ("=", "="),
                    ("==", "="),
                    ("!=", "!="),
                    ("<>", "!="),
                    ("<", "<"),
                    ("<=", "<="),
                    (">", ">"),
                    (">=", ">="),
                ]
            )
        )
        number = draw(st.floats(allow_nan=False, allow_infinity=False))
        return f"{ident} {spelled} {number!r}", Comparison(M, key, op, number)
    spelled, op = draw(
        st.sampled_from(
            [
                ("=", "="),
                ("==", "="),
                ("!=", "!="),
                ("<>", "!="),
                ("LIKE", "LIKE"),
                ("like", "LIKE"),
                ("ILIKE", "ILIKE"),
                ("IN", "IN"),
                ("not in", "NOT IN"),
            ]
        )
    )
    quote = draw(st.sampled_from(_STRING_QUOTERS))
    if op in ("IN", "NOT IN"):
        items = tuple(draw(st.lists(values, min_size=1, max_size=4)))
        literal = "(" + ", ".join(quote(item) for item in items) + ")"
        return f"{ident} {spelled} {literal}", Comparison(entity, key, op, items)
    value = draw(values)
    return f"{ident} {spelled} {quote(value)}", Comparison(entity, key, op, value)


@settings(max_examples=300, deadline=None)
@given(keys, values)
def test_round_trip_of_quoted_key_and_value(key, value):
    text = f"params.{backtick(key)} = {single_quote(value)}"
    assert parse_filter(text) == (Comparison(P, key, "=", value),)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(comparisons(), min_size=1, max_size=5),
    st.lists(st.sampled_from([" and ", " AND ", "\tAnd\n", "  aNd  "]), min_size=4, max_size=4),
)
def test_round_trip_of_conjunctions(parts, joiners):
    text = parts[0][0]
    for (piece, _), joiner in zip(parts[1:], joiners, strict=False):
        text += joiner + piece
    assert parse_filter(text) == tuple(expected for _, expected in parts)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="=!<>(),'\"`"), min_size=1))
def test_bare_keys_without_delimiters_or_spaces_round_trip(key):
    key = "".join(ch for ch in key if not ch.isspace()) or "k"
    assert one(f"metrics.{key} >= 1") == Comparison(M, key, ">=", 1.0)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([M, P, T]),
    keys,
    st.sampled_from([("", True), (" ASC", True), (" desc", False), ("\tDesc ", False)]),
    st.sampled_from(_KEY_QUOTERS),
)
def test_round_trip_of_order_by(entity, key, direction, quote_key):
    suffix, ascending = direction
    prefix = _PREFIX_SPELLINGS[entity][0]
    assert parse_order_by(f"{prefix}.{quote_key(key)}{suffix}") == OrderBy(entity, key, ascending)
