"""Lesson 01 checks: accept the reference, report a stub and wrong answers with a message."""

import math

import pytest
from check_verdicts import assert_verdicts
import torch

from course_utils import sampling
from course_utils.checks import lesson01 as L



def perplexity(lps):
    return math.exp(-sum(lps) / len(lps))


def bits_per_char(lps, n_chars):
    return -sum(lps) / math.log(2) / n_chars


def top_p_drops_the_crossing_token(logits, p):  # keeps tokens while the cumulative mass is < p
    probs, order = logits.softmax(-1).sort(descending=True)
    drop = probs.cumsum(-1) >= p
    return logits.masked_fill(drop.scatter(-1, order, drop), -math.inf)


def bigram_step(W, prev, nxt, lr):
    probs = W[prev].softmax(-1)
    probs[torch.arange(len(nxt)), nxt] -= 1
    return W - lr * torch.zeros_like(W).index_add_(0, prev, probs) / len(prev)


def bigram_step_loop(W, prev, nxt, lr):  # right too: one pair at a time
    grad = torch.zeros_like(W)
    for a, b in zip(prev.tolist(), nxt.tolist()):
        grad[a] += W[a].softmax(-1) - torch.nn.functional.one_hot(torch.tensor(b), len(W))
    return W - lr * grad / len(prev)


def bigram_step_last_write_wins(W, prev, nxt, lr):  # wrong: grad[prev] += keeps one of the repeated rows
    probs = W[prev].softmax(-1)
    probs[torch.arange(len(nxt)), nxt] -= 1
    grad = torch.zeros_like(W)
    grad[prev] += probs
    return W - lr * grad / len(prev)


def bigram_step_swapped(W, prev, nxt, lr):  # wrong: looks rows up with nxt
    return bigram_step(W, nxt, prev, lr)


def bigram_step_softmax_only(W, prev, nxt, lr):  # wrong: forgets the one-hot
    return W - lr * torch.zeros_like(W).index_add_(0, prev, W[prev].softmax(-1)) / len(prev)


CASES = [
    (L.check_temperature, sampling.apply_temperature, lambda x, t: x * t, "divide the logits"),
    (L.check_temperature, sampling.apply_temperature, lambda x, t: x / max(t, 1e-9), "temperature 0"),
    (L.check_perplexity, perplexity, lambda lps: 2 ** (-sum(lps) / len(lps)), "exp of the average"),
    (L.check_bits_per_char, bits_per_char, lambda lps, n: -sum(lps) / len(lps) / math.log(2), "not tokens"),
    (L.check_bits_per_char, bits_per_char, lambda lps, n: -sum(lps) / n, "nats to bits"),
    (L.check_top_k, sampling.top_k_filter, lambda x, k: sampling.top_k_filter(x, k + 1), "kept token ids"),
    (L.check_top_k, sampling.top_k_filter, lambda x, k: torch.where(x >= x.topk(k).values[-1], x, 0.0), "-inf"),
    (L.check_top_p, sampling.top_p_filter, top_p_drops_the_crossing_token, "mass *before* them"),
    (L.check_top_p, sampling.top_p_filter, lambda x, p: sampling.top_p_filter(x, p).log_softmax(-1), "kept logits changed"),
    (L.check_bigram_step, bigram_step, bigram_step_last_write_wins, "several times in prev"),
    (L.check_bigram_step, bigram_step, bigram_step_swapped, "swapped roles"),
    (L.check_bigram_step, bigram_step, bigram_step_softmax_only, "misses the one-hot"),
    (L.check_bigram_step, bigram_step, lambda W, p, n, lr: 2 * W - bigram_step(W, p, n, lr), "goes up the gradient"),
    (L.check_bigram_step, bigram_step, lambda W, p, n, lr: W - len(p) * (W - bigram_step(W, p, n, lr)), "too large"),
    (L.check_bigram_step, bigram_step, lambda W, p, n, lr: (W - bigram_step(W, p, n, lr)) / lr, "the gradient, not"),
    (L.check_bigram_step, bigram_step, lambda W, p, n, lr: bigram_step(W, p, n, lr).T, "compared with autograd"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_crash_in_the_learners_code_is_one_line(capsys):
    L.check_top_k(lambda x, k: x[k + 100])
    out = capsys.readouterr().out
    assert out.startswith("❌ top-k: your code raised IndexError") and "Traceback" not in out


def test_returning_a_list_instead_of_a_tensor(capsys):
    L.check_top_p(lambda x, p: x.tolist())
    assert "not a tensor" in capsys.readouterr().out


def test_the_gradient_step_accepts_a_loop_and_matches_autograd(capsys):
    L.check_bigram_step(bigram_step_loop)
    assert capsys.readouterr().out.startswith("✅")
    W = torch.randn(5, 5, generator=torch.Generator().manual_seed(3))
    expected = W - 0.5 * L._bigram_gradient(W)
    assert torch.allclose(bigram_step(W, L.PREV, L.NEXT, 0.5), expected, atol=1e-6)
