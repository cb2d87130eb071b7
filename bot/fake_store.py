"""What the fake WeChat platform records (local mode only): its own SQLite file, shared by all
worker processes, kept apart from the bot's database so production schemas never carry it."""
from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta

from sqlalchemy import (JSON, Boolean, Column, DateTime, Integer, LargeBinary, MetaData, String, Table, create_engine,
                        delete, event, func, insert, select, update)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError

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
# Interactive WeCom cards (template_card) each staff member holds, newest content, by (task_id, userid),
# and the response codes that allow changing them: one per send (for its recipients) and one per tap
# (issue_code), each good once for CODE_HOURS.
wecom_cards = Table("wecom_cards", meta,
                    Column("task_id", String(128), primary_key=True),
                    Column("userid", String(64), primary_key=True),
                    Column("card", JSON, nullable=False),
                    Column("updated_at", DateTime, nullable=False))
card_codes = Table("card_codes", meta,
                   Column("code", String(64), primary_key=True),
                   Column("task_id", String(128), nullable=False),
                   Column("userids", JSON, nullable=False),
                   Column("issued_at", DateTime, nullable=False),
                   Column("used_at", DateTime))
CODE_HOURS = 72
CODE_INVALID = 40078            # the fake's errcode for an unknown, spent or expired response_code
# 网页授权 codes (bot/fake_platform.py's authorize pages): who the browser chose to be, good once for
# OAUTH_CODE_MINUTES, as WeChat's and WeCom's are. kind: "wecom" (a userid) or "mp" (an openid).
oauth_codes = Table("oauth_codes", meta,
                    Column("code", String(64), primary_key=True),
                    Column("kind", String(8), nullable=False),
                    Column("subject", String(128), nullable=False),
                    Column("issued_at", DateTime, nullable=False),
                    Column("used_at", DateTime))
OAUTH_CODE_MINUTES = 5

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


def _create_schema(engine) -> None:
    """create_all checks then creates, so two processes starting together (gunicorn's workers and
    the background worker) can both see no table and one fails with "already exists": try again,
    and the second look finds the tables."""
    for attempt in range(3):
        try:
            meta.create_all(engine)
            return
        except OperationalError as e:
            if "already exists" not in str(e) or attempt == 2:
                raise


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

        _create_schema(self.engine)
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

    # -- interactive WeCom cards -----------------------------------------------------------------------
    def send_card(self, task_id: str, userids: list[str], card: dict, now: datetime) -> str | None:
        """A card sent (message/send, template_card) to these users: recorded as the card each holds,
        and a fresh response code for it returned. None (nothing recorded) when the task_id is already
        another user's card: WeCom wants task ids unique within the app (the same user receiving the
        same task again, an at-least-once resend, replaces the card)."""
        naive = now.replace(tzinfo=None)
        with self._lock, self.engine.begin() as c:
            holders = set(c.scalars(select(wecom_cards.c.userid).where(wecom_cards.c.task_id == task_id)))
            if holders - set(userids):
                return None
            for u in userids:
                c.execute(sqlite_insert(wecom_cards).values(task_id=task_id, userid=u, card=card, updated_at=naive)
                          .on_conflict_do_update(index_elements=["task_id", "userid"],
                                                 set_={"card": card, "updated_at": naive}))
            return self._new_code(c, task_id, list(userids), naive)

    def issue_code(self, task_id: str, userid: str, now: datetime) -> str:
        """A fresh response code for this user's card, as the callback of a tap on it carries."""
        with self._lock, self.engine.begin() as c:
            return self._new_code(c, task_id, [userid], now.replace(tzinfo=None))

    @staticmethod
    def _new_code(c, task_id: str, userids: list[str], naive: datetime) -> str:
        code = "rc-" + secrets.token_hex(16)
        c.execute(insert(card_codes).values(code=code, task_id=task_id, userids=userids, issued_at=naive))
        return code

    def update_card(self, code: str, userids: list[str], card: dict, now: datetime) -> tuple[int, str, list[str]]:
        """message/update_template_card: spend the code (it must exist, be unused and at most CODE_HOURS
        old) and replace the card of each of these users that holds the code's card. Returns
        (errcode, errmsg, the users that hold no such card); nothing changes unless errcode is 0."""
        naive = now.replace(tzinfo=None)
        with self._lock, self.engine.begin() as c:
            row = c.execute(select(card_codes).where(card_codes.c.code == code)).mappings().first()
            if row is None:
                return CODE_INVALID, "invalid response_code", []
            if row["used_at"] is not None:
                return CODE_INVALID, "response_code has been used", []
            if naive - row["issued_at"] > timedelta(hours=CODE_HOURS):
                return CODE_INVALID, "response_code expired", []
            if card.get("task_id") != row["task_id"]:
                return 40058, "invalid task_id: not the card of this response_code", []
            held = set(c.scalars(select(wecom_cards.c.userid).where(wecom_cards.c.task_id == row["task_id"],
                                                                  wecom_cards.c.userid.in_(userids))))
            missing = [u for u in userids if u not in held]
            if not held:
                return 40031, "invalid user list: nobody holds this card", missing
            spent = c.execute(update(card_codes).where(card_codes.c.code == code, card_codes.c.used_at.is_(None))
                              .values(used_at=naive))
            if spent.rowcount != 1:
                return CODE_INVALID, "response_code has been used", []
            c.execute(update(wecom_cards).where(wecom_cards.c.task_id == row["task_id"], wecom_cards.c.userid.in_(held))
                      .values(card=card, updated_at=naive))
            return 0, "ok", missing

    def cards(self, userid: str | None = None) -> list[dict]:
        """The cards staff hold, the newest content of each, most recently changed first:
        [{"task_id", "userid", "card", "updated_at" (ISO, "Z")}]."""
        q = select(wecom_cards).order_by(wecom_cards.c.updated_at.desc(), wecom_cards.c.task_id, wecom_cards.c.userid)
        if userid is not None:
            q = q.where(wecom_cards.c.userid == userid)
        with self.engine.connect() as c:
            rows = c.execute(q).mappings().all()
        return [{"task_id": r["task_id"], "userid": r["userid"], "card": r["card"],
                 "updated_at": r["updated_at"].isoformat() + "Z"} for r in rows]

    def reset(self) -> None:
        with self.engine.begin() as c:
            for t in (calls, tokens, faults, followers, media, wecom_cards, card_codes, oauth_codes):
                c.execute(delete(t))

    # -- 网页授权 codes ----------------------------------------------------------------------------------
    def issue_oauth_code(self, kind: str, subject: str, now: datetime) -> str:
        code = secrets.token_hex(16)
        with self.engine.begin() as c:
            c.execute(insert(oauth_codes).values(code=code, kind=kind, subject=subject,
                                                 issued_at=now.replace(tzinfo=None)))
        return code

    def spend_oauth_code(self, code: str, kind: str, now: datetime) -> tuple[str | None, str]:
        """(the subject, "ok") once; then (None, "used"); (None, "invalid") for an unknown, another
        kind's or an expired code."""
        naive = now.replace(tzinfo=None)
        with self._lock, self.engine.begin() as c:
            row = c.execute(select(oauth_codes).where(oauth_codes.c.code == code, oauth_codes.c.kind == kind)).first()
            if row is None or naive - row.issued_at > timedelta(minutes=OAUTH_CODE_MINUTES):
                return None, "invalid"
            spent = c.execute(update(oauth_codes).where(oauth_codes.c.code == code, oauth_codes.c.used_at.is_(None))
                              .values(used_at=naive))
            return (row.subject, "ok") if spent.rowcount == 1 else (None, "used")
