"""Checks for lesson 12's exercises: the quantization line of the scorecard, the cost claim's rule, and a rule the
learner adds to the decision guide.

Each ``check_*`` compares the learner's function with the course's own (``course_utils.scorecard``,
``course_utils.decision_guide``) on cases chosen so that the usual wrong answers show: a sweep where only the
second model crosses the tolerance, one that dips back under it at a lower bit width, a change exactly at the
tolerance, throughputs exactly at the clear ratio, and needs where the recommendation goes to an endpoint.
"""

from __future__ import annotations

import math
import tempfile

from course_utils.checks import CheckFailed, expect_equal, run_check
from course_utils.scorecard import CONDITIONAL, FAILS, HOLDS, cost_rule, free_bits

FREE_BITS_HINT = ("go down from the widest bit width while every model's change stays below the tolerance; stop "
                  "at the first width where any model reaches it")
COST_HINT = ("FAILS if small ÷ large (one request at a time) is under the clear ratio; otherwise CONDITIONAL when "
             "the batched large model is faster than the small one alone, else HOLDS")
RULE_HINT = ("only when no one waits (min_tokens_per_s == 0) and the model runs locally with a candidate: add a "
             "'try' finding citing 'cost' that quotes course-large's batch gain, e.g. '16.7×'")

SWEEPS = [  # (sweep {model: {bits: change}}, tolerance, what it catches)
    ({"a": {8: 0.001, 6: 0.004, 4: 0.015, 3: 0.06, 2: 0.7},
      "b": {8: 0.001, 6: 0.003, 4: 0.03, 3: 0.1, 2: 0.9}}, 0.02, "the second model"),
    ({"a": {8: 0.001, 6: 0.03, 4: 0.01, 2: 0.5}, "b": {8: 0.0, 6: 0.0, 4: 0.0, 2: 0.0}}, 0.02, "dips back"),
    ({"a": {8: 0.02, 4: 0.5}, "b": {8: 0.0, 4: 0.1}}, 0.02, "exactly at the tolerance"),
    ({"a": {8: 0.001, 4: 0.002}, "b": {8: 0.001, 4: 0.001}}, 0.02, "all free"),
]


def check_free_bits(my_free_bits) -> None:
    def test():
        for sweep, tol, catches in SWEEPS:
            expected = free_bits(sweep, tol)
            found = my_free_bits({m: dict(by) for m, by in sweep.items()}, tol)
            what = f"free_bits of {sweep} at tolerance {tol}"
            if found == expected:
                continue
            if catches == "the second model" and found == free_bits({"a": sweep["a"]}, tol):
                raise CheckFailed(what, expected, found, "every model must stay within the tolerance: you looked "
                                  "at the first one only")
            if catches == "dips back":
                raise CheckFailed(what, expected, found, "stop at the first bit width where a model crosses the "
                                  "tolerance: a lower width that happens to dip back under it is not 'free all the "
                                  "way down'")
            if catches == "exactly at the tolerance":
                raise CheckFailed(what, expected, found, "a change equal to the tolerance is not below it: use <, "
                                  "not <=")
            expect_equal(found, expected, what, FREE_BITS_HINT)

    run_check("the quantization line", test, hint=FREE_BITS_HINT)


COSTS = [  # (small tokens/s, large, large batched, clear ratio)
    (400.0, 150.0, 2500.0, 1.5), (400.0, 150.0, 300.0, 1.5), (160.0, 150.0, 3000.0, 1.5),
    (300.0, 200.0, 250.0, 1.5), (300.0, 200.0, 350.0, 1.5),  # exactly at the clear ratio
]


