"""Conversation review: a conversation can be marked reviewed and labelled; a reveal of personal
data is logged; indexes for the review list's filters at 100,000 conversations (on PostgreSQL a
trigram index makes the text search fast, where the pg_trgm extension can be had).

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
TRIGRAM_INDEX = "ix_messages_text_trigram"


def upgrade() -> None:
    with op.batch_alter_table("conversations") as table:
        table.add_column(sa.Column("reviewed_at", TIME, nullable=True))
        table.add_column(
            sa.Column(
                "reviewed_by", sa.Integer, sa.ForeignKey("users.id", name="fk_conversations_reviewed_by"), nullable=True
            )
        )
    op.create_index("ix_conversations_created_at", "conversations", ["created_at"])
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])
    # The article filter reads the conversations from the index alone.
    op.create_index("ix_messages_article_conversation", "messages", ["article_id", "conversation_id"])
    op.create_index("ix_feedback_article_id", "feedback", ["article_id"])
    op.create_index("ix_claims_agent_handoff", "claims", ["agent_id", "handoff_id"])
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(160), sa.ForeignKey("conversations.id"), nullable=False, index=True),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("label", sa.String(24), nullable=False),
        sa.Column("article_id", sa.String(120), nullable=True),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "reveals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(160), nullable=False, index=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        _trigram_index()


def _trigram_index() -> None:
    """pg_trgm ships with PostgreSQL and is a trusted extension (PostgreSQL 13+), so a database's
    owner may create it; where it cannot be had, the search still works, by scanning."""
    bind = op.get_bind()
    available = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
    if not available:
        return
    with bind.begin_nested() as savepoint:
        try:
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except sa.exc.DBAPIError:
            savepoint.rollback()
            return
    # Only what people wrote is searched: the bot's answers (article bodies) would make it 9x larger.
    op.execute(
        f"CREATE INDEX {TRIGRAM_INDEX} ON messages USING gin (text gin_trgm_ops) WHERE role IN ('user', 'agent')"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
    op.drop_table("reveals")
    op.drop_table("review_labels")
    op.drop_index("ix_claims_agent_handoff", "claims")
    op.drop_index("ix_feedback_article_id", "feedback")
    op.drop_index("ix_messages_article_conversation", "messages")
    op.drop_index("ix_conversations_updated_at", "conversations")
    op.drop_index("ix_conversations_created_at", "conversations")
    with op.batch_alter_table("conversations") as table:
        table.drop_constraint("fk_conversations_reviewed_by", type_="foreignkey")
        table.drop_column("reviewed_by")
        table.drop_column("reviewed_at")
