"""Everything residents read, in one place (short, plain Chinese; one action per message)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from domain.states import status_name
from nlp import categories, mask_pii


def welcome(community: str) -> str:
    return (f"您好，这里是{community}接诉平台。\n"
            "• 反映问题：直接发文字、语音或照片，说清楚几号楼，如“3号楼楼道有人飞线充电”。\n"
            "• 查看进度：回复“进度”。\n"
            "• 找工作人员：回复“人工”。\n"
            "遇到火情、燃气泄漏、有人受伤等紧急情况，请先拨打119/120/110。")


def help_text(community: str) -> str:
    return welcome(community)


def accepted(code: str, category: str, leader: str, fix_is_plan: bool, located: bool, emergency: bool,
             onsite: str = "40分钟", party: str | None = None) -> str:
    name = categories.name_of(category)
    if emergency:
        text = f"已受理 #{code}（{name}），已通知网格长 {leader} 立即处置。回复“进度”查看。"
    else:
        also = f"，并已派给{party}" if party else ""
        text = f"已受理 #{code}（{name}）{also}。网格长 {leader} 将在{onsite}内到场处理。回复“进度”查看。"
    if fix_is_plan:
        text += "这类问题需要协调，2天内会给您处理方案。"
    if not located:
        text += "\n请补充具体位置（几号楼几单元），方便我们尽快找到。"
    return text


def emergency_first(advice: str) -> str:
    return f"【紧急】{advice}"


def caution_first(number: str) -> str:
    """Leads the reply when the message may report a danger to life that no rule recognised."""
    return f"如有人身危险，请立即拨打{number}。"


def menu(code: str, options: list[str]) -> str:
    lines = [f"已登记 #{code}。请问您反映的是哪类问题？回复数字："]
    lines += [f"{i}. {categories.name_of(c)}" for i, c in enumerate(options, 1)]
    return "\n".join(lines)


def menu_invalid(n: int) -> str:
    return f"请回复 1 到 {n} 之间的数字选择问题类别，或直接用文字描述问题。"


def duplicate(code: str, category: str) -> str:
    return (f"这个问题已有居民反映，正在处理中（#{code}，{categories.name_of(category)}）。"
            "我们已把您的反映一并记录，处理进展会同步发给您。")


def photo_attached(code: str) -> str:
    return f"照片已补充到工单 #{code}，谢谢！"


def photo_new(code: str) -> str:
    return f"已收到照片，登记为 #{code}。请用文字说一下是什么问题、在几号楼，方便我们派人处理。"


def location_attached(code: str, label: str) -> str:
    return f"位置（{label}）已补充到工单 #{code}。"


def location_kept(label: str) -> str:
    return f"已记下您的位置（{label}）。请接着用文字说一下是什么问题。"


def voice_unrecognised() -> str:
    return "抱歉，没能听清这段语音。请用文字描述一下问题和楼号，谢谢！"


def empty_text() -> str:
    return "请用文字描述您遇到的问题和所在楼号，如“5号楼门口垃圾没人清”。"


def unsupported() -> str:
    return "暂时只能处理文字、语音、照片和位置。请用文字描述问题，或回复“人工”联系工作人员。"


def human(community: str, hotline: str, leader: str | None) -> str:
    """After "人工": one question, so the leader can call back (the next message answers it)."""
    who = f"网格长 {leader} " if leader else "工作人员"
    text = f"好的。请问您的电话号码和方便接电话的时间？{who}会给您回电。"
    if hotline:
        text += f"急事也可拨打{community}电话 {hotline}（工作日 8:30-17:30）。"
    return text


def callback_noted(leader: str | None, phone: str | None, when: str | None) -> str:
    """The answer to "人工"'s question was passed to the grid leader."""
    who = f"网格长 {leader}" if leader else "工作人员"
    if phone:
        return f"好的，已转告{who}，会打 {phone} 给您回电{f'（{when}）' if when else ''}。"
    return f"好的，已转告{who}您方便的时间（{when}）。请再发一下您的电话号码，方便给您回电。"


def thanks() -> str:
    return "不客气，有问题随时发消息给我们。"


