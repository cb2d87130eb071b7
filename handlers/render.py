"""Words for each notice a move or the sweep sends (domain.moves.Notice), per kind of recipient:
residents read short plain Chinese (replies.py style), groups read WeCom markdown (push.py),
staff read one line in the staff app. One table, so a new notice is one new entry."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.moves import Notice
from domain.policy import say_duration
from domain.states import MILESTONE_NAMES, Milestone, status_name
from handlers import push, replies
from nlp import categories, emergency, mask_pii


def _hm(dt: datetime | str | None, tz: str) -> str:
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    return dt.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M") if dt else "-"


def _md(text: str) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": text}}


def _head(t) -> str:
    return f"#{t.code}｜{categories.name_of(t.category)}"


def for_residents(notice: Notice, t, data: dict, d) -> str | None:
    """A message to the ticket's residents (None: this notice is not for residents)."""
    code = t.code
    match notice:
        case Notice.ONSITE:
            return f"您反映的问题 #{code}，工作人员{data['by']}已到场处理。"
        case Notice.PLAN:
            return f"您反映的问题 #{code} 的处理方案：{data['text']}（{data['by']}）"
        case Notice.REFERRED:
            return f"您反映的问题 #{code} 已请{d.party_name(data['party'])}协助处理。"
        case Notice.PARTY_REPLY:
            return f"关于 #{code}，{d.party_name(data['party'])}答复：{data['text']}"
        case Notice.RESOLVED:
            return replies.resolved(code, data["result"])
        case Notice.REOPENED:
            return f"您反映的问题 #{code} 已由{data['by']}重新打开继续处理：{data['reason'] or '需要继续跟进'}"
        case Notice.VISITED:
            return f"谢谢您配合回访（#{code}，{data['by']}）。有新问题随时发消息给我们。"
        case Notice.MERGED:
            return f"您反映的问题已并入 #{data['into']} 一起处理，进展会同步发给您。"
        case Notice.EMERGENCY_ADVICE:
            e = emergency.fit(emergency.of_kind(data["kind"]), t.text or "")
            return f"{replies.emergency_first(e.advice)}（#{code}）"
    return None


def for_group(notice: Notice, t, data: dict, d, grid) -> dict | None:
    """A WeCom robot payload for the ticket's grid group."""
    tz = d.tz
    leader = f"<@{grid.leader_userid}>"
    match notice:
        case Notice.NEW_TICKET | Notice.RECATEGORISED | Notice.DETAIL_ADDED:
            title = {Notice.NEW_TICKET: "新工单", Notice.RECATEGORISED: "类别更正", Notice.DETAIL_ADDED: "工单补充"}[notice]
            if notice == Notice.RECATEGORISED:
                title += f" {categories.name_of(data['old'])} → {categories.name_of(data['new'])}"
            return push.ticket_markdown(t, tz, leader_userid=grid.leader_userid, title=title,
                                        deadline=deadline_phrase(t, d))
        case Notice.EMERGENCY_PAGE:
            e = emergency.fit(emergency.of_kind(t.emergency), t.text or "") if t.emergency else None
            return push.emergency_text(t, e.number if e else "110")
        case Notice.EMERGENCY_CLEARED:
            why = f"：{data['reason']}" if data.get("reason") else ""
            return push.emergency_cleared_text(t, data["by"], why)
        case Notice.PARTY_REPLY:
            return _md(f"**单位答复 {_head(t)}**\n> {d.party_name(data['party'])}：{mask_pii(data['text'])}")
        case Notice.REOPENED:
            who = "居民反馈未解决" if data.get("by_resident") else f"{data['by']}重新打开"
            return _md(f"**{who} {_head(t)}**（第{t.round}轮）\n> 地点：{t.location_text or '未说明'}\n"
                       f"> 原因：{mask_pii(data.get('reason') or '-')}\n"
                       f"> 时限：{_hm(t.due_onsite_at, tz)} 前到场\n{leader}")
        case Notice.CANCELLED:
            return _md(f"**工单撤销 {_head(t)}**\n> {data['by']}：{mask_pii(data.get('reason') or '-')}")
        case Notice.LOW_RATING:
            return _md(f"**居民不满意 {_head(t)}**（{data['score']} 分）\n> 请尽快上门回访，回访后发送 /visit {t.code} 回访情况\n{leader}")
        case Notice.URGED:
            return _md(f"**居民催办 {_head(t)}**\n> 地点：{t.location_text or '未说明'}\n"
                       f"> 状态：{status_name(t.status)}，请尽快处理并告知进展\n{leader}")
        case Notice.WARNING | Notice.ESCALATION:
            return _md(_deadline_line(notice, t, data, d) + f"\n{leader}")
    return None


