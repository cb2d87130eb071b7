"""Photos residents send (随手拍), kept by the bot.

WeChat keeps a message's media for three days only, so the intake queues an `mp_media` outbox row
for each photo: channel "mp_media", target the media id, payload {"kind": "fetch_media",
"attachment_id", "ticket_id", "robot_key" (the grid's, or None)}. The outbox worker downloads it
(Transports.fetch_media: type by magic bytes, size capped) and calls keep_photo(), which writes the
file atomically under media.folder, records it on the attachment row and, for a JPEG or PNG of at most
2 MB with a robot key, queues the group-robot image push (dedupe key f"a{attachment_id}:photo", so a
re-run after a crash never pushes twice).

The blueprint serves a kept photo at /media/<attachment_id>?sig=… (handlers/links.py signs the links
with link_secret(config)): 403 for a bad signature, 404 for an unknown or not yet fetched photo.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import tempfile

from flask import Blueprint, current_app, request, send_from_directory
from sqlalchemy import update
from werkzeug.exceptions import NotFound

from bot.transports import ROBOT_IMAGE_MAX, ROBOT_IMAGE_TYPES, DeliveryError, Media
from handlers.links import check_sig
from storage import repositories as repo
from storage.models import Attachment

log = logging.getLogger(__name__)
bp = Blueprint("media", __name__)
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}


def link_secret(cfg) -> bytes:
    """The key of photo links, derived from a secret the deployment already has (the WeCom callback
    AES key), so that no new setting is needed and the key itself is never stored or logged."""
    return hmac.new(cfg.wecom.callback_aes_key.encode("utf-8"), b"jiesu-media-link", hashlib.sha256).digest()


def photo_file_name(attachment_id: int, content_type: str) -> str:
    """From the attachment id only (never from the media id, which is text from outside)."""
    return f"photo-{int(attachment_id)}{EXTENSIONS[content_type]}"


def _write_atomic(folder: str, name: str, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `name`: a reader sees the
    whole photo or none."""
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(folder, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def robot_image_body(data: bytes) -> dict:
    return {"msgtype": "image", "image": {"base64": base64.b64encode(data).decode("ascii"),
                                          "md5": hashlib.md5(data).hexdigest()}}


def keep_photo(sessions, clock, media_cfg, payload: dict, media: Media) -> bool:
    """Keep a downloaded photo (see the module's docstring). Returns True when the photo has a group
    push in the outbox (queued now or by an earlier run). Raises DeliveryError: permanent for a payload without attachment or an attachment that
    no longer exists, not permanent when the file cannot be written (a full disk may be emptied)."""
    try:
        attachment_id = int(payload["attachment_id"])
    except (KeyError, TypeError, ValueError):
        raise DeliveryError("mp_media payload has no attachment_id", permanent=True) from None
    folder = os.path.abspath(media_cfg.folder)
    name = photo_file_name(attachment_id, media.content_type)
    try:
        _write_atomic(folder, name, media.content)
    except OSError as e:
        raise DeliveryError(f"cannot write to media.folder: {type(e).__name__} {e.strerror or ''}".strip()) from None
    now = clock.now()
    robot_key = payload.get("robot_key")
    pushable = media.content_type in ROBOT_IMAGE_TYPES and len(media.content) <= ROBOT_IMAGE_MAX
    with sessions() as s, s.begin():
        t = Attachment.__table__
        found = s.execute(update(t).where(t.c.id == attachment_id).values(
            path=name, content_type=media.content_type, size=len(media.content), fetched_at=now)).rowcount
        if found and robot_key and pushable:
            repo.enqueue_once(s, f"a{attachment_id}:photo", "robot", str(robot_key),
                              {"kind": "photo_push", "body": robot_image_body(media.content)}, now,
                              ticket_id=payload.get("ticket_id"))
    if not found:
        os.unlink(os.path.join(folder, name))
        raise DeliveryError(f"attachment {attachment_id} does not exist", permanent=True)
    if robot_key and not pushable:
        log.info("photo of attachment %s kept but not pushed to the group: %s of %s bytes (robots show JPG/PNG "
                 "up to 2 MB)", attachment_id, media.content_type, len(media.content))
    return bool(robot_key and pushable)


@bp.get("/media/<int:attachment_id>")
def photo(attachment_id: int):
    svc = current_app.extensions["jiesu"]
    if not check_sig(link_secret(svc.config), attachment_id, request.args.get("sig")):
        return current_app.response_class("forbidden", status=403, mimetype="text/plain")
    with svc.sessions() as s:
        a = s.get(Attachment, attachment_id)
        name, ctype = (a.path, a.content_type) if a is not None and a.kind == "image" else (None, None)
    if not name or ctype not in EXTENSIONS:
        return current_app.response_class("not found", status=404, mimetype="text/plain")
    try:
        res = send_from_directory(os.path.abspath(svc.config.media.folder), name, mimetype=ctype)
    except NotFound:
        return current_app.response_class("not found", status=404, mimetype="text/plain")
    res.headers["Cache-Control"] = "private, max-age=86400"
    res.headers["X-Content-Type-Options"] = "nosniff"
    res.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return res
