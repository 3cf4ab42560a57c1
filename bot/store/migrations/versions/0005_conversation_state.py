"""A conversation's state has one owner: explicit states instead of status "bot"/"handoff";
handoffs end (returned, closed, cancelled, no_agent); the user's name; API conversation tokens.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)

# A handoff is open when it is the newest of a conversation that was handed off.
CURRENT_HANDOFFS = """
    SELECT max(h.id) FROM handoffs h JOIN conversations c ON c.id = h.conversation_id
    WHERE c.status = 'handoff' GROUP BY h.conversation_id
"""


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as handoffs:
        handoffs.add_column(sa.Column("ended_at", TIME, nullable=True))
        handoffs.add_column(sa.Column("outcome", sa.String(16), nullable=True))
        handoffs.create_index("ix_handoffs_ended_at", ["ended_at"])
    with op.batch_alter_table("conversations") as conversations:
        conversations.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="bot"))
        conversations.add_column(sa.Column("user_name", sa.String(120), nullable=True))
        conversations.add_column(sa.Column("token_hash", sa.String(64), nullable=True))

    # Handoffs an agent ended take the claim's end; other past ones were left by the user.
    op.execute(
        """
        UPDATE handoffs SET
            ended_at = (SELECT claims.ended_at FROM claims WHERE claims.handoff_id = handoffs.id),
            outcome = (SELECT claims.outcome FROM claims WHERE claims.handoff_id = handoffs.id)
        WHERE EXISTS (SELECT 1 FROM claims WHERE claims.handoff_id = handoffs.id AND claims.ended_at IS NOT NULL)
        """
    )
    op.execute(
        f"UPDATE handoffs SET ended_at = created_at, outcome = 'cancelled' "
        f"WHERE ended_at IS NULL AND id NOT IN ({CURRENT_HANDOFFS})"
    )
    op.execute(
        """
        UPDATE conversations SET state = CASE
            WHEN status <> 'handoff' THEN 'bot'
            WHEN EXISTS (
                SELECT 1 FROM handoffs h JOIN claims ON claims.handoff_id = h.id
                WHERE h.conversation_id = conversations.id AND h.ended_at IS NULL AND claims.ended_at IS NULL
            ) THEN 'agent'
            WHEN EXISTS (
                SELECT 1 FROM handoffs h JOIN tickets ON tickets.handoff_id = h.id
                WHERE h.conversation_id = conversations.id AND h.ended_at IS NULL
            ) THEN 'ticket'
            ELSE 'waiting'
        END
        """
    )
    with op.batch_alter_table("conversations") as conversations:
        conversations.drop_column("status")
        conversations.drop_column("handoff_reason")


def downgrade() -> None:
    with op.batch_alter_table("conversations") as conversations:
        conversations.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="bot"))
        conversations.add_column(sa.Column("handoff_reason", sa.String(40), nullable=True))
    op.execute("UPDATE conversations SET status = CASE WHEN state = 'bot' THEN 'bot' ELSE 'handoff' END")
    op.execute(
        """
        UPDATE conversations SET handoff_reason = (
            SELECT h.reason FROM handoffs h WHERE h.conversation_id = conversations.id AND h.ended_at IS NULL
            ORDER BY h.id DESC LIMIT 1
        ) WHERE status = 'handoff'
        """
    )
    with op.batch_alter_table("conversations") as conversations:
        conversations.drop_column("token_hash")
        conversations.drop_column("user_name")
        conversations.drop_column("state")
    with op.batch_alter_table("handoffs") as handoffs:
        handoffs.drop_index("ix_handoffs_ended_at")
        handoffs.drop_column("outcome")
        handoffs.drop_column("ended_at")
