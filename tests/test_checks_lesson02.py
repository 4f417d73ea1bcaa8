"""Lesson 02 checks: accept the reference, report a stub and wrong answers with a message."""

from collections import Counter

import pytest
from check_verdicts import assert_verdicts

from course_utils import bpe
from course_utils.checks import lesson02 as L


def embedding_params(vocab, hidden, tied):
    return vocab * hidden * (1 if tied else 2)


def encode_word(word, merges):
    return bpe.BPETokenizer([], merges).encode_word(word)


def encode_leftmost_first(word, merges):  # wrong: merges the leftmost learned pair, not the earliest
    symbols = tuple(word)
    while True:
        pairs = [p for p in zip(symbols, symbols[1:]) if p in merges]
        if not pairs:
            return symbols
        symbols = bpe.merge_pair(symbols, pairs[0])


def merge_overlapping(word, pair):  # wrong: "aaa" + (a, a) -> (aa, aa)
    out = []
    for i in range(len(word)):
        if (word[i], word[i + 1] if i + 1 < len(word) else None) == pair:
            out.append(pair[0] + pair[1])
        elif not (i > 0 and (word[i - 1], word[i]) == pair):
            out.append(word[i])
    return tuple(out)


CASES = [
    (L.check_count_pairs, bpe.count_pairs, lambda ws: Counter(p for w in ws for p in zip(w, w[1:])), "weighted"),
    (L.check_count_pairs, bpe.count_pairs, lambda ws: Counter(p for w, n in ws.items() for p in zip(w, w[2:])
                                                                for _ in range(n)), "pair counts"),
    (L.check_count_pairs, bpe.count_pairs, lambda ws: 42, "should return a dict"),
    (L.check_merge_pair, bpe.merge_pair, merge_overlapping, "merge_pair(('a', 'a', 'a')"),
    (L.check_merge_pair, bpe.merge_pair, lambda w, p: w, "left to right"),
    (L.check_embedding_params, embedding_params, lambda v, h, tied: v * h, "untied"),
    (L.check_embedding_params, embedding_params, lambda v, h, tied: v * h * 2, "tied"),
    (L.check_bpe_encode, encode_word, encode_leftmost_first, "learned earliest"),
    (L.check_bpe_encode, encode_word, lambda w, m: tuple(w), "encode_word"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_list_of_symbols_is_accepted(capsys):
    L.check_merge_pair(lambda w, p: list(bpe.merge_pair(w, p)))
    assert capsys.readouterr().out.startswith("✅")
