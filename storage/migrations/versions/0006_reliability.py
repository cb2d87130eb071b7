"""reliability: inbound messages retried after a crash or failure, purged after retention; outbox
priority for emergencies; an index for per-group flood limits

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_message") as b:
        b.add_column(sa.Column("source", sa.String(length=8), nullable=False, server_default="mp"))
        b.add_column(sa.Column("inbound", sa.JSON(), nullable=True))
        b.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("lease_until", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("reply_deferred", sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("handled_at", sa.DateTime(), nullable=True))
        b.add_column(sa.Column("purged_at", sa.DateTime(), nullable=True))
    op.create_index("ix_inbound_pending", "inbound_message", ["status", "next_attempt_at"])
    op.create_index("ix_inbound_received_at", "inbound_message", ["received_at"])
    op.create_index("ix_inbound_openid_received", "inbound_message", ["openid", "received_at"])
    with op.batch_alter_table("outbox") as b:
        b.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_outbox_target_created", "outbox", ["target", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_target_created", table_name="outbox")
    with op.batch_alter_table("outbox") as b:
        b.drop_column("priority")
    op.drop_index("ix_inbound_openid_received", table_name="inbound_message")
    op.drop_index("ix_inbound_received_at", table_name="inbound_message")
    op.drop_index("ix_inbound_pending", table_name="inbound_message")
    with op.batch_alter_table("inbound_message") as b:
        for c in ("purged_at", "handled_at", "reply_deferred", "next_attempt_at", "lease_until", "attempts",
                  "inbound", "source"):
            b.drop_column(c)
