"""nlp.extract: places in every common form, and personal numbers masked."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nlp
from nlp.extract import cn_to_int, find_location, find_phones, mask_pii


@pytest.mark.parametrize("s, n", [("十二", 12), ("二十", 20), ("十", 10), ("三", 3), ("一百零八", 108),
                                  ("六零一", 601), ("一八零二", 1802), ("12", 12), ("", None), ("三x", None)])
def test_chinese_numerals(s, n):
    assert cn_to_int(s) == n


@pytest.mark.parametrize("text, building, unit, room, area", [
    ("3号楼502有人飞线充电", "3", None, "502", None),
    ("5栋2单元楼道堆满了", "5", "2", None, "楼道"),
    ("十二幢三单元601室漏水", "12", "3", "601", None),
    ("东门垃圾堆成山", None, None, None, "东门"),
    ("2号楼楼下有人扔东西", "2", None, None, "楼下"),
    ("B区地库积水", None, None, None, "B区地库"),
    ("3#楼电梯坏了", "3", None, None, "电梯"),
    ("三号楼门口有人打架", "3", None, None, "门口"),
    ("12栋1802天花板漏水", "12", None, "1802", None),
    ("A3栋 2单元没水", "A3", "2", None, None),
    ("3-2-502卫生间漏水", "3", "2", "502", None),
    ("３号楼５０２", "3", None, "502", None),
    ("3号楼的楼下", "3", None, None, "楼下"),
    ("我家502室吊顶渗水", None, None, "502", None),
    ("3单元楼道灯坏了", None, "3", None, "楼道"),           # the area of a unit is kept
    ("2单元地下室进水了", None, "2", None, "地下室"),
    ("3单元502楼道", None, "3", "502", None),
    ("小区北门有人摆摊", None, None, None, "北门"),
])
def test_location(text, building, unit, room, area):
    loc = find_location(text)
    assert loc is not None
    assert (loc.building, loc.unit, loc.room, loc.area) == (building, unit, room, area)
    assert loc.text and loc.text in nlp.normalize.clean(text)


@pytest.mark.parametrize("text", ["5月3号停水", "一栋楼的人都没水", "两栋楼之间的路灯", "2020年买的房",
                                  "电话13812345678", "楼上天天吵", ""])
def test_no_location(text):
    assert find_location(text) is None


def test_building_year_is_not_a_room():
    loc = find_location("3号楼2001年建的")
    assert loc.building == "3" and loc.room is None


def test_location_label_for_routing():
    assert find_location("十二幢三单元601室").label() == "12号楼3单元601室"


@pytest.mark.parametrize("raw, masked", [
    ("电话13812345678", "电话138****5678"),
    ("打138 1234 5678找我", "打138****5678找我"),
    ("+86-138-1234-5678", "+86-138****5678"),
    ("座机0571-88886666", "座机0571-****6666"),
    ("(010)12345678", "(010)****5678"),
    ("身份证11010519491231002X", "身份证110***********002X"),
    ("110105194912310021，手机13912345678", "110***********0021，手机139****5678"),
    ("老身份证110105491231002", "老身份证110*********002"),          # 15 digits: 6 + YYMMDD + 3
    ("身份证 110105 491231 002", "身份证 110*********002"),
])
def test_mask_pii(raw, masked):
    assert mask_pii(raw) == masked
    assert nlp.mask_pii(raw) == masked


@pytest.mark.parametrize("text", ["3号楼502", "5月3号", "订单号2024051212345678901", "物业费1200元", "",
                                  "快递单号773012345678901"])   # 15 digits, but no date inside
def test_mask_pii_leaves_other_numbers(text):
    assert mask_pii(text) == text


def test_find_phones():
    assert find_phones("找138-1234-5678或0571-88886666") == ["13812345678", "057188886666"]


@pytest.mark.parametrize("raw, masked", [
    # full-width digits are matched; the text around (and the visible digits) stay as written
    ("电话１３８１２３４５６７８谢谢", "电话１３８****５６７８谢谢"),
    ("＋８６－１３８－１２３４－５６７８", "＋８６－１３８****５６７８"),
    ("（０１０）１２３４５６７８", "（０１０）****５６７８"),
    ("１１０１０５１９４９１２３１００２Ｘ", "１１０***********００２Ｘ"),
    # mobiles grouped with dots, spaces, dashes; +86 / 0086 / (+86)
    ("手机138.1234.5678", "手机138****5678"),
    ("138 1234 5678", "138****5678"),
    ("138-1234-5678。", "138****5678。"),
    ("138 - 1234 - 5678", "138****5678"),
    ("+86 13812345678", "+86 138****5678"),
    ("+8613812345678", "+86138****5678"),
    ("008613812345678", "0086138****5678"),
    ("(+86)138 1234 5678", "(+86)138****5678"),
    ("联系人王13912345678/13712345678", "联系人王139****5678/137****5678"),
    # landlines: area code, groups, extensions
    ("021-6123-4567转123", "021-****4567转123"),
    ("(010)12345678-802", "(010)****5678-802"),
    ("0571 8888 6666", "0571 ****6666"),
    ("010-1234567", "010-****4567"),
    ("座机 021 61234567 分机 12", "座机 021 ****4567 分机 12"),
    ("02161234567", "021****4567"),
    # IDs: x or X at the end, 15 digits, spaces or dashes
    ("身份证11010519491231002x", "身份证110***********002x"),
    ("110105 19491231 002X", "110***********002X"),
    ("1101 0519 4912 3100 2X", "110***********002X"),
    ("110105-19491231-002X", "110***********002X"),
    ("老证110105491231002号", "老证110*********002号"),
    ("身份证号：110105194912310021，电话021-61234567", "身份证号：110***********0021，电话021-****4567"),
])
def test_mask_pii_as_residents_write(raw, masked):
    assert mask_pii(raw) == masked
    assert mask_pii(masked) == masked          # masking twice changes nothing (logs mask masked text)


@pytest.mark.parametrize("text", [
    "工单20261206-0001已受理", "#20261206-0001", "/show 20261206-0012", "3号楼2单元301", "12栋1802室",
    "3-2-502卫生间漏水", "2026-12-06 10:30", "2026年12月6日", "2026.12.06", "12/06 18:30", "08:00-18:00",
    "¥1380.00", "13800元", "物业费每平米2.5元", "2001-2003年", "20261206", "5月3号停水", "拨打110或119",
    "12345热线", "400-820-8820", "房号 101 102 103 104 105", "编号 2026 1206 0001 001",
    "订单号2024051212345678901", "快递单号773012345678901", "SF1234567890123", "0.5元", "1:1",
    "第13812个", "面积138.12平方米", "1380 1234",
])
def test_mask_pii_leaves_ordinary_numbers(text):
    assert mask_pii(text) == text
    assert find_phones(text) == []


def test_find_phones_full_width_and_extensions():
    assert find_phones("电话１３８ １２３４ ５６７８，座机(010)12345678-802") == ["13812345678", "01012345678"]
    assert find_phones("身份证110105194912310021") == []       # an ID is not a phone number


@given(st.text(alphabet=st.sampled_from("0123456789０１２３４５６７８９ -.+()（）Xx转号楼电话"), max_size=60))
def test_mask_pii_is_idempotent_and_keeps_non_digits(text):
    once = mask_pii(text)
    assert mask_pii(once) == once
    # only digits (and the separators inside a masked number) change: Chinese text is never touched
    assert [c for c in once if c in "号楼电话转"] == [c for c in text if c in "号楼电话转"]
