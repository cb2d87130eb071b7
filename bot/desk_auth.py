"""Sessions of the web desk: who is signed in, CSRF tokens on every form, the session cookie.

The cookie is Flask's signed session (HttpOnly, SameSite=Lax, Secure when the bot is reached over
HTTPS) holding the user's id, the account's session_version (bumped by `python -m bot.users
signout` or a password change, which signs every session out) and the CSRF token. Its key is
derived from a secret of config (never written anywhere), like the photo links' (bot/media.py).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import wraps

from flask import abort, current_app, g, redirect, request, session, url_for

from domain.access import Actor
from storage.models import DeskUser

SESSION_HOURS = 12


def configure(app, cfg) -> None:
    app.secret_key = hmac.new(cfg.wecom.callback_aes_key.encode("utf-8"), b"jiesu-desk-session",
                              hashlib.sha256).digest()
    app.config.update(SESSION_COOKIE_NAME="jiesu_desk", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_PATH="/desk",
                      SESSION_COOKIE_SECURE=cfg.server.public_url.startswith("https://") or not cfg.local_mode,
                      PERMANENT_SESSION_LIFETIME=SESSION_HOURS * 3600)


def sign_in(user: DeskUser) -> None:
    session.clear()                     # a new session id's worth of state: no fixation
    session.permanent = True
    session.update(uid=user.id, ver=user.session_version, csrf=secrets.token_urlsafe(24))


def sign_out() -> None:
    session.clear()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def check_csrf() -> None:
    """Every POST carries the session's token (forms: a hidden csrf_token field)."""
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, description="表单已过期或来源不明，请刷新页面后重试")


def current(services) -> tuple[DeskUser, Actor] | None:
    """The signed-in user and the staff member they act as, or None (then: sign in again)."""
    uid = session.get("uid")
    if uid is None:
        return None
    with services.sessions() as s:
        user = s.get(DeskUser, uid)
        if user is None or user.session_version != session.get("ver"):
            return None
        s.expunge(user)
    actor = services.directory.staff.get(user.staff_userid)
    return (user, actor) if actor is not None else None      # removed from config: no desk either


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        services = current_app.extensions["jiesu"]
        who = current(services)
        if who is None:
            sign_out()
            return redirect(url_for("desk.login", next=request.full_path if request.method == "GET" else None))
        g.user, g.actor = who
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)
    return wrapper
