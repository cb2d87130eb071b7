"""config.yaml: schema, loading, environment overrides and one-line errors for operators.

Secrets may come from the environment (ENV_OVERRIDES) so they never have to sit in a file.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from datetime import date

from domain.policy import parse_duration
from nlp.categories import all_categories
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# environment variable -> dotted config field
ENV_OVERRIDES = {
    "DATABASE_URL": "database.url",
    "JIESU_MODE": "mode",
    "JIESU_WECHAT_TOKEN": "wechat.token",
    "JIESU_WECHAT_AES_KEY": "wechat.encoding_aes_key",
    "JIESU_WECHAT_APP_ID": "wechat.app_id",
    "JIESU_WECHAT_APP_SECRET": "wechat.app_secret",
    "JIESU_WECOM_CORP_ID": "wecom.corp_id",
    "JIESU_WECOM_APP_SECRET": "wecom.app_secret",
    "JIESU_WECOM_CALLBACK_TOKEN": "wecom.callback_token",
    "JIESU_WECOM_CALLBACK_AES_KEY": "wecom.callback_aes_key",
    "JIESU_PUBLIC_URL": "server.public_url",
}

CATEGORY_CODES = tuple(all_categories())
MAX_BUILDINGS = 2000     # a grid with more is a typo (1-12000), and would be expanded in memory
# a WeCom group robot's key: the key= part of its webhook URL, a UUID
ROBOT_KEY = re.compile(r"[0-9A-Za-z]{8}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{12}")
LOCAL_PREFIX = "local"   # every credential in local mode starts with this (wxlocal…, wwlocal…, local-…)


DEFAULT_COMMUNITY = "default"   # the one community of a config without `communities:`


class ConfigError(Exception):
    """One line for the operator: which field is wrong and how to fix it."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Leader(_Model):
    name: str = Field(min_length=1)
    wecom_userid: str = Field(min_length=1)


class GridConfig(_Model):
    name: str = Field(min_length=1)
    buildings: str = ""            # "1-12" or "1-6,9,A3"
    places: list[str] = []         # named places without numbers: 东门, B区
    leader: Leader
    robot_key: str = Field(min_length=1)
    community: str | None = None   # communities[].code, when one deployment serves several

    @field_validator("buildings")
    @classmethod
    def _buildings(cls, v: str) -> str:
        for part in filter(None, (p.strip() for p in re.split(r"[,，、]", v))):
            if not re.fullmatch(r"\d+\s*-\s*\d+|[0-9A-Za-z]+", part.removesuffix("号楼")):
                raise ValueError(f"'{part}' is not a building or range like 1-12")
            if (m := re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)) and abs(int(m[2]) - int(m[1])) >= MAX_BUILDINGS:
                raise ValueError(f"'{part}' spans more than {MAX_BUILDINGS} buildings; is a digit too many?")
        return v


class WeChatConfig(_Model):
    token: str = Field(min_length=3, max_length=32)
    encoding_aes_key: str = Field(min_length=43, max_length=43)
    app_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    message_mode: Literal["plain", "compat", "safe"] = "safe"
    max_clock_skew_seconds: int = Field(default=300, ge=1)
    api_base_url: str | None = None   # default: the real platform (or the fake one in local mode)
    # Template messages (模板消息) used when a resident is outside the 48-hour customer-service
    # window (errcode 45015): notice kind -> template id; "default" serves kinds not listed.
    templates: dict[str, str] = {}
    # Plain mode's body is signed by nothing (the URL signature covers only timestamp and nonce), so
    # a callback URL seen once can be replayed with any sender and text. Production refuses plain
    # bodies unless the operator says so here (and is warned at every start).
    allow_unsigned_bodies: bool = False


class WeComConfig(_Model):
    corp_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    agent_id: int
    # the staff app's callback (/wecom), where staff type slash commands
    callback_token: str = Field(min_length=3, max_length=32)
    callback_aes_key: str = Field(min_length=43, max_length=43)
    api_base_url: str | None = None
    # one-tap interactive cards (template_card) beside staff notices; they need the app's callback
    # (/wecom) registered in the WeCom console, as the slash commands do
    cards: bool = True
    # "企业微信登录" on the desk's sign-in page (bot/wecom_login.py). None: on in local mode, where the
    # fake platform plays WeCom; off in production until set, as the app's 可信域名 must be set first
    desk_login: bool | None = None


