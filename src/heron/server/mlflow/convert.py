"""Heron's experiments and runs as MLflow's JSON, and MLflow's words for Heron's fields.

- **Experiment ids**: MLflow's default experiment is ``"0"``; Heron's is the experiment named
  :data:`~heron.store.base.DEFAULT_EXPERIMENT` (made on first use). :func:`heron_experiment_id`
  and :func:`mlflow_experiment_id` translate between the two; every other id passes as is.
- **Statuses**: :func:`heron_status` / :func:`mlflow_status` (``FINISHED`` <-> ``completed``...).
- **System tags**: ``mlflow.user``, ``mlflow.source.name``, ``mlflow.source.git.commit`` and
  ``mlflow.parentRunId`` fill the run's ``user``, ``source``, ``git_commit`` and ``parent_id``
  when it is created (:func:`run_fields_from_tags`) and stay stored as tags. ``mlflow.runName``
  is *not* stored: the run's name is its only copy, and answers show it as that tag
  (:func:`run_json`), so renaming a run either way keeps both in step.
- **Dataset inputs** (``runs/log-inputs``) are kept as run tags under
  :data:`INPUT_TAG_PREFIX` (JSON, split into parts of at most 8000 characters), since Heron's
  ``Store`` has no dataset entity; answers list them in ``run.inputs`` and hide those tags.

Answers are plain dicts for orjson: numbers stay numbers, NaN and infinities become the
strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (protobuf's JSON, which MLflow's client reads).
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from heron.core import status as run_status
from heron.core.entities import DELETED, KIND_RUN, Experiment, Run
from heron.server.mlflow import errors
from heron.server.mlflow.paths import SCHEME, run_artifact_uri

DEFAULT_MLFLOW_ID = "0"

RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
SOURCE_TAG = "mlflow.source.name"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
PARENT_TAG = "mlflow.parentRunId"
KIND_TAG = "heron.kind"
#: run tags holding the dataset inputs of ``runs/log-inputs`` (hidden from MLflow's answers)
INPUT_TAG_PREFIX = "heron.mlflow.input."
#: run tags naming the logged models given as inputs (``heron.mlflow.model_input.<model_id>``)
MODEL_INPUT_TAG_PREFIX = "heron.mlflow.model_input."
_HIDDEN_PREFIXES = (INPUT_TAG_PREFIX, MODEL_INPUT_TAG_PREFIX)
_PART = 8000  # a tag value holds at most 8000 characters

# --- statuses ----------------------------------------------------------------------------
_TO_MLFLOW = {
    run_status.PENDING: "SCHEDULED",
    run_status.RUNNING: "RUNNING",
    run_status.COMPLETED: "FINISHED",
    run_status.CACHED: "FINISHED",
    run_status.FAILED: "FAILED",
    run_status.CANCELLED: "KILLED",
    run_status.SKIPPED: "KILLED",
}
_FROM_MLFLOW = {
    "RUNNING": run_status.RUNNING,
    "SCHEDULED": run_status.PENDING,
    "FINISHED": run_status.COMPLETED,
    "FAILED": run_status.FAILED,
    "KILLED": run_status.CANCELLED,
}
#: MLflow's RunStatus enum numbers, which a protobuf JSON body may carry instead of the name
_STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
#: every Heron status each MLflow status stands for (for searches)
HERON_STATUSES_OF = {
    name: tuple(sorted(h for h, m in _TO_MLFLOW.items() if m == name)) for name in _FROM_MLFLOW
}


def mlflow_status(status: str) -> str:
    """Heron's run status as MLflow's (``completed`` -> ``FINISHED``)."""
    return _TO_MLFLOW.get(status, "RUNNING")


def heron_status(value: Any) -> str:
    """MLflow's run status (name or enum number) as Heron's; 400 for anything else."""
    name = _STATUS_NUMBERS.get(value, value) if isinstance(value, int) else value
    if isinstance(name, str) and name in _FROM_MLFLOW:
        return _FROM_MLFLOW[name]
    raise errors.invalid(
        f"Invalid value {orjson.dumps(value).decode()} for parameter 'status' supplied: use one "
        f"of {', '.join(_FROM_MLFLOW)}."
    )


# --- experiment ids ------------------------------------------------------------------------
#: (database engine, project) -> (a weak reference to the engine, the default experiment's
#: id); every request's store is a new view of the app's, so the engine is what they share
_default_ids: dict[tuple[int, str], tuple[Any, str]] = {}


def _default_key(store: Any) -> tuple[tuple[int, str], Any]:
    engine = getattr(store, "engine", None) or store
    return (id(engine), str(getattr(store, "project", ""))), engine


def existing_default_experiment_id(store: Any) -> str | None:
    """The Heron id of the store project's default experiment, if it exists (never makes
    it: for the permission check that runs before a request may write)."""
    key, engine = _default_key(store)
    found = _default_ids.get(key)
    if found is not None and found[0]() is engine:
        return found[1]
    from heron.store.base import DEFAULT_EXPERIMENT

    experiment = store.get_experiment_by_name(DEFAULT_EXPERIMENT)
    if experiment is None:
        return None
    _remember_default(key, engine, experiment.id)
    return str(experiment.id)


def _remember_default(key: tuple[int, str], engine: Any, experiment_id: str) -> None:
    if len(_default_ids) > 10_000:
        _default_ids.clear()
    _default_ids[key] = (weakref.ref(engine), experiment_id)


def default_experiment_id(store: Any) -> str:
    """The Heron id of the default experiment (``"0"`` to MLflow) of the store's project,
    created on first use."""
    found = existing_default_experiment_id(store)
    if found is not None:
        return found
    from heron.core.errors import AlreadyExists
    from heron.store.base import DEFAULT_EXPERIMENT

    try:
        experiment = store.create_experiment(DEFAULT_EXPERIMENT)
    except AlreadyExists:  # another request made it just now
        experiment = store.get_experiment_by_name(DEFAULT_EXPERIMENT)
    key, engine = _default_key(store)
    _remember_default(key, engine, experiment.id)
    return str(experiment.id)


def heron_experiment_id(store: Any, experiment_id: Any) -> str:
    """MLflow's experiment id as Heron's (``"0"``: the default experiment)."""
    text = str(experiment_id)
    return default_experiment_id(store) if text == DEFAULT_MLFLOW_ID else text


def known_experiment_id(store: Any, experiment_id: Any) -> str | None:
    """:func:`heron_experiment_id` for searches: ``None`` for ``"0"`` while the default
    experiment does not exist (it holds nothing yet, and a search makes nothing)."""
    text = str(experiment_id)
    return existing_default_experiment_id(store) if text == DEFAULT_MLFLOW_ID else text


def mlflow_experiment_id(store: Any, experiment_id: str) -> str:
    """Heron's experiment id as MLflow's (the default experiment: ``"0"``)."""
    return DEFAULT_MLFLOW_ID if experiment_id == default_experiment_id(store) else experiment_id


def experiment_artifact_location(mlflow_id: str) -> str:
    return f"{SCHEME}/{mlflow_id}"


def experiment_json(experiment: Experiment, mlflow_id: str) -> dict[str, Any]:
    """An ``Experiment`` message."""
    return {
        "experiment_id": mlflow_id,
        "name": experiment.name,
        "artifact_location": experiment_artifact_location(mlflow_id),
        "lifecycle_stage": "deleted" if experiment.lifecycle == DELETED else "active",
        "last_update_time": experiment.updated_at,
        "creation_time": experiment.created_at,
        "tags": [{"key": k, "value": v} for k, v in experiment.tags.items()],
    }


# --- runs ----------------------------------------------------------------------------------
def run_fields_from_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The Heron run fields that MLflow's system tags fill at creation: ``user``, ``source``,
    ``git_commit``, ``parent_id`` (each only when the tag holds a value Heron can store)."""
    fields: dict[str, str] = {}
    for tag, field, limit in (
        (USER_TAG, "user", 256),
        (SOURCE_TAG, "source", None),
        (GIT_COMMIT_TAG, "git_commit", 64),
        (PARENT_TAG, "parent_id", 32),
    ):
        value = tags.get(tag)
        if value and (limit is None or len(value) <= limit):
            fields[field] = value
    return fields


