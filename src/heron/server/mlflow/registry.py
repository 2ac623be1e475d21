"""What MLflow's registry routes share: reading their fields, answering in MLflow's JSON,
stages kept as tags, page tokens and the acting user.

The routes themselves are in :mod:`.registry_models` (``registered-models/...``) and
:mod:`.registry_versions` (``model-versions/...``); a model version's ``source`` is turned into
a Heron artifact version (and back) by :mod:`.sources`.

Stages: MLflow deprecated them, Heron has none; a version's stage is its tag
:data:`STAGE_TAG` (``heron.stage``, holding ``Staging``, ``Production`` or ``Archived``; no tag
is ``None``). The tag is shown to MLflow as ``current_stage`` (not among the tags), and Heron's
own users see and filter it as an ordinary tag (``tags.`heron.stage` = 'Production'``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from heron.core.entities import ModelVersion, RegisteredModel
from heron.server.mlflow import errors

#: the model-version tag holding an MLflow stage (Heron has no stages)
STAGE_TAG = "heron.stage"
STAGE_NONE = "None"
ALL_STAGES = (STAGE_NONE, "Staging", "Production", "Archived")
#: stages that ``archive_existing_versions`` may be used with
ACTIVE_STAGES = ("Staging", "Production")
_CANONICAL_STAGES = {stage.lower(): stage for stage in ALL_STAGES}
_SEE_DOCS = " See the API docs for more information about request parameters."


# --- fields ---------------------------------------------------------------------------------
def text(args: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """The string field ``name``; 400 if it is not a string (or, ``required``, absent/empty)."""
    value = args.get(name)
    if value is None or value == "":
        if required:
            raise errors.invalid(f"Missing value for required parameter '{name}'.{_SEE_DOCS}")
        return None
    if not isinstance(value, str):
        raise errors.invalid(
            f"Invalid value {value!r} for parameter '{name}' supplied: it must be a string, "
            f"not {type(value).__name__}.{_SEE_DOCS}"
        )
    return value


def version_number(args: dict[str, Any], name: str = "version") -> int:
    """The version field (a string holding a number from 1 up, as MLflow's client sends)."""
    value = args.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    raw = text(args | {name: value}, name, required=True)
    assert raw is not None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or int(raw) >= 2**31:
        raise errors.invalid(
            f"Invalid value {raw!r} for parameter '{name}': a model version is a number from 1 "
            "up (as in models:/<name>/3)."
        )
    return int(raw)


def text_list(args: dict[str, Any], name: str) -> list[str]:
    """A repeated string field: a list in a JSON body, one or several query parameters."""
    value = args.get(name)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise errors.invalid(
            f"Invalid value {value!r} for parameter '{name}': it must be a list of strings."
            f"{_SEE_DOCS}"
        )
    return values


def max_results(args: dict[str, Any], default: int, limit: int) -> int:
    """``max_results``: ``default`` when absent, 400 unless a number from 1 to ``limit``."""
    value = args.get("max_results")
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, (bool, float)) or number is None:
        raise errors.invalid(
            f"Invalid value {value!r} for parameter 'max_results': it must be an integer."
            f"{_SEE_DOCS}"
        )
    if number > limit:
        raise errors.invalid(
            f"Invalid value for request parameter max_results. It must be at most {limit}, but "
            f"got value {number}"
        )
    if number < 1:
        raise errors.invalid(
            f"Invalid value for max_results. It must be a positive integer, but got {number}"
        )
    return number


def tag_pairs(args: dict[str, Any]) -> dict[str, str]:
    """The ``tags`` field: ``[{"key": ..., "value": ...}, ...]`` as a dict."""
    value = args.get("tags")
    if value is None:
        return {}
    if not isinstance(value, list):
        raise errors.invalid(
            f"Invalid value {value!r} for parameter 'tags': it must be a list of "
            '{"key": ..., "value": ...} objects.'
        )
    tags: dict[str, str] = {}
    for tag in value:
        key = tag.get("key") if isinstance(tag, dict) else None
        tag_value = tag.get("value", "") if isinstance(tag, dict) else None
        if not isinstance(key, str) or not key or not isinstance(tag_value, str):
            raise errors.invalid(
                f"Invalid tag {tag!r}: a tag is an object with a non-empty string 'key' and a "
                "string 'value'."
            )
        refuse_stage_tag(key)
        tags[key] = tag_value
    return tags


def refuse_stage_tag(key: str) -> None:
    """400 for writing the stage tag as an ordinary tag: stages move by transition-stage."""
    if key == STAGE_TAG:
        raise errors.invalid(
            f"Tag {STAGE_TAG!r} holds the MLflow stage of a model version on this Heron server; "
            "change it with transition_model_version_stage (or, better, use an alias)."
        )


