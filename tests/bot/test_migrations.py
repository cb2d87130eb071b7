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
        ctx = MigrationContext.configure(conn, opts={"include_object": lambda *a: _not_search_index(*a) and _made_here(
            conn.dialect.name, *a)})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []
    engine.dispose()


def _not_search_index(obj, name, type_, reflected, compare_to) -> bool:
    # ix_ticket_active_order has a DESC column, an expression Alembic cannot compare (checked below)
    return not (name or "").startswith(("ticket_fts", "ix_ticket_search", "ix_ticket_active_order"))


def _made_here(dialect: str, obj, name, type_, reflected, compare_to) -> bool:
    """An index the model makes on one database only (Index.ddl_if), which Alembic compares anyway."""
    only = getattr(obj, "_ddl_if", None)
    return only is None or only.dialect in (None, dialect)


def test_the_list_order_index_exists_with_its_descending_priority(db_url):
    from sqlalchemy import text
    engine = make_engine(db_url)
    upgrade(engine)
    q = ("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_ticket_active_order' AND schemaname = current_schema()"
         if engine.dialect.name == "postgresql" else "SELECT sql FROM sqlite_master WHERE name = 'ix_ticket_active_order'")
    with engine.connect() as conn:
        sql = " ".join(conn.execute(text(q)).scalar_one().split())
    assert "(priority DESC, created_at)" in sql and "WHERE" in sql and "'open'" in sql
    engine.dispose()


def test_0012_fills_the_milestone_copies_and_the_grid_follows_the_ticket(db_url):
    """Rows written before 0012 get the round's start (its registration, else the ticket's
    creation) and the ticket's grid; afterwards a ticket moved by any UPDATE takes its milestones
    along (handlers/stats.py on_time reads them)."""
    from datetime import datetime, timedelta

    import sqlalchemy as sa
    from alembic import command

    from storage.migrate import alembic_config

    # the tables as 0011 left them (naive UTC times, as stored), not as the models are now
    grid = sa.table("grid", *(sa.column(c) for c in ("id", "name", "buildings", "leader_name", "leader_userid",
                                                     "robot_key")))
    ticket = sa.table("ticket", *(sa.column(c) for c in ("id", "code", "category", "priority", "status", "round",
                                                         "source", "text", "search", "confidence", "terms",
                                                         "category_confirmed", "needs_detail", "grid_id")),
                      sa.column("created_at", sa.DateTime()), sa.column("updated_at", sa.DateTime()))
    ms = sa.table("ticket_milestone", *(sa.column(c) for c in ("ticket_id", "round", "name", "party", "stage",
                                                               "grid_id")),
                  *(sa.column(c, sa.DateTime()) for c in ("due_at", "met_at", "round_started_at")))
    engine = make_engine(db_url)
    cfg = alembic_config()
    t0 = datetime(2026, 11, 2, 1)
    reopened = t0 + timedelta(days=3)
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011")
        for gid in (1, 2):
            conn.execute(grid.insert().values(id=gid, name=f"g{gid}", buildings="", leader_name="x",
                                              leader_userid="x", robot_key=f"r{gid}"))
        conn.execute(ticket.insert().values(id=7, code="20261102-0001", category="other", priority="normal",
                                            status="open", round=2, source="wechat", text="", search="",
                                            confidence=0.0, terms="[]", category_confirmed=True,
                                            needs_detail=False, grid_id=1, created_at=t0, updated_at=t0))
        for rnd, name, met in ((1, "onsite", t0 + timedelta(hours=1)), (2, "register", reopened), (2, "fix", None)):
            conn.execute(ms.insert().values(ticket_id=7, round=rnd, name=name, party="", stage=0, due_at=t0,
                                            met_at=met))
        command.upgrade(cfg, "head")
        conn.commit()
        got = {(r.round, r.name): (r.round_started_at, r.grid_id) for r in conn.execute(sa.select(ms))}
        # round 1 has no registration on record: the ticket's creation; round 2 began with its own
        assert got == {(1, "onsite"): (t0, 1), (2, "register"): (reopened, 1), (2, "fix"): (reopened, 1)}
        conn.execute(ticket.update().where(ticket.c.id == 7).values(grid_id=2))
        assert set(conn.scalars(sa.select(ms.c.grid_id))) == {2}
    engine.dispose()


def test_the_active_index_names_the_active_states():
    """Migration 0016's partial index (and the "+1" query that must match it) spell the active
    states out: a state added to the domain must be added there too."""
    import re

    from storage.models import ACTIVE_SQL
    from storage.repositories import ACTIVE_STATES
    assert set(re.findall(r"'(\w+)'", ACTIVE_SQL)) == set(ACTIVE_STATES)
