"""What a resident sent, independent of WeChat's XML (the webhook translates into this)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Inbound:
    openid: str
    type: str                       # text | voice | image | location | event | video | link | ...
    dedupe_key: str
    content: str = ""               # text, or the voice recognition
    media_id: str | None = None
    pic_url: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None        # location label
    event: str | None = None        # subscribe | unsubscribe | click | ...
    event_key: str | None = None
    task_id: str | None = None      # template_card_event: the card's task id
    response_code: str | None = None  # template_card_event: the code to update the card with