def float_json(value: float) -> float | str:
    """A double as protobuf's JSON writes it (NaN and infinities as strings)."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def metric_json(key: str, value: float, timestamp: int, step: int) -> dict[str, Any]:
    return {"key": key, "value": float_json(value), "timestamp": timestamp, "step": step}


def run_info_json(run: Run, mlflow_experiment: str) -> dict[str, Any]:
    """A ``RunInfo`` message."""
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": mlflow_experiment,
        "user_id": run.user or "",
        "status": mlflow_status(run.status),
        "start_time": run.start_time,
        "artifact_uri": run_artifact_uri(mlflow_experiment, run.id),
        "lifecycle_stage": "deleted" if run.lifecycle == DELETED else "active",
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def visible_tags(run: Run) -> dict[str, str]:
    """The run's tags as MLflow shows them: the stored ones (less Heron's hidden ones), with
    the system tags of the run's fields (``mlflow.runName`` always)."""
    tags = {k: v for k, v in run.tags.items() if not k.startswith(_HIDDEN_PREFIXES)}
    tags[RUN_NAME_TAG] = run.name
    for tag, value in (
        (USER_TAG, run.user),
        (SOURCE_TAG, run.source),
        (GIT_COMMIT_TAG, run.git_commit),
        (PARENT_TAG, run.parent_id),
    ):
        if value and tag not in tags:
            tags[tag] = value
    if run.kind != KIND_RUN:
        tags.setdefault(KIND_TAG, run.kind)
    return tags


