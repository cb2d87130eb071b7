"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) at /open311/v2, for city platforms
(12345, 城市大脑) and third-party apps that speak the standard.

  GET  services.{xml|json}            every category (nlp/data/categories.yaml) is a service
  GET  requests.{xml|json}            tickets: service_request_id, service_code, start_date, end_date, status
  GET  requests/<code>.{xml|json}     one ticket (404 when unknown)
  POST requests.{xml|json}            a new ticket, opened as staff open one (/new); needs an api_key
                                      (bot/api_clients.py), source "open311"

service_request_id is our ticket code. Statuses: ACTIVE -> open; DONE and ENDED -> closed, and
status_notes says which (domain.states.status_name) with the result or reason given. Times are W3C
with the community's UTC offset; expected_datetime is the fix deadline; agency_responsible the grid.

What goes out is public: nothing that names a resident. No openid, phone or resident name is ever a
field; free text (the description, staff's result, the address) has phone and ID numbers masked
(nlp.mask_pii) and room numbers dropped ("3号楼502" -> "3号楼"). Fields that POST may carry about the
person (email, first_name, last_name, phone, account_id, device_id) are not kept.

jurisdiction_id: a community's name or code (several in a deployment serving a 街道); left out, the
whole deployment; any other value is 404. Errors are the spec's list ([{"code", "description"}] / <errors><error>) with
the HTTP status: 400 a missing or bad argument, 403 a missing or bad api_key, 404 what is not here."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import nlp
from flask import Blueprint, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot import api_clients
from bot.open311_format import FORMATS, clean_text, errors, render
from domain.access import Actor
from domain.conversation import Conversation
from domain.states import ACTIVE, EventKind, Role, Source, Status, status_name
from handlers import effects
from handlers.routing import route_in
from nlp import categories
from nlp.datafile import load_yaml
from nlp.types import Location
from storage import repositories as repo
from storage.db import transaction
from storage.models import Grid, Ticket, TicketEvent

log = logging.getLogger(__name__)
bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

WINDOW = timedelta(days=90)         # the spec's default span and the longest a query may ask for
MAX_REQUESTS = 1000                 # the spec's default query limit
MAX_DESCRIPTION = 4000              # the spec's limit on free text
# events whose words explain a closed request: the result, the reason, where it went
NOTE_KINDS = (EventKind.RESOLVED, EventKind.VISITED, EventKind.CANCELLED, EventKind.MERGED, EventKind.REFERRED_OUT)
_FULLWIDTH_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})


class _Problem(Exception):
    def __init__(self, status: int, *descriptions: str):
        super().__init__(descriptions[0])
        self.status, self.descriptions = status, list(descriptions)


def _svc():
    return current_app.extensions["jiesu"]


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise _Problem(404, f"format '{fmt}' is not served: use .xml or .json")
    return fmt


def _check_jurisdiction() -> str | None:
    """The community a request names (by name or code), or None when it names none."""
    given = (request.values.get("jurisdiction_id") or "").strip()
    if not given:
        return None
    served = _svc().config.all_communities()
    for c in served:
        if given in (c.name, c.code):
            return c.code
    raise _Problem(404, f"jurisdiction_id '{given}' was not found: this endpoint serves "
                        + ", ".join(f"'{c.name}'" for c in served))


@bp.errorhandler(_Problem)
def _problem(e: _Problem):
    fmt = request.path.rsplit(".", 1)[-1] if "." in request.path else "xml"
    return errors(fmt, e.status, e.descriptions)


@bp.errorhandler(SQLAlchemyError)
def _database(e: SQLAlchemyError):
    log.warning("open311: database error (%s)", type(e).__name__)
    fmt = request.path.rsplit(".", 1)[-1] if "." in request.path else "xml"
    return errors(fmt, 503, ["the service is unavailable for a moment; try again shortly"])


# -- what may be given out ------------------------------------------------------------------------

def _roomless(loc: Location) -> str:
    return "".join(filter(None, (f"{loc.building}号楼" if loc.building else None,
                                 f"{loc.unit}单元" if loc.unit else None, loc.area)))


