"""The metadata tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` build the same.

``SCHEMA_REVISION`` is the Alembic head this code reads and writes; a database at another
revision is refused at open with the command that fixes it (``heron db upgrade``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_REVISION = "0010"

ID = String(32)
KEY = String(250)
PROJECT = String(128)
#: the project that holds what was made before projects existed, and single users' work
DEFAULT_PROJECT = "default"

metadata = MetaData()

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("lifecycle", String(16), nullable=False, default="active"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("project", PROJECT, nullable=False, server_default=DEFAULT_PROJECT),
    UniqueConstraint("project", "name", name="uq_experiments_project_name"),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", ID, ForeignKey("experiments.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text),
    Column("parent_id", ID),
    Column("user", String(256)),
    Column("source", Text),
    Column("git_commit", String(64)),
    Column("python_version", String(32)),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("heartbeat_at", BigInteger),
    Column("lifecycle", String(16), nullable=False),
    Column("deleted_at", BigInteger),
    # Filled by pipelines: the pipeline version a pipeline run executed, and a step run's
    # cache key (the lookup of reusable executions).
    Column("pipeline_version_id", ID),
    Column("cache_key", String(64)),
    # Liveness: the process running it ("pid:start@machine", heron.core.owner) and the
    # heartbeat timeout (ms) of that writer, which decides when the run reads as stale.
    Column("owner", String(512)),
    Column("heartbeat_timeout", BigInteger),
    Index("ix_runs_experiment_start", "experiment_id", "lifecycle", "start_time"),
    Index("ix_runs_parent", "parent_id"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
    Index("ix_runs_cache_key", "cache_key"),
    Index("ix_runs_name", "name"),
    Index("ix_runs_lifecycle_start", "lifecycle", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_params_key_value", "key", "value").ddl_if(dialect="sqlite"),
    Index("ix_params_key", "key").ddl_if(dialect="postgresql"),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index("ix_tags_key_value", "key", "value").ddl_if(dialect="sqlite"),
    Index("ix_tags_key", "key").ddl_if(dialect="postgresql"),
    sqlite_with_rowid=False,
)

# Every point ever logged, packed: one row holds the points of one metric of one run that
# one batch wrote, as three little-endian arrays (int64 steps, int64 timestamps, float64
# values; NaN and infinities as IEEE 754 has them). A million points cost a few hundred rows.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", ID, nullable=False),
    Column("key", KEY, nullable=False),
    Column("count", Integer, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("max_step", BigInteger, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),
    Column("values", LargeBinary, nullable=False),
    Index("ix_metric_chunks_run_key", "run_id", "key"),
)

# The latest point of each metric of each run: what searches filter and sort on.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Float),
    Column("is_nan", Boolean, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_latest_metrics_key_value", "key", "value"),
    sqlite_with_rowid=False,
)

artifact_versions = Table(
    "artifact_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("type", String(256), nullable=False),
    Column("materializer", String(128), nullable=False),
    Column("materializer_version", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("uri", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("producer_run_id", ID),
    Column("created_at", BigInteger, nullable=False),
    Column("lifecycle", String(16), nullable=False),
    Column("project", PROJECT, nullable=False, server_default=DEFAULT_PROJECT),
    UniqueConstraint(
        "project", "name", "version", name="uq_artifact_versions_project_name_version"
    ),
    Index("ix_artifact_versions_hash", "content_hash"),
    Index("ix_artifact_versions_producer", "producer_run_id"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("direction", String(8), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("artifact_id", ID, ForeignKey("artifact_versions.id"), nullable=False),
    Index("ix_run_artifacts_artifact", "artifact_id"),
)

# Batches already applied, by the id their client gave them: a batch sent again (its answer
# was lost to a network fault or a server restart) is recognised and not applied twice.
applied_requests = Table(
    "applied_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
    Index("ix_applied_requests_applied_at", "applied_at"),
)

pipeline_versions = Table(
    "pipeline_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("structure", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_pipeline_versions_name", "name", "created_at"),
)

# The model registry. A registered model names a series of versions, each pointing at one
# artifact version. Versions are soft-deleted (``lifecycle``) so that their numbers are never
# reused; aliases point at active versions, and every move of an alias is kept in
# ``alias_events`` (by model id, so the history follows a rename).
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("project", PROJECT, nullable=False, server_default=DEFAULT_PROJECT),
    UniqueConstraint("project", "name", name="uq_registered_models_project_name"),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("artifact_id", ID, ForeignKey("artifact_versions.id"), nullable=False),
    Column("run_id", ID),
    Column("pipeline_run_id", ID),
    Column("description", Text),
    Column("user", String(256)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("lifecycle", String(16), nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    Index("ix_model_versions_artifact", "artifact_id"),
    Index("ix_model_versions_run", "run_id"),
    Index("ix_model_versions_created", "lifecycle", "created_at"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("version_id", ID, ForeignKey("model_versions.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", KEY, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

alias_events = Table(
    "alias_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("model_id", ID, ForeignKey("registered_models.id"), nullable=False),
    Column("alias", KEY, nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),
    Column("action", String(16), nullable=False),
    Column("user", String(256)),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_alias_events_model_alias", "model_id", "alias", "id"),
)

# Schedules (heron.scheduling): what to run and when; ``next_due_at`` (indexed) is how the
# scheduler finds the due ones without reading every schedule.
schedules = Table(
    "schedules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("pipeline", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("cron", String(256)),
    Column("timezone", String(64), nullable=False),
    Column("on_artifacts", Text),
    Column("catchup", String(16), nullable=False),
    Column("max_active_runs", Integer, nullable=False),
    Column("max_lateness", Float),
    Column("paused", Boolean, nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("next_due_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_schedules_due", "paused", "next_due_at"),
)

# One evaluation of a schedule at a logical time. (schedule_id, logical_time) is unique: the
# store, not a scheduler's memory, is what makes each interval run at most once.
schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("schedule_id", ID, ForeignKey("schedules.id"), nullable=False),
    Column("logical_time", BigInteger, nullable=False),
    Column("interval_start", BigInteger, nullable=False),
    Column("interval_end", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("run_id", ID),
    Column("attempt", Integer, nullable=False),
    Column("backfill_id", ID),
    Column("inputs", Text),
    Column("evaluated_at", BigInteger, nullable=False),
    Column("claimed_by", String(128)),
    Column("claimed_at", BigInteger),
    UniqueConstraint("schedule_id", "logical_time", name="uq_schedule_ticks_time"),
    Index("ix_schedule_ticks_status", "status", "logical_time"),
    Index("ix_schedule_ticks_backfill", "backfill_id", "status"),
)

backfills = Table(
    "backfills",
    metadata,
    Column("id", ID, primary_key=True),
    Column("schedule_id", ID, ForeignKey("schedules.id"), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger, nullable=False),
    Column("reprocess", String(16), nullable=False),
    Column("max_active_runs", Integer, nullable=False),
    Column("backwards", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("intervals", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# The scheduler processes and their heartbeats (`heron schedules list` shows who is alive).
schedulers = Table(
    "schedulers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("host", String(256), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("stopped_at", BigInteger),
    Column("running", Integer, nullable=False),
)

# Stacks: named configurations of where pipelines run (heron.stacks); the definition is JSON.
stacks = Table(
    "stacks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# MLflow 3's logged models (heron.server.mlflow.logged_models): a model being logged through
# the MLflow face, its files (content-addressed objects) until it is finalized, then the one
# artifact version (a folder: the MLmodel directory) it became. Tags and params are JSON.
mlflow_logged_models = Table(
    "mlflow_logged_models",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("experiment_id", ID, nullable=False),
    Column("name", String(256), nullable=False),
    Column("source_run_id", ID),
    Column("model_type", String(256)),
    Column("status", String(16), nullable=False),
    Column("status_message", Text),
    Column("artifact_id", ID),
    Column("tags", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("output_runs", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("lifecycle", String(16), nullable=False),
    Index("ix_mlflow_logged_models_experiment", "experiment_id", "name"),
    Index("ix_mlflow_logged_models_run", "source_run_id"),
    Index("ix_mlflow_logged_models_artifact", "artifact_id"),
)

mlflow_logged_model_files = Table(
    "mlflow_logged_model_files",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
)

# Governance (the team server's ``--auth``). Projects own experiments, registered models and
# artifact versions (the ``project`` columns above); users hold roles in them. Passwords are
# argon2 hashes; tokens (API tokens and dashboard sessions) are kept as the SHA-256 of the
# secret, which is shown once and never stored.
projects = Table(
    "projects",
    metadata,
    Column("name", PROJECT, primary_key=True),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("password_hash", Text),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # "api" or "session" (the dashboard's)
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
    Index("ix_api_tokens_user", "user_id", "kind"),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project", PROJECT, ForeignKey("projects.name"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), nullable=False),
    Index("ix_project_members_user", "user_id"),
)

# Append-only: every write the server made and every request it denied, written in the
# transaction of the change it records.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", BigInteger, nullable=False),
    Column("user", String(128)),
    Column("address", String(64)),
    Column("method", String(8), nullable=False),
    Column("route", String(256), nullable=False),
    Column("action", String(128), nullable=False),
    Column("project", PROJECT),
    Column("object_type", String(32)),
    Column("object_id", String(512)),
    Column("outcome", String(16), nullable=False),  # "ok" or "denied"
    Column("status", Integer, nullable=False),
    Column("detail", Text),  # JSON: the before and after of alias moves, deletes, grants
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_user_at", "user", "at"),
    Index("ix_audit_log_project_at", "project", "at"),
)


def default_project_row() -> dict[str, object]:
    """The ``default`` project, made with the schema."""
    import time

    return {
        "name": DEFAULT_PROJECT,
        "description": "Everything made without a project",
        "created_at": int(time.time() * 1000),
    }


# Bookkeeping of the schema revision, in Alembic's own table so `alembic upgrade` works.
alembic_version = Table(
    "alembic_version",
    metadata,
    Column("version_num", String(32), primary_key=True),
)
