"""nlp.segment.cut (jieba-rs) must give Python jieba's HMM-free segmentation with our dictionary,
except where two routes are exactly equally probable."""
from __future__ import annotations

from functools import cache
from math import log

import jieba
from hypothesis import given, settings, strategies as st

from nlp import segment
from nlp.train import read_dir, SEED_DIR


@cache
def python_jieba() -> jieba.Tokenizer:
    tok = jieba.Tokenizer()
    tok.initialize()
    tok.load_userdict(str(segment.USERDICT))
    return tok


def jieba_cut(text: str) -> list[str]:
    return [w for w in python_jieba().lcut(text, HMM=False) if w.strip()]


def route_logp(words: list[str]) -> float:
    tok = python_jieba()
    return sum(log(tok.FREQ.get(w) or 1) - log(tok.total) for w in words)


def agrees(text: str) -> bool:
    """Same words, or a different route of exactly the same probability over the same text."""
    ours, theirs = segment.cut(text), jieba_cut(text)
    if ours == theirs:
        return True
    return "".join(ours) == "".join(theirs) and abs(route_logp(ours) - route_logp(theirs)) < 1e-9


def test_same_as_jieba_on_the_seed_corpus():
    texts = [t for t, _ in read_dir(SEED_DIR)]
    differ = [t for t in texts if not agrees(t)]
    assert not differ, differ[:3]


def test_ties_are_the_only_difference():
    # 咚|咚咚 and 咚咚|咚 have the same probability: either is jieba's answer
    assert agrees("咚咚咚一直响")
    assert "".join(segment.cut("咚咚咚一直响")) == "咚咚咚一直响"


def test_domain_words_and_mixed_runs():
    assert "飞线充电" in segment.cut("3号楼有人飞线充电")
    assert "楼道堆物" in segment.cut("楼道堆物太多了")
    assert segment.cut("abc 3号楼，电梯坏了!") == jieba_cut("abc 3号楼，电梯坏了!")
    assert segment.cut("") == [] and segment.cut("  \n\t") == []


def test_dictionary_questions():
    assert segment.is_word("电梯") and segment.is_word("飞线充电")      # jieba's and ours
    assert not segment.is_word("没起") and not segment.is_word("")
    tok = python_jieba()
    for c in "的火楼梯":
        assert abs(segment.count(c) - tok.FREQ[c]) <= 1
    assert segment.count("的") > segment.count("火") > segment.count("梯") > 0
    assert segment.count("没起") == 0


def test_a_bad_userdict_line_names_itself(tmp_path):
    f = tmp_path / "userdict.txt"
    f.write_text("电瓶车 1000 n\n僵尸车\n", encoding="utf-8")
    try:
        segment.userdict_entries(f)
    except ValueError as e:
        assert "userdict.txt:2" in str(e)
    else:
        raise AssertionError("a line without a count was accepted")


# Characters that make the word graph interesting: dictionary words, letters and digits that
# jieba runs together, the +#&._%- it keeps inside a block, punctuation and whitespace between.
_ALPHABET = "的一是了我不人在有这个上们来到大地为子中你说生年着就那和要出电梯坏飞线充楼道号单元室垃圾桶狗叫咚abXY09+#&._%-，。！ \n"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40) | st.text(max_size=20))
def test_same_as_jieba_on_any_text(text):
    assert agrees(text)
