"""A resident's conversation with the bot as data (python-telegram-bot's ConversationHandler): a
mode with typed data and an expiry, and a table of what each mode listens for. The intake asks
`listens(mode)` instead of checking keys in a fixed order; anything a mode does not listen for
falls through to the idle handling (fallbacks, then a new complaint)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Mode(StrEnum):
    IDLE = "idle"
    MENU = "menu"                  # a category menu is open for ticket_id
    PHOTO_WORDS = "photo_words"    # a photo-only ticket waits for the words that say what it is
    CALLBACK = "callback"          # after "人工": waiting for a phone number or a time to be called
    ROOM = "room"                  # a vote answered by someone with no registered room: waiting for it


class Input(StrEnum):
    MENU_NUMBER = "menu_number"    # "2"
    TEXT = "text"                  # any other text
    PHOTO = "photo"
    LOCATION = "location"


# What each mode does with an input; inputs not listed are handled as in IDLE (and end the mode,
# except that a photo or a place never ends one).
LISTENS: dict[Mode, dict[Input, str]] = {
    Mode.IDLE: {},
    Mode.MENU: {Input.MENU_NUMBER: "choose_category"},
    Mode.PHOTO_WORDS: {Input.TEXT: "fill_photo_ticket"},
    Mode.CALLBACK: {Input.TEXT: "callback_details"},
    Mode.ROOM: {Input.TEXT: "vote_room"},
}
KEEPS: dict[Mode, frozenset[Input]] = {
    Mode.IDLE: frozenset(),
    Mode.MENU: frozenset({Input.PHOTO, Input.LOCATION}),
    Mode.PHOTO_WORDS: frozenset({Input.PHOTO, Input.LOCATION}),
    Mode.CALLBACK: frozenset({Input.PHOTO, Input.LOCATION}),
    Mode.ROOM: frozenset({Input.PHOTO, Input.LOCATION}),
}
EXPIRES: dict[Mode, timedelta] = {Mode.MENU: timedelta(hours=1), Mode.PHOTO_WORDS: timedelta(minutes=10),
                                  Mode.CALLBACK: timedelta(minutes=30), Mode.ROOM: timedelta(minutes=30)}


@dataclass
class Conversation:
    mode: Mode = Mode.IDLE
    ticket_id: int | None = None
    options: list[str] = field(default_factory=list)
    since: float = 0.0                               # unix time the mode began
    location: dict | None = None                     # a place sent before any words, kept for the next ticket
    call_time: str | None = None                     # CALLBACK: a time already given, waiting for the number

    @classmethod
    def load(cls, state: dict | None, now: datetime) -> "Conversation":
        """From the resident's stored state; an expired or unknown mode is idle."""
        state = state or {}
        c = cls(location=state.get("location"))
        try:
            mode = Mode(state.get("mode", "idle"))
        except ValueError:
            return c
        if mode != Mode.IDLE and now.timestamp() - float(state.get("since", 0)) <= EXPIRES[mode].total_seconds():
            c.mode, c.ticket_id, c.options, c.since = mode, state.get("ticket_id"), list(state.get("options") or []), float(state["since"])
            c.call_time = state.get("call_time")
        return c

    def dump(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v not in (None, [], 0.0) and k != "mode"}
        if self.mode != Mode.IDLE:        # idle is the default: stored as nothing, so no write
            d["mode"] = str(self.mode)
        return d

    def enter(self, mode: Mode, now: datetime, ticket_id: int | None = None, options: list[str] | None = None,
              call_time: str | None = None) -> None:
        self.mode, self.ticket_id, self.options, self.since = mode, ticket_id, options or [], now.timestamp()
        self.call_time = call_time

    def end(self) -> None:
        self.mode, self.ticket_id, self.options, self.since, self.call_time = Mode.IDLE, None, [], 0.0, None

    def route(self, inp: Input) -> str | None:
        """The handler this mode gives the input to, or None (idle handling); ends the mode unless kept."""
        action = LISTENS[self.mode].get(inp)
        if action is None and inp not in KEEPS[self.mode]:
            self.end()
        return action
