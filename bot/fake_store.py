"""What the fake WeChat platform records (local mode only): its own SQLite file, shared by all
worker processes, kept apart from the bot's database so production schemas never carry it."""
from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import (JSON, Column, DateTime, Integer, MetaData, String, Table, create_engine, delete, event, func,
                        insert, select, update)

from storage.db import normalise_url

meta = MetaData()
calls = Table("calls", meta,
              Column("id", Integer, primary_key=True),
              Column("at", DateTime, nullable=False),
              Column("api", String(64), nullable=False),      # robot | mp_custom_send | wecom_send | resident | reply | token
              Column("target", String(128)),                  # robot key, openid or userid
              Column("body", JSON),
              Column("errcode", Integer, nullable=False, default=0))
tokens = Table("tokens", meta,
               Column("token", String(64), primary_key=True),
               Column("kind", String(8), nullable=False),
               Column("expires_at", DateTime, nullable=False))
faults = Table("faults", meta,
               Column("api", String(64), primary_key=True),
               Column("remaining", Integer, nullable=False),
               Column("errcode", Integer),
               Column("http_status", Integer))


class FakeStore:
    def __init__(self, path: str):
        url = normalise_url(path if "://" in path else f"sqlite:///{path}")
        self.engine = create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})

        @event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # a test double's record, not the bot's data: WAL and no fsync per call are plenty
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        meta.create_all(self.engine)
        self._lock = threading.Lock()

    def record(self, at: datetime, api: str, target: str | None, body, errcode: int = 0) -> None:
        with self.engine.begin() as c:
            c.execute(insert(calls).values(at=at.replace(tzinfo=None), api=api, target=target, body=body, errcode=errcode))

    def all_calls(self, since_id: int = 0) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(select(calls).where(calls.c.id > since_id).order_by(calls.c.id)).mappings().all()
        return [{**r, "at": r["at"].isoformat() + "Z"} for r in rows]

    def issue_token(self, token: str, kind: str, expires_at: datetime, revoke_after: datetime | None = None) -> None:
        """Record a new token; revoke_after: the earlier tokens of this kind stop working then
        (the official account's rule: a new token ends the old one after a grace period)."""
        with self.engine.begin() as c:
            if revoke_after is not None:
                cut = revoke_after.replace(tzinfo=None)
                c.execute(update(tokens).where(tokens.c.kind == kind, tokens.c.expires_at > cut).values(expires_at=cut))
            c.execute(insert(tokens).values(token=token, kind=kind, expires_at=expires_at.replace(tzinfo=None)))

    def tokens_issued(self, kind: str) -> int:
        with self.engine.connect() as c:
            return c.scalar(select(func.count()).select_from(tokens).where(tokens.c.kind == kind))

    def live_token(self, kind: str, now: datetime) -> tuple[str, datetime] | None:
        """The newest unexpired token of this kind and its expiry."""
        with self.engine.connect() as c:
            row = c.execute(select(tokens.c.token, tokens.c.expires_at).where(
                tokens.c.kind == kind, tokens.c.expires_at > now.replace(tzinfo=None))
                .order_by(tokens.c.expires_at.desc()).limit(1)).first()
        return None if row is None else (row[0], row[1].replace(tzinfo=now.tzinfo))

    def token_valid(self, token: str, kind: str, now: datetime) -> bool:
        with self.engine.connect() as c:
            exp = c.scalar(select(tokens.c.expires_at).where(tokens.c.token == token, tokens.c.kind == kind))
        return exp is not None and exp > now.replace(tzinfo=None)

    def set_fault(self, api: str, count: int, errcode: int | None, http_status: int | None) -> None:
        with self.engine.begin() as c:
            c.execute(delete(faults).where(faults.c.api == api))
            if count > 0:
                c.execute(insert(faults).values(api=api, remaining=count, errcode=errcode, http_status=http_status))

    def take_fault(self, api: str) -> tuple[int | None, int | None] | None:
        """The next injected failure for `api`, if any (consumed)."""
        with self._lock, self.engine.begin() as c:
            row = c.execute(select(faults).where(faults.c.api == api, faults.c.remaining > 0)).mappings().first()
            if row is None:
                return None
            c.execute(update(faults).where(faults.c.api == api).values(remaining=row["remaining"] - 1))
            return row["errcode"], row["http_status"]

    def reset(self) -> None:
        with self.engine.begin() as c:
            for t in (calls, tokens, faults):
                c.execute(delete(t))