def failed() -> str:
    return "已收到您的消息，系统正忙，工作人员会尽快处理。紧急情况请拨打119/120/110。"


def progress(tickets, tz: str) -> str:
    if not tickets:
        return "您还没有反映过问题。直接发文字、语音或照片即可反映。"
    zone = ZoneInfo(tz)
    lines = ["您最近反映的问题："]
    for t in tickets:
        when = t.created_at.astimezone(zone).strftime("%m-%d %H:%M")
        lines.append(f"#{t.code} {categories.name_of(t.category)} {status_name(t.status)}（{when}）")
    return "\n".join(lines)


def local_time(dt: datetime, tz: str) -> str:
    return dt.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def resolved(code: str, result: str) -> str:
    return (f"您反映的问题 #{code} 已处理：{result}\n"
            "请回复 1-5 给这次处理打分（5 分最满意），没解决请回复“没解决”。")


def rated(code: str, score: int) -> str:
    return f"谢谢您对 #{code} 的评价（{score} 分）！" + ("网格长会尽快回访，了解没做好的地方。" if score <= 2 else "")


def not_a_report() -> str:
    """A short message that names no problem and no place: nothing is opened."""
    return "请具体说一下遇到了什么问题、在几号楼，例如“5号楼门口垃圾没人清”。查看已反映的问题请回复“进度”。"


def outside(code: str, body: str, say: str) -> str:
    """A matter beyond the community's remit: where it goes, and that a person is still there."""
    return (f"您反映的问题已记录（工单号 #{code}）。这件事不属于社区和物业的职责范围，由{body}负责：\n{say}\n"
            "如果您觉得社区可以帮忙，请回复“人工”，工作人员会联系您。")


def command_from_resident() -> str:
    return "以“/”开头的是工作人员的命令。反映问题请直接用文字描述，查看进度请回复“进度”。"


def plus_one_alone() -> str:
    return "请说一下是哪个问题、在几号楼，我们会把您的反映和其他居民的一起记录。"


def rate_hint(code: str) -> str:
    return f"\n方便的话请给 #{code} 的处理打个分：回复 1-5（5 分最满意）。"


def which_ticket(codes: list[str], rating: bool) -> str:
    listed = "、".join(f"#{c}" for c in codes)
    if rating:
        return f"您有 {len(codes)} 个工单待评价：{listed}。请回复“评价 工单号 分数”，如“评价 {codes[0][-4:].lstrip('0')} 5”。"
    return f"请问是哪个问题没解决？{listed}。请回复“没解决 工单号”，如“没解决 {codes[0][-4:].lstrip('0')}”。"


def no_such_ticket_of_yours(token: str) -> str:
    return f"没有找到您反映的工单 {token}。回复“进度”查看您的工单号。"


def nothing_to_rate() -> str:
    return "您目前没有待评价的工单。有新问题请直接描述，查看进度请回复“进度”。"


def nothing_to_urge() -> str:
    return "您目前没有正在处理的工单。请直接描述遇到的问题和楼号，我们马上登记。"


def nothing_to_cancel() -> str:
    return "您目前没有可以撤销的工单。"


def which_to_cancel(codes: list[str]) -> str:
    listed = "、".join(f"#{c}" for c in codes)
    return f"您有 {len(codes)} 个正在处理的工单：{listed}。请回复“取消 工单号”。"


def cancelled(code: str) -> str:
    return f"已撤销工单 #{code}。如果问题还在，随时再发消息给我们。"


def urged(code: str) -> str:
    return f"已帮您催办 #{code}，网格长会尽快处理并告知进展。"


def refused(reason: str) -> str:
    return f"{reason}。"


def emergency_joined(code: str, leader: str) -> str:
    return f"已有居民报告，正在紧急处置（#{code}），网格长 {leader} 已收到。您的报告已一并记录。"


def not_solved(code: str) -> str:
    return f"抱歉！已重新打开工单 #{code}，网格长会再联系您。"


def holding() -> str:
    """The answer when a message is kept but not yet handled (slow handling, database outage)."""
    return "已收到您的消息，正在处理，稍后回复您。紧急情况请拨打119/120/110。"


