"""Checks for lesson 05's exercises: KV cache size, FLOPs per token, a power-law fit.

Each ``check_*`` takes the learner's function, compares it with ``course_utils.measure`` and
``course_utils.scaling`` (the references) and prints one verdict (✅ / ❌ with expected, found, hint / ⏳).
"""

from __future__ import annotations

import numpy as np

from course_utils import measure
from course_utils.checks import CheckFailed, expect_close, run_check
from course_utils.registry import get_spec

KV_CASES = [("SmolLM2-135M", 2048, 1, 2), ("Qwen2.5-7B", 32768, 1, 2), ("Pythia-70M", 1024, 8, 4)]
# (non-embedding parameters, layers, context, attention width)
FLOP_CASES = [(85_000_000, 30, 2048, 576), (6_500_000_000, 28, 8192, 3584), (1_000_000, 4, 256, 128)]
# a known law: L(N) = 1.3 + 40·N^-0.28, at six sizes
LAW_N = np.geomspace(1e5, 1e9, 6)
LAW = dict(E=1.3, A=40.0, alpha=0.28)


def check_kv_cache_bytes(kv_cache_bytes) -> None:
    def test():
        for name, seq, batch, nbytes in KV_CASES:
            s = get_spec(name)
            expected = measure.kv_cache_bytes(n_layers=s.n_layers, kv_heads=s.kv_heads, head_dim=s.head_dim,
                                              seq_len=seq, batch=batch, bytes_per_value=nbytes)
            found = kv_cache_bytes(s, seq, batch, nbytes)
            what = f"KV cache of {name}, {seq} tokens, batch {batch}, {nbytes} bytes per value"
            if found == expected // 2:
                raise CheckFailed(what, expected, found, "a layer caches keys AND values: a factor 2")
            if s.heads != s.kv_heads and found == expected * s.heads // s.kv_heads:
                raise CheckFailed(what, expected, found,
                                  f"{name} shares keys and values between query heads (grouped-query "
                                  "attention): use spec.kv_heads, not spec.heads")
            expect_close(found, expected, what,
                         hint="2 · n_layers · kv_heads · head_dim · seq_len · batch · bytes_per_value")

    run_check("KV cache size", test)


def check_flops_per_token(flops_per_token) -> None:
    def test():
        for n, layers, context, d in FLOP_CASES:
            expected = measure.flops_per_token(n, n_layers=layers, context=context, attn_dim=d)
            found = flops_per_token(n, layers, context, d)
            what = f"forward FLOPs per token (N={n:,}, {layers} layers, context {context}, d_attn {d})"
            if found == 2 * n and found != expected:
                raise CheckFailed(what, expected, found,
                                  "2·N counts the matrix multiplies; attending over the context adds "
                                  "2 · n_layers · context · d_attn")
            if found == 6 * n:
                raise CheckFailed(what, expected, found, "6·N is per *training* token (forward + backward); "
                                  "a forward pass is 2·N plus the attention term")
            expect_close(found, expected, what, rtol=1e-6, hint="2·N + 2 · n_layers · context · d_attn")

    run_check("FLOPs per token", test)


def check_fit_power_law(fit_power_law) -> None:
    def test():
        loss = LAW["E"] + LAW["A"] * LAW_N ** -LAW["alpha"]
        found = fit_power_law(LAW_N.copy(), loss.copy())
        try:
            E, A, alpha = (float(x) for x in found)
        except (TypeError, ValueError):
            raise CheckFailed("fit_power_law should return three numbers (E, A, alpha)", "(E, A, alpha)",
                              found) from None
        if abs(E) < 1e-9:
            raise CheckFailed("E, the irreducible loss", LAW["E"], E,
                              "a straight line in log-log space assumes E = 0; scan E below min(loss) and "
                              "fit log(loss - E) for each")
        expect_close(E, LAW["E"], "E, the irreducible loss", atol=0.02, rtol=0,
                     hint="keep the E whose fit has the smallest squared error in loss (not in log space)")
        expect_close(alpha, LAW["alpha"], "alpha, the exponent", atol=0, rtol=0.05,
                     hint="alpha is minus the slope of log(loss - E) against log N")
        expect_close(A, LAW["A"], "A, the scale", atol=0, rtol=0.15, hint="A = exp(intercept)")

    run_check("power-law fit", test)
