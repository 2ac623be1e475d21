"""MLflow 3's logged models (``/api/2.0/mlflow/logged-models...``, ``runs/outputs``).

``mlflow.<flavor>.log_model`` creates a logged model, uploads the model directory to its
``artifact_location`` (``mlflow-artifacts:/<exp>/models/<model_id>/artifacts``, kept as the
model's files by :mod:`.artifacts`), links it to its run (``runs/outputs``) and finalizes it.
Finalized ``READY``, the files become ONE Heron artifact version: a folder object (the
MLmodel directory) named after the model, produced by its source run and linked to it (and
to every run that logged it as an output) under that name, with the model facts
``heron.load_model`` reads (flavor, signature, libraries: :mod:`heron.models.mlmodel`).

A model Heron logged is a logged model too, with the id ``m-<artifact id>``
(:func:`model_id_of`): ``get`` answers it and the proxy presents it as an MLflow model
directory, so MLflow's client loads it (``search`` lists only the models MLflow logged).

For the registry routes: :func:`artifact_of`, :func:`model_id_of`, :func:`artifact_location`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from heron.core import validation
from heron.core.entities import OUTPUT, ArtifactVersion
from heron.core.errors import HeronError, NotFound
from heron.core.ids import new_id, now_ms
from heron.models.mlmodel import is_mlflow_model
from heron.server.auth.permissions import editor, maintainer, on, viewer
from heron.server.mlflow import artifact_tree, convert, errors, paths
from heron.server.mlflow.face import Request

HERON_PREFIX = "m-"
PENDING, READY, FAILED = "PENDING", "READY", "FAILED"
_STATUS_PROTO = {
    PENDING: "LOGGED_MODEL_PENDING",
    READY: "LOGGED_MODEL_READY",
    FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
}
_STATUS_IN = {
    "LOGGED_MODEL_PENDING": PENDING,
    "LOGGED_MODEL_READY": READY,
    "LOGGED_MODEL_UPLOAD_FAILED": FAILED,
    "1": PENDING,
    "2": READY,
    "3": FAILED,
    PENDING: PENDING,
    READY: READY,
    FAILED: FAILED,
}
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
SEARCH_DEFAULT, SEARCH_MAX = 100, 50_000
#: small files of a model directory read into its facts when it is finalized
_FACT_FILES = ("requirements.txt", "input_example.json")


# --- experiments: MLflow's "0" is Heron's default experiment --------------------------------
def heron_experiment_id(store: Any, experiment_id: Any) -> str:
    """The existing Heron experiment an MLflow experiment id names (``"0"``: the default)."""
    if not isinstance(experiment_id, str | int) or str(experiment_id) == "":
        raise errors.invalid("Give experiment_id: the experiment the model belongs to.")
    return store.get_experiment(convert.heron_experiment_id(store, experiment_id)).id


mlflow_experiment_id = convert.mlflow_experiment_id


# --- the functions the registry routes use --------------------------------------------------
def _heron_artifact(store: Any, model_id: str) -> ArtifactVersion | None:
    """The model artifact behind an ``m-<artifact id>`` id, if it is one: a model Heron
    logged, or an MLflow model folder that no logged model of this server made."""
    rest = model_id[len(HERON_PREFIX) :] if model_id.startswith(HERON_PREFIX) else ""
    if not _HEX32.match(rest):
        return None
    try:
        artifact = store.get_artifact_version(rest)
    except NotFound:
        return None
    if artifact_tree.is_heron_model(artifact):
        return artifact
    # an MLflow model folder without a logged-model row of its own (heron import made it)
    if is_mlflow_model(artifact) and store.logged_model_of_artifact(artifact.id) is None:
        return artifact
    return None


def _row_or_404(store: Any, model_id: Any, allow_deleted: bool = False) -> dict[str, Any]:
    if not isinstance(model_id, str) or not model_id:
        raise errors.invalid("Give model_id: the logged model's id (m-...).")
    row = store.get_logged_model_row(model_id)
    if row is None or (row["lifecycle"] != "active" and not allow_deleted):
        raise errors.missing(f"No logged model with id {model_id!r}.")
    return row


def owner_fields(store: Any, model_id: Any) -> dict[str, str]:
    """What the permission of a route naming a logged model checks: ``model_experiment_id``
    (the experiment of a model MLflow logged) or ``model_artifact_id`` (the artifact version
    of a model Heron logged, ``m-<artifact id>``); nothing for an unknown id."""
    if not isinstance(model_id, str) or not model_id:
        return {}
    row = store.get_logged_model_row(model_id)
    if row is not None:
        return {"model_experiment_id": row["experiment_id"]}
    rest = model_id[len(HERON_PREFIX) :] if model_id.startswith(HERON_PREFIX) else ""
    return {"model_artifact_id": rest} if _HEX32.match(rest) else {}


def _model_of_path(request: Request, arguments: dict[str, Any]) -> None:
    arguments.update(owner_fields(request.face.store, request.values.get("model_id")))


def _models_of_outputs(request: Request, arguments: dict[str, Any]) -> None:
    """The experiments (and first Heron artifact) of the models ``runs/outputs`` names."""
    experiments: list[str] = []
    for item in arguments.get("models") or []:
        model_id = item.get("model_id") if isinstance(item, dict) else None
        found = owner_fields(request.face.store, model_id)
        if "model_experiment_id" in found:
            experiments.append(found["model_experiment_id"])
        elif "model_artifact_id" in found:
            arguments.setdefault("model_artifact_id", found["model_artifact_id"])
    if experiments:
        arguments["model_experiment_ids"] = experiments


def artifact_of(store: Any, model_id: str) -> ArtifactVersion:
    """The artifact version of a logged model (404 MlflowError if unknown or not READY)."""
    heron = _heron_artifact(store, model_id)
    if heron is not None:
        return heron
    row = _row_or_404(store, model_id)
    if row["status"] != READY or not row["artifact_id"]:
        raise errors.missing(
            f"Logged model {model_id!r} is {row['status']}, not READY: it has no files yet."
        )
    return store.get_artifact_version(row["artifact_id"])


def model_id_of(store: Any, artifact: ArtifactVersion) -> str:
    """The logged-model id MLflow sees for a model artifact: the id of the logged model it
    was made from, else ``m-<artifact id>`` (a model Heron logged, or one ``heron import``
    brought over: its MLflow id is in its metadata, but this server has no such logged model)."""
    row = store.logged_model_of_artifact(artifact.id)
    return row["id"] if row is not None else HERON_PREFIX + artifact.id


def run_model_outputs(
    store: Any, run_id: str, keep: Callable[[str, list[str]], set[str]] | None = None
) -> list[dict[str, Any]]:
    """``RunOutputs.model_outputs`` of a run: the models it produced (its output links to
    model artifacts; MLflow's step of each is not kept, so it is 0). ``keep(kind, ids)``: the
    artifact ids the caller may read (the others are left out)."""
    outputs = []
    links = [link for link in store.list_artifact_links(run_id=run_id) if link.direction == OUTPUT]
    if keep is not None and links:
        readable = keep("artifact", [link.artifact_id for link in links])
        links = [link for link in links if link.artifact_id in readable]
    for link in links:
        artifact = store.get_artifact_version(link.artifact_id)
        if is_mlflow_model(artifact) or artifact_tree.is_heron_model(artifact):
            outputs.append({"model_id": model_id_of(store, artifact), "step": 0})
    return outputs


def artifact_location(store: Any, model_id: str) -> str:
    """``mlflow-artifacts:/<exp>/models/<model_id>/artifacts`` of a logged model."""
    heron = _heron_artifact(store, model_id)
    if heron is not None:
        return paths.logged_model_artifact_uri(_experiment_of_artifact(store, heron), model_id)
    row = _row_or_404(store, model_id, allow_deleted=True)
    return paths.logged_model_artifact_uri(
        mlflow_experiment_id(store, row["experiment_id"]), model_id
    )


def _experiment_of_artifact(store: Any, artifact: ArtifactVersion) -> str:
    if artifact.producer_run_id:
        try:
            run = store.get_run(artifact.producer_run_id)
            return mlflow_experiment_id(store, run.experiment_id)
        except NotFound:
            pass
    return "0"


# --- files, for the artifact proxy ----------------------------------------------------------
def model_tree(store: Any, blobs: Any, model_id: str) -> artifact_tree.Tree:
    """The files of a logged model (404 when it is unknown)."""
    heron = _heron_artifact(store, model_id)
    tree: artifact_tree.Tree = {}
    if heron is not None and is_mlflow_model(heron):
        artifact_tree.add_object(tree, blobs, "", heron.content_hash, heron.size)
        return tree
    if heron is not None:
        return artifact_tree.heron_model_tree(blobs, heron, model_id, heron.name)
    row = _row_or_404(store, model_id)
    if row["artifact_id"]:
        artifact = store.get_artifact_version(row["artifact_id"])
        artifact_tree.add_object(tree, blobs, "", artifact.content_hash, artifact.size)
        return tree
    for path, content_hash, size in store.logged_model_files(model_id):
        tree[path] = artifact_tree.Entry(size, content_hash)
    return tree


def pending_model(store: Any, model_id: str) -> dict[str, Any]:
    """The row of a logged model that takes files (404 unknown; 400 finalized or Heron's)."""
    if _heron_artifact(store, model_id) is not None:
        raise errors.invalid(
            f"Logged model {model_id!r} is a model Heron logged: its files cannot change. "
            "Log a new model instead."
        )
    row = _row_or_404(store, model_id)
    if row["status"] != PENDING:
        raise errors.invalid(
            f"Logged model {model_id!r} is finalized ({row['status']}): its files cannot "
            "change. Log a new model instead."
        )
    return row


def add_model_file(store: Any, model_id: str, path: str, content_hash: str, size: int) -> None:
    """A file uploaded for a pending logged model."""
    pending_model(store, model_id)
    store.put_logged_model_file(model_id, path, content_hash, size)


def delete_model_files(store: Any, model_id: str, path: str) -> None:
    """MLflow's ``delete_artifacts`` on a pending model's files."""
    pending_model(store, model_id)
    store.delete_logged_model_files(model_id, path)


# --- JSON ------------------------------------------------------------------------------------
def _kv(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(values.items())]


def model_json(store: Any, row: dict[str, Any]) -> dict[str, Any]:
    """A logged model in MLflow's JSON shape (``LoggedModel``)."""
    experiment_id = mlflow_experiment_id(store, row["experiment_id"])
    info: dict[str, Any] = {
        "experiment_id": experiment_id,
        "model_id": row["id"],
        "name": row["name"],
        "artifact_uri": paths.logged_model_artifact_uri(experiment_id, row["id"]),
        "creation_timestamp_ms": row["created_at"],
        "last_updated_timestamp_ms": row["updated_at"],
        "status": _STATUS_PROTO[row["status"]],
        "tags": _kv(row["tags"]),
    }
    for key in ("model_type", "source_run_id", "status_message"):
        if row.get(key):
            info[key] = row[key]
    return {"info": info, "data": {"params": _kv(row["params"]), "metrics": []}}


def heron_model_json(store: Any, artifact: ArtifactVersion) -> dict[str, Any]:
    """A model Heron logged, as MLflow's client sees it."""
    model_id = model_id_of(store, artifact)
    experiment_id = _experiment_of_artifact(store, artifact)
    info: dict[str, Any] = {
        "experiment_id": experiment_id,
        "model_id": model_id,
        "name": artifact.name,
        "artifact_uri": paths.logged_model_artifact_uri(experiment_id, model_id),
        "creation_timestamp_ms": artifact.created_at,
        "last_updated_timestamp_ms": artifact.created_at,
        "status": _STATUS_PROTO[READY],
        "tags": _kv(
            {"heron.artifact_id": artifact.id, "heron.artifact_version": str(artifact.version)}
        ),
    }
    if artifact.producer_run_id:
        info["source_run_id"] = artifact.producer_run_id
    return {"info": info, "data": {"params": [], "metrics": []}}


def _pairs(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise errors.invalid(f"{what} must be a list of {{key, value}}.")
    pairs: dict[str, str] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise errors.invalid(f"Each of {what} is {{key, value}} with a non-empty key.")
        key = validation.check_length(item["key"], 250, f"A key of {what}")
        raw = item.get("value", "")
        pairs[key] = validation.check_length(
            raw if isinstance(raw, str) else str(raw), 8000, f"{what} {key!r}"
        )
    return pairs


# --- routes ----------------------------------------------------------------------------------
def create(request: Request) -> dict[str, Any]:
    """``POST logged-models``."""
    args = request.args()
    store = request.store
    experiment_id = heron_experiment_id(store, args.get("experiment_id"))
    name = args.get("name") or f"model-{new_id()[:8]}"
    if not isinstance(name, str):
        raise errors.invalid("name must be a string.")
    try:
        name = validation.check_artifact_name(name, "Logged model name")
    except HeronError as e:
        raise errors.invalid(str(e)) from None
    run_id = args.get("source_run_id") or None
    if run_id is not None:
        if not isinstance(run_id, str):
            raise errors.invalid("source_run_id must be a run id.")
        store.get_run(run_id)
    model_type = args.get("model_type") or None
    if model_type is not None and not isinstance(model_type, str):
        raise errors.invalid("model_type must be a string.")
    now = now_ms()
    row = store.create_logged_model(
        {
            "id": HERON_PREFIX + new_id(),
            "experiment_id": experiment_id,
            "name": name,
            "source_run_id": run_id,
            "model_type": model_type,
            "status": PENDING,
            "status_message": None,
            "artifact_id": None,
            "tags": _pairs(args.get("tags"), "tags"),
            "params": _pairs(args.get("params"), "params"),
            "output_runs": [],
            "created_at": now,
            "updated_at": now,
            "lifecycle": "active",
        }
    )
    return {"model": model_json(store, row)}


def get(request: Request) -> dict[str, Any]:
    """``GET logged-models/{model_id}`` (``allow_deleted=true`` for deleted ones)."""
    model_id = request.values["model_id"]
    heron = _heron_artifact(request.store, model_id)
    if heron is not None:
        return {"model": heron_model_json(request.store, heron)}
    allow = str(request.args().get("allow_deleted", "")).lower() == "true"
    return {"model": model_json(request.store, _row_or_404(request.store, model_id, allow))}


def finalize(request: Request) -> dict[str, Any]:
    """``PATCH logged-models/{model_id}`` ``{"status"}``: READY makes the artifact version."""
    store, blobs = request.store, request.blobs
    model_id = request.values["model_id"]
    status = _STATUS_IN.get(str(request.args().get("status", "")))
    if status is None or status == PENDING:
        raise errors.invalid(
            "status must be LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED to finalize a model."
        )
    if _heron_artifact(store, model_id) is not None:
        raise errors.invalid(f"Logged model {model_id!r} is a model Heron logged: it is READY.")
    row = _row_or_404(store, model_id)
    if row["status"] == status:
        return {"model": model_json(store, row)}  # finalized already (a retried request)
    if row["status"] != PENDING:
        raise errors.invalid(f"Logged model {model_id!r} is {row['status']} already.")
    values: dict[str, Any] = {"status": status, "updated_at": now_ms()}
    if status == READY:
        files = store.logged_model_files(model_id)
        if files:
            # the model's artifact version is its experiment's project's, whatever the request's
            owner = store.in_project(store.get_experiment(row["experiment_id"]).project)
            artifact = _make_artifact(owner, blobs, row, files)
            values["artifact_id"] = artifact.id
    row = store.update_logged_model(model_id, values)
    if status == READY and row["artifact_id"]:
        store.delete_logged_model_files(model_id)
    return {"model": model_json(store, row)}


def _make_artifact(
    store: Any, blobs: Any, row: dict[str, Any], files: list[tuple[str, str, int]]
) -> ArtifactVersion:
    """The files of a logged model as one folder artifact version (see the module doc)."""
    from heron.models import mlmodel
    from heron.models.model import MODEL_KEY

    def writer(fs: Any, folder: str) -> None:
        for path, content_hash, _size in files:
            target = f"{folder}/{path}"
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            fs.copy(blobs.object_path(content_hash), target)

    stored, _ = blobs.write_object(writer)
    by_path = {path: content_hash for path, content_hash, _size in files}
    mlflow_meta: dict[str, Any] = {"model_id": row["id"], "mlmodel": mlmodel.MLMODEL in by_path}
    metadata: dict[str, Any] = {"files": len(files), "mlflow": mlflow_meta}
    if mlmodel.MLMODEL in by_path:
        try:
            spec = mlmodel.parse_mlmodel(blobs.read_bytes(by_path[mlmodel.MLMODEL]).decode())
            mlflow_meta["flavors"] = sorted(spec["flavors"])
            small = {n: blobs.read_bytes(by_path[n]) for n in _FACT_FILES if n in by_path}
            metadata[MODEL_KEY] = mlmodel.model_facts(spec, small)
        except HeronError as e:  # a flavor Heron does not load: the files are kept as they are
            mlflow_meta["unsupported"] = str(e)
    run_id = row["source_run_id"]
    artifact = store.create_artifact_version(
        row["name"],
        content_hash=stored.content_hash,
        type="mlflow.model",
        materializer="file",
        size=stored.size,
        uri=stored.uri,
        producer_run_id=run_id,
        metadata=metadata,
        link_name=row["name"] if run_id else None,
    )
    for other in row["output_runs"]:
        if other != run_id:
            store.link_artifact(other, artifact.id, OUTPUT, row["name"])
    return artifact


def delete(request: Request) -> dict[str, Any]:
    """``DELETE logged-models/{model_id}``: marked deleted (its artifact version stays)."""
    store = request.store
    model_id = request.values["model_id"]
    if _heron_artifact(store, model_id) is not None:
        raise errors.invalid(
            f"Logged model {model_id!r} is a model Heron logged: delete its run to retire it."
        )
    _row_or_404(store, model_id)
    store.update_logged_model(model_id, {"lifecycle": "deleted", "updated_at": now_ms()})
    return {}


def set_tags(request: Request) -> dict[str, Any]:
    """``PATCH logged-models/{model_id}/tags`` ``{"tags": [{key, value}]}``."""
    store = request.store
    row = _row_or_404(store, request.values["model_id"])
    tags = {**row["tags"], **_pairs(request.args().get("tags"), "tags")}
    store.update_logged_model(row["id"], {"tags": tags, "updated_at": now_ms()})
    return {}


def delete_tag(request: Request) -> dict[str, Any]:
    """``DELETE logged-models/{model_id}/tags/{tag_key}``."""
    store = request.store
    row = _row_or_404(store, request.values["model_id"])
    key = request.values["tag_key"]
    if key not in row["tags"]:
        raise errors.missing(f"Logged model {row['id']!r} has no tag {key!r}.")
    tags = {k: v for k, v in row["tags"].items() if k != key}
    store.update_logged_model(row["id"], {"tags": tags, "updated_at": now_ms()})
    return {}


def log_params(request: Request) -> dict[str, Any]:
    """``POST logged-models/{model_id}/params`` ``{"params": [{key, value}]}``."""
    store = request.store
    row = _row_or_404(store, request.values["model_id"])
    params = {**row["params"], **_pairs(request.args().get("params"), "params")}
    store.update_logged_model(row["id"], {"params": params, "updated_at": now_ms()})
    return {}


def log_outputs(request: Request) -> dict[str, Any]:
    """``POST runs/outputs`` ``{"run_id", "models": [{model_id, step}]}``: the run produced
    the models (linked now when READY, else when finalized)."""
    store = request.store
    args = request.args()
    run_id = args.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise errors.invalid("Give run_id: the run the models are outputs of.")
    store.get_run(run_id)
    models = args.get("models") or []
    if not isinstance(models, list):
        raise errors.invalid("models must be a list of {model_id, step}.")
    for item in models:
        model_id = item.get("model_id") if isinstance(item, dict) else None
        heron = _heron_artifact(store, model_id) if isinstance(model_id, str) else None
        if heron is not None:
            if heron.id not in request.readable("artifact", [heron.id]):
                raise errors.missing(f"No logged model with id {model_id!r}.")
            store.link_artifact(run_id, heron.id, OUTPUT, heron.name)
            continue
        row = _row_or_404(store, model_id)
        if row["artifact_id"]:
            store.link_artifact(run_id, row["artifact_id"], OUTPUT, row["name"])
        elif run_id != row["source_run_id"] and run_id not in row["output_runs"]:
            store.update_logged_model(row["id"], {"output_runs": [*row["output_runs"], run_id]})
    return {}


# --- search ----------------------------------------------------------------------------------
_CLAUSE = re.compile(
    r"\s*(?P<field>(?:tags|params)\.(?:`[^`]+`|[\w.\-]+)|[A-Za-z_]+)\s*"
    r"(?P<op>!=|=|LIKE|ILIKE)\s*'(?P<value>(?:[^'\\]|\\.)*)'\s*",
    re.IGNORECASE,
)
_ATTRIBUTES = {"name", "model_id", "source_run_id", "status", "model_type"}


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """``field op 'value'`` clauses joined by AND (fields: name, model_id, source_run_id,
    status, model_type, tags.<key>, params.<key>); 400 for anything else."""
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        match = _CLAUSE.fullmatch(part)
        field = match["field"] if match else ""
        if match is None or (
            "." not in field and field.removeprefix("attributes.").lower() not in _ATTRIBUTES
        ):
            raise errors.invalid(
                f"Heron cannot search logged models by {part.strip()!r}: use name, model_id, "
                "source_run_id, status, model_type, tags.<key> or params.<key> with =, !=, "
                "LIKE or ILIKE and a quoted value, joined by AND."
            )
        key = field if "." in field else field.lower()
        clauses.append(
            (key.replace("`", ""), match["op"].upper(), re.sub(r"\\(.)", r"\1", match["value"]))
        )
    return clauses


def _like(pattern: str, value: str, fold: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None


def _matches(row: dict[str, Any], clauses: list[tuple[str, str, str]]) -> bool:
    for field, op, value in clauses:
        if field.startswith(("tags.", "params.")):
            kind, _, key = field.partition(".")
            actual = row[kind].get(key)
        elif field == "status":
            actual = row["status"]
            value = _STATUS_IN.get(value.upper(), value)
        else:
            actual = row["id"] if field == "model_id" else row.get(field)
        if actual is None:
            return False
        if (op == "=" and actual != value) or (op == "!=" and actual == value):
            return False
        if op in ("LIKE", "ILIKE") and not _like(value, actual, op == "ILIKE"):
            return False
    return True


def search(request: Request) -> dict[str, Any]:
    """``POST logged-models/search``."""
    store = request.store
    args = request.args()
    experiment_ids = args.get("experiment_ids") or []
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    if not isinstance(experiment_ids, list) or not experiment_ids:
        raise errors.invalid("Give experiment_ids: the experiments whose models to search.")
    ids = [
        heron_experiment_id(store, e)
        for e in experiment_ids
        if convert.known_experiment_id(store, e) is not None
    ]
    clauses = parse_filter(str(args.get("filter") or ""))
    max_results = args.get("max_results", SEARCH_DEFAULT)
    try:
        max_results = int(max_results)
    except (TypeError, ValueError):
        raise errors.invalid(f"max_results must be a whole number, got {max_results!r}.") from None
    if not 1 <= max_results <= SEARCH_MAX:
        raise errors.invalid(f"max_results must be 1 to {SEARCH_MAX}, got {max_results}.")
    token = args.get("page_token") or "0"
    if not str(token).isdigit():
        raise errors.invalid(f"Invalid page_token {str(token)[:40]!r}.")
    rows = [r for r in store.search_logged_model_rows(ids) if _matches(r, clauses)]
    for order in reversed(args.get("order_by") or []):
        if not isinstance(order, dict):
            raise errors.invalid("Each order_by is {field_name, ascending}.")
        field = str(order.get("field_name", ""))
        column = {"creation_timestamp": "created_at", "last_updated_timestamp": "updated_at"}
        key = column.get(field, field)
        if key not in ("created_at", "updated_at", "name", "model_id"):
            raise errors.invalid(
                f"Heron orders logged models by name, creation_timestamp or "
                f"last_updated_timestamp, not {field!r}."
            )
        key = "id" if key == "model_id" else key
        rows.sort(key=lambda r: r[key], reverse=not order.get("ascending", True))
    start = int(token)
    page = rows[start : start + max_results]
    answer: dict[str, Any] = {"models": [model_json(store, r) for r in page]}
    if start + max_results < len(rows):
        answer["next_page_token"] = str(start + max_results)
    return answer


def register(face: Any) -> None:
    """The logged-model routes: a logged model is checked on its experiment's project (a
    model Heron logged, on its artifact version's)."""
    base = "/api/2.0/mlflow/logged-models"
    model = (on("experiment", "model_experiment_id"), on("artifact", "model_artifact_id"))
    face.json_route(
        "POST",
        base,
        create,
        permission=editor(
            on("experiment", "experiment_id"), also=(("editor", on("run", "source_run_id")),)
        ),
    )
    face.json_route(
        "POST", f"{base}/search", search, permission=viewer(on("experiments", "experiment_ids"))
    )
    by_id = base + "/{model_id}"
    for method, template, handler, permission in (
        ("GET", by_id, get, viewer(*model)),
        ("PATCH", by_id, finalize, editor(*model)),
        ("DELETE", by_id, delete, maintainer(*model)),
        ("PATCH", by_id + "/tags", set_tags, editor(*model)),
        ("DELETE", by_id + "/tags/{tag_key}", delete_tag, editor(*model)),
        ("POST", by_id + "/params", log_params, editor(*model)),
    ):
        face.json_route(method, template, handler, permission=permission, resolve=_model_of_path)
    outputs = editor(
        on("run", "run_id"),
        also=(
            ("viewer", on("experiments", "model_experiment_ids")),
            ("viewer", on("artifact", "model_artifact_id")),
        ),
    )
    face.json_route(
        "POST",
        "/api/2.0/mlflow/runs/outputs",
        log_outputs,
        permission=outputs,
        resolve=_models_of_outputs,
    )
