"""Lesson 10 checks: accept right answers, report a stub and each typical wrong answer with its own message."""

import math

import numpy as np
import pytest

from check_verdicts import assert_verdicts
from course_utils.checks import lesson10 as L


# ---- right answers (written differently from the solution notebook's)

def skew(probs, stereotype):
    return float(np.mean([p[stereotype] / sum(p.values()) for p in probs]))


def wilson(k, n, z=1.959964):
    p, z2 = k / n, z * z
    centre = (2 * k + z2) / (2 * (n + z2))
    half = z * math.sqrt(n * p * (1 - p) + z2 / 4) / (n + z2)
    return max(0.0, centre - half), min(1.0, centre + half)


def ece(conf, correct, bins=10):
    c, ok = np.asarray(conf), np.asarray(correct, dtype=float)
    which = np.clip(np.floor(c * bins).astype(int), 0, bins - 1)
    return float(sum(abs(ok[which == b].mean() - c[which == b].mean()) * (which == b).sum()
                     for b in range(bins) if (which == b).any()) / c.size)


# ---- wrong answers

def wald(k, n, z=1.959964):
    p = k / n
    h = z * math.sqrt(p * (1 - p) / n)
    return p - h, p + h


def unweighted(conf, correct, bins=10):
    c, ok = np.asarray(conf), np.asarray(correct, dtype=float)
    which = np.minimum((c * bins).astype(int), bins - 1)
    return float(np.mean([abs(ok[which == b].mean() - c[which == b].mean()) for b in range(bins) if (which == b).any()]))


def drops_ones(conf, correct, bins=10):
    keep = [i for i, x in enumerate(conf) if int(x * bins) < bins]
    return ece([conf[i] for i in keep], [correct[i] for i in keep], bins)


CASES = [
    (L.check_skew, skew, lambda probs, st: float(np.mean([p[st] for p in probs])), "divide by P(he) + P(she)"),
    (L.check_skew, skew, lambda probs, st: sum(p[st] for p in probs) / sum(p["she"] + p["he"] for p in probs),
     "normalise each probe first"),
    (L.check_skew, skew, lambda probs, st: skew(probs, "he" if st == "she" else "she"), "stereotyped pronoun"),
    (L.check_wilson, wilson, wald, "normal (Wald) interval"),
    (L.check_wilson, wilson, lambda k, n: (wilson(k, n)[0] - 0.01, wilson(k, n)[1]), "Wilson interval of 7/20"),
    (L.check_ece, ece, unweighted, "weight each bin"),
    (L.check_ece, ece, drops_ones, "exactly 1.0"),
    (L.check_ece, ece, lambda conf, correct, bins=10: abs(np.mean(correct) - np.mean(conf)), "bin by bin"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_each_typical_mistake_gets_its_own_message(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)
