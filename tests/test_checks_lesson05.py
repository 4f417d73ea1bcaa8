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
    A, alpha = scaling.fit_loglog(n, loss, 0.0)
    return 0.0, A, alpha


CASES = [
    (L.check_kv_cache_bytes, kv, lambda s, t, b, n: kv(s, t, b, n) // 2, "keys AND values"),
    (L.check_kv_cache_bytes, kv, lambda s, t, b, n: 2 * s.n_layers * s.heads * s.head_dim * t * b * n,
     "grouped-query"),
    (L.check_kv_cache_bytes, kv, lambda s, t, b, n: kv(s, t, 1, n), "2 · n_layers"),
    (L.check_flops_per_token, flops, lambda n, l, c, d: 2 * n, "attending over the context"),
    (L.check_flops_per_token, flops, lambda n, l, c, d: 6 * n, "forward + backward"),
    (L.check_flops_per_token, flops, lambda n, l, c, d: 2 * n + l * c * d, "2·N + 2"),
    (L.check_fit_power_law, fit, fit_without_E, "assumes E = 0"),
    (L.check_fit_power_law, fit, lambda n, l: (1.0, 40.0, 0.28), "smallest squared error"),
    (L.check_fit_power_law, fit, lambda n, l: (1.3, 40.0, 0.5), "minus the slope"),
    (L.check_fit_power_law, fit, lambda n, l: {"E": 1.3}, "three numbers"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_crash_in_the_learners_code_is_one_line(capsys):
    L.check_fit_power_law(lambda n, loss: np.polyfit(n, loss[:2], 1))
    out = capsys.readouterr().out
    assert out.startswith("❌ power-law fit: your code raised") and "Traceback" not in out
