"""The course tokenizer: byte-level BPE, loads with AutoTokenizer, round-trips any text."""

import json

import pytest
from transformers import AutoTokenizer

from course_utils import MODELS_DIR
from course_utils.corpus import DOMAINS, generate
from course_utils.zoo.tokenizer import BOS, EOS, PAD, train_tokenizer

TOK = MODELS_DIR / "tokenizer"


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(str(TOK))


def test_shipped_tokenizer_loads_with_special_tokens(tok):
    manifest = json.loads((MODELS_DIR / "manifest.json").read_text())
    assert len(tok) == manifest["tokenizer"]["vocab_size"]
    assert (tok.pad_token, tok.bos_token, tok.eos_token) == (PAD, BOS, EOS)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok("Hello")["input_ids"][0] == tok.bos_token_id  # every text starts with <s>


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_round_trip_on_corpus_text(tok, domain):
    for d in generate(domain, 20, seed=99):
        ids = tok(d.text)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == d.text
        assert len(ids) < len(d.text) / 2  # BPE compresses the world's text


def test_round_trip_on_text_outside_the_corpus(tok):
    text = "Ünïcödé, emoji 🙂, tabs\tand  spaces, 12345 and <s> literal"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text


def test_digits_are_single_tokens(tok):
    toks = tok.convert_ids_to_tokens(tok("Ticket #4821", add_special_tokens=False)["input_ids"])
    assert [t for t in toks if any(c.isdigit() for c in t)] == ["4", "8", "2", "1"]


def test_train_tokenizer_from_scratch(tmp_path):
    texts = [d.text for d in generate("mix", 200, seed=1)]
    t = train_tokenizer(texts, vocab_size=300)
    t.save_pretrained(str(tmp_path))
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert len(again) == 300
    assert again.decode(again(texts[0])["input_ids"], skip_special_tokens=True) == texts[0]
