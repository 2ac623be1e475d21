"""Idempotent batches: the ids of the log batches already applied.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applied_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("applied_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_applied_requests_applied_at", "applied_requests", ["applied_at"])


def downgrade() -> None:
    op.drop_index("ix_applied_requests_applied_at", "applied_requests")
    op.drop_table("applied_requests")