class StaffMember(_Model):
    userid: str = Field(min_length=1)
    name: str = Field(min_length=1)
    role: Literal["committee", "owners", "property", "party", "street", "grid_leader"]
    party: str | None = None       # the party (parties[].code) a property or outside member belongs to
    community: str | None = None   # communities[].code they work in; None: every community (街道, outside bodies)


class PartyConfig(_Model):
    """A body that handles tickets with the committee: 业委会, the property company, and outside
    bodies called in (派出所, 法律顾问, 城管, 街道, 12345). Members are staff entries with this party."""
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    name: str = Field(min_length=1)
    kind: Literal["committee", "owners", "property", "outside"] = "outside"
    robot_key: str | None = None   # a group robot of the party, besides its members' app messages


class ServiceHoursConfig(_Model):
    start: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="20:00", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")
    days: Literal["every_day", "working_days"] = "every_day"


class PromiseConfig(_Model):
    within: str                    # 40m, 3h, 2d, 1w
    clock: Literal["always", "service_hours", "working_days"] = "always"

    @field_validator("within")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class EscalationStep(_Model):
    after: str = "0m"              # past the deadline
    to: Literal["grid_leader", "assignee", "committee", "street", "parties"]

    @field_validator("after")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


def _p(within: str, clock: str = "always") -> PromiseConfig:
    return PromiseConfig(within=within, clock=clock)


class PromisesConfig(_Model):
    """The community's promises ("54321" as shipped) and what happens when one is missed."""
    registered: PromiseConfig = _p("5m")
    onsite: PromiseConfig = _p("40m")
    fix: PromiseConfig = _p("3h")
    plan: PromiseConfig = _p("2d")
    visit: PromiseConfig = _p("7d")
    reply: PromiseConfig = _p("2d", "working_days")    # a referred party's answer
    urgent_onsite: PromiseConfig | None = None
    emergency_onsite: PromiseConfig = _p("10m")         # shown as 立即; escalated after this
    complex_categories: list[str] = ["illegal_build", "neighbor", "property_service", "security", "greenery"]
    categories: dict[str, dict[Literal["onsite", "fix", "plan", "visit"], PromiseConfig]] = {}
    category_party: dict[str, str] = {}                 # category -> lead party (一键派单)
    warn_fraction: float = Field(default=0.25, gt=0, lt=1)
    escalation: list[EscalationStep] = Field(default=[EscalationStep(after="0m", to="grid_leader"),
                                                      EscalationStep(after="30m", to="committee"),
                                                      EscalationStep(after="2h", to="street")], min_length=1)
    repeat_every: str = "1d"
    visit_for: Literal["all", "unhappy"] = "all"
    reopen_on_low_rating: bool = False
    service_hours: ServiceHoursConfig = ServiceHoursConfig()
    extra_holidays: list[date] = []
    extra_workdays: list[date] = []


class ServerConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=2, ge=1)
    threads: int = Field(default=8, ge=1)
    public_url: str = ""           # where WeChat (or the simulator) reaches the bot
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)


class DatabaseConfig(_Model):
    url: str = "sqlite:///data/jiesu.sqlite3"


class OutboxConfig(_Model):
    poll_seconds: float = Field(default=1.0, gt=0)
    backoff_seconds: float = Field(default=5.0, gt=0)
    max_backoff_seconds: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    batch_size: int = Field(default=20, ge=1)              # rows claimed at once
    batch_delay_seconds: float = Field(default=0.05, ge=0)  # after a wake-up, gather rows this long first


class InboundConfig(_Model):
    """Handling a message: stored first, handled within a budget (WeChat waits 5 s, then retries),
    past it a holding reply and the rest in the background; left or failed messages are retried."""
    reply_budget_seconds: float = Field(default=3.5, gt=0, lt=5)
    lease_seconds: float = Field(default=30.0, gt=0)       # a handler this late is taken to have died
    max_attempts: int = Field(default=5, ge=1)
    retry_seconds: float = Field(default=30.0, gt=0)       # doubled per attempt
    spool: str = "data/spool.sqlite3"   # messages accepted while the database is down wait here