def handed_to_staff() -> str:
    return "您的消息暂时无法自动处理，已转工作人员人工跟进，请耐心等候。紧急情况请拨打119/120/110。"


def _urgent_line(hotline: str) -> str:
    office = f"情况紧急请拨打社区电话 {hotline}；" if hotline else ""
    return f"{office}遇火情、燃气泄漏、有人受伤请直接拨打119/120/110。"


def flood_tickets(count: int, within: str, hotline: str) -> str:
    """Over the per-resident ticket limit: the message is kept, no new ticket is opened."""
    return (f"您{within}已反映了 {count} 个问题，工作人员正在逐一处理。这条消息已收到并记录，暂不另开新工单。"
            "要补充之前反映的问题，请回复“人工”联系网格长；查看进度请回复“进度”。" + _urgent_line(hotline))


def flood_messages(hotline: str) -> str:
    """Over the per-resident message limit (a minute)."""
    return "您发消息太快了，请稍等一分钟再发。这条消息已收到并记录。" + _urgent_line(hotline)



# -- 服务积分 (storage/points.py): a resident's balance, and what staff did with it ---------------

def _points_what(e) -> str:
    """One ledger entry in words: 志愿服务（清理楼道）, 兑换米, 撤销“志愿服务”, 退回兑换“米”."""
    why = f"（{mask_pii(e.reason)[:30]}）" if e.reason else ""
    if e.kind == "redeem":
        return f"兑换{e.name}{why}"
    if e.kind == "reverse":
        return f"{'退回兑换' if e.amount > 0 else '撤销'}“{e.name}”{why}"
    return f"{e.name}{why}"


def points(balance: int, entries, reversed_ids: set[int], tz: str, named: str | None) -> str:
    """积分: the balance and the latest entries (newest first)."""
    if not entries:
        text = "您还没有积分。参加志愿服务、社区活动，或您反映的问题得到解决，工作人员会为您记积分。"
    else:
        zone = ZoneInfo(tz)
        lines = [f"您现有积分 {balance} 分。最近记录："]
        for e in entries:
            undone = "（已撤销）" if e.id in reversed_ids else ""
            lines.append(f"{e.created_at.astimezone(zone):%m-%d} {e.amount:+d} {_points_what(e)}{undone}")
        text = "\n".join(lines) + "\n积分可到居委会兑换物品。"
    if named:
        return text + f"\n每月楼栋积分榜上显示您的称呼“{named}”，回复“积分匿名”可不显示。"
    return text + "\n想在每月楼栋积分榜上显示称呼，请回复“积分实名 您的称呼”，如“积分实名 张阿姨”。"


def points_named(name: str) -> str:
    return f"好的，每月楼栋积分榜上会显示您的称呼“{name}”。回复“积分匿名”可随时取消。"


def points_anonymous() -> str:
    return "好的，积分榜上不显示您的称呼，只写“居民”。"


def points_bad_name(most: int) -> str:
    return f"请在“积分实名”后写上想显示的称呼（{most}个字以内，不含数字），如“积分实名 张阿姨”。"


def points_changed(e, balance: int) -> str:
    """Sent to the resident when staff award, redeem or reverse (so nobody spends their points unseen)."""
    why = f"（{mask_pii(e.reason)[:60]}）" if e.reason else ""
    if e.kind == "award":
        change = f"您获得 {e.amount} 积分：{e.name}{why}。"
    elif e.kind == "redeem":
        change = f"您用 {-e.amount} 积分兑换了{e.name}。"
    elif e.amount > 0:
        change = f"兑换“{e.name}”已退回，{e.amount} 积分还给您{why}。"
    else:
        change = f"您的一笔积分（{e.name} {-e.amount} 分）已撤销{why}。"
    return change + f"现有 {balance} 分，回复“积分”查看记录。有疑问请回复“人工”。"


def danger_lead(c) -> str:
    """The line that leads the reply when a classified message may report a danger to life (the
    @all page itself is a notice of the ticket's opening, sent once per ticket)."""
    if c.emergency is not None:
        return emergency_first(c.emergency.advice) + "\n"
    if c.caution is not None:
        return caution_first(c.caution.number) + "\n"
    return ""
