"""The "before" an audit entry keeps for the changes worth undoing by hand: alias moves,
deletes. Read just before the change (the "after" is the request's own arguments, kept
beside it), so that ``heron audit`` shows what an alias pointed at or what was deleted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from heron.core.errors import HeronError


def _alias(store: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    name, alias = args.get("name"), args.get("alias")
    before = None
    if isinstance(name, str) and isinstance(alias, str):
        try:
            before = store.get_model_version_by_alias(name, alias).version
        except HeronError:
            before = None
    after = args.get("version")
    return {"model": name, "alias": alias, "before": before, "after": after}


def _run(store: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    run = store.get_run(str(args.get("run_id")))
    return {"before": {"name": run.name, "status": run.status, "lifecycle": run.lifecycle}}


def _experiment(store: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    experiment = store.get_experiment(str(args.get("experiment_id")))
    return {"before": {"name": experiment.name, "lifecycle": experiment.lifecycle}}


def _model(store: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    model = store.get_registered_model(str(args.get("name")))
    return {"before": {"name": model.name, "description": model.description}}


def _model_version(store: Any, args: Mapping[str, Any]) -> dict[str, Any]:
    version = store.get_model_version(str(args.get("name")), int(args.get("version") or 0))
    return {
        "before": {
            "model": version.name,
            "version": version.version,
            "artifact_id": version.artifact_id,
            "aliases": list(getattr(version, "aliases", []) or []),
        }
    }


_BEFORE: dict[str, Callable[[Any, Mapping[str, Any]], dict[str, Any]]] = {
    "alias": _alias,
    "run": _run,
    "experiment": _experiment,
    "model": _model,
    "model_version": _model_version,
}

KINDS = frozenset(_BEFORE)


def before(kind: str, store: Any, args: Mapping[str, Any]) -> dict[str, Any] | None:
    """What ``kind`` of object the request names looked like before it (``None``: it did not
    exist, and the route will say so)."""
    try:
        return _BEFORE[kind](store, args)
    except (HeronError, TypeError, ValueError):
        return None
