"""Asking residents: questionnaires and votes (poll, poll_invite, poll_answer), notices with
sign-ups (notice, notice_recipient, notice_signup), and on resident the registered room (votes
count households) and the poll waiting for their answers

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resident") as b:
        b.add_column(sa.Column("unit", sa.String(length=8), nullable=True))
        b.add_column(sa.Column("room", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("asked_poll_id", sa.Integer(), nullable=True))
    op.create_table(
        "poll",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=True),
        sa.Column("quorum", sa.String(length=8), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.String(length=96), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("kind IN ('survey', 'vote')", name="ck_poll_kind"),
    )
    op.create_index("ix_poll_due", "poll", ["status", "deadline"])
    op.create_table(
        "poll_invite",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("prompted_at", sa.DateTime(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"]),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"]),
        sa.PrimaryKeyConstraint("poll_id", "resident_id"),
    )
    op.create_table(
        "poll_answer",
        sa.Column("poll_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("household", sa.String(length=48), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["poll.id"]),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"]),
        sa.PrimaryKeyConstraint("poll_id", "resident_id", "position"),
        sa.UniqueConstraint("poll_id", "position", "household", name="uq_poll_answer_household"),
    )
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("signup", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("event_at", sa.DateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=96), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notice_remind", "notice", ["reminded_at", "event_at"])
    op.create_table(
        "notice_recipient",
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"]),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"]),
        sa.PrimaryKeyConstraint("notice_id", "resident_id"),
    )
    op.create_index("ix_notice_recipient_resident", "notice_recipient", ["resident_id", "notice_id"])
    op.create_table(
        "notice_signup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("attended_at", sa.DateTime(), nullable=True),
        sa.Column("attended_by", sa.String(length=96), nullable=True),
        sa.ForeignKeyConstraint(["notice_id"], ["notice.id"]),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_id", "resident_id"),
        sa.CheckConstraint("status IN ('in', 'waiting', 'cancelled')", name="ck_notice_signup_status"),
    )


def downgrade() -> None:
    op.drop_table("notice_signup")
    op.drop_index("ix_notice_recipient_resident", table_name="notice_recipient")
    op.drop_table("notice_recipient")
    op.drop_index("ix_notice_remind", table_name="notice")
    op.drop_table("notice")
    op.drop_table("poll_answer")
    op.drop_table("poll_invite")
    op.drop_index("ix_poll_due", table_name="poll")
    op.drop_table("poll")
    with op.batch_alter_table("resident") as b:
        b.drop_column("asked_poll_id")
        b.drop_column("room")
        b.drop_column("unit")
