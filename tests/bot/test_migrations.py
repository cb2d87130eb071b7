"""The Alembic migrations build exactly the schema storage/models.py describes (on both databases)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Base


def test_migrations_match_the_models(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        # the full-text index lives outside the models (storage/search.py, migration 0009): SQLite's
        # FTS5 tables and PostgreSQL's expression index
        ctx = MigrationContext.configure(conn, opts={"include_object": _not_search_index})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
    engine.dispose()


def _not_search_index(obj, name, type_, reflected, compare_to) -> bool:
    return not (name or "").startswith(("ticket_fts", "ix_ticket_search"))
