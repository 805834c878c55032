"""hosts in control: approval, autopost, holds, the readiness board, removed servers

Existing rows are decided like this:
- podcasts keep approval required (the new default): from now on only approved tweets post;
- a tweet whose host wrote their own text (custom_text) counts as approved, since writing the
  text is approving it; so does every tweet that is no longer pending (posted, failed, unknown:
  history, never posted again). A pending AI or template draft its host never touched stays
  unapproved: that is exactly the tweet the host may never have seen, and the readiness board
  and /tweet show ask them to approve it;
- nobody is held, nobody opted into autopost, no server is marked removed, no board was posted.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "podcasts",
        sa.Column("require_approval", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    op.add_column("podcasts", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "episodes",
        sa.Column("board_stage", sa.SmallInteger(), server_default="0", nullable=False),
    )
    op.add_column("episodes", sa.Column("board_channel_id", sa.BigInteger(), nullable=True))
    op.add_column("episodes", sa.Column("board_message_id", sa.BigInteger(), nullable=True))
    op.add_column("episodes", sa.Column("board_digest", sa.String(length=64), nullable=True))
    op.add_column(
        "hosts",
        sa.Column("autopost", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("hosts", sa.Column("away_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "episode_tweets",
        sa.Column("approved", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "episode_tweets",
        sa.Column("held", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.execute(
        "UPDATE episode_tweets SET approved = true "
        "WHERE custom_text IS NOT NULL OR status <> 'pending'"
    )


def downgrade() -> None:
    op.drop_column("episode_tweets", "held")
    op.drop_column("episode_tweets", "approved")
    op.drop_column("hosts", "away_since")
    op.drop_column("hosts", "autopost")
    op.drop_column("episodes", "board_digest")
    op.drop_column("episodes", "board_message_id")
    op.drop_column("episodes", "board_channel_id")
    op.drop_column("episodes", "board_stage")
    op.drop_column("podcasts", "removed_at")
    op.drop_column("podcasts", "require_approval")
