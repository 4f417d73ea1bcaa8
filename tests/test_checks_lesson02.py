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


def byte_table(printable_ranges=((33, 126), (161, 172), (174, 255))):
    printable = [b for b in range(256) if any(lo <= b <= hi for lo, hi in printable_ranges)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


def decode(ids, tokens, special_ids, table=None, errors="replace"):
    table = table or byte_table()
    return bytes(table[c] for i in ids if i not in special_ids for c in tokens[i]).decode("utf-8", errors=errors)


def decode_token_by_token(ids, tokens, special_ids):  # wrong: a character split across tokens becomes �
    return "".join(decode([i], tokens, special_ids) for i in ids)


def decode_latin1(ids, tokens, special_ids):  # wrong: the stored characters are not the bytes' codes
    return bytes(ord(c) % 256 for i in ids if i not in special_ids for c in tokens[i]).decode("utf-8", "replace")


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
    (L.check_decode, decode, decode_token_by_token, "split across tokens"),
    (L.check_decode, decode, lambda ids, tokens, special: decode(ids, tokens, set()), "not skipped"),
    (L.check_decode, decode, lambda ids, tokens, special: "".join(tokens[i] for i in ids if i not in special),
     "not turned back into bytes"),
    (L.check_decode, decode, lambda ids, tokens, special: decode(ids, tokens, special, errors="strict"),
     "UnicodeDecodeError"),
    (L.check_decode, decode, lambda ids, t, s: decode(ids, t, s, byte_table(((33, 126), (161, 255)))), "no byte"),
    (L.check_decode, decode, decode_latin1, "check your byte table"),
    (L.check_decode, decode, lambda ids, tokens, special: decode(ids, tokens, special).encode(), "bytes, not text"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_list_of_symbols_is_accepted(capsys):
    L.check_merge_pair(lambda w, p: list(bpe.merge_pair(w, p)))
    assert capsys.readouterr().out.startswith("✅")


def test_the_byte_table_is_the_byte_level_alphabet_of_the_tokenizers_library():
    from tokenizers import pre_tokenizers

    table = byte_table()
    assert sorted(table.values()) == list(range(256)) and table["Ġ"] == ord(" ")
    assert set(table) == set(pre_tokenizers.ByteLevel.alphabet())


def test_decode_texts_split_characters_across_tokens_and_use_the_edge_bytes():
    from course_utils.loading import course_tokenizer

    tok = course_tokenizer()
    tokens = tok.convert_ids_to_tokens(list(range(len(tok))))
    used = {table_byte for t in L.DECODE_TEXTS for i in tok(t)["input_ids"][1:]
            for table_byte in (byte_table()[c] for c in tokens[i])}
    assert {0x09, 0x0A, 0x20, 0x7E, 0x7F, 0xA0, 0xA1, 0xAC, 0xAD, 0xAE} <= used
    special = set(tok.all_special_ids)
    assert all(decode(tok(t)["input_ids"], tokens, special) == t for t in L.DECODE_TEXTS)
    split = [t for t in L.DECODE_TEXTS if decode_token_by_token(tok(t)["input_ids"], tokens, special) != t]
    assert len(split) >= 2
