"""A count-based character n-gram language model: the simplest model that predicts the next token.

p(c | h) for the last ``n - 1`` characters h is estimated from counts, smoothed with Witten-Bell
interpolation: trust the counts of a context in proportion to how often it was seen, and give
the rest of the mass to the shorter context (down to a uniform distribution)::

    p(c | h) = (N(h c) + T(h) · p(c | h[1:])) / (N(h) + T(h))

N counts occurrences, T(h) is the number of distinct characters seen after h. Every document
is padded with ``START`` characters and ends with ``END``, so the model also predicts where a
text stops (as the course models and the entropy floor do).
"""

from __future__ import annotations

import math
import random
from collections import Counter

START, END, UNK = "\x02", "\x03", "\x00"   # padding before a text, its end, an unseen character
LN2 = math.log(2)


class NGramModel:
    """Character n-gram model of order ``n`` (n=1: unigram, n=3: two characters of context)."""

    def __init__(self, n: int = 3):
        if n < 1:
            raise ValueError(f"n must be at least 1 (got {n})")
        self.n = n
        self.counts: list[Counter] = []          # counts[k][h + c]: context h of length k, then c
        self.context_counts: list[Counter] = []  # context_counts[k][h] = N(h)
        self.followers: list[Counter] = []       # followers[k][h] = T(h)
        self.vocab: list[str] = []

    def fit(self, texts) -> "NGramModel":
        """Count every (context, next character) pair of length 1..n in ``texts``."""
        padded = [START * (self.n - 1) + t + END for t in texts]
        self.vocab = sorted(set("".join(padded)) - {START}) + [UNK]
        self.counts, self.context_counts, self.followers = [], [], []
        for k in range(self.n):                   # k = context length
            grams = Counter(p[i - k:i + 1] for p in padded for i in range(self.n - 1, len(p)))
            self.counts.append(grams)
            ctx, fol = Counter(), Counter()
            for g, c in grams.items():
                ctx[g[:-1]] += c
                fol[g[:-1]] += 1
            self.context_counts.append(ctx)
            self.followers.append(fol)
        return self

    def _context(self, history: str, order: int) -> str:
        history = START * (order - 1) + history
        return history[len(history) - (order - 1):] if order > 1 else ""

    def prob(self, char: str, history: str, order: int | None = None) -> float:
        """p(char | the last ``order - 1`` characters of history), smoothed."""
        order = order or self.n
        if char not in self.vocab:
            char = UNK
        h = self._context(history, order)
        p = 1.0 / len(self.vocab)                 # order 0: uniform
        for k in range(order):                    # interpolate up from the shortest context
            hk = h[len(h) - k:] if k else ""
            n_h, t_h = self.context_counts[k].get(hk, 0), self.followers[k].get(hk, 0)
            if n_h:
                p = (self.counts[k].get(hk + char, 0) + t_h * p) / (n_h + t_h)
        return p

    def distribution(self, history: str, order: int | None = None) -> dict[str, float]:
        """The whole next-character distribution after ``history`` (sums to 1)."""
        return {c: self.prob(c, history, order) for c in self.vocab}

    def text_bits(self, text: str, order: int | None = None) -> float:
        """-log2 p(text + END): the information the model needs to encode this document."""
        return -sum(math.log(self.prob(c, text[:i], order)) for i, c in enumerate(text + END)) / LN2

    def bits_per_char(self, texts, order: int | None = None) -> float:
        """Cross-entropy in bits per character over ``texts`` (their ends included)."""
        texts = list(texts)
        return sum(self.text_bits(t, order) for t in texts) / sum(len(t) for t in texts)

    def sample(self, prompt: str = "", max_chars: int = 200, temperature: float = 1.0,
               seed: int = 0, order: int | None = None) -> str:
        """Continue ``prompt`` one character at a time until END or ``max_chars``."""
        rng, out = random.Random(seed), ""
        for _ in range(max_chars):
            dist = self.distribution(prompt + out, order)
            dist.pop(UNK, None)
            chars = list(dist)
            if temperature == 0:
                c = max(chars, key=dist.get)
            else:
                c = rng.choices(chars, weights=[dist[x] ** (1 / temperature) for x in chars])[0]
            if c == END:
                break
            out += c
        return out


def perplexity_from_bits(bits_per_token: float) -> float:
    """Perplexity = 2^(bits per token): the number of equally likely choices it is 'as if' the model had."""
    return 2.0 ** bits_per_token