def for_staff(notice: Notice, t, data: dict, d) -> str | None:
    """A staff-app text (assignee, committee, street, a party's members)."""
    place = t.location_text or "未说明位置"
    match notice:
        case Notice.ASSIGNED:
            return f"{data['by']} 把工单 #{t.code} 派给你：{categories.name_of(t.category)} {place}。到场后发送 /onsite {t.code}"
        case Notice.REFERRED:
            lead = "（一键派单）" if data.get("lead") else ""
            note = f" 说明：{mask_pii(data['note'])}" if data.get("note") else ""
            return (f"【{d.party_name(data['party'])}】工单 #{t.code}{lead}：{categories.name_of(t.category)} {place}。"
                    f"内容：{mask_pii(t.text or '')[:120]}{note}。答复请发送 /reply {t.code} 答复内容")
        case Notice.WARNING | Notice.ESCALATION:
            return _deadline_line(notice, t, data, d).replace("**", "")
    return None


def _deadline_line(notice: Notice, t, data: dict, d) -> str:
    m = Milestone(data["milestone"])
    what = MILESTONE_NAMES[m] + (f"（{d.party_name(data['party'])}）" if data.get("party") else "")
    due = _hm(data["due"], d.tz)
    how = {Milestone.ONSITE: f"/onsite {t.code}", Milestone.FIX: f"/close {t.code} 处理结果",
           Milestone.PLAN: f"/plan {t.code} 方案", Milestone.VISIT: f"/visit {t.code} 回访情况",
           Milestone.REPLY: f"/reply {t.code} 答复内容"}.get(m, f"/show {t.code}")
    if notice == Notice.WARNING:
        return f"**⏳ 即将超时 {_head(t)}**\n> {what}时限 {due}，地点：{t.location_text or '未说明'}\n> 完成后请发送 {how}"
    return (f"**⏰ 超时{'督办' if data.get('rung', 1) > 1 else '提醒'} {_head(t)}**（{getattr(t, 'grid_name', '')}）\n"
            f"> {what}时限 {due} 已过，地点：{t.location_text or '未说明'}\n> 完成后请发送 {how}")


def deadline_phrase(t, d) -> str:
    """时限 line for pushes: 立即 for emergencies, never a 40-minute line beside it."""
    if t.emergency:
        return "立即到场处置"
    onsite = f"{_hm(t.due_onsite_at, d.tz)} 前到场" if t.due_onsite_at else ""
    fix = f"{_hm(t.due_fix_at, d.tz)} 前{'出方案' if d.policy.is_complex(t.category) else '处理'}" if t.due_fix_at else ""
    return "，".join(filter(None, (onsite, fix)))


def onsite_promise(d, category: str, emergency_: bool) -> str:
    """"40分钟" as the resident's reply promises it (from the policy, not a constant)."""
    return "立即" if emergency_ else say_duration(d.policy.promise(Milestone.ONSITE, category).within)


# -- residents as staff read them: by building, never by an openid ------------------------------

def resident_label(building: str | None, unknown: str = "一位居民（楼栋未知）") -> str:
    """"3号楼的居民": how staff are told who a resident is (an openid means nothing to them)."""
    return f"{building}号楼的居民" if building else unknown


def callback_request(grid: str, building: str | None, phones: list[str], when: str | None, words: str | None,
                     recent) -> str:
    """A private staff-app message to the grid leader: a resident asked for a person and left a
    number or a time. The full number is shown here only (the leader calls it); groups never get it."""
    lines = [f"【居民请求回电】{grid} {resident_label(building)}请你联系。",
             f"电话：{'、'.join(phones) if phones else '未留（已请居民补发）'}",
             f"方便时间：{when or '未说明'}"]
    if words:
        lines.append(f"居民原话：{mask_pii(words)[:120]}")
    tickets = "；".join(f"#{t.code} {categories.name_of(t.category)}（{status_name(t.status)}）" for t in recent)
    lines.append(f"最近工单：{tickets or '无'}" + ("，可用 /show 工单号 查看" if tickets else ""))
    lines.append("（号码仅发给你本人，请勿转发到群里）" if phones else "")
    return "\n".join(filter(None, lines))