class LimitsConfig(_Model):
    """Flood limits. Emergencies are never limited; a limited message is still stored and answered."""
    resident_tickets_per_hour: int = Field(default=6, ge=1)
    resident_tickets_per_day: int = Field(default=20, ge=1)
    resident_messages_per_minute: int = Field(default=20, ge=1)
    group_pushes_per_minute: int = Field(default=20, ge=1)  # a WeCom group robot takes 20 a minute


class ReferralConfig(_Model):
    """A matter beyond the community's remit and where it goes (handlers/referrals.py)."""
    name: str = Field(min_length=1, max_length=64)
    when: str = Field(min_length=1)     # a regular expression searched in the message
    say: str = Field(min_length=1, max_length=300)

    @field_validator("when")
    @classmethod
    def _when(cls, v: str) -> str:
        try:
            rx = re.compile(v)
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        if rx.search("") is not None:
            raise ValueError("matches every message (a stray '|'?)")
        return v


class PrivacyConfig(_Model):
    """个人信息保护法: raw XML and message texts are masked after this many days (statistics stay)."""
    retention_days: int = Field(default=180, ge=1)


class MediaConfig(_Model):
    """Photos residents send (随手拍): fetched from WeChat's media API on arrival and kept here."""
    folder: str = "data/media"
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    types: list[str] = ["image/jpeg", "image/png", "image/gif", "image/webp"]


class LocalConfig(_Model):
    fake_store: str = "data/fake_wechat.sqlite3"


class RetrainConfig(_Model):
    enabled: bool = True
    day_of_week: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "sun"
    hour: int = Field(default=3, ge=0, le=23)              # community time; a quiet hour
    min_new_corrections: int = Field(default=20, ge=1)     # fewer new ones since the last model: skip
    max_f1_drop: float = Field(default=0.01, ge=0, le=1)   # the gate (nlp/learn.py)


class NlpConfig(_Model):
    # Models retrained from corrections go to <model_root>/<time>/, and <model_root>/current points
    # at the one in use (the shipped nlp/model/ until the first retraining). Several hosts must
    # share this directory.
    model_root: str = "data/models"
    retrain: RetrainConfig = RetrainConfig()


POINT_CODE = r"^[a-z][a-z0-9_]{0,31}$"     # what the ledger keeps in point_entry.code (32 characters)


class PointRule(_Model):
    """Why points are awarded and how many: staff type the code or the name (/points)."""
    name: str = Field(min_length=1, max_length=32)
    amount: int = Field(gt=0, le=10_000)
    # the award is for the report itself (有效反映: a report that led to a fix): the ticket must be
    # resolved or closed, and one such award per ticket (a reversed one may be given again)
    for_report: bool = False


class CatalogueItem(_Model):
    """What points buy (/redeem): staff type the code or the name."""
    name: str = Field(min_length=1, max_length=32)
    cost: int = Field(gt=0, le=100_000)


def _default_rules() -> dict[str, PointRule]:
    return {"volunteer": PointRule(name="志愿服务", amount=10), "attend": PointRule(name="参加活动", amount=5),
            "useful_report": PointRule(name="有效反映", amount=3, for_report=True)}


def _default_catalogue() -> dict[str, CatalogueItem]:
    return {"rice": CatalogueItem(name="米", cost=20), "oil": CatalogueItem(name="油", cost=50)}


class PointsConfig(_Model):
    """服务积分: awards by rule and redemptions against the catalogue (storage/points.py). Amounts are
    read when a command runs; the ledger keeps each entry's amount and name as they were then."""
    rules: dict[str, PointRule] = Field(default_factory=_default_rules)
    catalogue: dict[str, CatalogueItem] = Field(default_factory=_default_catalogue)

    def problem(self) -> str | None:
        """"points.rules.<code>: why" for a code staff could not type or a word naming two things
        (checked with the other cross-field rules in Config, so the line names the whole path)."""
        for section, table in (("rules", self.rules), ("catalogue", self.catalogue)):
            seen: dict[str, str] = {}
            for code, entry in table.items():
                if not re.fullmatch(POINT_CODE, code):
                    return (f"points.{section}.{code}: a code is lower-case letters, digits and _ (up to 32), "
                            f"starting with a letter")
                for word in (code, entry.name):     # staff type either: each must name one thing
                    if seen.setdefault(word, code) != code:
                        return f"points.{section}.{code}: '{word}' also names {seen[word]}; names must differ"
        return None


