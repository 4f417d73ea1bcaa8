"""Cutting text into tokens: characters, words, and byte-pair encoding (BPE) learned from scratch.

BPE in three lines: start from characters; count every adjacent pair of symbols in the training
words; merge the most frequent pair into a new symbol; repeat. Encoding replays the merges,
lowest rank (earliest learned) first. Ties are broken like the ``tokenizers`` library (the pair
of older symbols wins), so :func:`train_bpe` learns the same merges as its ``BpeTrainer`` given
the same pre-tokenization (``PRETOKENIZE``).

Every tokenizer here has ``name``, ``vocab_size``, ``encode``, ``decode`` and
``pieces(text) -> [(piece, id), ...]`` (the pieces join back to the text).
"""

from __future__ import annotations

import re
from collections import Counter

# a word or a run of punctuation, each with the space before it; or whitespace (leaving the
# last space of a run to the word after it, as GPT-2 does)
PRETOKENIZE = r" ?\w+| ?[^\w\s]+|\s+(?!\S)|\s+"
_WORDS = re.compile(PRETOKENIZE)
Pair = tuple[str, str]


def pretokenize(text: str) -> list[str]:
    """Split text into words (BPE never merges across them); they join back to the text."""
    return _WORDS.findall(text)


def count_pairs(words: dict[tuple[str, ...], int]) -> Counter:
    """How often each adjacent pair of symbols occurs, weighted by how often each word occurs."""
    pairs: Counter = Counter()
    for word, n in words.items():
        for pair in zip(word, word[1:]):
            pairs[pair] += n
    return pairs


def merge_pair(word: tuple[str, ...], pair: Pair) -> tuple[str, ...]:
    """Replace every occurrence of ``pair`` in ``word`` (left to right) by the merged symbol."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class BPETokenizer:
    """A vocabulary (characters, then merged symbols) and the ordered list of merges."""

    def __init__(self, vocab: list[str], merges: list[Pair], name: str = "from-scratch BPE"):
        self.vocab, self.merges, self.name = vocab, merges, name
        self.ids = {s: i for i, s in enumerate(vocab)}
        self.ranks = {pair: r for r, pair in enumerate(merges)}
        self._cache: dict[str, tuple[str, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode_word(self, word: str) -> tuple[str, ...]:
        """Apply the learned merges to one word, earliest learned first."""
        if word not in self._cache:
            symbols = tuple(word)
            while len(symbols) > 1:
                pair = min(zip(symbols, symbols[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
                if pair not in self.ranks:
                    break
                symbols = merge_pair(symbols, pair)
            self._cache[word] = symbols
        return self._cache[word]

    def pieces(self, text: str) -> list[tuple[str, int]]:
        unk = len(self.vocab)  # a character never seen in training
        return [(s, self.ids.get(s, unk)) for w in pretokenize(text) for s in self.encode_word(w)]

    def encode(self, text: str) -> list[int]:
        return [i for _, i in self.pieces(text)]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.vocab[i] if i < len(self.vocab) else "�" for i in ids)


def train_bpe(text: str, n_merges: int, verbose: bool = False) -> BPETokenizer:
    """Learn ``n_merges`` merges from ``text`` (fewer if no pair is left to merge)."""
    words = Counter(tuple(w) for w in pretokenize(text))   # each word as a tuple of characters
    vocab = sorted({c for w in words for c in w})           # sorted by code point, like `tokenizers`
    rank = {s: i for i, s in enumerate(vocab)}
    merges: list[Pair] = []
    for step in range(n_merges):
        pairs = count_pairs(words)
        if not pairs:
            break
        # most frequent pair; on a tie, the pair of older symbols (as the `tokenizers` library)
        best = max(pairs, key=lambda p: (pairs[p], -rank[p[0]], -rank[p[1]]))
        merged: Counter = Counter()
        for word, n in words.items():
            merged[merge_pair(word, best)] += n
        words = merged
        merges.append(best)
        if best[0] + best[1] not in rank:
            rank[best[0] + best[1]] = len(vocab)
            vocab.append(best[0] + best[1])
        if verbose:
            print(f"merge {step + 1:>3}: {best[0]!r} + {best[1]!r} -> {best[0] + best[1]!r} "
                  f"({pairs[best]} times)")
    return BPETokenizer(vocab, merges)


def train_library_bpe(text: str, vocab_size: int):
    """The same training with the ``tokenizers`` library (Rust): same pre-tokenization, no specials."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(PRETOKENIZE), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.train_from_iterator([text], trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False))
    return tok


class CharTokenizer:
    """One token per character; the id is the character's Unicode code point."""

    name = "characters"
    vocab_size = 0x110000  # every Unicode code point

    def pieces(self, text: str) -> list[tuple[str, int]]:
        return [(c, ord(c)) for c in text]

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)


class WordTokenizer:
    """One token per word (as cut by ``pretokenize``); words not seen in training become <unk>."""

    name = "words"
    UNK = "<unk>"

    def __init__(self, texts):
        counts = Counter(w for t in texts for w in pretokenize(t))
        self.vocab = [self.UNK] + sorted(counts)
        self.ids = {w: i for i, w in enumerate(self.vocab)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def pieces(self, text: str) -> list[tuple[str, int]]:
        return [(w, self.ids.get(w, 0)) for w in pretokenize(text)]

    def encode(self, text: str) -> list[int]:
        return [i for _, i in self.pieces(text)]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.vocab[i] for i in ids)
