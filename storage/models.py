"""Typed SQLAlchemy 2.x models. Times are stored as naive UTC and read back as aware UTC."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import false as sa_false
from sqlalchemy import (JSON, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy import event
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware UTC in Python, naive UTC in the database (SQLite has no time zones)."""
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON}


class Resident(Base):
    __tablename__ = "resident"
    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    building: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    # conversation state: {"menu": {...}} while a category menu is open, {"location": {...}} kept for the next ticket
    state: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # the name the resident agreed to show on the monthly points ranking ("积分实名 张阿姨"); None: anonymous
    points_name: Mapped[str | None] = mapped_column(String(32))
    # the room the resident registered ("登记房号"): a vote counts one per household (domain/consultation.py)
    unit: Mapped[str | None] = mapped_column(String(8))
    room: Mapped[str | None] = mapped_column(String(16))
    # the questionnaire waiting for this resident's answers (read with every message at no extra cost:
    # handlers/poll_answers.py); cleared when they finish or the poll closes. No FK: a pointer, not data.
    asked_poll_id: Mapped[int | None] = mapped_column(Integer)
    # the community the resident last reported in (a shared account serving several communities)
    community: Mapped[str | None] = mapped_column(String(32))


class Grid(Base):
    __tablename__ = "grid"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    buildings: Mapped[str] = mapped_column(String(256), default="")
    leader_name: Mapped[str] = mapped_column(String(64))
    leader_userid: Mapped[str] = mapped_column(String(64))
    robot_key: Mapped[str] = mapped_column(String(128))
    # the community (config communities[].code; "default" for a single one): a ticket's is its grid's
    community: Mapped[str] = mapped_column(String(32), default="default", server_default="default", index=True)


ACTIVE_SQL = "status IN ('open', 'assigned', 'onsite', 'planned', 'referred')"
LISTED_SQL = ACTIVE_SQL + " AND priority IS NOT NULL"


class Ticket(Base):
    __tablename__ = "ticket"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)      # 20261121-0007
    category: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[str] = mapped_column(String(16))               # urgent | normal
    emergency: Mapped[str | None] = mapped_column(String(16))       # fire | gas | trapped | injury | violence
    status: Mapped[str] = mapped_column(String(16), index=True)     # domain.states.Status
    round: Mapped[int] = mapped_column(Integer, default=1)          # a reopen starts a new round: clocks reset
    source: Mapped[str] = mapped_column(String(16), default="wechat")   # domain.states.Source
    round_started_at: Mapped[datetime | None]                       # the reopen that began this round
    text: Mapped[str] = mapped_column(Text, default="")
    search: Mapped[str] = mapped_column(Text, default="")   # text and place as search terms (storage/search.py)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    terms: Mapped[list] = mapped_column(default=list)
    category_confirmed: Mapped[bool] = mapped_column(Boolean, default=True)
    needs_detail: Mapped[bool] = mapped_column(Boolean, default=False)  # opened by a photo, waiting for words
    location_text: Mapped[str | None] = mapped_column(String(128))
    building: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(16))
    room: Mapped[str | None] = mapped_column(String(16))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    due_onsite_at: Mapped[datetime | None]
    due_fix_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(String(64))      # WeCom userid of who handles it
    onsite_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)            # the reporter's latest 1-5 (all: ticket_rating)
    planned_at: Mapped[datetime | None]
    visited_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    last_urged_at: Mapped[datetime | None]                         # 催办: at most once an hour

    grid: Mapped[Grid] = relationship(lazy="joined")
    resident: Mapped[Resident | None] = relationship()
    attachments: Mapped[list["Attachment"]] = relationship(order_by="Attachment.id")

    __table_args__ = (Index("ix_ticket_resident_created", "resident_id", "created_at"),
                      # the desk's filters and the weekly numbers (bot/desk.py, handlers/stats*.py)
                      Index("ix_ticket_grid_status", "grid_id", "status"),
                      # PostgreSQL: with the grid (and category, building), so the weekly review's
                      # counts are index-only scans (migration 0016)
                      Index("ix_ticket_created_at", "created_at", postgresql_include=["grid_id", "category", "building"]),
                      # a rating's grid by index-only lookup (the weekly review of one grid); PostgreSQL only
                      Index("ix_ticket_grid_of", "id", postgresql_include=["grid_id"]).ddl_if(dialect="postgresql"),
                      Index("ix_ticket_resolved_at", "resolved_at", postgresql_include=["grid_id"]),
                      Index("ix_ticket_due_fix", "due_fix_at"),
                      Index("ix_ticket_updated_at", "updated_at"),        # the agenda: moved since
                      # a report's "+1" candidates (repositories.open_tickets_like) and the review's
                      # open counts; the states are domain.states.ACTIVE's, as migration 0016 wrote them
                      Index("ix_ticket_active_like", "grid_id", "category", postgresql_include=["created_at", "due_fix_at"],
                            postgresql_where=sql_text(ACTIVE_SQL), sqlite_where=sql_text(ACTIVE_SQL)),
                      # /list's order (handlers/commands/tickets.py): the first page without sorting every
                      # open ticket; "priority IS NOT NULL" keeps other plans away from it (migration 0016)
                      Index("ix_ticket_active_order", sql_text("priority DESC"), "created_at",
                            postgresql_where=sql_text(LISTED_SQL), sqlite_where=sql_text(LISTED_SQL)))

    @property
    def grid_name(self) -> str:
        return self.grid.name