def drop_rooms(text: str, room: str | None = None) -> str:
    """Each place named with a room keeps its building, unit and area only ("3号楼502 门口" ->
    "3号楼门口"); the ticket's own room, wherever else it is written, goes too."""
    text = (text or "").translate(_FULLWIDTH_DIGITS)
    out, rest = [], text
    for _ in range(50):
        loc = nlp.find_location(rest)
        at = rest.find(loc.text) if loc is not None and loc.text else -1
        if at < 0:                    # no place left, or written otherwise than read: the fallback below
            break
        out.append(rest[:at] + (_roomless(loc) if loc.room else loc.text))
        rest = rest[at + len(loc.text):]
    text = "".join(out) + rest
    if room:
        text = re.sub(rf"(?<!\d){re.escape(room)}\s*(?:室|号|户)?(?!\d)", "", text)
    return text


def public_text(text: str | None, room: str | None = None, limit: int = MAX_DESCRIPTION) -> str:
    """Free text as the API gives it out: phone and ID numbers masked, rooms dropped."""
    return clean_text(drop_rooms(nlp.mask_pii(text or ""), room)).strip()[:limit]


def _w3c(when: datetime | None, tz: ZoneInfo) -> str | None:
    return None if when is None else when.astimezone(tz).isoformat(timespec="seconds")


def _notice(t, tz: ZoneInfo) -> str | None:
    """What is promised for an open request (the 54321 deadlines); None once it is closed."""
    if Status(t.status) not in ACTIVE:
        return None
    if t.emergency:
        return f"紧急：已通知{t.grid_name}立即处置"
    parts = [f"已推送{t.grid_name}"]
    if t.due_onsite_at and getattr(t, "onsite_at", None) is None:
        parts.append(f"{t.due_onsite_at.astimezone(tz):%m-%d %H:%M}前到场")
    if t.due_fix_at:
        parts.append(f"{t.due_fix_at.astimezone(tz):%m-%d %H:%M}前处理")
    return "，".join(parts)


def _note_text(kind: str, data: dict) -> str:
    if kind == EventKind.MERGED:
        return f"并入 #{data.get('into', '')}"
    return str(data.get("result") or data.get("reason") or data.get("body") or "")


def _request_row(t: Ticket, note: tuple[str, dict] | None, tz: ZoneInfo) -> dict:
    status = Status(t.status)
    open_ = status in ACTIVE
    said = public_text(_note_text(*note), t.room, 500) if (note and not open_) else ""
    closed_at = t.resolved_at or t.closed_at if status not in ACTIVE else None
    address = public_text((t.location_text or "").replace(f"{t.room}室", "") if t.room else t.location_text, t.room, 128)
    return {
        "service_request_id": t.code,
        "status": "open" if open_ else "closed",
        "status_notes": status_name(status) + (f"：{said}" if said else ""),
        "service_name": categories.name_of(t.category),
        "service_code": t.category,
        "description": public_text(t.text, t.room),
        "agency_responsible": t.grid_name,
        "service_notice": _notice(t, tz),
        "requested_datetime": _w3c(t.created_at, tz),
        "updated_datetime": _w3c(closed_at or t.updated_at, tz),
        "expected_datetime": _w3c(t.due_fix_at, tz),
        "address": address or None,
        "lat": t.latitude,
        "long": t.longitude,
    }


def _rows(session, tickets: list[Ticket], tz: ZoneInfo) -> list[dict]:
    closed = [t.id for t in tickets if Status(t.status) not in ACTIVE]
    notes: dict[int, tuple[str, dict]] = {}
    if closed:
        for tid, kind, data in session.execute(
                select(TicketEvent.ticket_id, TicketEvent.kind, TicketEvent.data)
                .where(TicketEvent.ticket_id.in_(closed), TicketEvent.kind.in_([str(k) for k in NOTE_KINDS]))
                .order_by(TicketEvent.id)):
            notes[tid] = (kind, data or {})             # the latest wins
    return [_request_row(t, notes.get(t.id), tz) for t in tickets]


# -- services -------------------------------------------------------------------------------------

