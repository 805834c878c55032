"""a dry run is its own status; an attempt can end unknown; sent_at marks a post sent to X

Revision ID: 0002
Revises: 0004
Create Date: 2026-12-01 22:50:00

Values are spelled out here (not imported from db.models) so this migration keeps meaning what
it meant when the enums change later.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('pending', 'posting', 'posted', 'failed', 'unknown')"
NEW_STATUSES = "status IN ('pending', 'posting', 'posted', 'failed', 'unknown', 'dry_run')"
OLD_OUTCOMES = "outcome IN ('posted', 'retry', 'failed', 'dry_run')"
NEW_OUTCOMES = "outcome IN ('posted', 'retry', 'failed', 'unknown', 'dry_run')"


def upgrade() -> None:
    op.add_column("episode_tweets", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_episode_tweets_status"), "episode_tweets", type_="check")
    op.create_check_constraint(op.f("ck_episode_tweets_status"), "episode_tweets", NEW_STATUSES)
    op.execute(
        "UPDATE episode_tweets SET status = 'dry_run', failure_reason = NULL "
        "WHERE status = 'failed' AND failure_reason = 'dry_run'"
    )
    op.drop_constraint(op.f("ck_post_attempts_outcome"), "post_attempts", type_="check")
    op.create_check_constraint(op.f("ck_post_attempts_outcome"), "post_attempts", NEW_OUTCOMES)
    # Before 0002 an attempt whose answer we could not know was stored as failed/unexpected.
    op.execute(
        "UPDATE post_attempts SET outcome = 'unknown' "
        "WHERE outcome = 'failed' AND reason = 'unexpected'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE post_attempts SET outcome = 'failed', reason = 'unexpected' "
        "WHERE outcome = 'unknown'"
    )
    op.drop_constraint(op.f("ck_post_attempts_outcome"), "post_attempts", type_="check")
    op.create_check_constraint(op.f("ck_post_attempts_outcome"), "post_attempts", OLD_OUTCOMES)
    op.execute(
        "UPDATE episode_tweets SET status = 'failed', failure_reason = 'dry_run' "
        "WHERE status = 'dry_run'"
    )
    op.drop_constraint(op.f("ck_episode_tweets_status"), "episode_tweets", type_="check")
    op.create_check_constraint(op.f("ck_episode_tweets_status"), "episode_tweets", OLD_STATUSES)
    op.drop_column("episode_tweets", "sent_at")
