"""the show in Discord: ping role, events switch, end of stream, one scheduled event per episode

Revision ID: 0006
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("podcasts", sa.Column("ping_role_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "podcasts",
        sa.Column("events_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "episodes", sa.Column("offline_checks", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("episodes", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("episodes", sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "episode_events",
        sa.Column("episode_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("discord_event_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=16), server_default="creating", nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("location", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "state IN ('creating', 'scheduled', 'active', 'completed', 'canceled', 'gone')",
            name=op.f("ck_episode_events_state"),
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episodes.id"],
            name=op.f("fk_episode_events_episode_id_episodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("episode_id", name=op.f("pk_episode_events")),
    )


def downgrade() -> None:
    op.drop_table("episode_events")
    op.drop_column("episodes", "announced_at")
    op.drop_column("episodes", "ended_at")
    op.drop_column("episodes", "offline_checks")
    op.drop_column("podcasts", "events_enabled")
    op.drop_column("podcasts", "ping_role_id")