@cache
def _keywords() -> dict[str, list[str]]:
    """Each category's phrases, strongest first (nlp/data/phrases.yaml), as the service's keywords."""
    table = load_yaml(Path(nlp.__file__).with_name("data") / "phrases.yaml") or {}
    out = {}
    for code, by_weight in table.items():
        words = [w for weight in sorted((k for k in by_weight if int(k) > 0), key=int, reverse=True)
                 for w in by_weight[weight]]
        out[code] = list(dict.fromkeys(words))
    return out


@cache
def service_rows() -> list[dict]:
    rows = []
    for c in categories.all_categories().values():
        words = _keywords().get(c.code, [])
        example = f"：{'、'.join(words[:4])}等" if words else ""
        urgent = "，紧急类：推送网格群并@网格长" if c.urgent is True else ""
        rows.append({"service_code": c.code, "service_name": c.name,
                     "description": f"{c.name}{example}，由{c.handler}处理{urgent}",
                     "metadata": False, "type": "realtime", "keywords": ",".join(dict.fromkeys([c.name] + words[:12])),
                     "group": c.handler})
    return rows


@bp.get("/services.<fmt>")
def services(fmt: str):
    fmt = _fmt(fmt)
    _check_jurisdiction()
    return render(fmt, "services", "service", service_rows())


# -- reading requests -----------------------------------------------------------------------------

def _listed(name: str) -> list[str]:
    """An argument that can be declared several times, each comma delimited."""
    return [p.strip() for v in request.args.getlist(name) for p in v.split(",") if p.strip()]


def _when(name: str, tz: ZoneInfo) -> datetime | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace(" ", "+") if re.search(r"T.* \d\d:?\d\d$", raw) else raw)
    except ValueError:
        raise _Problem(400, f"{name} '{raw}' is not a W3C date-time such as 2026-11-21T09:00:00+08:00") from None
    if when.tzinfo is None:            # no offset given: the community's own time
        when = when.replace(tzinfo=tz)
    if name == "end_date" and re.fullmatch(r"\d{4}-\d\d-\d\d", raw):
        when += timedelta(days=1)      # a whole day: end_date=2026-11-21 includes the 21st
    return when


@bp.get("/requests.<fmt>")
def list_requests(fmt: str):
    fmt = _fmt(fmt)
    community = _check_jurisdiction()
    svc = _svc()
    tz = ZoneInfo(svc.config.community.timezone)
    q = select(Ticket)
    if community is not None and svc.config.communities:
        q = q.where(Ticket.grid_id.in_(select(Grid.id).where(Grid.community == community)))
    ids = _listed("service_request_id")
    if ids:                                           # "this overrides all other arguments"
        q = q.where(Ticket.code.in_(ids[:MAX_REQUESTS]))
    else:
        start, end = _when("start_date", tz), _when("end_date", tz)
        if start is None and end is None:
            end = svc.clock.now()
        start = start if start is not None else end - WINDOW
        end = end if end is not None else start + WINDOW
        if end < start:
            raise _Problem(400, "end_date is before start_date")
        if end - start > WINDOW:
            raise _Problem(400, "start_date and end_date may not span more than 90 days")
        q = q.where(Ticket.created_at >= start, Ticket.created_at <= end)
        codes = _listed("service_code")
        if codes:
            q = q.where(Ticket.category.in_(codes))
        wanted = set(_listed("status"))
        if wanted - {"open", "closed"}:
            raise _Problem(400, f"status '{','.join(sorted(wanted - {'open', 'closed'}))}' is not known: "
                                f"use open, closed or both")
        if wanted == {"open"}:
            q = q.where(Ticket.status.in_([str(s) for s in ACTIVE]))
        elif wanted == {"closed"}:
            q = q.where(Ticket.status.not_in([str(s) for s in ACTIVE]))
    q = q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAX_REQUESTS)
    with svc.sessions() as s:
        tickets = list(s.scalars(q).unique())
        rows = _rows(s, tickets, tz)
    return render(fmt, "service_requests", "request", rows)


