"""BPE from scratch: pair counts, merges, encoding, and parity with the tokenizers library."""

from course_utils.bpe import (BPETokenizer, CharTokenizer, WordTokenizer, count_pairs, merge_pair,
                              pretokenize, train_bpe, train_library_bpe)
from course_utils.corpus import generate


def test_pretokenize_keeps_every_character():
    text = "Ticket 42: the  printer\njams!"
    words = pretokenize(text)
    assert "".join(words) == text and " printer" in words and ":" in words


def test_count_pairs_weights_by_word_frequency():
    pairs = count_pairs({("l", "o", "w"): 5, ("l", "o", "t"): 2, ("a", "a", "a"): 1})
    assert pairs[("l", "o")] == 7 and pairs[("o", "w")] == 5 and pairs[("a", "a")] == 2


def test_merge_pair_left_to_right():
    assert merge_pair(("l", "o", "w", "l", "o"), ("l", "o")) == ("lo", "w", "lo")
    assert merge_pair(("a", "a", "a"), ("a", "a")) == ("aa", "a")
    assert merge_pair(("x",), ("a", "b")) == ("x",)


def test_train_learns_the_most_frequent_pairs_first_ties_to_older_symbols():
    text = " low" * 5 + " lower" * 2 + " newest" * 6 + " widest" * 3
    bpe = train_bpe(text, 5)
    # ('e','s') and ('s','t') both occur 9 times: 'e' is older (lower code point), so it wins;
    # later (' l','o') and ('o','w') tie at 7: 'o' is older than the new symbol ' l'
    assert bpe.merges == [("e", "s"), ("es", "t"), (" ", "l"), ("o", "w"), (" l", "ow")]
    assert bpe.vocab[-1] == " low" and bpe.encode_word(" lowest") == (" low", "est")
    assert train_library_bpe(text, bpe.vocab_size).get_vocab() == bpe.ids


def test_encode_decode_round_trip_and_unknown_characters():
    bpe = train_bpe("the cat sat on the mat " * 10, 20)
    text = "the mat sat"
    assert bpe.decode(bpe.encode(text)) == text
    assert len(bpe.encode(text)) < len(text)
    assert "".join(p for p, _ in bpe.pieces("a zebra!")) == "a zebra!"
    assert bpe.encode("z")[0] == bpe.vocab_size  # never seen: the id after the vocabulary


def test_same_merges_and_tokens_as_the_tokenizers_library():
    docs = [d.text for d in generate("mix", 150, seed=7)]
    text = "\n".join(docs[:120])
    ours = train_bpe(text, 120)
    lib = train_library_bpe(text, ours.vocab_size)
    assert lib.get_vocab() == ours.ids
    for doc in docs[120:]:
        assert lib.encode(doc).ids == ours.encode(doc)


def test_char_and_word_tokenizers():
    chars = CharTokenizer()
    assert chars.encode("Hi") == [72, 105] and chars.decode(chars.encode("é!")) == "é!"
    words = WordTokenizer(["the cat sat", "the dog"])
    assert words.vocab_size == 5  # <unk>, the, ' cat', ' sat', ' dog'
    assert [p for p, _ in words.pieces("the bird sat")] == ["the", " bird", " sat"]
    assert words.encode("the bird")[1] == 0  # unseen word -> <unk>
    assert isinstance(BPETokenizer([], []).vocab_size, int)