class TicketCounter(Base):
    """Per-day sequence for ticket codes; bumped with an atomic upsert so workers never collide."""
    __tablename__ = "ticket_counter"
    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Attachment(Base):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))          # image | location | voice
    media_id: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    # a photo fetched from WeChat's media API and kept by the bot (media.folder)
    path: Mapped[str | None] = mapped_column(String(256))
    content_type: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int | None] = mapped_column(Integer)
    fetched_at: Mapped[datetime | None]


class TicketFollower(Base):
    """Residents who reported the same problem ("+1"); they receive the ticket's updates."""
    __tablename__ = "ticket_follower"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("ticket_id", "resident_id"),)


class TicketEvent(Base):
    """Append-only history. actor: 'resident:<openid>', 'staff:<userid>', 'bot', 'scheduler'."""
    __tablename__ = "ticket_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(default=dict)


class TicketMilestone(Base):
    """One promise of one round of a ticket (onsite, fix, plan, visit, a party's reply): when it is
    due, when it was met, and how far its warning/escalation ladder has gone. next_check_at is set
    only while something is still to be sent, so the sweep reads an index, never the history."""
    __tablename__ = "ticket_milestone"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    round: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(16))            # domain.states.Milestone
    party: Mapped[str] = mapped_column(String(32), default="")  # for a party's reply; "" otherwise
    due_at: Mapped[datetime | None]                          # None: no deadline (e.g. emergencies' fix)
    met_at: Mapped[datetime | None]
    late_seconds: Mapped[int | None] = mapped_column(Integer)   # clock time past due when met (0: on time)
    stage: Mapped[int] = mapped_column(Integer, default=0)  # 0 nothing sent, 1 warned, 2.. escalation steps
    next_check_at: Mapped[datetime | None]
    # Copies on the row for the on_time figures (handlers/stats.py), which then read only the period's
    # milestones and no ticket: when the round began (its registration; the report in round 1), and
    # the ticket's grid (a trigger of migration 0012 follows ticket.grid_id). Written by
    # handlers/effects.py; None only on rows written around it.
    round_started_at: Mapped[datetime | None]
    grid_id: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("ticket_id", "round", "name", "party"),
                      Index("ix_milestone_next_check", "next_check_at"),
                      Index("ix_milestone_due", "due_at"), Index("ix_milestone_met", "met_at"),
                      # on_time's promises still open, by when they fall due: a few, not the history
                      Index("ix_milestone_unmet_due", "due_at", postgresql_where=sql_text("met_at IS NULL"),
                            sqlite_where=sql_text("met_at IS NULL")))


class TicketParty(Base):
    """A party handling the ticket (三驾马车, 专科医生, 吹哨报到): the lead one and those referred."""
    __tablename__ = "ticket_party"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    party: Mapped[str] = mapped_column(String(32))           # a code from config parties
    role: Mapped[str] = mapped_column(String(8))             # lead | co
    round: Mapped[int] = mapped_column(Integer, default=1)
    referred_at: Mapped[datetime]
    referred_by: Mapped[str] = mapped_column(String(96))
    note: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]
    reply: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("ticket_id", "party"), Index("ix_ticket_party_party", "party", "ticket_id"))


class TicketCard(Base):
    """An interactive WeCom card about a ticket, as sent to one staff member (handlers/cards.py).
    WeCom lets a card be changed only with a response_code: the send returns one, each tap's
    callback brings a new one; each is good once, for 72 hours. The newest unspent one is kept here."""
    __tablename__ = "ticket_card"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(String(128), unique=True)   # ours; WeCom echoes it on a tap
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    userid: Mapped[str] = mapped_column(String(64))
    notice: Mapped[str] = mapped_column(String(32))                  # what the card was sent for
    response_code: Mapped[str | None] = mapped_column(String(256))   # newest unspent, or None
    code_at: Mapped[datetime | None]                                 # when it was issued (72 h)
    shows: Mapped[str | None] = mapped_column(String(64))            # the state the card shows now
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]


