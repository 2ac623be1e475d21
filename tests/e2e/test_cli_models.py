"""The model registry and the quickstart from the command line: ``heron quickstart`` and
``heron models`` (a subprocess per command, as a user types them)."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.test_cli import Heron
from tests.support.cli_output import error_line

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """`heron quickstart` run twice in a fresh folder: (heron in the workspace, outputs)."""
    tmp_path = tmp_path_factory.mktemp("quickstart")
    heron = Heron(tmp_path, None)
    first = heron.ok("quickstart")
    second = heron.ok("quickstart")
    return Heron(tmp_path / "heron-quickstart", None), first, second


def test_quickstart_trains_registers_and_scores(quickstart):
    _, first, _ = quickstart
    assert "0 of 13 steps reused from the cache" in first
    assert re.search(r"Registered models:/quickstart/1 as models:/quickstart@champion", first)
    assert len(re.findall(r"(logistic_regression|random_forest)", first)) == 4
    assert first.count("★") == 1
    assert "heron serve models:/quickstart@champion" in first


def test_quickstart_twice_reuses_every_step(quickstart):
    _, _, second = quickstart
    # all but register and batch_score, which read and change the registry
    assert "11 of 13 steps reused from the cache" in second
    assert "Registered models:/quickstart/1" in second  # nothing registered twice


def test_quickstart_workspace_holds_runs_models_and_lineage(quickstart):
    heron, _, _ = quickstart
    (model,) = heron.json("models", "list")
    assert model["name"] == "quickstart" and model["aliases"] == {"champion": 1}
    version = heron.json("models", "show", "quickstart@champion")
    assert version["version"] == 1
    facts = version["artifact"]["metadata"]["model"]
    assert facts["flavor"] == "sklearn"
    assert [c["name"] for c in facts["signature"]["inputs"]["columns"]][:2] == [
        "alcohol",
        "malic_acid",
    ]
    assert {a["name"] for a in version["trained_on"]} >= {"split.train", "ingest.output"}
    runs = heron.json("runs", "list", "-e", "quickstart", "-f", "attributes.kind = 'step'")
    assert len({r["name"] for r in runs}) == 13


def test_alias_history_and_rollback(tmp_path):
    heron = Heron(tmp_path, "sqlite:///" + str(tmp_path / "h.db"))
    heron.python(
        "import heron\n"
        "from sklearn.dummy import DummyClassifier\n"
        "m = DummyClassifier().fit([[0], [1]], [0, 1])\n"
        "with heron.start_run():\n"
        "    for _ in range(3):\n"
        "        heron.log_model(m, 'model', registered_model_name='iris')\n"
    )
    assert "unset -> version 1" in heron.ok("models", "set-alias", "iris", "champion", "1")
    assert "version 1 -> version 3" in heron.ok("models", "set-alias", "iris", "champion", "3")
    assert "version 3 -> 1 (rolled back)" in heron.ok("models", "rollback", "iris", "champion")
    error = error_line(heron("models", "register", "iris", "models:/iris/1", "--alias", "123"))
    assert "123" in error
    assert heron.json("models", "show", "iris")["latest_version"] == 3  # nothing registered
    history = heron.json("models", "history", "iris", "champion")
    assert [(e["from_version"], e["to_version"], e["action"]) for e in history] == [
        (None, 1, "set"),
        (1, 3, "set"),
        (3, 1, "rollback"),
    ]
    table = heron.ok("models", "history", "iris")
    assert "rollback" in table and "champion" in table
    assert "Registered iris version 4 as @challenger" in heron.ok(
        "models", "register", "iris", "models:/iris/2", "--alias", "challenger"
    )
    assert heron.json("models", "show", "iris", "@challenger")["version"] == 4
    heron.ok("models", "delete-version", "iris", "1")
    error = error_line(heron("models", "show", "iris@champion"))
    assert "champion" in error
    error = error_line(heron("models", "rollback", "iris", "champion"))
    assert "nothing to roll back" in error
    heron.ok("models", "rename", "iris", "flowers")
    assert json.loads(heron.ok("models", "list", "--json"))[0]["name"] == "flowers"
    assert error_line(heron("models", "show", "iris")).startswith("Error: ")


def test_quickstart_notices_a_deleted_registration(tmp_path):
    heron = Heron(tmp_path, None)
    heron.ok("quickstart", "--dir", "qs")
    workspace = Heron(tmp_path / "qs", None)
    workspace.ok("models", "delete", "quickstart", "--yes")
    again = heron.ok("quickstart", "--dir", "qs")
    assert "Registered models:/quickstart/1 as models:/quickstart@champion" in again
    assert workspace.json("models", "show", "quickstart@champion")["version"] == 1
    (tmp_path / "afile").write_text("x")
    assert "Cannot make the workspace" in error_line(heron("quickstart", "--dir", "afile/sub"))
