"""Checks for lesson 10's exercises: the skew metric, the Wilson interval, and the expected calibration error.

Each ``check_*`` compares the learner's function with the course's own (``course_utils.bias``,
``course_utils.intervals``, ``course_utils.eval_hygiene``) on inputs chosen so that the usual wrong answers give
wrong results: probes whose P(he) + P(she) varies (so skipping the normalisation shows), k = 0 and k = n (where the
normal approximation leaves [0, 1]), and confidences of exactly 1.0 with unequal bin sizes.
"""

from __future__ import annotations

import math

import numpy as np

from course_utils.bias import Probe, skew_from_probabilities
from course_utils.checks import CheckFailed, expect_close, run_check
from course_utils.eval_hygiene import reliability_from
from course_utils.intervals import wilson_interval

SKEW_HINT = "skew = mean over probes of P(stereotyped) / (P(he) + P(she))"
WILSON_HINT = ("centre = (p + z²/2n) / (1 + z²/n), half-width = z / (1 + z²/n) · sqrt(p(1 − p)/n + z²/4n²), "
               "clipped to [0, 1]")
ECE_HINT = "ECE = Σ over bins of (n_b / N) · |accuracy_b − confidence_b|, bin b = min(int(c · bins), bins − 1)"

PROBS = [{"she": 0.30, "he": 0.10}, {"she": 0.02, "he": 0.06}, {"she": 0.45, "he": 0.05}, {"she": 0.01, "he": 0.01}]


def _probes(stereotype: str) -> list[Probe]:
    return [Probe("story", "nurse", stereotype, "she", "", {"she": " She", "he": " He"}, None) for _ in PROBS]


def check_skew(my_skew) -> None:
    def test():
        for stereotype in ("she", "he"):
            expected = skew_from_probabilities(_probes(stereotype), PROBS, n_boot=1)["story"]["nurse"].skew
            found = my_skew([dict(p) for p in PROBS], stereotype)
            what = f"skew towards {stereotype!r} of {len(PROBS)} probes"
            if isinstance(found, (int, float)) and not math.isclose(found, expected, abs_tol=1e-9):
                if math.isclose(found, float(np.mean([p[stereotype] for p in PROBS])), abs_tol=1e-9):
                    raise CheckFailed(what, expected, found, "divide by P(he) + P(she) for each probe: the model may "
                                      "put most of its probability on other words, and only the choice between the "
                                      "two pronouns is the skew")
                ratio_of_means = sum(p[stereotype] for p in PROBS) / sum(p["he"] + p["she"] for p in PROBS)
                if math.isclose(found, ratio_of_means, abs_tol=1e-9):
                    raise CheckFailed(what, expected, found, "normalise each probe first, then average: summing the "
                                      "probabilities first lets the most confident prompts dominate")
                other = "he" if stereotype == "she" else "she"
                if math.isclose(found, 1 - expected, abs_tol=1e-9):
                    raise CheckFailed(what, expected, found, f"that is the share of {other!r}: use the stereotyped "
                                      "pronoun in the numerator")
            expect_close(found, expected, what, SKEW_HINT, atol=1e-9, rtol=0)

    run_check("the skew metric", test, hint=SKEW_HINT)


def check_wilson(my_wilson) -> None:
    def test():
        for k, n in ((7, 20), (0, 10), (10, 10), (30, 1000), (1, 3)):
            expected = wilson_interval(k, n)
            found = my_wilson(k, n)
            what = f"95% Wilson interval of {k}/{n}"
            if not isinstance(found, (tuple, list)) or len(found) != 2:
                raise CheckFailed(what, "a (low, high) pair", found)
            lo, hi = (float(x) for x in found)
            p = k / n
            normal = 1.959964 * math.sqrt(p * (1 - p) / n)
            if math.isclose(lo, p - normal, abs_tol=1e-4) and math.isclose(hi, p + normal, abs_tol=1e-4) \
                    and (k, n) != (30, 1000):
                raise CheckFailed(what, expected, found, "that is the normal (Wald) interval p ± z·sqrt(p(1 − p)/n): "
                                  "it collapses to a point at k = 0 or k = n; the Wilson interval shifts its centre "
                                  "towards 1/2 by z²/2n")
            if lo < 0 or hi > 1:
                raise CheckFailed(what, expected, found, "an accuracy's interval stays inside [0, 1]")
            expect_close(lo, expected[0], what + " (low)", WILSON_HINT, atol=1e-4, rtol=0)
            expect_close(hi, expected[1], what + " (high)", WILSON_HINT, atol=1e-4, rtol=0)

    run_check("the Wilson interval", test, hint=WILSON_HINT)


def _calibration_case(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    conf = np.concatenate([rng.uniform(0.2, 0.5, 30), rng.uniform(0.7, 0.95, 150), np.ones(20)])  # unequal bins
    p_right = np.where(conf < 0.5, conf + 0.35, np.minimum(conf ** 2, 0.8))  # under- below 0.5, over- above
    correct = rng.uniform(size=conf.size) < p_right
    return conf, correct


def check_ece(my_ece) -> None:
    def test():
        conf, correct = _calibration_case()
        expected = reliability_from(conf, correct, bins=10).ece
        found = my_ece(conf.tolist(), correct.tolist(), 10)
        what = "ECE of 200 answers in 10 bins"
        if not isinstance(found, (int, float, np.floating)):
            raise CheckFailed(what, expected, found, "return one number")
        which = np.minimum((conf * 10).astype(int), 9)
        gaps = [abs(correct[which == b].mean() - conf[which == b].mean()) for b in range(10) if (which == b).any()]
        if math.isclose(found, float(np.mean(gaps)), abs_tol=1e-9):
            raise CheckFailed(what, expected, found, "weight each bin by its share of the answers (n_b / N): a bin "
                              "of 3 answers should count less than one of 150")
        kept = conf < 1.0
        if math.isclose(found, reliability_from(conf[kept], correct[kept], 10).ece * kept.mean(), abs_tol=1e-9) or \
                math.isclose(found, reliability_from(conf[kept], correct[kept], 10).ece, abs_tol=1e-9):
            raise CheckFailed(what, expected, found, "a confidence of exactly 1.0 belongs in the last bin: "
                              "int(1.0 · 10) is 10, so take min(…, bins − 1)")
        if math.isclose(found, abs(correct.mean() - conf.mean()), abs_tol=1e-9):
            raise CheckFailed(what, expected, found, "that is |accuracy − confidence| over all answers at once: "
                              "compare them bin by bin, so over- and underconfidence do not cancel")
        expect_close(float(found), expected, what, ECE_HINT, atol=1e-9, rtol=0)

    run_check("expected calibration error", test, hint=ECE_HINT)
