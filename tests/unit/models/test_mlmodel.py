"""MLflow's MLmodel format read and written without mlflow (heron.models.mlmodel)."""

from __future__ import annotations

import json
import pickle
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from heron.core.errors import InvalidArgument
from heron.models import mlmodel

MLMODEL_YAML = """
artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: 3.11.7
  sklearn:
    pickled_model: model.pkl
    serialization_format: pickle
    sklearn_version: 1.5.0
signature:
  inputs: '[{"type": "double", "name": "a", "required": true},
    {"type": "long", "name": "b", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
"""


def _sklearn_dir(tmp_path):
    X = np.array([[0.0, 1], [1.0, 0], [0.9, 0], [0.1, 1]])
    model = LogisticRegression().fit(X, [0, 1, 1, 0])
    (tmp_path / "MLmodel").write_text(MLMODEL_YAML)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    (tmp_path / "requirements.txt").write_text("mlflow==3.17.2\nscikit-learn==1.5.0\n")
    return model, X


def test_reads_an_sklearn_model_directory_as_mlflow_wrote_it(tmp_path):
    model, X = _sklearn_dir(tmp_path)
    loaded = mlmodel.load_model_dir(tmp_path)
    assert loaded.predict(X).tolist() == model.predict(X).tolist()
    spec = mlmodel.read_model_dir(tmp_path)
    facts = mlmodel.model_facts(
        spec, {"requirements.txt": (tmp_path / "requirements.txt").read_bytes()}
    )
    assert facts["flavor"] == "sklearn" and facts["mlflow_flavor"] == "sklearn"
    assert facts["libraries"] == {"python": "3.11.7", "mlflow": "3.17.2", "scikit-learn": "1.5.0"}
    assert facts["signature"] == {
        "inputs": {
            "type": "columns",
            "columns": [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "int64"}],
        },
        "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]},
    }


def test_signatures_convert_both_ways():
    heron_sig = {
        "inputs": {
            "type": "columns",
            "columns": [{"name": "x", "dtype": "float32"}, {"name": "s", "dtype": "str"}],
        },
        "outputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 3]},
    }
    entry = mlmodel.signature_to_mlflow(heron_sig)
    assert json.loads(entry["inputs"]) == [
        {"type": "float", "name": "x", "required": True},
        {"type": "string", "name": "s", "required": True},
    ]
    assert mlmodel.signature_from_mlflow(entry) == heron_sig
    assert mlmodel.signature_to_mlflow(None) is None
    # columns of types Heron's signatures cannot state: no signature rather than a wrong one
    assert mlmodel.signature_from_mlflow({"inputs": '[{"type": "array", "name": "v"}]'}) is None


