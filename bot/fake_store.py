"""What the fake WeChat platform records (local mode only): its own SQLite file, shared by all
worker processes, kept apart from the bot's database so production schemas never carry it."""
from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import (JSON, Boolean, Column, DateTime, Integer, LargeBinary, MetaData, String, Table, create_engine,
                        delete, event, func, insert, select, update)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import normalise_url

meta = MetaData()
calls = Table("calls", meta,
              Column("id", Integer, primary_key=True),
              Column("at", DateTime, nullable=False),
              # robot | mp_custom_send | mp_template_send | mp_media_get | wecom_send | resident | reply | staff ...
              Column("api", String(64), nullable=False),
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
# What WeChat's servers know of each follower: the last interaction that opens the 48-hour
# customer-service window, and whether they have unsubscribed since.
followers = Table("followers", meta,
                  Column("openid", String(128), primary_key=True),
                  Column("last_interaction_at", DateTime),
                  Column("subscribed", Boolean, nullable=False, default=True))
# Media the account has received (photos residents sent), served by the media API.
media = Table("media", meta,
              Column("media_id", String(128), primary_key=True),
              Column("content", LargeBinary, nullable=False),
              Column("content_type", String(64), nullable=False))

# Events that do not open the customer-service window (WeChat counts messages, subscribing,
# scanning a QR code and the click/scan kinds of menu, not links, reported locations or receipts).
PASSIVE_EVENTS = frozenset({"location", "view", "view_miniprogram", "templatesendjobfinish", "masssendjobfinish",
                            "unsubscribe"})
WINDOW_HOURS = 48


def interaction(body) -> tuple[bool, bool | None]:
    """What a resident's recorded action means for the window: (opens it, subscribed after it:
    True/False, or None when it says nothing about subscription). body: {"type", "event"?}; an
    event without its name is a subscribe (the simulator's only event)."""
    body = body if isinstance(body, dict) else {}
    if body.get("type") != "event":
        return True, None
    name = str(body.get("event") or "subscribe").lower()
    if name == "unsubscribe":
        return False, False
    if name == "subscribe":
        return True, True
    return name not in PASSIVE_EVENTS, None


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
        """Record a call. A "resident" record (whoever plays WeChat's servers sends one for every
        message or event a resident makes) also updates that follower's 48-hour window."""
        naive = at.replace(tzinfo=None)
        with self.engine.begin() as c:
            c.execute(insert(calls).values(at=naive, api=api, target=target, body=body, errcode=errcode))
            if api == "resident" and target:
                opens, subscribed = interaction(body)
                values = {}
                if opens:
                    values["last_interaction_at"] = naive
                if subscribed is not None:
                    values["subscribed"] = subscribed
                if values:
                    c.execute(sqlite_insert(followers).values(openid=target, **values)
                              .on_conflict_do_update(index_elements=["openid"], set_=values))

    def follower(self, openid: str) -> tuple[datetime | None, bool] | None:
        """(last interaction, subscribed) of an openid the platform has seen act, else None."""
        with self.engine.connect() as c:
            row = c.execute(select(followers.c.last_interaction_at, followers.c.subscribed)
                            .where(followers.c.openid == openid)).first()
        return None if row is None else (row[0], bool(row[1]))

    def put_media(self, media_id: str, content: bytes, content_type: str) -> None:
        """Media the account has received (a resident's photo), for GET cgi-bin/media/get."""
        with self.engine.begin() as c:
            c.execute(sqlite_insert(media).values(media_id=media_id, content=content, content_type=content_type)
                      .on_conflict_do_update(index_elements=["media_id"],
                                             set_={"content": content, "content_type": content_type}))

    def get_media(self, media_id: str) -> tuple[bytes, str] | None:
        with self.engine.connect() as c:
            row = c.execute(select(media.c.content, media.c.content_type).where(media.c.media_id == media_id)).first()
        return None if row is None else (bytes(row[0]), row[1])

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
            for t in (calls, tokens, faults, followers, media):
                c.execute(delete(t))
