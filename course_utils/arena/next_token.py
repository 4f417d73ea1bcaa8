"""Two models' next-token distributions on one axis, and the KL divergence between them.

Two models may split text into different tokens, so the distributions are keyed by decoded text:
ids that decode to the same text are summed, and the union of both top-k texts plus "(other)"
for the rest gives one set of outcomes that both distributions sum to 1 over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from course_utils.loading import per_tokenizer_cache

OTHER = "(other)"
KL_FLOOR = 1e-9

_VOCAB_TEXT = per_tokenizer_cache()  # emptied by loading.clear_cache() with the models


def vocab_texts(tokenizer) -> list[str]:
    """The decoded text of every token id (cached per tokenizer)."""
    if tokenizer not in _VOCAB_TEXT:
        _VOCAB_TEXT[tokenizer] = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return _VOCAB_TEXT[tokenizer]


def text_distribution(probs: torch.Tensor, texts: list[str]) -> dict[str, float]:
    """Probabilities (V,) keyed by decoded text: ids that decode to the same text are summed.
    Ids the tokenizer does not know (padding rows of the embedding) go to OTHER."""
    out: dict[str, float] = {}
    for i, p in enumerate(probs.tolist()):
        t = texts[i] if i < len(texts) else OTHER
        out[t] = out.get(t, 0.0) + p
    return out


def align_by_text(dist_a: dict[str, float], dist_b: dict[str, float], k: int = 10
                  ) -> tuple[list[str], list[float], list[float]]:
    """One shared axis: the union of each model's top-k texts, then OTHER (all the rest).

    A text in one top-k but not the other gets the other model's probability for that text
    (0 if its tokenizer has no such token). OTHER collects each model's remaining mass, so both
    lists sum to 1 over the same outcomes and a KL divergence between them is defined.
    """
    def top(d):
        return [t for t, _ in sorted(((t, p) for t, p in d.items() if t != OTHER),
                                     key=lambda x: -x[1])[:k]]

    labels = list(dict.fromkeys(top(dist_a) + top(dist_b)))
    pa = [dist_a.get(t, 0.0) for t in labels]
    pb = [dist_b.get(t, 0.0) for t in labels]
    pa.append(max(0.0, 1.0 - sum(pa)))
    pb.append(max(0.0, 1.0 - sum(pb)))
    return labels + [OTHER], pa, pb


def kl_divergence_bits(p: list[float], q: list[float], floor: float = KL_FLOOR) -> float:
    """D(p ‖ q) = Σ p·log2(p/q), in bits; q is floored at ``floor`` so a 0 there stays finite."""
    return sum(pi * math.log2(pi / max(qi, floor)) for pi, qi in zip(p, q) if pi > 0)


@dataclass
class NextTokenComparison:
    names: tuple[str, str]
    labels: list[str]       # shared axis (decoded text), last one OTHER
    p_a: list[float]
    p_b: list[float]
    kl_ab_bits: float       # D(a ‖ b): bits lost using b's distribution when a's is the truth
    kl_ba_bits: float


@torch.no_grad()
def compare_next_token(lm_a, lm_b, prompt: str, k: int = 10) -> NextTokenComparison:
    """Both models' next-token distributions after ``prompt`` on one axis, with KL both ways."""
    from course_utils.sampling import next_token_logits

    dists = []
    for lm in (lm_a, lm_b):
        probs = next_token_logits(lm, prompt).softmax(-1)  # (V,)
        dists.append(text_distribution(probs, vocab_texts(lm.tokenizer)))
    labels, pa, pb = align_by_text(dists[0], dists[1], k)
    return NextTokenComparison((lm_a.info.name, lm_b.info.name), labels, pa, pb,
                               kl_divergence_bits(pa, pb), kl_divergence_bits(pb, pa))
