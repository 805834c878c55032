"""youtube_final_videos: videos the Data API check never asks about again

A plain upload, an ended stream or a video the API doesn't know can't change state; remembering
them in the database (not only in memory) means a restart or a feed of more videos than the
in-memory cache holds costs no videos.list units. Starts empty: the first check fills it.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 23:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "youtube_final_videos",
        sa.Column("video_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("video_id", name=op.f("pk_youtube_final_videos")),
    )


def downgrade() -> None:
    op.drop_table("youtube_final_videos")