def run_json(
    run: Run,
    mlflow_experiment: str,
    points: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """A ``Run`` message: info, data (latest metrics, params, tags) and inputs.

    ``points`` gives each metric's ``(timestamp, step)`` of its latest value (0, 0 without)."""
    points = points or {}
    metrics = [metric_json(k, v, *points.get(k, (0, 0))) for k, v in sorted(run.metrics.items())]
    data = {
        "metrics": metrics,
        "params": [{"key": k, "value": v} for k, v in run.params.items()],
        "tags": [{"key": k, "value": v} for k, v in visible_tags(run).items()],
    }
    return {
        "info": run_info_json(run, mlflow_experiment),
        "data": data,
        "inputs": run_inputs_json(run.tags),
        "outputs": {},
    }


# --- dataset inputs ------------------------------------------------------------------------
def dataset_input_tags(dataset_input: Mapping[str, Any]) -> dict[str, str]:
    """The run tags that keep one ``DatasetInput``: one JSON document, in parts of at most
    8000 characters, under a key derived from the dataset's name, digest and input tags (so
    that logging the same input twice keeps one copy, as MLflow does)."""
    dataset = dataset_input.get("dataset") or {}
    input_tags = sorted(
        (t.get("key", ""), t.get("value", "")) for t in dataset_input.get("tags") or ()
    )
    identity = orjson.dumps([dataset.get("name"), dataset.get("digest"), input_tags])
    key = INPUT_TAG_PREFIX + hashlib.sha256(identity).hexdigest()[:16]
    text = orjson.dumps(
        {
            "tags": [{"key": k, "value": v} for k, v in input_tags],
            "dataset": dataset,
        }
    ).decode()
    parts = [text[i : i + _PART] for i in range(0, len(text), _PART)] or [""]
    return {f"{key}.{i:04d}": part for i, part in enumerate(parts)}


def run_inputs_json(tags: Mapping[str, str]) -> dict[str, Any]:
    """``RunInputs`` read back from the tags of :func:`dataset_input_tags` and the model
    inputs."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    model_inputs = []
    for key, value in tags.items():
        if key.startswith(INPUT_TAG_PREFIX):
            base, _, part = key.rpartition(".")
            grouped.setdefault(base, []).append((part, value))
        elif key.startswith(MODEL_INPUT_TAG_PREFIX):
            model_inputs.append({"model_id": key[len(MODEL_INPUT_TAG_PREFIX) :]})
    datasets = []
    for base in sorted(grouped):
        text = "".join(value for _part, value in sorted(grouped[base]))
        try:
            datasets.append(orjson.loads(text))
        except orjson.JSONDecodeError:
            continue  # a tag someone else wrote under our prefix: not one of ours
    inputs: dict[str, Any] = {}
    if datasets:
        inputs["dataset_inputs"] = datasets
    if model_inputs:
        inputs["model_inputs"] = sorted(model_inputs, key=lambda m: m["model_id"])
    return inputs


def tags_list(tags: Iterable[Mapping[str, Any]] | None, what: str) -> dict[str, str]:
    """``[{"key", "value"}, ...]`` of a request as a dict (the last value of a key wins)."""
    result: dict[str, str] = {}
    if tags is None:
        return result
    if not isinstance(tags, list):
        raise errors.invalid(
            f"Invalid value {orjson.dumps(tags).decode()[:200]} for parameter '{what}' supplied:"
            ' it must be a list of {"key": ..., "value": ...} objects.'
        )
    for i, tag in enumerate(tags):
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str) or not tag["key"]:
            raise errors.invalid(f"Missing value for required parameter '{what}[{i}].key'.")
        value = tag.get("value", "")
        if not isinstance(value, str):
            raise errors.invalid(
                f"Invalid value {orjson.dumps(value).decode()[:100]} for parameter "
                f"'{what}[{i}].value' supplied: it must be a string."
            )
        result[tag["key"]] = value
    return result
