"""Model URIs: which artifact version a ``models:/``, ``runs:/`` or artifact-id URI names.

- ``models:/<name>/<version>``, ``models:/<name>@<alias>``, ``models:/<name>`` (or
  ``models:/<name>/latest``: the newest active version);
- ``runs:/<run_id>/<name>``: the artifact a run logged or produced under ``name`` (a logged
  model's name, a step output such as ``output`` or ``train.model``);
- a 32-character artifact version id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from heron.core import validation
from heron.core.entities import OUTPUT, ArtifactVersion, ModelVersion
from heron.core.errors import InvalidArgument, NotFound
from heron.store.base import Store

_ARTIFACT_ID = re.compile(r"^[0-9a-f]{32}$")
FORMS = (
    "models:/<name>/<version>, models:/<name>@<alias>, models:/<name>, runs:/<run_id>/<name> "
    "or an artifact id"
)


@dataclass(slots=True)
class ResolvedModel:
    """The artifact version a model URI names, and the registry version when it went through
    the registry."""

    artifact: ArtifactVersion
    model_version: ModelVersion | None = None


def resolve(store: Store, uri: str) -> ResolvedModel:
    """The artifact (and model version) ``uri`` names; :class:`NotFound` or
    :class:`InvalidArgument` with the accepted forms otherwise."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidArgument(f"A model URI is a non-empty string: {FORMS}.")
    uri = validation.check_text(uri.strip(), "Model URI")
    if uri.startswith("models:/"):
        version = model_version_of(store, uri)
        return ResolvedModel(store.get_artifact_version(version.artifact_id), version)
    if uri.startswith("runs:/"):
        run_id, _, name = uri[len("runs:/") :].partition("/")
        if not run_id or not name:
            raise InvalidArgument(f"{uri!r}: a runs URI is runs:/<run_id>/<name>.")
        return ResolvedModel(artifact_of_run(store, run_id, name.strip("/")))
    if _ARTIFACT_ID.match(uri):
        return ResolvedModel(store.get_artifact_version(uri))
    raise InvalidArgument(f"{uri!r} is not a model URI: use {FORMS}.")


def model_version_of(store: Store, uri: str) -> ModelVersion:
    """The registry version a ``models:/`` URI names."""
    rest = uri[len("models:/") :].strip("/")
    if "@" in rest:
        name, _, alias = rest.partition("@")
        if not name or not alias or "/" in alias:
            raise InvalidArgument(f"{uri!r}: an alias URI is models:/<name>@<alias>.")
        return store.get_model_version_by_alias(name, alias)
    name, _, version = rest.rpartition("/") if "/" in rest else (rest, "", "latest")
    if not name:
        raise InvalidArgument(f"{uri!r}: name a model, as in models:/<name>/<version>.")
    if version == "latest":
        found = store.search_model_versions(
            f"name = '{_quoted(name)}'", order_by=["version DESC"], max_results=1
        )
        if not found:
            store.get_registered_model(name)  # NotFound names the model when it is unknown
            raise NotFound(f"Model {name!r} has no versions: register one first.")
        return found[0]
    if not version.isdigit():
        raise InvalidArgument(
            f"{uri!r}: the version is a number (models:/{name}/3), 'latest', or use an alias "
            f"(models:/{name}@champion)."
        )
    return store.get_model_version(name, int(version))


def artifact_of_run(store: Store, run_id: str, name: str) -> ArtifactVersion:
    """The artifact version run ``run_id`` produced under ``name`` (or, for a pipeline run,
    one of its steps did: ``<step>.<output>`` or a name only one step used)."""
    run = store.get_run(run_id)  # NotFound with the run id when there is no such run
    links = [link for link in store.list_artifact_links(run_id=run_id) if link.direction == OUTPUT]
    for link in links:
        if link.name == name:
            return store.get_artifact_version(link.artifact_id)
    step_links = _step_outputs(store, run_id, run.experiment_id)
    matches = [
        artifact_id
        for step, output, artifact_id in step_links
        if name in (f"{step}.{output}", output) or (name == step and output == "output")
    ]
    if len(set(matches)) == 1:
        return store.get_artifact_version(matches[0])
    known = sorted({link.name for link in links} | {f"{s}.{o}" for s, o, _ in step_links})
    hint = f" It has: {', '.join(known[:20])}." if known else " It has no outputs."
    if len(set(matches)) > 1:
        raise InvalidArgument(f"Run {run_id} has several outputs named {name!r}; name the step.")
    raise NotFound(f"Run {run_id} has no output named {name!r}.{hint}")


def _step_outputs(store: Store, run_id: str, experiment_id: str) -> list[tuple[str, str, str]]:
    # step runs are in their pipeline run's experiment (ids reach it in any project)
    children = store.search_runs(
        [experiment_id],
        filter_string=f"attributes.parent_id = '{run_id}'",
        max_results=10_000,
        view="all",
    )
    found = []
    for child in children:
        for link in store.list_artifact_links(run_id=child.id):
            if link.direction == OUTPUT:
                found.append((child.name, link.name, link.artifact_id))
    return found


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
