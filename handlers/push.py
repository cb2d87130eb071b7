"""What the grid leader's group sees (pure). WeCom robot markdown; phone and ID numbers masked."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from nlp import categories, mask_pii

MAX_TEXT = 300   # the group sees an excerpt; the full text stays on the ticket


def _when(dt: datetime, tz: str) -> str:
    return dt.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


def unconfirmed_category(t) -> str | None:
    """Why the ticket's category is only the bot's guess, in words for staff (None: it is not):
    the resident never answered the category menu, or sent only a photo."""
    if getattr(t, "category_confirmed", True):
        return None
    name = categories.name_of(t.category)
    if getattr(t, "needs_detail", False):
        return f"居民只发了照片，未说明问题（按{name}处理）"
    return f"居民未选择类别（按{name}处理）"


def ticket_markdown(t, tz: str, *, leader_userid: str | None, title: str = "新工单", deadline: str | None = None) -> dict:
    """Robot payload for a ticket; @-mentions the leader for urgent tickets."""
    text = mask_pii(t.text or "（照片，待补充文字）")
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "…"
    place = t.location_text or "未说明（已请居民补充）"
    head = f"**{title} #{t.code}｜{categories.name_of(t.category)}**"
    if t.priority == "urgent":
        head += ' <font color="warning">紧急</font>'
    lines = [head]
    unsure = unconfirmed_category(t)
    if unsure:       # a held push sent because nobody chose: the leader should re-file it
        lines.append(f'> <font color="warning">{unsure}</font>，请核实后发送 /recat {t.code} 类别')
    lines += [f"> 地点：{place}", f"> 内容：{text}"]
    if deadline:
        lines.append(f"> 时限：{deadline}")
    if t.terms:
        lines.append(f'> <font color="comment">分类依据：{"、".join(t.terms[:5])}（{t.confidence:.0%}）</font>')
    if t.priority == "urgent" and leader_userid:
        lines.append(f"<@{leader_userid}>")
    return {"msgtype": "markdown", "markdown": {"content": "\n".join(lines)}}


def emergency_text(t, advice_number: str) -> dict:
    """A plain-text robot message with @all: markdown cannot mention everyone."""
    place = t.location_text or "位置未说明"
    content = f"【紧急】#{t.code} {place}：{mask_pii(t.text)[:120]}。已提示居民拨打{advice_number}，请立即处置！"
    return {"msgtype": "text", "text": {"content": content, "mentioned_list": ["@all"]}}


def emergency_cleared_text(t, by: str, why: str) -> dict:
    """Stands the group down after an @all page that was a false alarm."""
    content = f"【解除紧急】#{t.code} 经{by}核实不是紧急情况{why}。工单按一般流程处理。"
    return {"msgtype": "text", "text": {"content": mask_pii(content)}}
