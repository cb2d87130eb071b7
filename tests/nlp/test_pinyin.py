"""nlp/pinyin.py: toneless pinyin written in characters; everything else left as it is."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from nlp import classify
from nlp.normalize import normalize
from nlp.pinyin import syllables, to_hanzi


@pytest.mark.parametrize("text, expected", [
    ("zhao huo le", "着火了"),
    ("dianti kazhu le", "电梯卡住了"),          # syllables run together
    ("tingdian le", "停电了"),
    ("la ji mei ren qing li", "垃圾没人清理"),
    ("3dong 1danyuan menkou", "3栋 1单元门口"),  # after a number: the address's measure word
    ("6 hao lou dianti bu dong le", "6 号楼电梯不动了"),
])
def test_pinyin_is_written_in_characters(text, expected):
    assert to_hanzi(text) == expected


@pytest.mark.parametrize("text", [
    "help grandpa fall in bathroom not wake up",   # English: "help" is no pinyin
    "3号楼 dianti huai le",                         # mixed with characters: left to the reader
    "ok", "hao",                                    # one word is too little to tell
    "", "12345", "!!!",
])
def test_other_text_stays(text):
    assert to_hanzi(text) == text


def test_syllables():
    assert syllables("xianzai") == ["xian", "zai"]
    assert syllables("xian") == ["xian"]                 # as few as possible
    assert syllables("xi'an") == ["xi", "an"]
    assert syllables("que") == ["qve"]                    # the converter's spelling
    assert syllables("bathroom") is None and syllables("") is None
    assert syllables("nar") == ["na", "er"] and syllables("zher") == ["zhe", "er"]    # erhua


def test_a_pinyin_emergency_is_read_like_a_chinese_one():
    c = classify("zhao huo le 8 dong 1 lou")
    assert c.emergency is not None and c.emergency.kind == "fire"
    assert c.location is not None and c.location.building == "8"
    assert normalize("meiqi wei hen da, 3dong 402").startswith("煤气")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz' 0123456789,!"), max_size=80))
def test_never_raises_on_letters(text):
    out = to_hanzi(text)
    assert isinstance(out, str) and (out == text or any("\u4e00" <= ch <= "\u9fff" for ch in out))


def test_a_homophone_may_come_out_but_the_category_holds():
    # the phrase graph has no context: "dianti huai le" comes out 电梯怀了 (坏 meant); 电梯 still decides
    assert classify("6 hao lou dianti huai le").category == "elevator"