def canonical_stage(stage: str) -> str:
    """MLflow's spelling of a stage name (any case in); 400 for a name that is not one."""
    found = _CANONICAL_STAGES.get(stage.lower())
    if found is None:
        raise errors.invalid(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}."
        )
    return found


def stage_of(version: ModelVersion) -> str:
    """The MLflow stage of a version (``None`` when it never moved to one)."""
    return _CANONICAL_STAGES.get(version.tags.get(STAGE_TAG, "").lower(), STAGE_NONE)


def acting_user(request: Any) -> str | None:
    """Who is acting: the signed-in user when auth is on; without auth, the user name of the
    request's HTTP basic credentials, which MLflow's client sends when
    ``MLFLOW_TRACKING_USERNAME`` is set; ``None`` without credentials (the client says
    nothing else about its user)."""
    signed_in = getattr(request, "user", None)
    if signed_in is not None:
        return str(signed_in)
    header = request.header("authorization")
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user = decoded.partition(":")[0].strip()
    return user[:256] or None


# --- page tokens ----------------------------------------------------------------------------
def page_offset(args: dict[str, Any]) -> int:
    """The offset a ``page_token`` holds (MLflow's format: base64 of ``{"offset": n}``)."""
    token = text(args, "page_token")
    if not token:
        return 0
    try:
        decoded = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid("Invalid page token, could not base64-decode") from None
    try:
        offset = orjson.loads(decoded).get("offset")
    except (orjson.JSONDecodeError, AttributeError):
        offset = None
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise errors.invalid(
            f"Invalid page token, decoded value={decoded!r}: pass the next_page_token of the "
            "previous page unchanged."
        )
    return offset


def page_token(offset: int) -> str:
    """The ``next_page_token`` of a page that ends at ``offset``."""
    return base64.b64encode(orjson.dumps({"offset": offset})).decode("ascii")


def paged(items: list[Any], offset: int, size: int) -> tuple[list[Any], str | None]:
    """One page of ``items`` and the token of the next one (``None`` on the last page)."""
    end = offset + size
    return items[offset:end], (page_token(end) if end < len(items) else None)


# --- answers --------------------------------------------------------------------------------
def model_version_json(store: Any, version: ModelVersion, *, cache: dict | None = None) -> dict:
    """A Heron model version as MLflow's ``ModelVersion`` message."""
    from heron.server.mlflow import sources

    lineage = sources.lineage_of(store, version, cache=cache)
    answer: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": version.created_at,
        "last_updated_timestamp": version.updated_at,
        "current_stage": stage_of(version),
        "source": lineage.source,
        "status": "READY",
        "tags": [{"key": k, "value": v} for k, v in version.tags.items() if k != STAGE_TAG],
        "aliases": sorted(version.aliases),
    }
    optional = {
        "user_id": version.user,
        "description": version.description,
        "run_id": version.run_id,
        "model_id": lineage.model_id,
    }
    answer.update({k: v for k, v in optional.items() if v})
    return answer


def latest_per_stage(versions: list[ModelVersion]) -> list[ModelVersion]:
    """The highest version of each stage, in the order MLflow lists them (by the first
    version, lowest first, of each stage)."""
    latest: dict[str, ModelVersion] = {}
    for version in sorted(versions, key=lambda v: v.version):
        stage = stage_of(version)
        if stage not in latest or latest[stage].version < version.version:
            latest[stage] = version
    return list(latest.values())


def registered_model_json(
    store: Any, model: RegisteredModel, versions: list[ModelVersion], *, cache: dict | None = None
) -> dict:
    """A Heron registered model (with its active ``versions``) as MLflow's
    ``RegisteredModel`` message; ``latest_versions`` holds the newest version of each stage."""
    answer: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.created_at,
        "last_updated_timestamp": model.updated_at,
        "latest_versions": [
            model_version_json(store, v, cache=cache) for v in latest_per_stage(versions)
        ],
        "tags": [{"key": k, "value": v} for k, v in model.tags.items()],
        "aliases": [
            {"alias": alias, "version": str(number)}
            for alias, number in sorted(model.aliases.items())
        ],
    }
    if model.description:
        answer["description"] = model.description
    return answer


def versions_of(store: Any, names: list[str]) -> dict[str, list[ModelVersion]]:
    """The active versions of each of ``names`` (one search per 500 names)."""
    from heron.store.base import MAX_RESULTS_LIMIT

    found: dict[str, list[ModelVersion]] = {name: [] for name in names}
    for start in range(0, len(names), 500):
        batch = names[start : start + 500]
        listed = ", ".join(quoted(name) for name in batch)
        for version in store.search_model_versions(
            f"name IN ({listed})", max_results=MAX_RESULTS_LIMIT
        ):
            found.setdefault(version.name, []).append(version)
    return found


def quoted(value: str) -> str:
    """``value`` as a single-quoted string of Heron's filter grammar."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
