"""The knowledge base moves into the database: articles, every revision, publications, and
what each action server is serving; what curators did with suggestions.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("language", sa.String(8), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("head", sa.Integer, nullable=False),
        sa.Column("live", sa.Integer, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("updated_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_table(
        "article_revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(120), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("questions", sa.JSON, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("article_id", "language", "number", name="uq_article_revision"),
    )
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(120), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer, nullable=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index("ix_publications_article", "publications", ["article_id", "language"])
    op.create_table(
        "index_status",
        sa.Column("worker", sa.String(160), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("articles", sa.Integer, nullable=False),
        sa.Column("failed_version", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("build_seconds", sa.Float, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "suggestion_decisions",
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id"), primary_key=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("article_id", sa.String(120), nullable=True),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("suggestion_decisions")
    op.drop_table("index_status")
    op.drop_index("ix_publications_article", "publications")
    op.drop_table("publications")
    op.drop_table("article_revisions")
    op.drop_table("articles")