class StaffPrompt(Base):
    """A move a staff member started with a tap that needs words (办结 needs the result, 转派 the
    party): their next plain message answers it. One at a time per person; it expires."""
    __tablename__ = "staff_prompt"
    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    move: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class TicketRating(Base):
    """Each resident's rating of a round of a ticket (reporter and "+1" followers alike).
    score NULL: asked, not yet answered."""
    __tablename__ = "ticket_rating"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    round: Mapped[int] = mapped_column(Integer)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    requested_at: Mapped[datetime]
    score: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("ticket_id", "round", "resident_id"),
                      Index("ix_rating_resident", "resident_id", "score"),
                      Index("ix_rating_rated_at", "rated_at", postgresql_include=["ticket_id", "score"]))


class InboundMessage(Base):
    """Every message as received, kept even when handling fails. dedupe_key makes retries idempotent
    across workers: MsgId for messages, FromUserName+CreateTime(+Event) for events."""
    __tablename__ = "inbound_message"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    msg_type: Mapped[str] = mapped_column(String(32))
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    # received (being handled, or left by a dead worker once lease_until passes) | handled |
    # failed (retried at next_attempt_at) | dead (retries spent; the committee was told)
    status: Mapped[str] = mapped_column(String(16))
    reply: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    # who handles it: "mp" (residents, Intake) or "wecom" (staff commands, StaffDesk)
    source: Mapped[str] = mapped_column(String(8), default="mp", server_default="mp")
    inbound: Mapped[dict | None] = mapped_column(JSON)   # the parsed message (handlers.inbound.Inbound)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_until: Mapped[datetime | None]                  # a handler is at work on it until then
    next_attempt_at: Mapped[datetime | None]
    reply_deferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    handled_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]                    # raw XML and text masked after retention
    __table_args__ = (Index("ix_inbound_pending", "status", "next_attempt_at"),
                      Index("ix_inbound_received_at", "received_at"),
                      Index("ix_inbound_openid_received", "openid", "received_at"))   # flood limits


class Outbox(Base):
    """Pending deliveries (group pushes, messages to residents and staff), sent by the outbox worker.
    A row is claimed atomically (status pending -> sending) so no two workers send it."""
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(32))      # robot | mp_text | wecom_text | wecom_card | …
    target: Mapped[str] = mapped_column(String(128))      # robot key / openid / wecom userid
    payload: Mapped[dict] = mapped_column(default=dict)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")   # pending|sending|sent|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # 0 normal, 1 emergency: emergencies are claimed first and alone
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ix_outbox_target_created", "target", "created_at"))


class JobRun(Base):
    """A timed job that must run once per deployment and period (the weekly retraining): the
    worker whose insert wins runs it; the row keeps what happened."""
    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("name", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(32))             # 2026-W47
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict] = mapped_column(default=dict)


class KeyValue(Base):
    """Small shared values with an expiry, seen by every worker: the WeChat access tokens (each
    new official-account token revokes the previous one, so workers must share one)."""
    __tablename__ = "kv_cache"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]


class DeskUser(Base):
    """A login to the web desk. It acts as one staff member of config (`staff_userid`, their WeCom
    userid): the same role, grid and party, so the desk makes the moves chat would allow them."""
    __tablename__ = "desk_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))          # argon2id (bot/users.py)
    staff_userid: Mapped[str] = mapped_column(String(64))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    session_version: Mapped[int] = mapped_column(Integer, default=1)  # bumped to sign every session out
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class ApiClient(Base):
    """A client of the Open311 API (bot/open311.py): POST needs its key; only a hash is kept."""
    __tablename__ = "api_client"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)    # sha256 hex of the key
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


@event.listens_for(Ticket.text, "set")
@event.listens_for(Ticket.location_text, "set")
def _keep_search_terms(target: Ticket, value, _old, initiator) -> None:
    """A ticket's search terms follow its text and place (Core inserts set them in insert_ticket)."""
    from storage.search import document
    text = value if initiator.key == "text" else target.text
    place = value if initiator.key == "location_text" else target.location_text
    target.search = document(text, place)


