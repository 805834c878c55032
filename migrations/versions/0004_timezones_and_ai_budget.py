"""canonical timezones (bad names repaired to UTC) and a daily AI budget per server

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.timezones import canonical_timezones

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("podcasts", sa.Column("timezone_repaired_from", sa.String(64), nullable=True))
    op.add_column("podcasts", sa.Column("ai_drafts_day", sa.Date(), nullable=True))
    op.add_column(
        "podcasts",
        sa.Column("ai_drafts_used", sa.Integer(), server_default="0", nullable=False),
    )
    # A timezone name that isn't canonical, or that PostgreSQL doesn't know, becomes UTC; the
    # next live check tells the podcast's announce channel (timezone_repaired_from).
    op.get_bind().execute(
        sa.text(
            "UPDATE podcasts SET timezone_repaired_from = timezone, timezone = 'UTC' "
            "WHERE NOT (timezone = ANY(:names)) "
            "OR timezone NOT IN (SELECT name FROM pg_timezone_names)"
        ),
        {"names": sorted(canonical_timezones().values())},
    )


def downgrade() -> None:
    # Repaired rows stay UTC: the old names were unusable.
    op.drop_column("podcasts", "ai_drafts_used")
    op.drop_column("podcasts", "ai_drafts_day")
    op.drop_column("podcasts", "timezone_repaired_from")
