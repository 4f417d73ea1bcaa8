"""Documents, the domain mix and the fixed train/validation/test splits."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from .domains import DOMAINS
from .grammar import Gen, Sampler

LN2 = math.log(2)


@dataclass(frozen=True)
class CorpusConfig:
    """Everything that shapes the world. Same config, same bytes."""

    seed: int = 1234
    pronoun_skew: float = 0.85        # P(stereotyped pronoun | occupation) in stories and reviews
    helpdesk_clue_rate: float = 0.65  # P(a ticket clue comes from the true category)
    bank_clue_rate: float = 0.7       # P(a bank-chat clue comes from the true intent)
    # the pretraining mix; the held-out domain (bank) is not in it
    weights: tuple = (("story", 0.16), ("weather", 0.12), ("recipe", 0.12), ("review", 0.12),
                      ("helpdesk", 0.16), ("clinic", 0.12), ("email", 0.2))
    split_fractions: tuple = (("train", 0.9), ("val", 0.05), ("test", 0.05))

    @property
    def domain_weights(self) -> dict[str, float]:
        return dict(self.weights)


@dataclass
class Document:
    """One generated text with its exact log-probabilities (natural log).

    ``logprob`` is log p(text) under its domain's grammar; ``mix_logprob`` adds the log-probability
    of picking that domain in the general mix. Both include the document's end (the grammar stops).
    A held-out domain is not in the mix: its ``mix_logprob`` is its ``logprob``.
    """

    text: str
    domain: str
    logprob: float
    mix_logprob: float
    label: str | None = None
    meta: dict = field(default_factory=dict)
    choices: list[int] = field(default_factory=list, repr=False)  # the derivation

    @property
    def bits(self) -> float:
        """Information content under the mix, -log2 p_mix(text): what a mix-trained model can reach."""
        return -self.mix_logprob / LN2


def mix_grammar(cfg: CorpusConfig):
    """The general mix as a grammar: choose a domain, then run it (used by the parser too)."""
    names, w = zip(*cfg.weights)

    def mix(g: Gen, cfg=cfg) -> None:
        d = g.pick(list(names), list(w))
        g.meta["domain"] = d
        DOMAINS[d](g, cfg)

    return mix


def sample_document(rng: random.Random, domain: str, cfg: CorpusConfig) -> Document:
    """Draw one document from ``domain`` ('mix' or a domain name)."""
    g = Sampler(rng)
    if domain == "mix":
        mix_grammar(cfg)(g)
        d = g.meta.pop("domain")
        lp_mix = g.logprob
        lp = lp_mix - math.log(cfg.domain_weights[d] / sum(cfg.domain_weights.values()))
    else:
        if domain not in DOMAINS:
            raise ValueError(f"unknown domain {domain!r}; choose 'mix' or one of {sorted(DOMAINS)}")
        DOMAINS[domain](g, cfg)
        d, lp = domain, g.logprob
        lp_mix = lp
        if d in cfg.domain_weights:
            lp_mix += math.log(cfg.domain_weights[d] / sum(cfg.domain_weights.values()))
    return Document(g.text, d, lp, lp_mix, g.label, g.meta, g.choices)


def generate(domain: str = "mix", n: int = 100, seed: int | None = None,
             cfg: CorpusConfig = CorpusConfig()) -> list[Document]:
    """``n`` documents from ``domain`` ('mix' or one of DOMAINS), deterministic in (seed, domain)."""
    rng = random.Random(f"{cfg.seed if seed is None else seed}/{domain}")
    return [sample_document(rng, domain, cfg) for _ in range(n)]


def split_of(text: str, cfg: CorpusConfig = CorpusConfig()) -> str:
    """The split a text belongs to, a fixed function of its bytes: identical texts share a split,
    so the splits can never overlap, whichever generator produced the text."""
    h = int.from_bytes(hashlib.sha256(f"{cfg.seed}:{text}".encode()).digest()[:8], "big") / 2**64
    acc = 0.0
    for name, frac in cfg.split_fractions:
        acc += frac
        if h < acc:
            return name
    return cfg.split_fractions[-1][0]


def make_splits(sizes: dict[str, int] | None = None, domain: str = "mix",
                cfg: CorpusConfig = CorpusConfig()) -> dict[str, list[Document]]:
    """Fixed, non-overlapping splits: draws documents and files each by :func:`split_of` until
    every split has its size (default train 20000, val 1000, test 1000 documents)."""
    sizes = dict(sizes or {"train": 20000, "val": 1000, "test": 1000})
    out: dict[str, list[Document]] = {k: [] for k in sizes}
    for split, doc in iter_splits(sizes, domain, cfg):
        out[split].append(doc)
    return out


def iter_splits(sizes: dict[str, int], domain: str = "mix", cfg: CorpusConfig = CorpusConfig()):
    """``(split, document)`` pairs in the order :func:`make_splits` files them, one at a time (for splits too big
    to hold in memory)."""
    count = {k: 0 for k in sizes}
    rng = random.Random(f"{cfg.seed}/splits/{domain}")
    while any(count[k] < n for k, n in sizes.items()):
        doc = sample_document(rng, domain, cfg)
        s = split_of(doc.text, cfg)
        if s in count and count[s] < sizes[s]:
            count[s] += 1
            yield s, doc
