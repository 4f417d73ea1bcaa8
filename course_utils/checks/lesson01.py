"""Checks for lesson 01's exercises: temperature, perplexity, bits per character, top-k, top-p and one
gradient step of the neural bigram.

Each ``check_*`` takes the learner's function, compares it with a reference (``course_utils.sampling``;
autograd for the gradient step) on small cases, and prints one verdict (✅ / ❌ with expected, found, hint / ⏳).
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


# pairs (PREV[i] followed by NEXT[i]) of a 5-character vocabulary; ids 2 and 0 repeat, id 3 never comes first
PREV = torch.tensor([0, 2, 2, 4, 2, 1, 0, 2, 4])
NEXT = torch.tensor([1, 0, 3, 3, 2, 4, 1, 0, 4])
STEP_LR = 0.5


def _bigram_gradient(W: torch.Tensor, prev: torch.Tensor = PREV, nxt: torch.Tensor = NEXT) -> torch.Tensor:
    """d(mean cross-entropy of the pairs)/dW by autograd: the reference for check_bigram_step."""
    W = W.detach().clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(W[prev], nxt).backward()
    return W.grad


def check_bigram_step(bigram_step) -> None:
    def test():
        W = torch.randn(5, 5, generator=torch.Generator().manual_seed(1))   # (V, V) logits
        grad = _bigram_gradient(W)
        probs = W.softmax(-1)
        one_hot = torch.nn.functional.one_hot(NEXT, 5).float()
        last_write_wins = torch.zeros_like(W)                                 # grad[prev] += ...: repeats lost
        last_write_wins[PREV] += (probs[PREV] - one_hot) / len(PREV)
        found = bigram_step(W.clone(), PREV.clone(), NEXT.clone(), STEP_LR)
        expected = W - STEP_LR * grad
        if isinstance(found, torch.Tensor) and found.shape == W.shape:
            typical = [
                (grad, "you returned the gradient, not the new logits", "return W - lr * gradient"),
                (W + STEP_LR * grad, "the step goes up the gradient: the loss would grow",
                 "gradient descent subtracts: W - lr * gradient"),
                (W - STEP_LR * grad * len(PREV), "the step is as many times too large as there are pairs",
                 "the loss is a mean over the pairs: divide the summed gradient by their number"),
                (W - STEP_LR * torch.zeros_like(W).index_add_(0, PREV, probs[PREV]) / len(PREV),
                 "the gradient misses the one-hot part",
                 "the gradient of -log softmax(z)[b] is softmax(z) minus 1 at b: subtract 1 at each true next id"),
                (W - STEP_LR * last_write_wins, "a row that occurs several times in prev got only one contribution",
                 "adding into grad[prev] keeps one of the repeated rows; index_add_ (or a loop) adds them all"),
                (W - STEP_LR * _bigram_gradient(W, NEXT, PREV), "prev and nxt swapped roles",
                 "row W[a] holds the logits of the character *after* a: look rows up with prev, "
                 "subtract the one-hot of nxt"),
                (W - STEP_LR * grad.T, "the gradient is transposed",
                 "rows are the current character, columns the next one: add each pair's share to row prev[i]"),
            ]
            for wrong, what, hint in typical:
                if torch.allclose(found.float(), wrong, atol=1e-5):
                    raise CheckFailed(what, expected, found, hint)
        expect_close(found, expected, "W after one gradient step (compared with autograd)",
                     hint="per pair: softmax of row W[prev[i]] minus 1 at nxt[i], added to row prev[i]; "
                          "divide by the number of pairs; W - lr * that")

    run_check("bigram gradient step", test)
