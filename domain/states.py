"""Every name a ticket's life uses, in one place: states and their families, priorities, sources,
milestones (the 54321 promises), event kinds, delivery channels and notice kinds, roles."""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"              # registered, nobody has taken it yet
    ASSIGNED = "assigned"      # someone is named to handle it
    ONSITE = "onsite"          # someone is (or was) there
    PLANNED = "planned"        # a complex case with a plan given to the resident
    REFERRED = "referred"      # waiting for an outside party (吹哨报到)
    RESOLVED = "resolved"      # handled; awaiting the resident's rating and the return visit
    CLOSED = "closed"          # return visit done (or not needed): the end of the round
    MERGED = "merged"          # joined another ticket about the same thing
    CANCELLED = "cancelled"    # withdrawn by the resident or dropped by staff
    OUTSIDE = "outside"        # beyond the community's remit: the resident was told where it goes


# Families answer "is it being worked", "is it done", "is it over" in one place (FixMyStreet's
# open_states / fixed_states): a reopen starts a new round in OPEN.
ACTIVE = frozenset({Status.OPEN, Status.ASSIGNED, Status.ONSITE, Status.PLANNED, Status.REFERRED})
DONE = frozenset({Status.RESOLVED, Status.CLOSED})
ENDED = frozenset({Status.MERGED, Status.CANCELLED, Status.OUTSIDE})

STATUS_NAMES = {Status.OPEN: "处理中", Status.ASSIGNED: "已派单", Status.ONSITE: "处理中", Status.PLANNED: "已出方案",
                Status.REFERRED: "已转相关单位", Status.RESOLVED: "已办结", Status.CLOSED: "已回访结案",
                Status.MERGED: "已合并", Status.CANCELLED: "已撤销",
                Status.OUTSIDE: "已告知办理渠道"}


def status_name(status: str) -> str:
    try:
        return STATUS_NAMES[Status(status)]
    except ValueError:
        return status


class Priority(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class Source(StrEnum):
    WECHAT = "wechat"          # a resident through the official account
    HOTLINE = "hotline"        # a phone call taken by staff (12345 or the community's line)
    WALK_IN = "walk_in"        # a resident at the office
    PATROL = "patrol"          # found by staff on patrol or door-knocking (未诉先办)
    OPEN311 = "open311"        # filed by an API client through Open311 GeoReport v2 (bot/open311.py)


SOURCE_WORDS = {"热线": Source.HOTLINE, "电话": Source.HOTLINE, "12345": Source.HOTLINE, "来访": Source.WALK_IN,
                "上门": Source.WALK_IN, "巡查": Source.PATROL, "走访": Source.PATROL, "巡逻": Source.PATROL}
SOURCE_NAMES = {Source.WECHAT: "公众号", Source.HOTLINE: "热线", Source.WALK_IN: "来访", Source.PATROL: "巡查走访",
                Source.OPEN311: "Open311"}


class Milestone(StrEnum):
    """The 54321 promises, one row per ticket, round and (for replies) party."""
    REGISTER = "register"      # 5 minutes: registered
    ONSITE = "onsite"          # 4(0) minutes: someone on site
    FIX = "fix"                # 3 hours: a small problem fixed
    PLAN = "plan"              # 2 days: a plan for a complex one
    VISIT = "visit"            # 1 week: a return visit
    REPLY = "reply"            # a referred party's answer


MILESTONE_NAMES = {Milestone.REGISTER: "登记", Milestone.ONSITE: "到场", Milestone.FIX: "办结",
                   Milestone.PLAN: "方案", Milestone.VISIT: "回访", Milestone.REPLY: "单位答复"}


class EventKind(StrEnum):
    CREATED = "created"
    DETAIL_ADDED = "detail_added"
    PHOTO_ADDED = "photo_added"
    LOCATION_ADDED = "location_added"
    PLUS_ONE = "plus_one"
    ASSIGNED = "assigned"
    ONSITE = "onsite"
    PLANNED = "planned"
    REFERRED = "referred"
    REFERRED_OUT = "referred_out"      # beyond the community: where the resident was sent
    PARTY_REPLIED = "party_replied"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    RECATEGORISED = "recategorised"
    CATEGORY_CHOSEN = "category_chosen"
    MERGED = "merged"
    EMERGENCY_MARKED = "emergency_marked"
    EMERGENCY_CLEARED = "emergency_cleared"
    CANCELLED = "cancelled"
    VISITED = "visited"
    CLOSED = "closed"
    RATED = "rated"
    NOTE = "note"
    URGED = "urged"
    WARNED = "warned"          # a deadline is near
    ESCALATED = "escalated"    # a deadline passed: a step of the ladder


EVENT_NAMES = {EventKind.CREATED: "登记", EventKind.DETAIL_ADDED: "补充描述", EventKind.PHOTO_ADDED: "补充照片",
               EventKind.LOCATION_ADDED: "补充位置", EventKind.PLUS_ONE: "其他居民也反映", EventKind.ASSIGNED: "派单",
               EventKind.ONSITE: "到场", EventKind.PLANNED: "方案", EventKind.REFERRED: "转派",
               EventKind.REFERRED_OUT: "告知办理渠道",
               EventKind.PARTY_REPLIED: "单位答复", EventKind.RESOLVED: "办结", EventKind.REOPENED: "重新打开",
               EventKind.RECATEGORISED: "改类", EventKind.CATEGORY_CHOSEN: "居民选择类别", EventKind.MERGED: "合并",
               EventKind.EMERGENCY_MARKED: "标为紧急", EventKind.EMERGENCY_CLEARED: "取消紧急",
               EventKind.CANCELLED: "撤销", EventKind.VISITED: "回访", EventKind.CLOSED: "结案",
               EventKind.RATED: "居民评价", EventKind.NOTE: "备注", EventKind.URGED: "居民催办",
               EventKind.WARNED: "时限提醒", EventKind.ESCALATED: "超时督办"}


class Channel(StrEnum):
    """Outbox channels (bot/transports.py sends each)."""
    ROBOT = "robot"            # a WeCom group robot (grid groups, parties with a robot)
    MP_TEXT = "mp_text"        # a customer-service message to a resident (template outside 48 h)
    WECOM_TEXT = "wecom_text"  # a WeCom app message to a staff member
    MP_MEDIA = "mp_media"      # fetch a resident's photo from the media API


class Role(StrEnum):
    RESIDENT = "resident"
    GRID_LEADER = "grid_leader"
    COMMITTEE = "committee"    # 居委会
    OWNERS = "owners"          # 业委会
    PROPERTY = "property"      # 物业
    PARTY = "party"            # an outside body: police, legal adviser, 城管, 12345 …
    STREET = "street"          # 街道 administrator
    SYSTEM = "system"          # the bot and its scheduler


ROLE_NAMES = {Role.RESIDENT: "居民", Role.GRID_LEADER: "网格长", Role.COMMITTEE: "居委会", Role.OWNERS: "业委会",
              Role.PROPERTY: "物业", Role.PARTY: "相关单位", Role.STREET: "街道", Role.SYSTEM: "系统"}
STAFF_ROLES = frozenset(ROLE_NAMES) - {Role.RESIDENT, Role.SYSTEM}
