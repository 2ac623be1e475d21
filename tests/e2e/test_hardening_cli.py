"""Hardening (issue 19): what a newcomer trips on in the CLI. Errors name the commands to
type (not Python calls), a rollback of an unknown alias names it, run-id prefixes are at
least 4 characters, the quickstart's table fits 80 columns and piped tables have no
trailing blanks."""

from __future__ import annotations

import json

import pytest

from heron.core.errors import NotFound
from tests.e2e.test_cli import Heron
from tests.support.cli_output import error_line
from tests.support.stores import open_sql_store

pytestmark = pytest.mark.e2e

TWO_VERSIONS = (
    "import heron\n"
    "from sklearn.dummy import DummyClassifier\n"
    "m = DummyClassifier().fit([[0], [1]], [0, 1])\n"
    "with heron.start_run(name='scoring', tags={'team': 'nlp'}):\n"
    "    heron.log_param('lr', 0.1)\n"
    "with heron.start_run(tags={'team': 'vision'}) as run:\n"
    "    for _ in range(2):\n"
    "        heron.log_model(m, 'model', registered_model_name='iris')\n"
    "print(run.id)\n"
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Heron, str]:
    """Model iris with versions 1 and 2 and @champion -> 1, and the run that logged them
    (tagged team=vision; another run is tagged team=nlp)."""
    tmp_path = tmp_path_factory.mktemp("registry")
    heron = Heron(tmp_path, "sqlite:///" + str(tmp_path / "heron.db"))
    run_id = heron.python(TWO_VERSIONS).strip()
    heron.ok("models", "set-alias", "iris", "champion", "1")
    return heron, run_id


# --- a) errors name CLI commands on the CLI, Python calls in Python --------------------------
def test_unknown_model_error_names_the_register_command(registry):
    heron, _ = registry
    for args in (("models", "show", "nope"), ("models", "set-alias", "nope", "champion", "1")):
        error = error_line(heron(*args))
        assert "'nope'" in error
        assert "`heron models register nope SOURCE`" in error
        assert "register_model" not in error and "Client()" not in error


def test_unknown_alias_error_names_the_set_alias_command(registry):
    heron, _ = registry
    for args in (("models", "show", "iris@nope"), ("models", "delete-alias", "iris", "nope")):
        error = error_line(heron(*args))
        assert "`heron models set-alias iris nope VERSION`" in error
        assert "set_model_alias" not in error


def test_python_api_errors_still_name_python_calls(registry):
    heron, _ = registry
    with open_sql_store(heron.uri) as store:
        with pytest.raises(NotFound) as no_model:
            store.get_registered_model("nope")
        with pytest.raises(NotFound) as no_alias:
            store.get_model_version_by_alias("iris", "nope")
    assert "heron.Client().register_model('nope', source)" in no_model.value.message
    assert "set_model_alias('iris', 'nope', version)" in no_alias.value.message
    assert "heron models" not in no_model.value.message + no_alias.value.message


def test_cli_wording_translates_python_calls_with_their_arguments():
    from heron.cli.main import cli_wording

    assert cli_wording("Set it with set_model_alias('my model', \"it's\", version).") == (
        "Set it with `heron models set-alias 'my model' 'it'\"'\"'s' VERSION`."
    )
    assert cli_wording("or heron.Client().register_model(name, source=...).") == (
        "or `heron models register NAME SOURCE`."
    )
    assert cli_wording("Point it with set_model_alias instead.") == (
        "Point it with `heron models set-alias NAME ALIAS VERSION` instead."
    )
    untouched = "registered_model_name='iris' and set_model_aliases stay as they are."
    assert cli_wording(untouched) == untouched


# --- b) rollback of an alias that was never set ------------------------------------------------
def test_rollback_of_an_unknown_alias_names_model_alias_and_the_aliases_set(registry):
    heron, _ = registry
    error = error_line(heron("models", "rollback", "iris", "nope"))
    assert "'iris'" in error and "'nope'" in error
    assert "champion" in error  # the aliases the model has
    assert "`heron models set-alias iris nope VERSION`" in error
    assert heron.json("models", "history", "iris", "nope") == []  # nothing recorded


def test_rollback_with_nothing_before_names_the_set_alias_command(tmp_path):
    heron = Heron(tmp_path, "sqlite:///" + str(tmp_path / "heron.db"))
    heron.python(TWO_VERSIONS)
    heron.ok("models", "set-alias", "iris", "champion", "2")
    error = error_line(heron("models", "rollback", "iris", "champion"))
    assert "nothing to roll back" in error and "heron models set-alias" in error
    assert "set_model_alias" not in error


# --- c) run-id prefixes ----------------------------------------------------------------------
def test_a_run_id_prefix_under_4_characters_is_refused(registry):
    heron, run_id = registry
    for args in (
        ("runs", "show", run_id[:3]),
        ("runs", "delete", "ab"),
        ("artifacts", "list", "--run", run_id[:3]),
    ):
        result = heron(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)  # a usage error
        assert "Traceback" not in result.stderr
        assert f"{args[-1]!r} is too short" in result.stderr
        assert "at least 4 characters" in result.stderr
    # 4 characters do, wherever a run id is asked for
    assert heron.json("runs", "show", run_id[:4])["id"] == run_id
    assert {a["name"] for a in heron.json("artifacts", "list", "--run", run_id[:4])} == {"model"}
    # a lineage reference may be an artifact name too: a short unknown one is just not found
    assert "No artifact named 'abc'" in error_line(heron("artifacts", "lineage", "abc"))


# --- d) widths and trailing blanks ----------------------------------------------------------
def test_quickstart_table_fits_80_columns(tmp_path):
    out = Heron(tmp_path, None).ok("quickstart").splitlines()
    start = next(i for i, line in enumerate(out) if line.lstrip().startswith("variant"))
    end = out.index("", start)
    table = out[start:end]
    assert len(table) == 6  # header, rule, 4 variants
    assert max(len(line) for line in table) <= 80, "\n".join(table)
    assert sum(line.count("★") for line in table) == 1


def test_piped_tables_have_no_trailing_blanks(registry):
    heron, run_id = registry
    for args in (
        ("runs", "list"),
        ("runs", "list", "-f", "tags.team LIKE '%'"),  # no metrics: the tag column is last
        ("runs", "show", run_id[:8]),
        ("experiments", "list"),
        ("artifacts", "list"),
        ("models", "list"),
        ("models", "show", "iris"),
        ("models", "show", "iris@champion"),
        ("models", "history", "iris"),
    ):
        out = heron.ok(*args)
        assert len(out.splitlines()) >= 2, (args, out)
        trailing = [line for line in out.splitlines() if line != line.rstrip()]
        assert not trailing, (args, trailing)
    runs = json.loads(heron.ok("runs", "list", "--json"))  # JSON is left as it is
    assert {r["tags"]["team"] for r in runs} == {"vision", "nlp"}
