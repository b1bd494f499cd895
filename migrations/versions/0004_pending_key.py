"""One pending request per person, runbook, values and place: requests.pending_key,
unique among pending requests.

Revision ID: 0004_pending_key
Revises: 0003_alert_offers
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_pending_key"
down_revision: str | None = "0003_alert_offers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    # requests made before this revision have no key: they block nothing
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("pending_key", sa.String(64), nullable=True))
    op.create_index("uq_requests_pending_key", "requests", ["pending_key"], unique=True,
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade() -> None:
    op.drop_index("uq_requests_pending_key", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("pending_key")
