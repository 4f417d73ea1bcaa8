"""Lesson 07 checks: accept the reference, report a stub and wrong answers with a message."""

import pytest
import torch

from check_verdicts import assert_verdicts
from course_utils import heads
from course_utils.checks import lesson07 as L


def prev(pattern):
    return heads.previous_token_score(pattern, start=1)


def lens(hidden, norm, head):
    return torch.log_softmax(head(norm(hidden)), -1)


def induction(pattern, period):
    return heads.induction_score(pattern, period)


def duplicate(pattern, period):
    t = torch.arange(period + 1, 2 * period + 1)
    return pattern[:, t, t - period].mean(-1)


CASES = [
    (L.check_previous_token_score, prev, lambda a: a.diagonal(dim1=-2, dim2=-1)[:, 1:].mean(-1), "itself"),
    (L.check_previous_token_score, prev, lambda a: heads.previous_token_score(a, start=1).mean(), "wrong shape"),
    (L.check_previous_token_score, prev, lambda a: heads.previous_token_score(a, start=3), "t = 1"),
    (L.check_logit_lens, lens, lambda h, n, w: torch.log_softmax(w(h), -1), "final norm"),
    (L.check_logit_lens, lens, lambda h, n, w: torch.softmax(w(n(h)), -1), "not probabilities"),
    (L.check_logit_lens, lens, lambda h, n, w: w(n(h)), "log_softmax"),
    (L.check_induction_score, induction, duplicate, "duplicate-token"),
    (L.check_induction_score, induction, lambda a, p: a[:, torch.arange(p, 2 * p + 1), torch.arange(1, p + 2)].mean(-1),
     "t-period+1"),
    (L.check_induction_score, induction, lambda a, p: [0.1, 0.2, 0.3], "not a tensor"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_crash_in_the_learners_code_is_one_line(capsys):
    L.check_induction_score(lambda a, p: a[:, 100, 0])
    out = capsys.readouterr().out
    assert out.startswith("❌ induction score: your code raised") and "Traceback" not in out
