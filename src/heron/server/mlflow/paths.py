"""How MLflow artifact URIs name Heron's runs and logged models.

A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts`` and a
logged model's ``artifact_location`` is
``mlflow-artifacts:/<experiment_id>/models/<model_id>/artifacts``, as ``mlflow server
--serve-artifacts`` names them. MLflow's client turns ``mlflow-artifacts:/<path>`` into
``<tracking URI>/api/2.0/mlflow-artifacts/artifacts/<path>``, so the artifact proxy gets the
path and :func:`parse_artifact_path` says whose artifact it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from heron.server.mlflow.errors import invalid

SCHEME = "mlflow-artifacts:"


def run_artifact_uri(experiment_id: str, run_id: str) -> str:
    return f"{SCHEME}/{experiment_id}/{run_id}/artifacts"


def logged_model_artifact_uri(experiment_id: str, model_id: str) -> str:
    return f"{SCHEME}/{experiment_id}/models/{model_id}/artifacts"


@dataclass(frozen=True)
class ArtifactPath:
    """A path under the proxy: ``owner`` is ``"run"`` or ``"model"``, ``owner_id`` the run id
    or logged model id, ``relative`` the path inside its artifacts (``""`` for the root)."""

    experiment_id: str
    owner: str
    owner_id: str
    relative: str


def parse_artifact_path(path: str) -> ArtifactPath:
    """The owner of ``<experiment_id>/<run_id>/artifacts/<relative>`` or
    ``<experiment_id>/models/<model_id>/artifacts/<relative>``; 400 for anything else, and
    for ``..`` or empty segments."""
    parts = path.strip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise invalid(f"Invalid artifact path {path!r}: no empty, '.' or '..' segments.")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return ArtifactPath(parts[0], "model", parts[2], "/".join(parts[4:]))
    if len(parts) >= 3 and parts[2] == "artifacts":
        return ArtifactPath(parts[0], "run", parts[1], "/".join(parts[3:]))
    raise invalid(
        f"Invalid artifact path {path!r}: Heron's artifact proxy serves "
        "<experiment_id>/<run_id>/artifacts/... and <experiment_id>/models/<model_id>/artifacts/..."
        " (the artifact_uri of a run or the artifact_location of a logged model)."
    )
