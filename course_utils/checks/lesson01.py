"""Checks for lesson 01's exercises: temperature, perplexity, bits per character, top-k, top-p.

Each ``check_*`` takes the learner's function, compares it with ``course_utils.sampling`` (the
reference) on small cases, and prints one verdict (✅ / ❌ with expected, found, hint / ⏳).
"""

from __future__ import annotations

import math

import torch

from course_utils import sampling
from course_utils.checks import CheckFailed, expect_close, run_check

# a small next-token distribution: 6 tokens, probabilities 0.4, 0.25, 0.15, 0.1, 0.06, 0.04
PROBS = torch.tensor([0.25, 0.06, 0.4, 0.1, 0.04, 0.15])
LOGITS = PROBS.log()
# log-probabilities of 4 tokens that cover 10 characters
TOKEN_LOGPROBS = [-0.5, -2.0, -1.2, -0.3]
N_CHARS = 10


def _kept(t: torch.Tensor) -> list[int]:
    return [i for i, ok in enumerate(torch.isfinite(t).tolist()) if ok]


def expect_filtered(found, expected: torch.Tensor, what: str, hint: str = "") -> None:
    """``found`` keeps the same tokens as ``expected`` (others -inf) with their logits unchanged."""
    if not isinstance(found, torch.Tensor):
        raise CheckFailed(what + " (not a tensor)", "a tensor of logits", found, hint)
    if found.shape != expected.shape:
        raise CheckFailed(what + " (wrong shape)", tuple(expected.shape), tuple(found.shape), hint)
    if _kept(found) != _kept(expected):
        raise CheckFailed(what + ": kept token ids differ", _kept(expected), _kept(found), hint)
    keep = torch.isfinite(expected)
    if not torch.allclose(found[keep].float(), expected[keep].float(), atol=1e-5):
        raise CheckFailed(what + ": kept logits changed", expected, found,
                          "leave the kept logits as they are; set the others to -inf")
    if not torch.all(found[~keep] == -math.inf):
        raise CheckFailed(what + ": removed tokens must be -inf", expected, found,
                          "use float('-inf') (or -math.inf) for removed tokens")


def check_temperature(apply_temperature) -> None:
    def test():
        for t in (1.0, 2.0, 0.5):
            expect_close(apply_temperature(LOGITS.clone(), t), LOGITS / t, f"logits at temperature {t}",
                         hint="divide the logits by the temperature (a high temperature flattens)")
        expect_filtered(apply_temperature(LOGITS.clone(), 0.0), sampling.apply_temperature(LOGITS, 0.0),
                        "temperature 0 (greedy)",
                        hint="at temperature 0 keep only the argmax; every other logit becomes -inf")

    run_check("temperature", test)


def check_perplexity(perplexity) -> None:
    def test():
        expected = math.exp(-sum(TOKEN_LOGPROBS) / len(TOKEN_LOGPROBS))
        expect_close(perplexity(list(TOKEN_LOGPROBS)), expected, "perplexity of 4 tokens",
                     hint="exp of the average negative log-probability (natural log)")
        expect_close(perplexity([math.log(0.25)] * 3), 4.0, "perplexity when every token has p = 1/4",
                     hint="a model that always hesitates between 4 equally likely tokens has perplexity 4")

    run_check("perplexity", test)


def check_bits_per_char(bits_per_char) -> None:
    def test():
        expected = -sum(TOKEN_LOGPROBS) / math.log(2) / N_CHARS
        expect_close(bits_per_char(list(TOKEN_LOGPROBS), N_CHARS), expected, "bits per character",
                     hint="total negative log-probability, converted from nats to bits (divide by ln 2), "
                          "divided by the number of characters (not tokens)")

    run_check("bits per character", test)


def check_top_k(top_k_filter) -> None:
    def test():
        for k in (1, 3, 6):
            expect_filtered(top_k_filter(LOGITS.clone(), k), sampling.top_k_filter(LOGITS, k), f"top-k with k={k}",
                            hint="keep the k largest logits (torch.topk), set the rest to -inf")

    run_check("top-k", test)


def check_top_p(top_p_filter) -> None:
    def test():
        for p in (0.3, 0.5, 0.75, 0.85, 1.0):
            expect_filtered(top_p_filter(LOGITS.clone(), p), sampling.top_p_filter(LOGITS, p), f"top-p with p={p}",
                            hint="sort by probability; keep tokens while the mass *before* them is < p "
                                 "(so the token that crosses p is kept, and the most likely always is)")

    run_check("top-p", test)
