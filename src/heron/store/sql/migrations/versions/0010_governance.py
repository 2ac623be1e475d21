"""Governance: projects owning experiments, registered models and artifact versions (names
unique within a project; what exists moves to ``default``), users, tokens, project members and
the audit log.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.String(32)
PROJECT = sa.String(128)
DEFAULT = "default"


def _old_experiments() -> sa.Table:
    return sa.Table(
        "experiments",
        sa.MetaData(),
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def _old_registered_models() -> sa.Table:
    return sa.Table(
        "registered_models",
        sa.MetaData(),
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def _old_artifact_versions() -> sa.Table:
    return sa.Table(
        "artifact_versions",
        sa.MetaData(),
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
        sa.Index("ix_artifact_versions_hash", "content_hash"),
        sa.Index("ix_artifact_versions_producer", "producer_run_id"),
    )


# table, the old unique constraint's name on PostgreSQL, the new one, its columns
_SCOPED = (
    (_old_experiments, "experiments_name_key", "uq_experiments_project_name", ["project", "name"]),
    (
        _old_registered_models,
        "registered_models_name_key",
        "uq_registered_models_project_name",
        ["project", "name"],
    ),
    (
        _old_artifact_versions,
        "uq_artifact_versions_name_version",
        "uq_artifact_versions_project_name_version",
        ["project", "name", "version"],
    ),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for old_table, old_unique, new_unique, columns in _SCOPED:
        table = old_table()
        project = sa.Column("project", PROJECT, nullable=False, server_default=DEFAULT)
        if sqlite:  # the table is rebuilt without its old unique constraint
            with op.batch_alter_table(table.name, recreate="always", copy_from=table) as batch:
                batch.add_column(project)
                batch.create_unique_constraint(new_unique, columns)
        else:
            op.add_column(table.name, project)
            op.drop_constraint(old_unique, table.name, type_="unique")
            op.create_unique_constraint(new_unique, table.name, columns)
    projects = op.create_table(
        "projects",
        sa.Column("name", PROJECT, primary_key=True),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        projects,
        [{"name": DEFAULT, "description": "Everything made without a project", "created_at": 0}],
    )
    op.execute(
        projects.update()
        .where(projects.c.name == DEFAULT)
        .values(created_at=int(time.time() * 1000))
    )
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id", "kind"])
    op.create_table(
        "project_members",
        sa.Column("project", PROJECT, sa.ForeignKey("projects.name"), primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_index("ix_project_members_user", "project_members", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("user", sa.String(128)),
        sa.Column("address", sa.String(64)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(256), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("project", PROJECT),
        sa.Column("object_type", sa.String(32)),
        sa.Column("object_id", sa.String(512)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_user_at", "audit_log", ["user", "at"])
    op.create_index("ix_audit_log_project_at", "audit_log", ["project", "at"])


def downgrade() -> None:
    for index, table in (
        ("ix_audit_log_project_at", "audit_log"),
        ("ix_audit_log_user_at", "audit_log"),
        ("ix_audit_log_at", "audit_log"),
        ("ix_project_members_user", "project_members"),
        ("ix_api_tokens_user", "api_tokens"),
    ):
        op.drop_index(index, table)
    for table in ("audit_log", "project_members", "api_tokens", "users", "projects"):
        op.drop_table(table)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for old_table, old_unique, new_unique, _columns in reversed(_SCOPED):
        name = old_table().name
        old_columns = ["name", "version"] if name == "artifact_versions" else ["name"]
        with op.batch_alter_table(name, recreate="always" if sqlite else "auto") as batch:
            batch.drop_constraint(new_unique, type_="unique")
            batch.drop_column("project")
            batch.create_unique_constraint(old_unique, old_columns)
