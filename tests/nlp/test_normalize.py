"""nlp.normalize: every clean-up rule on real resident spellings, and what it must leave alone."""
import pytest

from nlp.normalize import clean, normalize


@pytest.mark.parametrize("raw, want", [
    ("電梯壞了，樓道裡有煙。", "电梯坏了,楼道里有烟。"),          # 繁體 -> 简体, ，-> ,
    ("３号楼５０２　ＡＢ区", "3号楼502 AB区"),                   # full-width digits, letters, space
    ("着火了🔥🔥快来", "着火了 快来"),                           # emoji
    ("物业不管[捂脸][捂脸]", "物业不管"),                         # WeChat sticker codes
    ("[Smile]楼下好吵", "楼下好吵"),
    ("怎么回事？？？", "怎么回事?"),                             # repeated punctuation
    ("又停水了！！！！", "又停水了!"),
    ("说了好几次了。。。。", "说了好几次了。"),
    ("你们管不管?!?!", "你们管不管?"),
    ("  3号楼   电梯\t坏了 \n", "3号楼 电梯 坏了"),                # whitespace
    ("楼道\x00里\x07有人", "楼道 里 有人"),                       # control characters
])
def test_clean(raw, want):
    assert clean(raw) == want


def test_sticker_rule_keeps_bracketed_places():
    assert clean("[3号楼]漏水") == "[3号楼]漏水"


@pytest.mark.parametrize("raw, want", [
    ("3号楼有人飞线冲电", "3号楼有人飞线充电"),
    ("电平车推进电梯了", "电瓶车推进电梯了"),
    ("门口垃极堆成山", "门口垃圾堆成山"),
    ("楼下拉圾没人收", "楼下垃圾没人收"),
    ("又有人高空仍物", "又有人高空抛物"),
    ("电悌又坏了", "电梯又坏了"),
    ("窖井盖丢了", "窨井盖丢了"),
    ("消房通道被堵了", "消防通道被堵了"),
    ("健生器材坏了", "健身器材坏了"),
    ("门进卡刷不开", "门禁卡刷不开"),
    ("流狼狗咬人", "流浪狗咬人"),
    ("楼下停了辆小电驴在充电", "楼下停了辆电瓶车在充电"),
    ("3號樓飛線沖電", "3号楼飞线充电"),                          # 繁體 and a near miss together
    ("家里然气漏了", "家里燃气漏了"),                              # a variant
    ("有然气味", "有燃气味"),                                      # 燃气 keeps the 气 of 气味
    ("骑电摩来的", "骑电瓶车来的"),
])
def test_domain_terms_repaired(raw, want):
    assert normalize(raw) == want


@pytest.mark.parametrize("text", [
    "消防通知收到了吗",          # 通知 is a word: not 消防通道
    "我家电平不稳",              # 电平 (voltage level) is a word
    "电动车停在门口",            # a correct word one character from 电瓶车
    "他家违章搭的棚子",          # 的 is a function word, not a slip of 建
    "上楼到家发现停电了",         # 楼到 must not become 楼道
    "物业说明天来修",
    "早上露水很重",              # 露水 is a word, not 漏水
    "高空作业要系安全带",         # two characters away from 高空抛物
    "电瓶车电瓶坏了",            # already right, and 瓶车 is no variant key
    "虽然气温下降了",            # 然气 is a variant key, but jieba reads 虽然|气温
    "突然气味很大",
    "电摩擦起电",                # 电摩 is a variant key, but 摩擦 runs across its end
])
def test_correct_words_left_alone(text):
    assert normalize(text) == text


def test_idempotent_and_empty():
    for t in ["3號樓飛線沖電！！[捂脸]", "电平车", "", "   "]:
        assert normalize(normalize(t)) == normalize(t)
    assert normalize("") == "" and normalize("   ") == ""


def test_long_text_is_handled():
    text = "楼道堆物" * 25_000
    assert normalize(text).startswith("楼道堆物楼道堆物")


def test_simplified_text_skips_conversion_without_changing_anything():
    """clean() converts only texts holding a Traditional character; for every other text the
    conversion would have been a no-op (checked over the seed corpus)."""
    import zhconv
    from nlp.normalize import _trad_chars
    from nlp.train import SEED_DIR, read_dir
    trad = _trad_chars()
    texts = [t for t, _ in read_dir(SEED_DIR)]
    skipped = [t for t in texts if trad.isdisjoint(t)]
    assert len(skipped) > 0.8 * len(texts)                 # the common case is the fast one
    assert [t for t in skipped if zhconv.convert(t, "zh-cn") != t] == []
    # a word-level conversion in an otherwise simplified message still happens
    assert clean("三楼有人著火了") == "三楼有人着火了"
    assert clean("請回覆") == "请回复"


def test_a_word_per_space_is_joined_but_a_space_for_a_comma_is_kept():
    assert normalize("我 家 着 火 了") == "我家着火了"
    assert normalize("我 房子 外面 有 人 一直 敲门") == "我房子外面有人一直敲门"
    assert normalize("电梯 坏了 3号楼 快来") == "电梯 坏了 3号楼 快来"     # the resident's commas
    assert normalize("有 人 打 架") == "有人打架"
    assert normalize("Building 3 lift is not working") == "Building 3 lift is not working"