def test_python_function_with_a_loader_module(tmp_path, monkeypatch):
    module = tmp_path / "code" / "my_loader.py"
    module.parent.mkdir()
    module.write_text("def _load_pyfunc(path):\n    return ('loaded', path)\n")
    (tmp_path / "weights").mkdir()
    (tmp_path / "MLmodel").write_text(
        json.dumps(
            {
                "flavors": {
                    "python_function": {
                        "loader_module": "my_loader",
                        "code": "code",
                        "data": "weights",
                    }
                }
            }
        )
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert mlmodel.load_model_dir(tmp_path) == ("loaded", str(tmp_path / "weights"))


def test_mlflow_own_loader_needs_mlflow_and_says_so(tmp_path, monkeypatch):
    (tmp_path / "MLmodel").write_text(
        json.dumps({"flavors": {"python_function": {"loader_module": "mlflow.pyfunc.model"}}})
    )
    monkeypatch.setitem(sys.modules, "mlflow", None)  # not installed
    with pytest.raises(InvalidArgument, match="install mlflow"):
        mlmodel.load_model_dir(tmp_path)


def test_unknown_flavors_and_escaping_files_are_refused(tmp_path):
    (tmp_path / "MLmodel").write_text(json.dumps({"flavors": {"pytorch": {}}}))
    with pytest.raises(InvalidArgument, match="none that Heron loads"):
        mlmodel.load_model_dir(tmp_path)
    (tmp_path / "MLmodel").write_text(
        json.dumps({"flavors": {"sklearn": {"pickled_model": "../x.pkl"}}})
    )
    with pytest.raises(InvalidArgument):
        mlmodel.load_model_dir(tmp_path)


def test_mlmodel_of_a_heron_artifact_is_json_and_names_heron_loader():
    from heron.core.entities import ArtifactVersion

    artifact = ArtifactVersion(
        id="a" * 32,
        name="clf",
        version=2,
        content_hash="b" * 64,
        type="sklearn.Foo",
        materializer="sklearn.joblib",
        size=10,
        uri="/x",
        producer_run_id="r" * 32,
        metadata={
            "model": {
                "flavor": "sklearn",
                "libraries": {"python": "3.11.7", "numpy": "2.0"},
                "signature": {"inputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 4]}},
            }
        },
    )
    spec = json.loads(
        mlmodel.mlmodel_for_artifact(artifact, model_id="m-x", artifact_path="clf", run_id="r")
    )
    assert spec["flavors"] == {
        "python_function": {
            "loader_module": "heron.models.mlflow_pyfunc",
            "data": "data",
            "python_version": "3.11.7",
        }
    }
    assert spec["heron"]["materializer"] == "sklearn.joblib" and spec["model_id"] == "m-x"
    assert json.loads(spec["signature"]["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}
    ]
    assert mlmodel.requirements_for_artifact(artifact) == b"numpy==2.0\n"


def _boosting_dir(tmp_path, flavor: str, conf: dict) -> None:
    mlmodel_text = json.dumps(
        {
            "flavors": {
                "python_function": {"loader_module": f"mlflow.{flavor}", "data": conf["data"]},
                flavor: conf,
            }
        }
    )
    (tmp_path / "MLmodel").write_text(mlmodel_text)


def test_xgboost_models_mlflow_wrote_load_without_mlflow(tmp_path):
    xgboost = pytest.importorskip("xgboost")
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    booster = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(X, y), 5)
    booster.save_model(str(tmp_path / "model.ubj"))  # as mlflow.xgboost.save_model writes it
    conf = {"data": "model.ubj", "model_class": "xgboost.core.Booster", "model_format": "ubj"}
    _boosting_dir(tmp_path, "xgboost", conf)
    loaded = mlmodel.load_model_dir(tmp_path)
    expected = booster.predict(xgboost.DMatrix(X))
    assert np.allclose(loaded.predict(xgboost.DMatrix(X)), expected)

    wrapper = tmp_path / "sk"
    wrapper.mkdir()
    classifier = xgboost.XGBClassifier(n_estimators=5).fit(X, y)
    classifier.save_model(str(wrapper / "model.ubj"))
    conf = {"data": "model.ubj", "model_class": "xgboost.sklearn.XGBClassifier"}
    _boosting_dir(wrapper, "xgboost", conf)
    assert mlmodel.load_model_dir(wrapper).predict(X).tolist() == classifier.predict(X).tolist()


def test_lightgbm_models_mlflow_wrote_load_without_mlflow(tmp_path):
    lightgbm = pytest.importorskip("lightgbm")
    X = np.random.default_rng(1).normal(size=(80, 3))
    y = (X[:, 1] > 0).astype(int)
    booster = lightgbm.train(
        {"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y), num_boost_round=5
    )
    booster.save_model(str(tmp_path / "model.lgb"))  # as mlflow.lightgbm.save_model writes it
    _boosting_dir(
        tmp_path, "lightgbm", {"data": "model.lgb", "model_class": "lightgbm.basic.Booster"}
    )
    assert np.allclose(mlmodel.load_model_dir(tmp_path).predict(X), booster.predict(X))
