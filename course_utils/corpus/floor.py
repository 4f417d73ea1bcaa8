"""The entropy floor: the best bits per character any model can reach on the generated world."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .world import LN2, CorpusConfig, Document, generate


@dataclass
class Floor:
    """Entropy rate in bits/char with a 95% confidence interval (ratio estimator, delta method)."""

    bits_per_char: float
    ci95: tuple[float, float]
    n_docs: int
    n_chars: int


def floor_of(docs: list[Document], under: str = "mix") -> Floor:
    """Bits/char of these documents under the generator: sum of -log2 p / sum of characters.

    ``under="mix"`` charges each document the choice of its domain as well (the floor for a model
    trained on the mix); ``under="domain"`` uses the domain grammar alone.
    """
    if not docs:
        raise ValueError("floor_of needs at least one document")
    b = [(-d.mix_logprob if under == "mix" else -d.logprob) / LN2 for d in docs]
    c = [len(d.text) for d in docs]
    n, sb, sc = len(docs), sum(b), sum(c)
    r = sb / sc
    # Var(R) ~ Var(b - R c) / (n * mean(c)^2)
    var = sum((bi - r * ci) ** 2 for bi, ci in zip(b, c)) / max(n - 1, 1) / (n * (sc / n) ** 2)
    half = 1.96 * math.sqrt(var)
    return Floor(r, (r - half, r + half), n, sc)


def entropy_floor(domain: str = "mix", n_docs: int = 20000, seed: int | None = None,
                  cfg: CorpusConfig = CorpusConfig(), under: str = "mix") -> Floor:
    """Estimate the entropy rate (bits/char) of ``domain`` from ``n_docs`` fresh samples.

    Because every text has exactly one derivation, -log2 p(derivation) is the information content
    of the text; its average per character converges to the entropy rate of the source.
    """
    return floor_of(generate(domain, n_docs, seed=seed, cfg=cfg), under=under)
