"""ticket cards: interactive WeCom cards per ticket and staff member (their response codes), and
staff prompts (a tapped move waiting for words)

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as b:        # "wecom_card_update" is 17 characters
        b.alter_column("channel", type_=sa.String(length=32), existing_type=sa.String(length=16), existing_nullable=False)
    op.create_table(
        "ticket_card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("notice", sa.String(length=32), nullable=False),
        sa.Column("response_code", sa.String(length=256), nullable=True),
        sa.Column("code_at", sa.DateTime(), nullable=True),
        sa.Column("shows", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id"),
    )
    op.create_index("ix_ticket_card_ticket_id", "ticket_card", ["ticket_id"])
    op.create_table(
        "staff_prompt",
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("move", sa.String(length=16), nullable=False),
        sa.Column("task_id", sa.String(length=128), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("userid"),
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as b:
        b.alter_column("channel", type_=sa.String(length=16), existing_type=sa.String(length=32), existing_nullable=False)
    op.drop_table("staff_prompt")
    op.drop_index("ix_ticket_card_ticket_id", table_name="ticket_card")
    op.drop_table("ticket_card")