class PointEntry(Base):
    """服务积分, an append-only ledger (storage/points.py): a balance is SUM(amount). An entry is never
    edited or deleted; a mistake is undone by a reversal, a new entry pointing at the one it cancels
    (reverses_id, unique: an entry is reversed at most once). The name of the rule or item is kept
    as it was, so the history reads the same after config.yaml changes."""
    __tablename__ = "point_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    amount: Mapped[int] = mapped_column(Integer)       # award > 0, redeem < 0, reverse: minus the entry reversed
    kind: Mapped[str] = mapped_column(String(8))       # award | redeem | reverse
    code: Mapped[str] = mapped_column(String(32))      # points.rules / points.catalogue code (a reversal: its entry's)
    name: Mapped[str] = mapped_column(String(32))      # that rule's or item's name when the entry was made
    reason: Mapped[str] = mapped_column(Text, default="")   # why, in the staff member's words
    actor: Mapped[str] = mapped_column(String(96))     # staff:<userid>
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"))   # the ticket that named the resident
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("point_entry.id"))
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("reverses_id"),
                      Index("ix_point_entry_resident", "resident_id", "id"),    # balance and history
                      Index("ix_point_entry_created", "created_at"),            # the monthly ranking
                      Index("ix_point_entry_ticket", "ticket_id"),              # one report award per ticket
                      CheckConstraint("kind IN ('award', 'redeem', 'reverse')", name="ck_point_entry_kind"),
                      CheckConstraint("(kind = 'award' AND amount > 0) OR (kind = 'redeem' AND amount < 0) "
                                      "OR (kind = 'reverse' AND amount <> 0)", name="ck_point_entry_sign"),
                      CheckConstraint("(kind = 'reverse') = (reverses_id IS NOT NULL)", name="ck_point_entry_reverses"))


class Poll(Base):
    """问卷 or 表决 (domain/consultation.py). The questions are fixed once residents are asked, so
    they live on the row as JSON; the audience is resolved into poll_invite rows when it is sent."""
    __tablename__ = "poll"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))                # survey | vote
    questions: Mapped[list] = mapped_column(JSON)               # [Question.to_json()]
    audience: Mapped[dict] = mapped_column(JSON)                # {"all"} | {"buildings", "grids", "category"}
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    rule: Mapped[str | None] = mapped_column(String(16))        # votes: majority | three_quarters | two_thirds
    quorum: Mapped[str | None] = mapped_column(String(8))       # votes: a fraction of households, "2/3"
    households: Mapped[int | None] = mapped_column(Integer)     # votes: eligible households, as staff gave it
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8), default="open")   # open | closed
    created_by: Mapped[str] = mapped_column(String(96))         # staff:<userid>
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[dict | None] = mapped_column(JSON)          # the final report's figures, kept as closed
    community: Mapped[str | None] = mapped_column(String(32))   # its asker's; None: the 街道's, or the one community
    __table_args__ = (Index("ix_poll_due", "status", "deadline"),
                      CheckConstraint("kind IN ('survey', 'vote')", name="ck_poll_kind"))


class PollInvite(Base):
    """A resident asked a poll, and how far they got (step: the next question to ask)."""
    __tablename__ = "poll_invite"
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, default=0)
    prompted_at: Mapped[datetime | None]      # the last time a question was put to them
    done_at: Mapped[datetime | None]


class PollAnswer(Base):
    """One answer to one question; changed in place until the deadline (the last word counts).
    household: a vote's room key; unique per question, so a household votes once."""
    __tablename__ = "poll_answer"
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[object | None] = mapped_column(JSON)          # option index, [indexes], 1-5, words; null: skipped
    household: Mapped[str | None] = mapped_column(String(48))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("poll_id", "position", "household", name="uq_poll_answer_household"),)


class Notice(Base):
    """A notice to residents (停水通知, 居民代表会议, a volunteer call), optionally with sign-up:
    capacity places, then a waiting list; a reminder the day before event_at."""
    __tablename__ = "notice"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    audience: Mapped[dict] = mapped_column(JSON)
    signup: Mapped[bool] = mapped_column(Boolean, default=False)
    capacity: Mapped[int | None] = mapped_column(Integer)       # None: no limit
    event_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    community: Mapped[str | None] = mapped_column(String(32))   # its sender's; None: the 街道's, or the one community
    __table_args__ = (Index("ix_notice_remind", "reminded_at", "event_at"),)


class NoticeRecipient(Base):
    __tablename__ = "notice_recipient"
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id"), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), primary_key=True)
    __table_args__ = (Index("ix_notice_recipient_resident", "resident_id", "notice_id"),)


class NoticeSignup(Base):
    """报名: in (has a place), waiting (in line by id), cancelled. Attendance is recorded by staff."""
    __tablename__ = "notice_signup"
    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    attended_at: Mapped[datetime | None]
    attended_by: Mapped[str | None] = mapped_column(String(96))
    __table_args__ = (UniqueConstraint("notice_id", "resident_id"),
                      CheckConstraint("status IN ('in', 'waiting', 'cancelled')", name="ck_notice_signup_status"))