class CommunityConfig(_Model):
    name: str = "社区"
    timezone: str = "Asia/Shanghai"
    hotline: str = ""
    # several communities in one deployment (a 街道): each entry of `communities:` has a code, and
    # the words that name it in a resident's message on the shared account (its name is one)
    code: str = Field(default=DEFAULT_COMMUNITY, pattern=r"^[a-z][a-z0-9_]{1,31}$")
    places: list[str] = []

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        # checked here, not when the first worker needs it: an unknown zone used to pass, print the
        # success line, then kill every worker with a 60-line ZoneInfoNotFoundError
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{v}' (an IANA name; for China: Asia/Shanghai)") from None
        return v


class Config(_Model):
    mode: Literal["local", "production"] = "local"
    community: CommunityConfig = CommunityConfig()
    # optional: a 街道's communities in one deployment; each grid names its community. Empty: the one
    # `community:` above is the only one (code "default"), and nothing else changes.
    communities: list[CommunityConfig] = []
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    wechat: WeChatConfig
    wecom: WeComConfig
    grids: list[GridConfig] = Field(min_length=1)
    default_grid: str
    staff: list[StaffMember] = []      # grid leaders are staff automatically
    parties: list[PartyConfig] = []
    promises: PromisesConfig = PromisesConfig()
    outbox: OutboxConfig = OutboxConfig()
    local: LocalConfig = LocalConfig()
    nlp: NlpConfig = NlpConfig()
    media: MediaConfig = MediaConfig()
    inbound: InboundConfig = InboundConfig()
    limits: LimitsConfig = LimitsConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    points: PointsConfig = PointsConfig()
    # matters beyond the community (欠薪, 学校, 开发商 ...): None keeps handlers/referrals.py DEFAULTS
    referrals: list[ReferralConfig] | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> "Config":
        names = [g.name for g in self.grids]
        if len(set(names)) != len(names):
            raise ValueError("grids: two grids share a name")
        if self.default_grid not in names:
            raise ValueError(f"default_grid: '{self.default_grid}' is not one of the grids {names}")
        self._check_communities()
        for code in self.community_codes():
            _no_overlap([g for g in self.grids if self.community_of_grid(g) == code])
        codes = {p.code for p in self.parties}
        if len(codes) != len(self.parties):
            raise ValueError("parties: two parties share a code")
        for i, st in enumerate(self.staff):
            if st.party is not None and st.party not in codes:
                raise ValueError(f"staff[{i}].party: '{st.party}' is not one of the parties {sorted(codes)}")
        known = set(CATEGORY_CODES)
        for c in self.promises.complex_categories:
            if c not in known:
                raise ValueError(f"promises.complex_categories: '{c}' is not a category code")
        for c, party in self.promises.category_party.items():
            if c not in known:
                raise ValueError(f"promises.category_party: '{c}' is not a category code")
            if party not in codes:
                raise ValueError(f"promises.category_party.{c}: '{party}' is not one of the parties {sorted(codes)}")
        for c in self.promises.categories:
            if c not in known:
                raise ValueError(f"promises.categories: '{c}' is not a category code")
        if self.points.problem():
            raise ValueError(self.points.problem())
        try:
            parse_duration(self.promises.repeat_every)
        except ValueError as e:
            raise ValueError(f"promises.repeat_every: {e}") from None
        if self.mode == "local":
            for field, value in self.credentials():
                if not value.startswith(LOCAL_PREFIX) and not value.startswith(("wx" + LOCAL_PREFIX, "ww" + LOCAL_PREFIX)):
                    raise ValueError(f"{field}: mode is local but this looks like a real credential; "
                                     f"use a value starting with '{LOCAL_PREFIX}' or set mode: production")
        else:
            for field, value in self.credentials():
                if LOCAL_PREFIX in value[:8]:
                    raise ValueError(f"{field}: mode is production but this is a local-mode placeholder; "
                                     f"set the real value (or its environment variable)")
            for field, value in self.credentials():
                if field.endswith("robot_key") and not ROBOT_KEY.fullmatch(value):
                    raise ValueError(f"{field}: not a WeCom group robot key; use the key= part of the robot's "
                                     f"webhook URL, 36 characters like 693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
        return self

    def credentials(self) -> list[tuple[str, str]]:
        out = [("wechat.app_id", self.wechat.app_id), ("wechat.app_secret", self.wechat.app_secret),
               ("wecom.corp_id", self.wecom.corp_id), ("wecom.app_secret", self.wecom.app_secret)]
        out += [(f"grids[{i}].robot_key", g.robot_key) for i, g in enumerate(self.grids)]
        out += [(f"parties[{i}].robot_key", p.robot_key) for i, p in enumerate(self.parties) if p.robot_key]
        return out

    def _check_communities(self) -> None:
        codes = self.community_codes()
        if len(set(codes)) != len(codes):
            raise ValueError("communities: two communities share a code")
        if self.communities and any(c.timezone != self.community.timezone for c in self.communities):
            raise ValueError("communities: one deployment keeps one time zone: set it in community.timezone")
        for i, g in enumerate(self.grids):
            if self.communities and g.community is None:
                raise ValueError(f"grids[{i}].community: required when communities are listed; one of {codes}")
            if g.community is not None and g.community not in codes:
                raise ValueError(f"grids[{i}].community: '{g.community}' is not one of the communities {codes}")
        for i, st in enumerate(self.staff):
            if st.community is not None and st.community not in codes:
                raise ValueError(f"staff[{i}].community: '{st.community}' is not one of the communities {codes}")
            if len(codes) > 1 and st.community is None and st.role in ("committee", "owners", "property"):
                raise ValueError(f"staff[{i}].community: a {st.role} member works in one community; one of {codes}")
        empty = [c for c in codes if not any(self.community_of_grid(g) == c for g in self.grids)]
        if empty:
            raise ValueError(f"communities: '{empty[0]}' has no grid; give one of the grids community: {empty[0]}")

    def all_communities(self) -> list[CommunityConfig]:
        """Every community served: `communities:`, or the one `community:` (code "default")."""
        return list(self.communities) or [self.community]

    def community_codes(self) -> list[str]:
        return [c.code for c in self.all_communities()]

    def community_of_grid(self, g: GridConfig) -> str:
        return g.community or self.all_communities()[0].code

    @property
    def local_mode(self) -> bool:
        return self.mode == "local"

    def grid(self, name: str) -> GridConfig:
        return next(g for g in self.grids if g.name == name)


def _no_overlap(grids: list[GridConfig]) -> None:
    """Every building and named place belongs to one grid: an overlap would route silently to
    whichever grid happens to come first."""
    from handlers.routing import parse_buildings
    owner: dict[str, str] = {}
    for i, g in enumerate(grids):
        for b in sorted(parse_buildings(g.buildings), key=lambda x: (len(x), x)):
            if b in owner:
                raise ValueError(f"grids[{i}].buildings: building {b} is also in grid '{owner[b]}'; "
                                 f"each building belongs to one grid")
            owner[b] = g.name
    places: dict[str, str] = {}
    for i, g in enumerate(grids):
        for p in g.places:
            if p in places:
                raise ValueError(f"grids[{i}].places: '{p}' is also a place of grid '{places[p]}'")
            places[p] = g.name


def _set_dotted(data: dict, dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        data = data.setdefault(p, {})
    data[leaf] = value


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def load_config(path: str | Path, environ: dict[str, str] | None = None,
                overrides: dict[str, object] | None = None) -> Config:
    """Read, override from the environment, validate. Raises ConfigError with one line."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; pass --config FILE or copy config.yaml") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    for env, dotted in ENV_OVERRIDES.items():
        if environ.get(env):
            _set_dotted(data, dotted, environ[env])
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = _field_path(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "missing; add it (see config.yaml as shipped for an example)"
        elif err["type"] == "extra_forbidden":
            msg = "unknown setting; remove it or check its spelling"
        if field == "(top level)" and ":" in msg:
            field, msg = msg.split(":", 1)
        raise ConfigError(f"{path}: {field}: {msg.strip()}") from None
