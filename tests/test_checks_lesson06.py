"""Lesson 06 checks: accept the reference, report a stub and wrong answers with a message."""

import math

import pytest

from course_utils import arena
from course_utils.checks import lesson06 as L

from check_verdicts import assert_verdicts


def speed(start, arrivals):
    return arrivals[0] - start, (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def cost(tps, usd_per_hour):
    return 1000 / tps / 3600 * usd_per_hour


def align_without_other(a, b, k):
    labels, pa, pb = arena.align_by_text(a, b, k)
    return labels[:-1], pa[:-1], pb[:-1]


def align_top_k_of_a_only(a, b, k):
    top = sorted(a, key=a.get, reverse=True)[:k]
    pa, pb = [a[t] for t in top], [b.get(t, 0.0) for t in top]
    return top + [arena.OTHER], pa + [1 - sum(pa)], pb + [1 - sum(pb)]


CASES = [
    (L.check_speed, speed, lambda s, t: (t[0] - s, len(t) / (t[-1] - s)), "tokens per second"),
    (L.check_speed, speed, lambda s, t: (t[0], (len(t) - 1) / (t[-1] - t[0])), "time to first token"),
    (L.check_speed, speed, lambda s, t: [t[0] - s, (len(t) - 1) / (t[-1] - t[0])], "must return"),
    (L.check_cost, cost, lambda tps, usd: 1000 / tps * usd, "an hour is 3,600 seconds"),
    (L.check_cost, cost, lambda tps, usd: tps / 1000 / 3600 * usd, "cost at 1000 tokens"),
    (L.check_kl, arena.kl_divergence_bits,
     lambda p, q: sum(a * math.log(a / max(b, 1e-9)) for a, b in zip(p, q) if a > 0), "base 2"),
    (L.check_kl, arena.kl_divergence_bits, lambda p, q: arena.kl_divergence_bits(q, p), "p (not q) as the weight"),
    (L.check_kl, arena.kl_divergence_bits,
     lambda p, q: sum(a * math.log2(a / b) for a, b in zip(p, q) if a > 0 and b > 0), "floor q"),
    (L.check_align, arena.align_by_text, align_without_other, "then arena.OTHER"),
    (L.check_align, arena.align_by_text, align_top_k_of_a_only, "shared axis"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_crash_in_the_learners_code_is_one_line(capsys):
    L.check_kl(lambda p, q: sum(a * math.log2(a / b) for a, b in zip(p, q)))
    out = capsys.readouterr().out
    assert out.startswith("❌ KL divergence: your code raised") and "Traceback" not in out
