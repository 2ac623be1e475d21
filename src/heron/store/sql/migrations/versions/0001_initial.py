"""The first schema: experiments, runs, params, metrics, tags, artifact versions and links.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(32)
KEY = sa.String(250)


def _key_value_indexes(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(f"ix_{table}_key_value", table, ["key", "value"])
    else:
        op.create_index(f"ix_{table}_key", table, ["key"])


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", ID, sa.ForeignKey("experiments.id"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("experiment_id", ID, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("parent_id", ID),
        sa.Column("user", sa.String(256)),
        sa.Column("source", sa.Text),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("python_version", sa.String(32)),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger),
        sa.Column("heartbeat_at", sa.BigInteger),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("deleted_at", sa.BigInteger),
        sa.Column("pipeline_version_id", ID),
        sa.Column("cache_key", sa.String(64)),
    )
    op.create_index(
        "ix_runs_experiment_start", "runs", ["experiment_id", "lifecycle", "start_time"]
    )
    op.create_index("ix_runs_parent", "runs", ["parent_id"])
    op.create_index("ix_runs_status_heartbeat", "runs", ["status", "heartbeat_at"])
    op.create_index("ix_runs_cache_key", "runs", ["cache_key"])
    op.create_index("ix_runs_name", "runs", ["name"])
    op.create_index("ix_runs_lifecycle_start", "runs", ["lifecycle", "start_time"])
    for table in ("params", "tags"):
        op.create_table(
            table,
            sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
            sa.Column("key", KEY, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
            sqlite_with_rowid=False,
        )
        _key_value_indexes(table)
    op.create_table(
        "metric_chunks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("key", KEY, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("min_step", sa.BigInteger, nullable=False),
        sa.Column("max_step", sa.BigInteger, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("timestamps", sa.LargeBinary, nullable=False),
        sa.Column("values", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_metric_chunks_run_key", "metric_chunks", ["run_id", "key"])
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("is_nan", sa.Boolean, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "artifact_versions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("type", sa.String(256), nullable=False),
        sa.Column("materializer", sa.String(128), nullable=False),
        sa.Column("materializer_version", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("producer_run_id", ID),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_artifact_versions_name_version"),
    )
    op.create_index("ix_artifact_versions_hash", "artifact_versions", ["content_hash"])
    op.create_index("ix_artifact_versions_producer", "artifact_versions", ["producer_run_id"])
    op.create_table(
        "run_artifacts",
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("direction", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("artifact_id", ID, sa.ForeignKey("artifact_versions.id"), nullable=False),
    )
    op.create_index("ix_run_artifacts_artifact", "run_artifacts", ["artifact_id"])


def downgrade() -> None:
    for table in (
        "run_artifacts",
        "artifact_versions",
        "latest_metrics",
        "metric_chunks",
        "tags",
        "params",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(table)
