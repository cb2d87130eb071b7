"""Signed links to a resident's photo kept by the bot (bot/media.py serves them): a link can be put in
a staff chat, but not guessed from the attachment number. Pure: no Flask, no database.

The signature is an HMAC-SHA256 of the attachment id under a secret the bot derives from its config
(bot.media.link_secret); links do not expire (the photo is evidence for the ticket's whole life).
"""
from __future__ import annotations

import hashlib
import hmac

_SIG_CHARS = 32          # hex characters kept: 128 bits


def _sig(secret: bytes, attachment_id: int) -> str:
    return hmac.new(secret, f"photo:{int(attachment_id)}".encode(), hashlib.sha256).hexdigest()[:_SIG_CHARS]


def photo_link(base_url: str, secret: bytes, attachment_id: int) -> str:
    """The URL of a stored photo, e.g. https://bot.example/media/42?sig=…"""
    return f"{base_url.rstrip('/')}/media/{int(attachment_id)}?sig={_sig(secret, attachment_id)}"


def check_sig(secret: bytes, attachment_id: int, sig: str | None) -> bool:
    """True when sig is the link's signature (compared in constant time)."""
    if not isinstance(sig, str) or not sig.isascii():
        return False
    return hmac.compare_digest(_sig(secret, attachment_id).encode(), sig.encode())
