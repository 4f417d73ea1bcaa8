"""Checks for lesson 05's exercises: KV cache size, FLOPs per token, a power-law fit.

Each ``check_*`` takes the learner's function, compares it with ``course_utils.measure`` and
``course_utils.scaling`` (the references) and prints one verdict (✅ / ❌ with expected, found, hint / ⏳).
"""

from __future__ import annotations

import numpy as np

from course_utils import measure, scaling
from course_utils.checks import CheckFailed, expect_close, run_check
from course_utils.catalog import get_spec

KV_CASES = [("SmolLM2-135M", 2048, 1, 2), ("Qwen2.5-7B", 32768, 1, 2), ("Pythia-70M", 1024, 8, 4)]
# (non-embedding parameters, layers, context, attention width)
FLOP_CASES = [(85_000_000, 30, 2048, 576), (6_500_000_000, 28, 8192, 3584), (1_000_000, 4, 256, 128)]
# two known laws L(N) = E + A·N^-α at 16 sizes, measured with noise (σ = 0.002 bits/char) as a real loss is:
# a least-squares fit in loss space recovers them; a straight line in log-log space (E = 0) cannot
LAW_N = np.geomspace(1e4, 1e9, 16)
LAWS = [dict(E=1.3, A=40.0, alpha=0.28), dict(E=2.1, A=25.0, alpha=0.34)]
LAW_NOISE = 0.002
RMSE_SLACK = 1.2  # a right fit misses the points by at most this much more than the reference fit


def noisy_law(law: dict, seed: int) -> np.ndarray:
    """Losses of ``law`` at LAW_N plus Gaussian noise from a seeded generator."""
    rng = np.random.default_rng(seed)
    return law["E"] + law["A"] * LAW_N ** -law["alpha"] + LAW_NOISE * rng.standard_normal(LAW_N.size)


def _rmse(n, loss, E, A, alpha) -> float:
    """Root-mean-square distance, in loss, between the curve E + A·n^-alpha and the points."""
    with np.errstate(all="ignore"):
        return float(np.sqrt(np.mean((E + A * n ** -alpha - loss) ** 2)))


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
        for seed, law in enumerate(LAWS):
            loss = noisy_law(law, seed)
            found = fit_power_law(LAW_N.copy(), loss.copy())
            try:
                E, A, alpha = (float(x) for x in found)
            except (TypeError, ValueError):
                raise CheckFailed("fit_power_law should return three numbers (E, A, alpha)", "(E, A, alpha)",
                                  found) from None
            what = f"fit of {law['E']} + {law['A']}·N^-{law['alpha']} measured with noise"
            best = scaling.fit_power_law(LAW_N, loss)  # the reference: E scanned, error measured in loss
            rmse = _rmse(LAW_N, loss, E, A, alpha)
            if abs(E) < 1e-9:
                _, line_alpha = scaling.fit_loglog(LAW_N, loss, 0.0)
                raise CheckFailed(f"{what}: E, the irreducible loss", law["E"], E,
                                  "E = 0 assumes the loss falls to zero: a straight line through log(loss) against "
                                  f"log N (or any fit with E fixed at 0) gives alpha = {line_alpha:.3f}, not "
                                  f"{law['alpha']}, and misses the points by {rmse / best.rmse:.0f} times more "
                                  "than the best curve. Scan E below min(loss), fit log(loss - E) for each E, "
                                  "and keep the E with the smallest squared error in loss")
            if not rmse <= RMSE_SLACK * best.rmse:
                raise CheckFailed(f"{what}: root-mean-square error of your curve, in loss",
                                  f"<= {RMSE_SLACK * best.rmse:.4f} (the best curve's is {best.rmse:.4f})",
                                  round(rmse, 4),
                                  "keep the E whose curve E + A·N^(-alpha) has the smallest squared error in "
                                  "loss, over all the points (not the error of the straight line in log space, "
                                  "which weighs the smallest losses far too much); refine the scan around it")
            expect_close(E, law["E"], f"{what}: E, the irreducible loss", atol=0.02, rtol=0,
                         hint="keep the E whose fit has the smallest squared error in loss (not in log space), "
                              "on a fine grid")
            expect_close(alpha, law["alpha"], f"{what}: alpha, the exponent", atol=0, rtol=0.04,
                         hint="alpha is minus the slope of log(loss - E) against log N")
            expect_close(A, law["A"], f"{what}: A, the scale", atol=0, rtol=0.12, hint="A = exp(intercept)")

    run_check("power-law fit", test)
