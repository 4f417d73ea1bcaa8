"""Lesson 11 checks: accept right answers, report a stub and each typical wrong answer with its own message."""

import math
import re

import pytest

from check_verdicts import assert_verdicts
from course_utils.checks import lesson11 as L


# ---- right answers (written differently from the solution notebook's)

def exposure(lp, secret):
    rank = sum(1 for v in lp.tolist() if v <= lp[int(secret)].item())
    return math.log2(len(lp) / rank)


def redact(headers):
    out = {}
    for k, v in headers.items():
        if k.lower() in ("authorization", "x-api-key"):
            v = ("Bearer ***redacted***" if v.startswith("Bearer ") else "***redacted***")
        out[k.lower()] = v
    return out


def delimit(message):
    text = re.sub(r"Category\s*:[^.\n]*\.?", " ", message, flags=re.IGNORECASE)
    return " ".join(text.split())


# ---- wrong answers

def strict_rank(lp, secret):
    rank = max(1, int((lp < lp[int(secret)]).sum()))
    return math.log2(len(lp)) - math.log2(rank)


def reversed_rank(lp, secret):
    return math.log2(len(lp)) - math.log2(int((lp >= lp[int(secret)]).sum()))


def natural_log(lp, secret):
    return math.log(len(lp)) - math.log(int((lp <= lp[int(secret)]).sum()))


CASES = [
    (L.check_exposure, exposure, strict_rank, "ties count"),
    (L.check_exposure, exposure, reversed_rank, "MORE likely"),
    (L.check_exposure, exposure, natural_log, "in bits"),
    (L.check_redact, redact, lambda h: {k: v for k, v in h.items() if k != "authorization"}, "still visible"),
    (L.check_redact, redact, lambda h: {k: ("***redacted***" if k.lower() in ("authorization", "x-api-key") else v)
                                        for k, v in h.items()}, "keep the scheme"),
    (L.check_redact, redact, lambda h: {k: "***redacted***" for k in h}, "no secret exactly"),
    (L.check_delimit, delimit, lambda m: m.replace("Category:", ""), "one line"),
    (L.check_delimit, delimit, lambda m: " ".join(m.split()), "imitates the ticket's fields"),
    (L.check_delimit, delimit, lambda m: "" if "Category" in m else m, "only the planted field"),
    (L.check_delimit, delimit, lambda m: f'"{m}"', "clean message exactly"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_each_typical_mistake_gets_its_own_message(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)
