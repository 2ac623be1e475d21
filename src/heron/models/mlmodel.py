"""MLflow's model format (a folder with an ``MLmodel`` file), read and written.

Reading (:func:`read_model_dir`, :func:`load_model_dir`): a model directory MLflow wrote
loads without importing ``mlflow`` for the flavors Heron supports — ``sklearn`` (its pickle or
cloudpickle file, as MLflow's own loader reads it), ``xgboost`` and ``lightgbm`` (their native
files, or the pickled scikit-learn wrapper), and ``python_function`` with a ``loader_module``
(its ``_load_pyfunc(data_path)``; a loader module of ``mlflow`` itself needs ``mlflow``
installed, and the error says so). The signature, input example and requirements are read
from the directory into Heron's model facts (:data:`heron.models.model.MODEL_KEY`).

Writing (:func:`mlmodel_for_artifact`): the ``MLmodel`` of a model Heron logged, generated
from the artifact's own metadata (one source of truth): a ``python_function`` flavor whose
``loader_module`` is :mod:`heron.models.mlflow_pyfunc` and whose ``data`` folder holds the
stored model files. It is written as JSON, which is valid YAML, so no YAML library is needed
to write it; MLflow reads it with ``yaml.safe_load``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from heron.core.errors import InvalidArgument, NotFound

MLMODEL = "MLmodel"
#: the folder of a Heron model's stored files inside its MLflow model directory
DATA_DIR = "data"
LOADER_MODULE = "heron.models.mlflow_pyfunc"
#: the key of an artifact's metadata that marks it as an MLflow model directory
MLFLOW_KEY = "mlflow"

# Heron signature dtype -> MLflow column type, and back
_TO_MLFLOW = {
    "float64": "double",
    "float32": "float",
    "int64": "long",
    "int32": "integer",
    "uint8": "integer",
    "bool": "boolean",
    "str": "string",
    "object": "binary",
    "datetime64[ns]": "datetime",
}
_FROM_MLFLOW = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "str",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
_TENSOR_DTYPES = {"str": "str", "object": "object"}


# --- signatures ---------------------------------------------------------------------------
def signature_to_mlflow(signature: dict[str, Any] | None) -> dict[str, Any] | None:
    """Heron's signature dict as MLflow's ``signature`` entry (``inputs``/``outputs`` are
    JSON strings of column or tensor specs), or ``None``."""
    if not signature or not signature.get("inputs"):
        return None
    result: dict[str, Any] = {"inputs": json.dumps(_spec_to_mlflow(signature["inputs"]))}
    outputs = signature.get("outputs")
    result["outputs"] = json.dumps(_spec_to_mlflow(outputs)) if outputs else None
    result["params"] = None
    return result


def _spec_to_mlflow(spec: dict[str, Any]) -> list[dict[str, Any]]:
    if spec.get("type") == "tensor":
        dtype = _TENSOR_DTYPES.get(spec["dtype"], spec["dtype"])
        return [{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": list(spec["shape"])}}]
    return [
        {"type": _TO_MLFLOW.get(c["dtype"], "string"), "name": c["name"], "required": True}
        for c in spec["columns"]
    ]


def signature_from_mlflow(entry: Any) -> dict[str, Any] | None:
    """MLflow's ``signature`` entry of an MLmodel as Heron's signature dict (``None`` when
    absent, or when it uses types Heron's signatures cannot state)."""
    if not isinstance(entry, dict) or not entry.get("inputs"):
        return None
    try:
        inputs = _spec_from_mlflow(entry["inputs"])
        outputs = _spec_from_mlflow(entry["outputs"]) if entry.get("outputs") else None
    except (KeyError, TypeError, ValueError):
        return None
    if inputs is None:
        return None
    return {"inputs": inputs, "outputs": outputs}


def _spec_from_mlflow(text: Any) -> dict[str, Any] | None:
    specs = json.loads(text) if isinstance(text, str) else text
    if not isinstance(specs, list) or not specs:
        return None
    if specs[0].get("type") == "tensor":
        if len(specs) != 1:
            return None  # several named tensors: not a shape Heron's signature states
        tensor = specs[0]["tensor-spec"]
        return {"type": "tensor", "dtype": str(tensor["dtype"]), "shape": list(tensor["shape"])}
    columns = []
    for i, spec in enumerate(specs):
        dtype = _FROM_MLFLOW.get(spec.get("type"))
        if dtype is None:
            return None  # arrays, objects, maps: Heron checks no such columns
        columns.append({"name": str(spec.get("name", i)), "dtype": dtype})
    return {"type": "columns", "columns": columns}


# --- reading a model directory ------------------------------------------------------------
def parse_mlmodel(text: str) -> dict[str, Any]:
    """The contents of an ``MLmodel`` file (YAML; JSON when Heron wrote it)."""
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:
            raise InvalidArgument(
                "Reading an MLmodel file MLflow wrote needs PyYAML: pip install pyyaml."
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InvalidArgument(f"The MLmodel file is not valid YAML: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise InvalidArgument("The MLmodel file names no flavors: it is not an MLflow model.")
    return data


def read_model_dir(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``MLmodel`` of the MLflow model directory ``path``."""
    mlmodel = os.path.join(os.fspath(path), MLMODEL)
    if not os.path.isfile(mlmodel):
        raise NotFound(f"{os.fspath(path)} holds no MLmodel file: it is not an MLflow model.")
    with open(mlmodel, encoding="utf-8") as f:
        return parse_mlmodel(f.read())


def loader_flavor(spec: dict[str, Any]) -> tuple[str, str]:
    """``(MLflow flavor Heron loads it by, Heron flavor of the loaded object)``."""
    flavors = spec["flavors"]
    for name in ("sklearn", "xgboost", "lightgbm"):
        if name in flavors:
            model_class = str(flavors[name].get("model_class", ""))
            if name == "sklearn" or (model_class and not model_class.endswith("Booster")):
                return name, "sklearn"
            return name, name
    if "python_function" in flavors:
        return "python_function", "predict"
    raise InvalidArgument(
        f"The MLflow model's flavors ({', '.join(sorted(flavors)) or 'none'}) include none that "
        "Heron loads: sklearn, xgboost, lightgbm or python_function with a loader module."
    )


def model_facts(spec: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
    """Heron's model facts of an MLflow model: ``spec`` is its parsed MLmodel, ``files``
    the small files beside it (``requirements.txt``, ``input_example.json``) by name."""
    mlflow_flavor, flavor = loader_flavor(spec)
    conf = spec["flavors"][mlflow_flavor]
    libraries: dict[str, str] = {}
    python = spec["flavors"].get("python_function", {}).get("python_version")
    if python:
        libraries["python"] = str(python)
    for line in files.get("requirements.txt", b"").decode("utf-8", "replace").splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name and not name.startswith(("#", "-")):
            libraries[name.strip()] = version.strip()
    example = None
    raw = files.get("input_example.json")
    if raw:
        try:
            example = json.loads(raw)
        except ValueError:
            example = None
    return {
        "flavor": flavor,
        "class": str(
            conf.get("model_class") or conf.get("loader_module") or f"mlflow.{mlflow_flavor}"
        ),
        "libraries": libraries,
        "signature": signature_from_mlflow(spec.get("signature")),
        "input_example": example,
        "mlflow_flavor": mlflow_flavor,
    }


def load_model_dir(path: str | os.PathLike[str]) -> Any:
    """The model object of the MLflow model directory ``path`` (see the module doc); only
    load models from a store you trust: their files are pickles or code."""
    path = os.fspath(path)
    spec = read_model_dir(path)
    mlflow_flavor, _flavor = loader_flavor(spec)
    conf = spec["flavors"][mlflow_flavor]
    if mlflow_flavor == "sklearn":
        return _unpickle(_member(path, conf.get("pickled_model")), conf)
    if mlflow_flavor in ("xgboost", "lightgbm"):
        return _load_boosting(path, mlflow_flavor, conf)
    return _load_pyfunc_flavor(path, conf)


def _member(path: str, name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidArgument("The MLflow model's flavor names no model file.")
    from heron.artifacts.store import path_under

    target = path_under(path, name, "Model file")
    if not os.path.exists(target):
        raise NotFound(f"The MLflow model at {path} lacks its file {name!r}.")
    return target


def _unpickle(file: str, conf: dict[str, Any]) -> Any:
    fmt = conf.get("serialization_format", "cloudpickle")
    if fmt == "skops":  # MLflow 3's default for scikit-learn models
        try:
            import skops.io
        except ImportError:
            raise InvalidArgument(
                "This MLflow model is stored in the skops format: pip install skops to load "
                "it (or log it with serialization_format='cloudpickle')."
            ) from None
        return skops.io.load(file, trusted=conf.get("skops_trusted_types"))
    with open(file, "rb") as f:
        if fmt == "pickle":
            import pickle

            return pickle.load(f)
        if fmt == "cloudpickle":
            import cloudpickle

            return cloudpickle.load(f)
    raise InvalidArgument(
        f"The MLflow model is serialized as {fmt!r}; Heron reads skops, pickle and cloudpickle. "
        "Log it again with serialization_format='cloudpickle'."
    )


def _load_boosting(path: str, flavor: str, conf: dict[str, Any]) -> Any:
    import importlib

    default = "xgboost.core.Booster" if flavor == "xgboost" else "lightgbm.basic.Booster"
    model_class = str(conf.get("model_class") or default)
    file = _member(path, conf.get("data"))
    if flavor == "lightgbm":
        if model_class == default:
            import lightgbm

            return lightgbm.Booster(model_file=file)
        return _unpickle(file, conf)
    module, _, name = model_class.rpartition(".")
    if not module.startswith("xgboost"):
        raise InvalidArgument(f"The xgboost flavor names class {model_class!r}, not xgboost's.")
    model = getattr(importlib.import_module(module), name)()
    model.load_model(file)
    return model


def _load_pyfunc_flavor(path: str, conf: dict[str, Any]) -> Any:
    import importlib
    import sys

    module = conf.get("loader_module")
    if not isinstance(module, str) or not module:
        raise InvalidArgument(
            "The MLflow model's python_function flavor has no loader_module: a model of "
            "mlflow.pyfunc.PythonModel needs mlflow itself (pip install mlflow) to load."
        )
    for code in [conf.get("code")] if isinstance(conf.get("code"), str) else []:
        code_path = _member(path, code)
        if code_path not in sys.path:
            sys.path.insert(0, code_path)
    data = conf.get("data")
    data_path = _member(path, data) if data else path
    try:
        loader = importlib.import_module(module)
    except ImportError as e:
        if module.split(".")[0] == "mlflow":
            raise InvalidArgument(
                f"This MLflow model loads through MLflow's own {module}: install mlflow "
                "(pip install mlflow) to load it with Heron."
            ) from e
        raise InvalidArgument(
            f"The MLflow model's loader module {module!r} cannot be imported ({e}); install "
            "the package that provides it."
        ) from e
    return loader._load_pyfunc(data_path)


def load_artifact_impl(artifact: Any) -> Any:
    """The model object of an artifact version: an MLflow model directory (the artifact's
    metadata says so) read as such, else whatever its materializer reads."""
    if is_mlflow_model(artifact):
        return load_model_dir(artifact.load())
    return artifact.load()


def is_mlflow_model(artifact: Any) -> bool:
    """Whether an artifact version holds an MLflow model directory."""
    return isinstance((artifact.metadata or {}).get(MLFLOW_KEY), dict) and bool(
        artifact.metadata[MLFLOW_KEY].get("mlmodel")
    )


# --- writing the MLmodel of a Heron model -------------------------------------------------
def mlmodel_for_artifact(
    artifact: Any, *, model_id: str, artifact_path: str, run_id: str | None
) -> bytes:
    """The ``MLmodel`` file of a model Heron logged (see the module doc)."""
    import datetime

    from heron.models.model import MODEL_KEY

    facts = (artifact.metadata or {}).get(MODEL_KEY) or {}
    libraries = facts.get("libraries") or {}
    pyfunc: dict[str, Any] = {"loader_module": LOADER_MODULE, "data": DATA_DIR}
    if libraries.get("python"):
        pyfunc["python_version"] = libraries["python"]
    created = datetime.datetime.fromtimestamp(
        (artifact.created_at or 0) / 1000, tz=datetime.timezone.utc
    )
    spec: dict[str, Any] = {
        "artifact_path": artifact_path,
        "flavors": {"python_function": pyfunc},
        "model_id": model_id,
        "model_uuid": model_id,
        "run_id": run_id,
        "utc_time_created": created.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "heron": {
            "artifact_id": artifact.id,
            "name": artifact.name,
            "version": artifact.version,
            "materializer": artifact.materializer,
            "materializer_version": artifact.materializer_version,
            "type": artifact.type,
            "content_hash": artifact.content_hash,
            "model": facts,
        },
    }
    signature = signature_to_mlflow(facts.get("signature"))
    if signature is not None:
        spec["signature"] = signature
    return json.dumps(spec, indent=2).encode()


def requirements_for_artifact(artifact: Any) -> bytes:
    """A ``requirements.txt`` of the libraries a Heron model was logged with."""
    from heron.models.model import MODEL_KEY

    libraries = ((artifact.metadata or {}).get(MODEL_KEY) or {}).get("libraries") or {}
    lines = [
        f"{name}=={version}" for name, version in sorted(libraries.items()) if name != "python"
    ]
    return ("\n".join(lines) + "\n").encode() if lines else b""
