"""Checks for lesson 02's exercises: pair counts, one merge, embedding parameters, BPE encoding, decoding.

Each ``check_*`` takes the learner's function, compares it with a reference (``course_utils.bpe``; the
course tokenizer's own ``decode``) on small cases, and prints one verdict (✅ / ❌ with expected, found, hint / ⏳).
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


# texts for check_decode, each encoded with <s> first and specials after it; chosen so a wrong method fails:
# plain ASCII with spaces (stored as 'Ġ'), characters whose bytes land in two or more tokens, the bytes at the
# edges of the printable ranges (0x7F, 0xA0, 0xA1, 0xAC, 0xAD, 0xAE, tab, newline), and ids that stop in the
# middle of a character
DECODE_TEXTS = ["Ticket #42: the printer is jammed.", "Merci! Où est le café? 😀",
                "Sí, señor — déjà vu! ¡Hola! ¬® ~\x7f\ttab\nnew line"]
CUT_TEXT = "Un café"  # decoded without its last id: the last byte of 'é' is missing


def check_decode(decode) -> None:
    def test():
        from course_utils.loading import course_tokenizer

        tok = course_tokenizer()
        if tok is None:
            raise CheckFailed("the course tokenizer is missing", "models/tokenizer", None,
                              "rebuild it with python -m course_utils zoo build")
        tokens = tok.convert_ids_to_tokens(list(range(len(tok))))     # id -> the token as stored
        special = set(tok.all_special_ids)
        cases = [tok(t)["input_ids"] + [tok.eos_token_id, tok.pad_token_id, tok.pad_token_id] for t in DECODE_TEXTS]
        cases.append(tok(CUT_TEXT)["input_ids"][:-1])
        for ids in cases:
            expected = tok.decode(ids, skip_special_tokens=True)
            try:
                found = decode(list(ids), list(tokens), set(special))
            except UnicodeDecodeError:
                raise CheckFailed("your decode raised UnicodeDecodeError on ids that stop in the middle of a "
                                  "character", expected, "UnicodeDecodeError",
                                  "read the bytes with errors='replace': an incomplete character becomes �") from None
            except KeyError as exc:
                raise CheckFailed(f"a stored character has no byte in your table: {exc}", expected, "KeyError",
                                  "the table needs all 256 bytes: 33-126, 161-172 and 174-255 as chr(b), the other "
                                  "68 as chr(256 + n), n counting them from 0 in increasing order") from None
            what = f"decode of the ids of {tok.decode(ids, skip_special_tokens=True)!r}"
            if isinstance(found, (bytes, bytearray)):
                raise CheckFailed(what + ": bytes, not text", expected, found, "read the joined bytes as UTF-8")
            if not isinstance(found, str):
                raise CheckFailed(what + ": not a str", expected, found)
            if any(t in found for t in tok.all_special_tokens):
                raise CheckFailed(what + ": special tokens are not skipped", expected, found,
                                  "leave out every id in special_ids")
            if "Ġ" in found:
                raise CheckFailed(what + ": the stored characters were not turned back into bytes", expected, found,
                                  "'Ġ' is how the space byte (32) is stored: map every character to its byte")
            if found == "".join(tok.decode([i], skip_special_tokens=True) for i in ids) != expected:
                raise CheckFailed(what + ": a character split across tokens became �", expected, found,
                                  "join the bytes of all the tokens first, then read them as UTF-8 once")
            expect_equal(found, expected, what,
                         hint="check your byte table: 33-126, 161-172 and 174-255 are stored as chr(b), the other "
                              "68 bytes as chr(256 + n) in increasing order")

    run_check("decode", test)
