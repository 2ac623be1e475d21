"""MLflow 3's logged models and their files until they are finalized.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlflow_logged_models",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("experiment_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("source_run_id", sa.String(32)),
        sa.Column("model_type", sa.String(256)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("artifact_id", sa.String(32)),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("output_runs", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False),
    )
    op.create_index(
        "ix_mlflow_logged_models_experiment", "mlflow_logged_models", ["experiment_id", "name"]
    )
    op.create_index("ix_mlflow_logged_models_run", "mlflow_logged_models", ["source_run_id"])
    op.create_index("ix_mlflow_logged_models_artifact", "mlflow_logged_models", ["artifact_id"])
    op.create_table(
        "mlflow_logged_model_files",
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mlflow_logged_model_files")
    op.drop_index("ix_mlflow_logged_models_artifact", "mlflow_logged_models")
    op.drop_index("ix_mlflow_logged_models_run", "mlflow_logged_models")
    op.drop_index("ix_mlflow_logged_models_experiment", "mlflow_logged_models")
    op.drop_table("mlflow_logged_models")
