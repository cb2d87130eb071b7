"""Where a matter beyond the community's remit goes (欠薪, 学校, 市政道路, 开发商, 拆迁, 传销 ...).

A message the classifier files under `other` that names one of these is answered with the body
that handles it and how to reach it, recorded as a ticket for the numbers (status outside), and
not pushed to any grid: a grid leader can do nothing with wages owed by a building contractor.
The table is config (`referrals:` in config.yaml; without it, DEFAULTS); the first entry whose
`when` matches wins, so put the narrow ones first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.normalize import normalize


@dataclass(frozen=True)
class Referral:
    name: str           # the body, as the resident and the statistics see it
    when: re.Pattern    # searched in the normalised message (simplified, half-width, lower case)
    say: str            # what the resident is told: where to go and how


# (name, when, say): written for residents, short enough for one chat bubble. Bus routes, 低保, 医保
# and household papers are the community's own service (public_service), so they are not here.
DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("劳动保障监察", r"欠薪|拖欠.{0,6}(工资|工钱|薪|劳务费)|(工资|工钱)(不发|没发|不给|拿不到|要不到|讨不回)|讨薪|包工头|"
     r"(不|没|没有)(给|帮)?(我|我们|员工)?(交|缴)社保|劳动合同|劳动仲裁|辞退|开除|加班费|离职证明",
     "拖欠工资、劳动合同、单位不缴社保等劳动纠纷，请拨打12333人社服务热线，或到区人社局劳动保障监察大队投诉；"
     "需要法律援助可拨打12348。"),
    ("教育局", r"学校|学区|入学|招生|转学|校长|老师|班主任|幼儿园|校车|补课|课外班|学费|择校|划片",
     "学校、入学和学区等问题由区教育局负责，请拨打12345市民热线或区教育局的咨询电话反映。"),
    ("住建局/不动产登记中心", r"开发商|交房|延期交付|逾期交付|房产证|不动产证|产权证|网签|备案|规划(变更|更改)|"
     r"虚假宣传|精装修|购房合同|售楼",
     "开发商交房、房产证（不动产证）和规划变更等问题，请拨打12345，或向区住建局、不动产登记中心反映；"
     "合同纠纷可咨询律师或向法院起诉。"),
    ("征收办/信访", r"拆迁|征收|征地|补偿款|安置房|村干部|村委|村书记|村长|宅基地",
     "拆迁征收、补偿安置和村务问题，请向区房屋征收办、街道或乡镇信访办反映，也可拨打12345。"),
    ("公安机关", r"传销|非法集资|集资|诈骗|骗子|骗了|被骗|p2p|爆雷|跑路|庞氏|保健品.{0,8}(骗|退)",
     "涉及诈骗、传销和非法集资，请尽快拨打110或到派出所报案，保留好转账记录和聊天记录；反诈咨询可拨打96110。"),
    ("市场监管（12315）", r"退款|退钱|退费|预付卡|储值卡|会员卡|健身房|商家|店家|消费|假货|质量问题|售后|不给退",
     "商家退款、预付卡和商品质量等消费纠纷，请拨打12315或在全国12315平台投诉。"),
    ("卫生健康委", r"医院|医生|护士|挂号|门诊|医疗(纠纷|事故)|看病|住院|卫生院",
     "医院服务和医疗纠纷，请拨打12345，或向区卫生健康委员会、医院的医务处投诉。"),
    ("公积金/人社/税务", r"公积金|养老金|退休金|个税|税务|发票",
     "公积金、养老金和税务等业务，请拨打12345问清办理部门，或到区政务服务中心办理。"),
    ("交通/交警（12345）", r"市政道路|马路|公路|红绿灯|信号灯|斑马线|人行横道|罚单|违章(停车)?罚|扣分|高架|"
     r"路口|隔离栏|交警|基站|辐射|信号塔",
     "城市道路、红绿灯、交通罚单和通信基站等问题，请拨打12345市民热线反映，他们会转给负责的部门。"),
)


class Referrals:
    def __init__(self, table) -> None:
        self.table = tuple(Referral(name, re.compile(when), say) for name, when, say in table)

    @classmethod
    def default(cls) -> "Referrals":
        return cls(DEFAULTS)

    def match(self, text: str) -> Referral | None:
        """The referral for a message already filed under `other`, or None (then: triage as usual)."""
        norm = normalize(text or "").lower()
        return next((r for r in self.table if r.when.search(norm)), None)
