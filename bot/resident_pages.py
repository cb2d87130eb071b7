"""Pages residents open from the official account, signed in by their openid (bot/resident_oauth.py).

/me, 我的反映: the resident's own reports and those they follow (+1), newest first, with their status.
Only their own reports show their words (phone numbers masked); a followed report is another
resident's, so it shows its number, category, building and status, never its text.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template
from sqlalchemy import select

from bot.resident_oauth import resident_openid_or_redirect
from domain.states import ACTIVE, status_name
from nlp import categories, mask_pii
from storage import repositories as repo
from storage.models import Resident

bp = Blueprint("resident_pages", __name__, template_folder="templates")
SHOWN = 30


@bp.get("/me")
def me():
    openid = resident_openid_or_redirect()
    svc = current_app.extensions["jiesu"]
    tz = ZoneInfo(svc.config.community.timezone)
    with svc.sessions() as s:
        # looked up, not created: opening a page is not contacting the account
        resident_id = s.scalar(select(Resident.id).where(Resident.openid == openid))
        tickets = repo.tickets_of(s, resident_id, limit=SHOWN) if resident_id is not None else []
        rows = [_row(t, t.resident_id == resident_id, tz) for t in tickets]
    page = render_template("resident/me.html", rows=rows, community=svc.config.community.name,
                           hotline=svc.config.community.hotline)
    return page, 200, {"Cache-Control": "private, no-store"}


def _row(t, mine: bool, tz: ZoneInfo) -> dict:
    return {"code": t.code, "category": categories.name_of(t.category), "status": status_name(t.status),
            "active": t.status in ACTIVE, "building": f"{t.building}号楼" if t.building else "",
            "day": t.created_at.astimezone(tz).strftime("%m-%d %H:%M"), "mine": mine,
            "text": mask_pii(t.text or "") if mine else ""}
