"""The ticket's whole life: rounds, sources, milestones (54321), parties, per-resident ratings,
fetched photos

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="wechat"))
        batch.add_column(sa.Column("round_started_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("planned_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("visited_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_urged_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key("fk_ticket_merged_into", "ticket", ["merged_into_id"], ["id"])
    with op.batch_alter_table("ticket") as batch:       # defaults were only for existing rows
        batch.alter_column("round", server_default=None)
        batch.alter_column("source", server_default=None)
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("path", sa.String(256), nullable=True))
        batch.add_column(sa.Column("content_type", sa.String(32), nullable=True))
        batch.add_column(sa.Column("size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fetched_at", sa.DateTime(), nullable=True))
    op.create_table(
        "ticket_milestone",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("party", sa.String(32), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("met_at", sa.DateTime(), nullable=True),
        sa.Column("late_seconds", sa.Integer(), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("ticket_id", "round", "name", "party"),
    )
    op.create_index("ix_milestone_next_check", "ticket_milestone", ["next_check_at"])
    op.create_table(
        "ticket_party",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("party", sa.String(32), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("referred_at", sa.DateTime(), nullable=False),
        sa.Column("referred_by", sa.String(96), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.UniqueConstraint("ticket_id", "party"),
    )
    op.create_index("ix_ticket_party_ticket_id", "ticket_party", ["ticket_id"])
    op.create_table(
        "ticket_rating",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), sa.ForeignKey("resident.id"), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("ticket_id", "round", "resident_id"),
    )
    op.create_index("ix_rating_resident", "ticket_rating", ["resident_id", "score"])


def downgrade() -> None:
    op.drop_table("ticket_rating")
    op.drop_table("ticket_party")
    op.drop_table("ticket_milestone")
    with op.batch_alter_table("attachment") as batch:
        for c in ("fetched_at", "size", "content_type", "path"):
            batch.drop_column(c)
    with op.batch_alter_table("ticket") as batch:
        batch.drop_constraint("fk_ticket_merged_into", type_="foreignkey")
        for c in ("last_urged_at", "closed_at", "visited_at", "planned_at", "merged_into_id", "round_started_at", "source", "round"):
            batch.drop_column(c)
