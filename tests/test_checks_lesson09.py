"""Lesson 09 checks: accept right answers, report a stub and each typical wrong answer with its own message."""

import pytest
import torch

from check_verdicts import assert_verdicts
from course_utils.checks import lesson09 as L

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- right answers (written differently from the solution notebook's)

def int4(w, group_size):
    out, n = w.shape
    g = w.reshape(out, n // group_size, group_size)
    scales = g.abs().max(dim=-1).values / 7
    return (g / scales.unsqueeze(-1)).round().clamp(-7, 7).to(torch.int8).reshape(out, n), scales


def dequant(codes, scales, group_size):
    return codes.float() * scales.repeat_interleave(group_size, dim=1)


def bound(n_params, bytes_per_param, gb_per_s):
    return gb_per_s * 1e9 / (n_params * bytes_per_param)


def cache(config, tokens, batch, bytes_per):
    return 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * tokens * batch * bytes_per


def break_even(fixed, local, endpoint):
    return fixed * 1e6 / (endpoint - local) if endpoint > local else None


# ---- wrong answers

def int4_with(scale_of=None, post=lambda c: c.clamp(-7, 7), rounding=torch.round):
    def f(w, group_size):
        out, n = w.shape
        g = w.reshape(out, n // group_size, group_size)
        scales = scale_of(g) if scale_of else g.abs().amax(-1) / 7
        return post(rounding(g / scales[..., None])).to(torch.int8).reshape(out, n), scales
    return f


def per_row(w, group_size):
    scales = w.abs().amax(-1) / 7
    return (w / scales[:, None]).round().clamp(-7, 7).to(torch.int8), scales


CASES = [
    (L.check_quantize_int4, int4, int4_with(lambda g: g.abs().amax(-1) / 8), "divide"),
    (L.check_quantize_int4, int4, int4_with(lambda g: g.amax(-1) / 7), "can be negative"),
    (L.check_quantize_int4, int4, int4_with(post=lambda c: c.clamp(-7, 7) + 8), "signed"),
    (L.check_quantize_int4, int4, int4_with(rounding=torch.trunc), "nearest"),
    (L.check_quantize_int4, int4, per_row, "per group, not per row"),
    (L.check_dequantize, dequant, lambda c, s, g: c.float() * s.repeat(1, g), "repeat each"),
    (L.check_decode_bound, bound, lambda n, b, gb: gb * 1e9 / n, "bytes, not parameters"),
    (L.check_decode_bound, bound, lambda n, b, gb: gb / (n * b), "10⁹ bytes"),
    (L.check_decode_bound, bound, lambda n, b, gb: n * b / (gb * 1e9), "seconds per token"),
    (L.check_kv_cache_bytes, cache, lambda c, t, b, x: cache(c, t, b, x) // 2, "keys AND values"),
    (L.check_kv_cache_bytes, cache,
     lambda c, t, b, x: 2 * c.num_hidden_layers * c.num_attention_heads * c.head_dim * t * b * x, "key/value heads"),
    (L.check_kv_cache_bytes, cache, lambda c, t, b, x: 2 * c.num_hidden_layers * c.num_key_value_heads * (
        c.hidden_size // c.num_attention_heads) * t * b * x, "config.head_dim"),
    (L.check_break_even, break_even, lambda f, l, e: f / (e - l), "per MILLION"),
    (L.check_break_even, break_even, lambda f, l, e: f * 1e6 / e, "divide by the price difference"),
    (L.check_break_even, break_even, lambda f, l, e: f * 1e6 / (e - l), "never cheaper"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_each_typical_mistake_gets_its_own_message(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)
