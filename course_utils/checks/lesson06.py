"""Checks for lesson 06's exercises: speed from token arrival times, cost per 1,000 tokens,
KL divergence in bits, and aligning two models' next-token distributions by text.

Each ``check_*`` takes the learner's function, compares it with the arena's own code
(``course_utils.arena``, ``course_utils.measure``) on small cases and prints one verdict.
"""

from __future__ import annotations

from course_utils import arena
from course_utils.checks import CheckFailed, expect_close, expect_equal, run_check
from course_utils.measure import GenerationTiming

# a stream: started at t=10.0 s, first token after 0.5 s, then one token every 0.1 s
START = 10.0
ARRIVALS = [10.5 + 0.1 * i for i in range(11)]
P = [0.7, 0.1, 0.1, 0.1]
Q = [0.25, 0.25, 0.25, 0.25]
DIST_A = {" hot": 0.55, " warm": 0.25, " cold": 0.1, " soup": 0.06, "\n": 0.04}
DIST_B = {" warm": 0.4, " and": 0.3, " hot": 0.2, " cold": 0.06, " soup": 0.04}


def reference_speed(start: float, arrivals: list[float]) -> tuple[float, float]:
    t = GenerationTiming(0, len(arrivals), arrivals[0] - start, arrivals[-1] - start)
    return t.time_to_first_token_s, t.tokens_per_s


def check_speed(speed) -> None:
    def test():
        for start, arrivals in ((START, ARRIVALS), (0.0, [2.0, 2.5, 3.0, 3.5, 4.0])):
            found = speed(start, list(arrivals))
            if not isinstance(found, tuple) or len(found) != 2:
                raise CheckFailed("speed(start, arrivals) must return (time to first token, tokens/s)",
                                  "a tuple of 2 numbers", found)
            ttft, tps = reference_speed(start, arrivals)
            expect_close(found[0], ttft, "time to first token (s)",
                         hint="the first arrival minus the start")
            expect_close(found[1], tps, "tokens per second",
                         hint="count the tokens after the first, divided by the time after the first "
                              "arrived: the wait for the first token (the prompt) is not decoding speed")

    run_check("speed", test)


def check_cost(cost_per_1k_tokens) -> None:
    def test():
        expect_close(cost_per_1k_tokens(1000 / 3600, 1.0), 1.0, "cost at 1000 tokens per hour, $1/hour",
                     hint="1,000 tokens take 1000 / tokens_per_s seconds; an hour is 3,600 seconds")
        for tps, usd in ((50.0, 0.35), (8.0, 2.5)):
            expect_close(cost_per_1k_tokens(tps, usd), arena.CostAssumptions(usd, 0, 0).per_1k_tokens(tps),
                         f"cost of 1,000 tokens at {tps} tokens/s and ${usd}/hour",
                         hint="seconds for 1,000 tokens / 3600 × dollars per hour")

    run_check("cost per 1,000 tokens", test)


def check_kl(kl_bits) -> None:
    def test():
        expect_close(kl_bits(list(P), list(P)), 0.0, "KL of a distribution with itself",
                     hint="log2(p / p) = 0 for every token")
        expect_close(kl_bits(list(P), list(Q)), arena.kl_divergence_bits(P, Q), "KL(p ‖ q) in bits",
                     hint="sum p · log2(p / q): base 2 for bits, and p (not q) as the weight")
        expect_close(kl_bits(list(Q), list(P)), arena.kl_divergence_bits(Q, P), "KL(q ‖ p) in bits",
                     hint="KL is not symmetric: the first argument is the weight and the numerator")
        found = kl_bits([0.5, 0.5], [1.0, 0.0])
        expect_close(found, arena.kl_divergence_bits([0.5, 0.5], [1.0, 0.0]), "KL when q has a 0",
                     hint=f"floor q at {arena.KL_FLOOR} so the answer stays finite", rtol=1e-3)
        expect_close(kl_bits([1.0, 0.0], [0.5, 0.5]), 1.0, "KL when p has a 0",
                     hint="skip tokens with p = 0: they contribute nothing (0 · log 0 = 0)")

    run_check("KL divergence", test)


def check_align(align) -> None:
    def test():
        found = align(dict(DIST_A), dict(DIST_B), 2)
        labels, pa, pb = arena.align_by_text(DIST_A, DIST_B, 2)
        if not isinstance(found, tuple) or len(found) != 3:
            raise CheckFailed("align must return (labels, p_a, p_b)", "a tuple of 3 lists", found)
        expect_equal(list(found[0]), labels, "the shared axis (top-k of each, in order, then OTHER)",
                     hint="a's top-k texts, then b's top-k texts not yet listed, then arena.OTHER")
        for got, want, who in ((found[1], pa, "a"), (found[2], pb, "b")):
            if len(got) != len(want) or any(abs(g - w) > 1e-9 for g, w in zip(got, want)):
                raise CheckFailed(f"model {who}'s probabilities on the shared axis", want, list(got),
                                  "look each label up in the model's whole distribution (0 if missing); "
                                  "OTHER gets 1 minus the sum of the rest, so each list sums to 1")

    run_check("align by text", test)
