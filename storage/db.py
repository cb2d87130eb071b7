"""Engine and sessions. SQLite gets WAL and BEGIN IMMEDIATE (writers queue instead of failing);
PostgreSQL gets a pool sized for the worker's threads, recycled instead of pinged.

Neither engine puts a statement's values in an error or a log line: they are residents' messages,
the decrypted XML, phone numbers (hide_parameters, and PostgreSQL's DETAIL dropped from errors)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """postgres:// and postgresql:// use psycopg 3; relative SQLite paths get their folder created."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:"):
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def make_engine(url: str, pool_size: int = 10, **kwargs) -> Engine:
    url = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)     # errors and echo say "[SQL parameters hidden …]"
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None        # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            # Take the write lock at the start, so concurrent retries of one message wait for the
            # first instead of failing on a stale snapshot.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # No pre-ping (a round trip per checkout): connections are recycled after half an hour instead, and
    # one that died anyway fails its request, which WeChat retries.
    kwargs.setdefault("pool_recycle", 1800)
    # A database that stops answering (a cut line, a failed-over host) must fail fast enough for the
    # webhook to spool the message: connecting gives up after 3 s, and TCP keepalives end a dead
    # connection in about 10 s instead of the kernel's two hours.
    # JIT off: the desk's statistics cross PostgreSQL's JIT cost threshold at a million tickets and
    # then spend 100-230 ms compiling queries that run in 50-150 ms (bench/bench_desk.py)
    # (added to the URL's own options, e.g. a search_path, which a bare `options` would replace)
    options = " ".join(filter(None, (make_url(url).query.get("options"), "-c jit=off")))
    kwargs.setdefault("connect_args", {"connect_timeout": 3, "keepalives": 1, "keepalives_idle": 5,
                                       "keepalives_interval": 2, "keepalives_count": 2, "options": options})
    # a checkout waits at most as long as a reply may take; the message is spooled after that
    kwargs.setdefault("pool_timeout", 4)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, **kwargs)
    event.listen(engine, "handle_error", _drop_pg_detail)
    return engine


def _drop_pg_detail(ctx) -> None:
    """PostgreSQL explains a failed write with the row's values ("DETAIL: Failing row contains (…)",
    "Key (dedupe_key)=(…) already exists"), and psycopg puts that in the exception's text, which
    hide_parameters does not reach. Keep the primary message and the hint; the DETAIL stays readable
    in code as e.orig.diag.message_detail."""
    orig = ctx.original_exception
    diag = getattr(orig, "diag", None)
    if diag is None or not diag.message_detail:
        return
    before = str(orig)
    after = (diag.message_primary or before.split("\n", 1)[0]) + (f"\nHINT:  {diag.message_hint}" if diag.message_hint else "")
    orig.args = (after,)                 # also shown as the cause ("from e") under the wrapper's traceback
    wrapper = ctx.sqlalchemy_exception
    if wrapper is not None and wrapper.args and isinstance(wrapper.args[0], str):
        wrapper.args = (wrapper.args[0].replace(before, after),) + wrapper.args[1:]


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    with factory() as session, session.begin():
        yield session
