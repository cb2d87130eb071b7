"""nlp.segment.cut must give exactly jieba's HMM-free segmentation with our dictionary."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from nlp import segment
from nlp.train import read_dir, SEED_DIR


def jieba_cut(text: str) -> list[str]:
    return [w for w in segment.tokenizer().lcut(text, HMM=False) if w.strip()]


def test_same_as_jieba_on_the_seed_corpus():
    texts = [t for t, _ in read_dir(SEED_DIR)]
    differ = [t for t in texts if segment.cut(t) != jieba_cut(t)]
    assert not differ, differ[:3]


def test_domain_words_and_mixed_runs():
    assert "飞线充电" in segment.cut("3号楼有人飞线充电")
    assert segment.cut("abc 3号楼，电梯坏了!") == jieba_cut("abc 3号楼，电梯坏了!")
    assert segment.cut("") == [] and segment.cut("  \n\t") == []


# Characters that make the word graph interesting: dictionary words, letters and digits that
# jieba runs together, the +#&._%- it keeps inside a block, punctuation and whitespace between.
_ALPHABET = "的一是了我不人在有这个上们来到大地为子中你说生年着就那和要出电梯坏飞线充楼道号单元室垃圾桶狗叫abXY09+#&._%-，。！ \n"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40) | st.text(max_size=20))
def test_same_as_jieba_on_any_text(text):
    assert segment.cut(text) == jieba_cut(text)
