"""Tokenizer diff: counts, characters per token and differently cut words."""

from transformers import AutoTokenizer

from course_utils import tokenizer_diff as td


def test_diff_against_characters(tiny_llama_dir):
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    texts = ["The printer on floor two is jammed again.", "Mix the flour with two eggs."]
    assert td.pieces(td.characters, "abc") == ["a", "b", "c"]
    assert "".join(td.pieces(tok, texts[0])) == texts[0]
    d = td.tokenizer_diff(texts, tok, td.characters, "BPE", "characters")
    assert d["tokens"][1] == d["chars"] == sum(map(len, texts))
    assert d["tokens"][0] < d["tokens"][1] and d["chars_per_token"][1] == 1.0
    assert d["examples"] and all(len(b) == len(w) for w, (a, b) in d["examples"].items())
    report = td.diff_text(d)
    assert "BPE" in report and "chars/token" in report


def test_same_tokenizer(tiny_llama_dir):
    a = AutoTokenizer.from_pretrained(tiny_llama_dir)
    b = AutoTokenizer.from_pretrained(tiny_llama_dir)
    assert td.same_tokenizer(a, b)
    d = td.tokenizer_diff(["hello there"], a, b)
    assert d["tokens"][0] == d["tokens"][1] and not d["examples"]
