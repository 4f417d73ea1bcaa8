"""Checks for lesson 07's exercises: previous-token score, the logit lens for one layer, induction score.

Each ``check_*`` takes the learner's function, compares it with ``course_utils.heads`` and
``course_utils.lens`` (the references) on small cases, and prints one verdict (✅ / ❌ / ⏳).
"""

from __future__ import annotations

import torch

from course_utils import heads
from course_utils.checks import CheckFailed, expect_close, run_check

H, P = 3, 5
T = 1 + 2 * P


def _patterns(seed: int = 0) -> torch.Tensor:
    """(H, T, T) random causal attention patterns."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(H, T, T, generator=g) * 2
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(-1)


def _lens_parts(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    d, V = 16, 20
    norm = torch.nn.RMSNorm(d, eps=1e-6)
    head = torch.nn.Linear(d, V, bias=False)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(d, generator=g) + 0.5)
        head.weight.copy_(torch.randn(V, d, generator=g))
    hidden = torch.randn(4, d, generator=g) * 3
    return hidden, norm, head


def check_previous_token_score(previous_token_score) -> None:
    def test():
        a = _patterns()
        expected = heads.previous_token_score(a, start=1)
        found = previous_token_score(a.clone())
        if isinstance(found, torch.Tensor) and found.shape == expected.shape:
            if torch.allclose(found, a.diagonal(dim1=-2, dim2=-1)[:, 1:].mean(-1), atol=1e-6):
                raise CheckFailed("previous-token score", expected, found,
                                  "pattern[h, t, t] is attention to the token itself; the previous one is t-1")
        expect_close(found, expected, "previous-token score of 3 heads",
                     hint="for t = 1 … T-1 take pattern[:, t, t-1], then average over t: one number per head")

    run_check("previous-token score", test)


def check_logit_lens(lens_logprobs) -> None:
    def test():
        hidden, norm, head = _lens_parts()
        with torch.no_grad():
            expected = torch.log_softmax(head(norm(hidden)), -1)
            found = lens_logprobs(hidden.clone(), norm, head)
            if isinstance(found, torch.Tensor) and found.shape == expected.shape:
                if torch.allclose(found, torch.log_softmax(head(hidden), -1), atol=1e-5):
                    raise CheckFailed("log-probabilities through the lens", expected, found,
                                      "apply the model's final norm before the output head")
                if torch.allclose(found, expected.exp(), atol=1e-5):
                    raise CheckFailed("log-probabilities through the lens", expected, found,
                                      "return log-probabilities (log_softmax), not probabilities")
        expect_close(found, expected, "log-probabilities through the lens", atol=1e-4,
                     hint="the final norm first, then the output head, then log_softmax over the vocabulary "
                          "(the last dimension)")

    run_check("logit lens for one layer", test)


def check_induction_score(induction_score) -> None:
    def test():
        a = _patterns(1)
        expected = heads.induction_score(a, P)
        found = induction_score(a.clone(), P)
        if isinstance(found, torch.Tensor) and found.shape == expected.shape:
            t = torch.arange(P + 1, 2 * P + 1)
            if torch.allclose(found, a[:, t, t - P].mean(-1), atol=1e-6):
                raise CheckFailed("induction score", expected, found,
                                  "t - period is the earlier copy of the current token (a duplicate-token "
                                  "head); an induction head looks one further, at t - period + 1")
        expect_close(found, expected, "induction score of 3 heads (period 5)",
                     hint="for t = period+1 … 2·period take pattern[:, t, t-period+1] and average over t")

    run_check("induction score", test)