def check_cost_rule(my_cost_verdict) -> None:
    def test():
        for small, large, batched, ratio in COSTS:
            expected = cost_rule(small, large, batched, ratio)
            found = my_cost_verdict(small, large, batched, ratio)
            what = f"verdict for small {small:g}, large {large:g}, large batched {batched:g} tokens/s, clear ratio {ratio}"
            if found == expected:
                continue
            if found not in (HOLDS, CONDITIONAL, FAILS):
                raise CheckFailed(what, expected, found, "return one of scorecard.HOLDS, CONDITIONAL or FAILS")
            if math.isclose(small / large, ratio):
                raise CheckFailed(what, expected, found, "a ratio equal to the clear ratio counts as a clear "
                                  "difference: use >= (the rule says 'from this factor on')")
            if expected == CONDITIONAL and found == HOLDS:
                raise CheckFailed(what, expected, found, "the batched large model makes more tokens per second than "
                                  "the small one alone, so on a busy server it is not dearer: the claim holds only "
                                  "under a condition")
            if found == cost_rule(large, small, batched, ratio) or (expected == FAILS) != (found == FAILS):
                raise CheckFailed(what, expected, found, "cost per token is 1 / throughput on the same machine: "
                                  "compare small ÷ large tokens/s with the clear ratio")
            expect_equal(found, expected, what, COST_HINT)

    run_check("the cost claim's rule", test, hint=COST_HINT)


_EVIDENCE = {
    8: {"docs_to_beat_untrained": {"course-small": 250, "course-large": 100}},
    9: {"bandwidth_bytes_per_s": 10e9, "share_of_decode_bound": {"course-large, float32": 0.4},
        "batch_tokens_per_s": {"course-small": {"1": 400.0, "32": 4000.0}, "course-large": {"1": 150.0, "32": 2500.0}}},
}
MACHINE = {"tier": "offline", "cpu_cores": 2, "ram_bytes": 16e9, "gpu": None}


def check_batch_rule(my_rule) -> None:
    from course_utils import evidence
    from course_utils.decision_guide import RULES, Needs, recommend
    from course_utils.scorecard import Evidence

    def test():
        with tempfile.TemporaryDirectory() as folder:
            for lesson, values in _EVIDENCE.items():
                evidence.record_many(lesson, values, folder=folder, machine=MACHINE, quiet=True)
            ev = Evidence(folder=folder, reference=folder)
            gain = f"{2500.0 / 150.0:.1f}×"
            cases = [(Needs(breadth="one narrow task", domain_examples=2000, min_tokens_per_s=0, data_may_leave=False),
                      True, "a batch job on your own machine"),
                     (Needs(breadth="one narrow task", domain_examples=2000, min_tokens_per_s=5, data_may_leave=False),
                      False, "someone waits for the answer (5 tokens/s)"),
                     (Needs(breadth="open-ended", hardware="Binder (2 GB RAM)", min_tokens_per_s=0,
                            data_may_leave=True), False, "the recommendation goes to an endpoint")]
            for need, wanted, label in cases:
                rec = recommend(need, ev, rules=RULES + [my_rule])
                before = recommend(need, ev)
                added = rec.findings[len(before.findings):]
                what = f"findings your rule adds when {label}"
                if not wanted:
                    if added:
                        hint = ("an endpoint batches for you, so the advice is for a local deployment only"
                                if "endpoint" in label else "batching makes each request wait longer: advise it "
                                "only when no one waits")
                        raise CheckFailed(what, "none", [f.text for f in added], hint)
                    continue
                if len(added) != 1:
                    raise CheckFailed(what, "one finding", [f.text for f in added], RULE_HINT)
                f = added[0]
                if f.kind != "try":
                    raise CheckFailed(what + ": its kind", "try", f.kind, "it is something to try first: kind 'try'")
                if "cost" not in f.cites:
                    raise CheckFailed(what + ": what it cites", "'cost' among the cites", f.cites,
                                      "cite the scorecard row the advice rests on: rec.add(rule, kind, text, 'cost')")
                if gain not in f.text:
                    small_gain = f"{4000.0 / 400.0:.1f}×"
                    hint = ("that is course-small's gain: quote course-large's" if small_gain in f.text else
                            "quote lesson 09's batch gain of course-large, largest batch ÷ batch 1, as "
                            "f'{gain:.1f}×'")
                    raise CheckFailed(what + ": the gain it quotes", gain, f.text, hint)

    run_check("a rule for batch jobs", test, hint=RULE_HINT)
