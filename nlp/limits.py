"""How much of a message nlp/ reads, so that no message, however long, holds a worker.

Every entry point that reads a resident's text (classify, the emergency rules, find_location,
similar) first takes read(text): a message of up to READ_CHARS characters whole, a longer one as its
first HEAD_CHARS and its last TAIL_CHARS characters joined by SEAM. The ticket keeps the full text
(the caller's job); only what the classifier and the matcher look at is bounded.

Why head + tail, and why 1000 + 500. A long letter states its problem at the start, and its end
often holds what matters next: the address, the phone number, the request ("请尽快处理"). On the
tipdm2020 letters to a government message board (1,842 held-out letters, 199 of them over 1,000
characters, the longest 4,578), a text model trained on whole letters gives a letter cut to its
first 1,000 and last 500 characters the class it gives the whole letter for 100% of them, 99.8%
with the first 1,000 alone and 99.7% with 250 + 250; accuracy stays 0.926-0.929 throughout
(python bench/bench_long_message.py --tipdm PATH reproduces this). WeChat reports are far
shorter (99% of the 4,690 seed and unseen messages have at most 120 characters, the longest 194),
so nothing real is cut. The price: what stands only in the middle of a long letter (an emergency,
a place) is not read; residents rarely put it there.

SEAM is a full stop: the emergency rules end a clause there and the place patterns do not run
across it, so nothing is read as one phrase from words a whole letter apart.

FUZZY_NEEDLE bounds partial_ratio (nlp/similarity.py), whose work grows with the shorter text's
length squared times the longer's (two texts of 1,500 characters: 200 ms; 128 characters sought in
1,500: 0.2 ms). The shorter text's first FUZZY_NEEDLE characters are sought in the other: 99% of
the seed and unseen reports have cores (place and filler words removed) of at most 92 characters,
so a report is compared whole, and 128 is two of rapidfuzz's 64-character bit-parallel blocks.
"""
from __future__ import annotations

HEAD_CHARS = 1000
TAIL_CHARS = 500
SEAM = "。"
READ_CHARS = HEAD_CHARS + len(SEAM) + TAIL_CHARS   # what read() returns is never longer
FUZZY_NEEDLE = 128


def read(text: str) -> str:
    """The part of `text` nlp/ reads: all of it up to READ_CHARS characters, else its head and tail.
    Idempotent: read(read(t)) == read(t)."""
    if len(text) <= READ_CHARS:
        return text
    return text[:HEAD_CHARS] + SEAM + text[-TAIL_CHARS:]
