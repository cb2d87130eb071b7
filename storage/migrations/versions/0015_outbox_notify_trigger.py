"""PostgreSQL: wake the outbox's worker from the database. A statement trigger on outbox INSERT
sends NOTIFY jiesu_outbox, delivered when the inserting transaction commits; the web worker no
longer opens a connection and commits a NOTIFY of its own after every message (a round trip on
the reply's path). INSERT only: the worker's own UPDATEs (claim, finish) must not wake it again.
SQLite has no LISTEN: its worker polls (bot/wakeup.py).

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""CREATE FUNCTION jiesu_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN PERFORM pg_notify('jiesu_outbox', ''); RETURN NULL; END $$""")
    op.execute("""CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
                  FOR EACH STATEMENT EXECUTE FUNCTION jiesu_outbox_notify()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION jiesu_outbox_notify()")
