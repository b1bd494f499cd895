"""Alert offers: runbook buttons under an alert whose parameters exceed a button's value.

Revision ID: 0003_alert_offers
Revises: 0002_audit_append_only
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.columns import UtcDateTime

revision: str = "0003_alert_offers"
down_revision: str | None = "0002_audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_offers",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("runbook", sa.String(64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("alert_ts", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_offers"),
    )


def downgrade() -> None:
    op.drop_table("alert_offers")
