"""Lesson 12 checks: accept right answers, report a stub and each typical wrong answer with its own message."""

import pytest

from check_verdicts import assert_verdicts
from course_utils.checks import lesson12 as L
from course_utils.scorecard import CONDITIONAL, FAILS, HOLDS


# ---- right answers (written differently from the solution notebook's)

def free_bits(sweep, tol):
    widths = sorted({b for by in sweep.values() for b in by}, reverse=True)
    ok = [b for b in widths if max(by[b] for by in sweep.values()) < tol]
    k = 0
    while k < len(widths) and k < len(ok) and ok[k] == widths[k]:
        k += 1
    return widths[k - 1] if k else None


def cost_verdict(small, large, batched, ratio):
    if small < ratio * large:
        return FAILS
    return HOLDS if batched <= small else CONDITIONAL


def batch_rule(need, rec, ev):
    if need.min_tokens_per_s > 0 or rec.deployment != "local" or not rec.candidates:
        return
    tps = ev.value(9, "batch_tokens_per_s")["course-large"]
    rec.add("batch jobs", "try", f"Batch the requests: {tps[max(tps, key=int)] / tps['1']:.1f}× the tokens/s.", "cost")


# ---- wrong answers

def first_model_only(sweep, tol):
    return free_bits({k: v for k, v in list(sweep.items())[:1]}, tol)


def lowest_passing(sweep, tol):
    ok = [b for b in {b for by in sweep.values() for b in by} if all(by[b] < tol for by in sweep.values())]
    return min(ok) if ok else None


def at_most(sweep, tol):
    return free_bits(sweep, tol + 1e-12)


def always_holds_when_clear(small, large, batched, ratio):
    return FAILS if small / large < ratio else HOLDS


def strict(small, large, batched, ratio):
    return FAILS if small / large <= ratio else cost_verdict(small, large, batched, ratio)


def batch_rule_everywhere(need, rec, ev):
    if need.min_tokens_per_s == 0:
        tps = ev.value(9, "batch_tokens_per_s")["course-large"]
        rec.add("batch jobs", "try", f"Batch: {tps['32'] / tps['1']:.1f}×.", "cost")


def batch_rule_small_gain(need, rec, ev):
    if need.min_tokens_per_s == 0 and rec.deployment == "local":
        tps = ev.value(9, "batch_tokens_per_s")["course-small"]
        rec.add("batch jobs", "try", f"Batch: {tps['32'] / tps['1']:.1f}×.", "cost")


def batch_rule_no_cite(need, rec, ev):
    if need.min_tokens_per_s == 0 and rec.deployment == "local":
        rec.add("batch jobs", "try", "Batch: 16.7×.")


CASES = [
    (L.check_free_bits, free_bits, first_model_only, "the first one only"),
    (L.check_free_bits, free_bits, lowest_passing, "dip back"),
    (L.check_free_bits, free_bits, at_most, "use <, not <="),
    (L.check_cost_rule, cost_verdict, always_holds_when_clear, "only under a condition"),
    (L.check_cost_rule, cost_verdict, strict, "use >="),
    (L.check_cost_rule, cost_verdict, lambda s, lg, b, r: cost_verdict(lg, s, b, r), "1 / throughput"),
    (L.check_batch_rule, batch_rule, batch_rule_everywhere, "local deployment only"),
    (L.check_batch_rule, batch_rule, batch_rule_small_gain, "course-small's gain"),
    (L.check_batch_rule, batch_rule, batch_rule_no_cite, "cite the scorecard row"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_each_typical_mistake_gets_its_own_message(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)
