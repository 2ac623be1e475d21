"""Schedules, their ticks (one per schedule and logical time) and backfills.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TICK_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("pipeline", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("cron", sa.String(256)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("on_artifacts", sa.Text),
        sa.Column("catchup", sa.String(16), nullable=False),
        sa.Column("max_active_runs", sa.Integer, nullable=False),
        sa.Column("max_lateness", sa.Float),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("next_due_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_schedules_due", "schedules", ["paused", "next_due_at"])
    op.create_table(
        "schedule_ticks",
        sa.Column("id", _TICK_ID, primary_key=True, autoincrement=True),
        sa.Column("schedule_id", sa.String(32), sa.ForeignKey("schedules.id"), nullable=False),
        sa.Column("logical_time", sa.BigInteger, nullable=False),
        sa.Column("interval_start", sa.BigInteger, nullable=False),
        sa.Column("interval_end", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("run_id", sa.String(32)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("backfill_id", sa.String(32)),
        sa.Column("inputs", sa.Text),
        sa.Column("evaluated_at", sa.BigInteger, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_at", sa.BigInteger),
        sa.UniqueConstraint("schedule_id", "logical_time", name="uq_schedule_ticks_time"),
    )
    op.create_index("ix_schedule_ticks_status", "schedule_ticks", ["status", "logical_time"])
    op.create_index("ix_schedule_ticks_backfill", "schedule_ticks", ["backfill_id", "status"])
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("schedule_id", sa.String(32), sa.ForeignKey("schedules.id"), nullable=False),
        sa.Column("start", sa.BigInteger, nullable=False),
        sa.Column("end", sa.BigInteger, nullable=False),
        sa.Column("reprocess", sa.String(16), nullable=False),
        sa.Column("max_active_runs", sa.Integer, nullable=False),
        sa.Column("backwards", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("intervals", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("backfills")
    op.drop_index("ix_schedule_ticks_backfill", "schedule_ticks")
    op.drop_index("ix_schedule_ticks_status", "schedule_ticks")
    op.drop_table("schedule_ticks")
    op.drop_index("ix_schedules_due", "schedules")
    op.drop_table("schedules")
