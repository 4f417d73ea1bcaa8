"""Lesson 05 checks: accept the reference, report a stub and wrong answers with a message."""

import numpy as np
import pytest

from check_verdicts import assert_verdicts
from course_utils import measure, scaling
from course_utils.checks import lesson05 as L


def kv(spec, seq, batch, nbytes):
    return measure.kv_cache_bytes(n_layers=spec.n_layers, kv_heads=spec.kv_heads, head_dim=spec.head_dim,
                                  seq_len=seq, batch=batch, bytes_per_value=nbytes)


def flops(n, layers, context, d):
    return measure.flops_per_token(n, n_layers=layers, context=context, attn_dim=d)


def fit(n, loss):
    f = scaling.fit_power_law(n, loss)
    return f.E, f.A, f.alpha


def fit_without_E(n, loss):
    """A straight line through log(loss) against log N."""
    A, alpha = scaling.fit_loglog(n, loss, 0.0)
    return 0.0, A, alpha


def fit_E_free(n, loss):
    """Least squares in loss with E free: for a fixed alpha the law is linear in (E, A)."""
    best = None
    for alpha in np.arange(0.01, 1.5, 0.001):
        X = np.stack([np.ones_like(n), n ** -alpha], axis=1)  # (P, 2)
        coef, *_ = np.linalg.lstsq(X, loss, rcond=None)
        err = np.sum((X @ coef - loss) ** 2)
        if best is None or err < best[0]:
            best = (err, coef[0], coef[1], alpha)
    return best[1:]


def fit_E_zero_in_loss(n, loss):
    """Least squares in loss, but with E fixed at 0."""
    best = None
    for alpha in np.arange(0.01, 1.5, 0.001):
        x = n ** -alpha
        A = x @ loss / (x @ x)
        err = np.sum((A * x - loss) ** 2)
        if best is None or err < best[0]:
            best = (err, 0.0, A, alpha)
    return best[1:]


def scan_E(score_in_log_space=False, points=400, rounds=3):
    """The exercise's method; scored in log space, or without enough refinement, it fits noisy points badly."""
    def fit(n, loss):
        best, lo, hi = None, 0.0, loss.min()
        for _ in range(rounds):
            for E in np.linspace(lo, hi, points, endpoint=False):
                A, alpha = scaling.fit_loglog(n, loss, E)
                if score_in_log_space:
                    err = np.sum((np.log(A) - alpha * np.log(n) - np.log(loss - E)) ** 2)
                else:
                    err = np.sum((E + A * n ** -alpha - loss) ** 2)
                if best is None or err < best[0]:
                    best = (err, E, A, alpha)
            step = (hi - lo) / points
            lo, hi = max(0.0, best[1] - step), min(loss.min() * (1 - 1e-9), best[1] + step)
        return best[1:]
    return fit


CASES = [
    (L.check_kv_cache_bytes, kv, lambda s, t, b, n: kv(s, t, b, n) // 2, "keys AND values"),
    (L.check_kv_cache_bytes, kv, lambda s, t, b, n: 2 * s.n_layers * s.heads * s.head_dim * t * b * n,
     "grouped-query"),
    (L.check_kv_cache_bytes, kv, lambda s, t, b, n: kv(s, t, 1, n), "2 · n_layers"),
    (L.check_flops_per_token, flops, lambda n, l, c, d: 2 * n, "attending over the context"),
    (L.check_flops_per_token, flops, lambda n, l, c, d: 6 * n, "forward + backward"),
    (L.check_flops_per_token, flops, lambda n, l, c, d: 2 * n + l * c * d, "2·N + 2"),
    (L.check_fit_power_law, fit, fit_without_E, "a straight line through log(loss)"),
    (L.check_fit_power_law, fit, fit_E_zero_in_loss, "any fit with E fixed at 0"),
    (L.check_fit_power_law, fit, scan_E(score_in_log_space=True), "not the error of the straight line in log"),
    (L.check_fit_power_law, fit, scan_E(points=1000, rounds=1), "refine the scan"),
    (L.check_fit_power_law, fit, lambda n, l: (1.3, 40.0, 0.28), "smallest squared error"),  # learnt by heart
    (L.check_fit_power_law, fit, lambda n, l: {"E": 1.3}, "three numbers"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_crash_in_the_learners_code_is_one_line(capsys):
    L.check_fit_power_law(lambda n, loss: np.polyfit(n, loss[:2], 1))
    out = capsys.readouterr().out
    assert out.startswith("❌ power-law fit: your code raised") and "Traceback" not in out


@pytest.mark.parametrize("right", [fit, fit_E_free, scan_E()], ids=["reference", "E free", "exercise method"])
def test_right_methods_pass_on_the_noisy_laws(right, capsys):
    L.check_fit_power_law(right)
    assert capsys.readouterr().out.startswith("✅")


def test_the_noisy_points_are_recovered_by_the_reference_and_missed_by_a_log_log_line():
    for seed, law in enumerate(L.LAWS):
        loss = L.noisy_law(law, seed)
        assert np.std(loss - (law["E"] + law["A"] * L.LAW_N ** -law["alpha"])) > 0.5 * L.LAW_NOISE  # noisy
        f = scaling.fit_power_law(L.LAW_N, loss)
        assert abs(f.E - law["E"]) < 0.01 and abs(f.alpha / law["alpha"] - 1) < 0.02
        _, line_alpha = scaling.fit_loglog(L.LAW_N, loss, 0.0)
        assert line_alpha < 0.5 * law["alpha"]
