"""Checks for lesson 02's exercises: pair counts, one merge, embedding parameters, BPE encoding.

Each ``check_*`` takes the learner's function, compares it with ``course_utils.bpe`` (the
reference) on small cases, and prints one verdict (✅ / ❌ with expected, found, hint / ⏳).
"""

from __future__ import annotations

from course_utils import bpe
from course_utils.checks import CheckFailed, expect_equal, run_check

WORDS = {("l", "o", "w"): 5, (" ", "l", "o", "w", "e", "r"): 2, ("n", "e", "w"): 6, ("a", "a", "a"): 1}
MERGES = [("e", "s"), ("es", "t"), (" ", "l"), ("o", "w"), (" l", "ow"), (" ", "n"), ("e", "w"),
          ("w", "e")]


def check_count_pairs(count_pairs) -> None:
    def test():
        found = count_pairs({w: n for w, n in WORDS.items()})
        expected = dict(bpe.count_pairs(WORDS))
        try:
            found = {pair: n for pair, n in dict(found).items() if n}
        except (TypeError, ValueError):
            raise CheckFailed("count_pairs should return a dict (or Counter) of pair -> count",
                              "a dict", found) from None
        if found.get(("l", "o")) == 2 and expected[("l", "o")] == 7:
            raise CheckFailed("pair counts are not weighted by word frequency", expected, found,
                              "each pair in a word counts as many times as the word occurs (its value)")
        expect_equal(found, expected, "pair counts",
                     hint="for every word and count: for each adjacent pair (zip(word, word[1:])) add count")

    run_check("count pairs", test)


def check_merge_pair(merge_pair) -> None:
    def test():
        cases = [(("l", "o", "w", "e", "r"), ("l", "o")), (("l", "o", "w", "l", "o"), ("l", "o")),
                 (("a", "a", "a"), ("a", "a")), (("n", "e", "w"), ("x", "y")), (("es", "t"), ("es", "t"))]
        for word, pair in cases:
            found = merge_pair(word, pair)
            expect_equal(tuple(found) if isinstance(found, list) else found, bpe.merge_pair(word, pair),
                         f"merge_pair({word}, {pair})",
                         hint="walk left to right; when word[i], word[i+1] equals the pair, emit the joined "
                              "symbol and skip two, else emit word[i]; return a tuple")

    run_check("merge one pair", test)


def check_embedding_params(embedding_params) -> None:
    def test():
        expect_equal(embedding_params(49152, 576, True), 49152 * 576, "SmolLM2-135M (tied embeddings)",
                     hint="a table of vocab x hidden numbers; tied: the output layer reuses it")
        expect_equal(embedding_params(152064, 3584, False), 2 * 152064 * 3584, "Qwen2.5-7B (untied)",
                     hint="untied: the output layer has its own vocab x hidden matrix, so count two")
        expect_equal(embedding_params(1024, 128, True), 1024 * 128, "course-small (tied)")

    run_check("embedding parameters", test)


def check_bpe_encode(encode_word) -> None:
    def test():
        ref = bpe.BPETokenizer([], MERGES)
        for word in (" lowest", "newest", " new", "low", "xyz", " lower", "wes"):
            found = encode_word(word, list(MERGES))
            expect_equal(tuple(found) if isinstance(found, list) else found, ref.encode_word(word),
                         f"encode_word({word!r}, MERGES)",
                         hint="start from the characters; repeatedly merge the adjacent pair that was "
                              "learned earliest (lowest index in merges) until no learned pair is left")

    run_check("encode with learned merges", test)
