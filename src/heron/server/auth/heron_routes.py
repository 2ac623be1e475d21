"""The permission of every route of Heron's own REST API (``/api/v1``) and of the server's
other paths. :data:`STORE_ROUTES` has one entry per Store route of
:data:`heron.store.rest.protocol.ROUTES`; a route missing here is refused when auth is on.

Projects own experiments, registered models and artifact versions; runs belong to their
experiment's project. Schedules, ticks, backfills, schedulers and stacks are the server's own
(the scheduler is a service account: give it an admin token), readable by any signed-in user.
"""

from __future__ import annotations

from dataclasses import replace

from heron.server.auth.permissions import (
    ADMIN_READ,
    ADMIN_WRITE,
    AUTHENTICATED,
    PUBLIC,
    Permission,
    editor,
    maintainer,
    on,
    viewer,
)

_experiment = on("experiment", "experiment_id")
_run = on("run", "run_id")
_artifact = on("artifact", "artifact_id")

STORE_ROUTES: dict[str, Permission] = {
    # experiments: names are the request project's, ids are checked on their own project
    "create_experiment": editor(),
    "list_experiments": viewer(),
    "get_experiment_by_name": viewer(),
    "get_experiment": viewer(_experiment),
    "rename_experiment": maintainer(_experiment),
    "delete_experiment": maintainer(_experiment, detail="experiment"),
    "restore_experiment": maintainer(_experiment),
    "set_experiment_tag": editor(_experiment),
    "delete_experiment_tag": editor(_experiment),
    # runs
    "create_run": editor(_experiment, also=(("editor", on("run", "parent_id")),)),
    "heartbeat": editor(on("runs", "run_ids")),
    "fail_stale_runs": ADMIN_WRITE,
    "search_runs": viewer(on("experiments", "experiment_ids")),
    "find_cached_run": viewer(),
    "get_run": viewer(_run),
    "update_run": editor(_run),
    "delete_run": maintainer(_run, detail="run"),
    "restore_run": maintainer(_run),
    "log_batch": editor(_run),
    "delete_tag": editor(_run),
    "get_metric_history": viewer(_run),
    "link_artifact": editor(_run, also=(("viewer", _artifact),)),
    # artifact versions and lineage
    "create_artifact_version": editor(on("run", "producer_run_id")),
    "list_artifact_versions": viewer(on("run", "run_id")),
    "get_artifact_version_by_name": viewer(),
    "retire_orphan_artifacts": ADMIN_WRITE,
    "live_content_hashes": ADMIN_READ,
    "get_artifact_version": viewer(_artifact),
    "list_artifact_links": replace(viewer(_run, _artifact), results="links"),
    "create_pipeline_version": editor(),
    "list_pipeline_versions": replace(viewer(), results="pipeline_versions"),
    "get_pipeline_version": viewer(on("pipeline_version", "version_id")),
    # the model registry: names are the request project's
    "create_registered_model": editor(),
    "list_registered_models": viewer(),
    "search_model_versions": viewer(),
    "get_registered_model": viewer(),
    "update_registered_model": editor(),
    "delete_registered_model": maintainer(detail="model"),
    "rename_registered_model": maintainer(),
    "set_registered_model_tag": editor(),
    "delete_registered_model_tag": editor(),
    "create_model_version": editor(_artifact, also=(("viewer", _run),)),
    "get_model_version": viewer(),
    "update_model_version": editor(),
    "delete_model_version": maintainer(detail="model_version"),
    "set_model_version_tag": editor(),
    "delete_model_version_tag": editor(),
    "set_model_alias": maintainer(detail="alias"),
    "get_model_version_by_alias": viewer(),
    "delete_model_alias": maintainer(detail="alias"),
    "rollback_model_alias": maintainer(detail="alias"),
    "get_alias_history": viewer(),
    # scheduling: the server's own; the scheduler process signs in as an admin
    "create_schedule": ADMIN_WRITE,
    "list_schedules": AUTHENTICATED,
    "due_schedules": ADMIN_READ,
    "next_due_at": ADMIN_READ,
    "artifact_schedules": ADMIN_READ,
    "newest_artifact_versions": ADMIN_READ,
    "get_schedule": AUTHENTICATED,
    "update_schedule": ADMIN_WRITE,
    "delete_schedule": ADMIN_WRITE,
    "advance_schedule": ADMIN_WRITE,
    "list_ticks": AUTHENTICATED,
    "queued_owners": ADMIN_READ,
    "next_queued": ADMIN_READ,
    "running_counts": ADMIN_READ,
    "run_states": ADMIN_READ,
    "claim_tick": ADMIN_WRITE,
    "reclaim_tick": ADMIN_WRITE,
    "finish_tick": ADMIN_WRITE,
    "create_backfill": ADMIN_WRITE,
    "backfill_plan": ADMIN_READ,
    "list_backfills": AUTHENTICATED,
    "active_backfills": ADMIN_READ,
    "cancelled_backfill_ids": ADMIN_READ,
    "get_backfill": AUTHENTICATED,
    "set_backfill_status": ADMIN_WRITE,
    "scheduler_heartbeat": ADMIN_WRITE,
    "list_schedulers": AUTHENTICATED,
    # stacks: server-wide configuration
    "create_stack": ADMIN_WRITE,
    "list_stacks": AUTHENTICATED,
    "get_stack": AUTHENTICATED,
    "update_stack": ADMIN_WRITE,
    "delete_stack": ADMIN_WRITE,
}

# bytes alone change no metadata: what is audited is the artifact version that holds them
_UPLOAD = Permission("editor", anywhere=True, writes=False)

#: the server's other paths, by (method, path template)
OTHER_ROUTES: dict[tuple[str, str], Permission] = {
    ("GET", "/health"): PUBLIC,
    ("HEAD", "/health"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/api/v1/info"): AUTHENTICATED,
    ("POST", "/api/v1/gc"): ADMIN_WRITE,
    # artifact bytes, content-addressed: readable by who may read a project holding them
    ("HEAD", "/api/v1/artifacts/objects/{hash}"): viewer(on("hash", "hash")),
    ("GET", "/api/v1/artifacts/objects/{hash}"): viewer(on("hash", "hash")),
    # uploads: an editor of any project may store bytes; they belong to a project once an
    # artifact version (checked on its own route) holds them
    ("PUT", "/api/v1/artifacts/objects/{hash}"): _UPLOAD,
    ("PUT", "/api/v1/artifacts/uploads/{upload_id}"): _UPLOAD,
    ("POST", "/api/v1/artifacts/uploads/{upload_id}/commit"): _UPLOAD,
}
