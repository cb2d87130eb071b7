"""ticket.search: a ticket's text and place as search terms, indexed (storage/search.py): GIN over
to_tsvector('simple', search) on PostgreSQL, an FTS5 table kept in step by triggers on SQLite

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 5000
_FTS = ("CREATE VIRTUAL TABLE ticket_fts USING fts5(search, content='ticket', content_rowid='id')",
        "CREATE TRIGGER ticket_fts_ai AFTER INSERT ON ticket BEGIN "
        "INSERT INTO ticket_fts(rowid, search) VALUES (new.id, new.search); END",
        "CREATE TRIGGER ticket_fts_ad AFTER DELETE ON ticket BEGIN "
        "INSERT INTO ticket_fts(ticket_fts, rowid, search) VALUES ('delete', old.id, old.search); END",
        "CREATE TRIGGER ticket_fts_au AFTER UPDATE OF search ON ticket BEGIN "
        "INSERT INTO ticket_fts(ticket_fts, rowid, search) VALUES ('delete', old.id, old.search); "
        "INSERT INTO ticket_fts(rowid, search) VALUES (new.id, new.search); END")


def upgrade() -> None:
    from storage.search import document
    bind = op.get_bind()
    with op.batch_alter_table("ticket") as b:
        b.add_column(sa.Column("search", sa.Text(), nullable=False, server_default=""))
    # the terms of the tickets already there, in batches (Python cuts them: see storage/search.py)
    ticket = sa.table("ticket", sa.column("id"), sa.column("text"), sa.column("location_text"), sa.column("search"))
    last = 0
    while True:
        rows = bind.execute(sa.select(ticket.c.id, ticket.c.text, ticket.c.location_text)
                            .where(ticket.c.id > last).order_by(ticket.c.id).limit(_BATCH)).all()
        if not rows:
            break
        bind.execute(sa.update(ticket).where(ticket.c.id == sa.bindparam("tid")).values(search=sa.bindparam("doc")),
                     [{"tid": i, "doc": document(t, p)} for i, t, p in rows])
        last = rows[-1][0]
    if bind.dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_ticket_search ON ticket USING gin (to_tsvector('simple', search))")
    else:
        for stmt in _FTS:
            op.execute(stmt)
        op.execute("INSERT INTO ticket_fts(ticket_fts) VALUES ('rebuild')")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX ix_ticket_search")
    else:
        for name in ("ticket_fts_au", "ticket_fts_ad", "ticket_fts_ai"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE ticket_fts")
    with op.batch_alter_table("ticket") as b:
        b.drop_column("search")