@bp.get("/requests/<sid>.<fmt>")
def one_request(sid: str, fmt: str):
    fmt = _fmt(fmt)
    _check_jurisdiction()
    svc = _svc()
    with svc.sessions() as s:
        t = repo.ticket_by_code(s, sid.strip())
        if t is None:
            raise _Problem(404, f"service_request_id '{sid}' was not found")
        rows = _rows(s, [t], ZoneInfo(svc.config.community.timezone))
    return render(fmt, "service_requests", "request", rows)


# -- creating a request ---------------------------------------------------------------------------

def _point(form) -> tuple[float, float] | None:
    lat, lng = (form.get("lat") or "").strip(), (form.get("long") or "").strip()
    if not lat and not lng:
        return None
    if not (lat and lng):
        raise _Problem(400, "lat and long must both be sent")
    try:
        point = float(lat), float(lng)
    except ValueError:
        raise _Problem(400, "lat and long must be decimal degrees (WGS84)") from None
    if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        raise _Problem(400, "lat must be within -90..90 and long within -180..180")
    return point


def _arguments(form) -> tuple[str, str, str, tuple[float, float] | None]:
    code = (form.get("service_code") or "").strip()
    description = (form.get("description") or "").strip()
    address = (form.get("address_string") or "").strip()
    missing = []
    if not code:
        missing.append("service_code was not provided")
    if not description:
        missing.append("description was not provided: say what the problem is")
    point = _point(form)
    if point is None and not address:
        missing.append("address_id is not used here: send lat & long or address_string" if form.get("address_id")
                       else "a location was not provided: send lat & long or address_string")
    if missing:
        raise _Problem(400, *missing)
    if len(description) > MAX_DESCRIPTION:
        raise _Problem(400, "description is longer than 4,000 characters")
    if len(address) > 200:
        raise _Problem(400, "address_string is longer than 200 characters")
    if code not in categories.all_categories():
        raise _Problem(404, f"service_code '{code}' was not found: GET services for the list")
    return code, description, address, point


@bp.post("/requests.<fmt>")
def create_request(fmt: str):
    fmt = _fmt(fmt)
    svc = _svc()
    form = request.form
    key = form.get("api_key") or request.args.get("api_key")
    with svc.sessions() as s:
        client = api_clients.verify(s, key)
        name = client.name if client is not None else None
    if name is None:
        raise _Problem(403, "api_key was not provided" if not key else "api_key is not valid")
    community = _check_jurisdiction()
    code, description, address, point = _arguments(form)
    now = svc.clock.now()
    tz = ZoneInfo(svc.config.community.timezone)
    actor = Actor(Role.SYSTEM, f"open311:{name}", f"Open311 {name}")
    with transaction(svc.sessions) as s:
        t, c = open_request(svc.intake, s, actor, code, f"{address} {description}" if address else description,
                            point, now, via=name, community=community)
    svc.wake_outbox()
    log.info("open311: %s opened #%s (%s)", name, t.code, code)
    notice = _notice(t, tz)
    if c.emergency is not None:
        notice = f"如有人身危险，请立即拨打{c.emergency.number}。{notice}"
    return render(fmt, "service_requests", "request", [{"service_request_id": t.code, "service_notice": notice}])


def open_request(intake, session, actor: Actor, category: str, text: str, point, now: datetime, *, via: str,
                 community: str | None = None):
    """A ticket the way /new opens one (Intake.open_for_staff): classified for its place and any
    emergency, routed, opened by the domain and pushed to the grid, but filed under the service_code
    the client chose and recorded with source open311. Returns (ticket values, classification)."""
    c = intake.classify(text)
    loc = c.location
    grid_name, _located, _ = route_in(loc, text, intake.s.grid_rules, intake.s.default_grid, intake.s.communities,
                                      community)
    grid = (intake.grids or {}).get(grid_name) or repo.grid_by_name(session, grid_name)
    conv = Conversation(location={"lat": point[0], "lng": point[1]} if point else None)
    t, out = intake._new_ticket(session, None, conv, actor, grid, category, text, loc, now, c=c,
                                source=Source.OPEN311, via=via)
    effects.apply(session, t, out, actor, now, intake.d, grid)
    return t, c
