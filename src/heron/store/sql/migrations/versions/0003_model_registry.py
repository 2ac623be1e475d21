"""The model registry: registered models, their versions, tags, aliases and alias history.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(32)
KEY = sa.String(250)


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "registered_model_tags",
        sa.Column("model_id", ID, sa.ForeignKey("registered_models.id"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("model_id", ID, sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("artifact_id", ID, sa.ForeignKey("artifact_versions.id"), nullable=False),
        sa.Column("run_id", ID),
        sa.Column("pipeline_run_id", ID),
        sa.Column("description", sa.Text),
        sa.Column("user", sa.String(256)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    )
    op.create_index("ix_model_versions_artifact", "model_versions", ["artifact_id"])
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_created", "model_versions", ["lifecycle", "created_at"])
    op.create_table(
        "model_version_tags",
        sa.Column("version_id", ID, sa.ForeignKey("model_versions.id"), primary_key=True),
        sa.Column("key", KEY, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_id", ID, sa.ForeignKey("registered_models.id"), primary_key=True),
        sa.Column("alias", KEY, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alias_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("model_id", ID, sa.ForeignKey("registered_models.id"), nullable=False),
        sa.Column("alias", KEY, nullable=False),
        sa.Column("from_version", sa.Integer),
        sa.Column("to_version", sa.Integer),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("user", sa.String(256)),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alias_events_model_alias", "alias_events", ["model_id", "alias", "id"])


def downgrade() -> None:
    for table in (
        "alias_events",
        "model_aliases",
        "model_version_tags",
        "model_versions",
        "registered_model_tags",
        "registered_models",
    ):
        op.drop_table(table)
