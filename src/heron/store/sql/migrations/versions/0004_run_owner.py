"""Run liveness: the process that owns a running run and the heartbeat timeout it runs with.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(512)))
        batch.add_column(sa.Column("heartbeat_timeout", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_timeout")
        batch.drop_column("owner")
