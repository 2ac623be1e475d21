"""Loading the served model: resolved aside (a forked child reads the store), loaded without
the metadata store and without pandas unless the model needs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import heron
from heron.core.errors import InvalidArgument, NotFound
from heron.serving.loading import imports_deferred, load_served_model, resolve_served_model
from heron.serving.settings import ENV, ServeSettings
from tests.unit.serving.conftest import log, same

CHECK = textwrap.dedent(
    """
    import json, sys
    from heron.serving.loading import load_served_model, resolve_aside
    from heron.serving.settings import ServeSettings

    settings = ServeSettings(model_uri=sys.argv[1], tracking_uri=sys.argv[2])
    wait = resolve_aside(settings)
    try:
        resolved = wait()
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
        raise SystemExit(0)
    model = load_served_model(resolved)
    before = sorted(m for m in ("pandas", "sqlalchemy") if m in sys.modules)
    rows = json.loads(sys.argv[3])
    predictions = model.predict_prepared(model.prepare(rows)).tolist()
    import pandas  # still importable afterwards
    print(json.dumps({"modules": before, "predictions": predictions,
                      "name": resolved.registered_name, "version": resolved.registered_version}))
    """
)


def check(uri: str, tracking_uri: str, rows: list) -> dict:
    """Resolve and load ``uri`` in a fresh interpreter, as ``heron serve`` does."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    done = subprocess.run(
        [sys.executable, "-c", CHECK, uri, tracking_uri, json.dumps(rows)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_served_model_loads_without_the_store_or_pandas(workspace, iris, fitted):
    X, _, _, _ = iris
    uri = log(fitted[0], X[:2], registered_model_name="iris")
    got = check("models:/iris/1", workspace, X[:3].tolist())
    assert got["modules"] == []  # neither SQLAlchemy nor pandas in the serving process
    assert same(got["predictions"], fitted[0].predict(X[:3]))
    assert (got["name"], got["version"]) == ("iris", 1)
    assert check(uri, workspace, X[:1].tolist())["name"] is None


def test_a_model_taking_data_frames_gets_pandas(workspace, iris, fitted):
    _, _, frame, _ = iris
    uri = log(fitted[1], frame.head(2))
    got = check(uri, workspace, frame.head(3).to_dict(orient="records"))
    # fitted on a DataFrame of numeric columns: served on arrays, so pandas stays out
    assert got["modules"] == []
    assert same(got["predictions"], fitted[1].predict(frame.head(3)))


def test_a_model_that_needs_pandas_to_load_is_loaded_with_it(workspace):
    import pandas as pd

    weights = pd.Series([1.0, 2.0])

    def weighted(X):
        return np.asarray(X) @ weights.to_numpy()

    uri = log(weighted, np.ones((2, 2)))
    got = check(uri, workspace, [[1.0, 1.0]])
    assert got["predictions"] == [3.0]


def test_resolving_errors_come_back_from_the_child(workspace, iris, fitted):
    X, _, _, _ = iris
    log(fitted[0], X[:2])
    got = check("runs:/0123456789abcdef0123456789abcdef/model", workspace, [])
    assert got["error"] == "NotFound" and "0123456789abcdef" in got["message"]
    got = check("nonsense", workspace, [])
    assert got["error"] == "InvalidArgument" and "models:/" in got["message"]


def test_resolved_settings_travel_through_the_environment(iris, fitted):
    X, _, _, _ = iris
    uri = log(fitted[0], X[:2])
    settings = resolve_served_model(
        ServeSettings(model_uri=uri, tracking_uri=heron.get_tracking_uri(), batch_max_size=8)
    )
    again = ServeSettings.from_env({ENV: settings.to_env()})
    assert again == settings and again.artifact["metadata"]["model"]["flavor"] == "sklearn"
    model = load_served_model(again)
    assert same(model.predict(X[:4]), fitted[0].predict(X[:4]))


def test_data_is_no_model():
    with heron.start_run() as run:
        heron.log_dict({"a": 1}, "config.json")
    with pytest.raises((InvalidArgument, NotFound)):
        resolve_served_model(ServeSettings(model_uri=f"runs:/{run.id}/config.json"))
    with pytest.raises(InvalidArgument, match="batching"):
        ServeSettings(model_uri="m", batching="sometimes")
    with pytest.raises(InvalidArgument, match="HERON_SERVE_SETTINGS"):
        ServeSettings.from_env({})


def test_imports_deferred_only_within_the_block():
    name = "json_deferred_probe_module"
    with imports_deferred((name,)), pytest.raises(ImportError, match="not imported"):
        __import__(name)
    with pytest.raises(ModuleNotFoundError, match="No module"):
        __import__(name)  # back to the normal error
