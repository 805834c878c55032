"""stream tracking: known waiting rooms and the stream last seen live, per podcast

Revision ID: 0003
Revises: 0007
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "podcasts",
        sa.Column(
            "scheduled_streams", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
    )
    op.add_column("podcasts", sa.Column("last_live_video_id", sa.String(32), nullable=True))
    op.add_column("podcasts", sa.Column("last_live_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("podcasts", "last_live_at")
    op.drop_column("podcasts", "last_live_video_id")
    op.drop_column("podcasts", "scheduled_streams")
