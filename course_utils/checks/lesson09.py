"""Checks for lesson 09's exercises: group-wise int4 quantization, the decode-speed bound, the KV cache's size,
and the break-even volume between a local machine and an endpoint.

Each ``check_*`` takes the learner's function, compares it with the course's own code (``course_utils.quantize``,
``course_utils.hardware``, ``course_utils.serving``) or with the arithmetic written out, and prints one verdict
(✅ / ❌ with expected, found, hint / ⏳). The inputs are chosen so that the usual wrong answers give wrong numbers:
groups whose largest weight is negative, rows with very different ranges, grouped-query attention with a head size
that is not hidden ÷ heads, and an endpoint cheaper than the local machine.
"""

from __future__ import annotations

import math

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils.checks import CheckFailed, expect_close, run_check
from course_utils.hardware import decode_bound
from course_utils.quantize import quantize_weight
from course_utils.serving import generated_cache_bytes

INT4_HINT = ("each group of group_size consecutive weights in a row gets scale = max|w| / 7; "
             "code = round(w / scale) clamped to −7…7")


def _weights(seed: int = 0) -> torch.Tensor:
    """(4, 32) weights: rows with ranges 100× apart, and groups whose largest magnitude is negative."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(4, 32, generator=g) * torch.tensor([[0.01], [1.0], [0.1], [0.5]])
    w[:, 0] = -3 * w.abs().amax(dim=1)  # the first group of every row peaks at a negative weight
    return w


def check_quantize_int4(quantize_int4) -> None:
    def test():
        w = _weights()
        for group_size in (8, 16):
            ref = quantize_weight(w, bits=4, group_size=group_size)
            got = quantize_int4(w.clone(), group_size)
            if not (isinstance(got, tuple) and len(got) == 2):
                raise CheckFailed("quantize_int4 should return (codes, scales)", "a tuple of two tensors", got)
            codes, scales = got
            what = f"scales of a {tuple(w.shape)} weight in groups of {group_size}"
            if isinstance(scales, torch.Tensor) and scales.numel() == w.shape[0]:
                raise CheckFailed(what, tuple(ref.scales.shape), tuple(scales.shape),
                                  "one scale per group, not per row: a row of 32 weights in groups of "
                                  f"{group_size} has {32 // group_size} groups")
            if isinstance(scales, torch.Tensor) and scales.shape == ref.scales.shape:
                ratio = (scales.double() / ref.scales.double()).median().item()
                if abs(ratio - 7 / 8) < 1e-3 or abs(ratio - 7 / 15) < 1e-3:
                    raise CheckFailed(what, ref.scales, scales, "4 signed bits give codes −7…7 for a symmetric "
                                      "quantizer, so divide the group's largest magnitude by 7")
                if (scales.double() - ref.scales.double()).abs().max() > 1e-6 and torch.allclose(
                        scales.double(), w.view(4, -1, group_size).amax(-1).double() / 7, atol=1e-7):
                    raise CheckFailed(what, ref.scales, scales, "use the largest magnitude, max |w|: the largest "
                                      "weight of a group can be negative")
            expect_close(scales, ref.scales, what, INT4_HINT, atol=1e-7, rtol=1e-5)
            what = f"codes of a {tuple(w.shape)} weight in groups of {group_size}"
            if isinstance(codes, torch.Tensor) and codes.shape == w.shape and codes.min() >= 0:
                raise CheckFailed(what, "codes from −7 to 7", f"codes from {codes.min().item()} to "
                                  f"{codes.max().item()}", "symmetric codes are signed, with no offset: the "
                                  "dequantized weight is simply code × scale")
            expect_close(codes.float() if isinstance(codes, torch.Tensor) else codes, ref.codes.float(), what,
                         "round to the nearest whole number (torch.round), not down (floor or int())", atol=0)

    run_check("group-wise int4 quantization", test, hint=INT4_HINT)


def check_dequantize(dequantize) -> None:
    def test():
        w = _weights(1)
        for group_size in (8, 16):
            ref = quantize_weight(w, bits=4, group_size=group_size)
            restored = dequantize(ref.codes.clone(), ref.scales.clone(), group_size)
            expect_close(restored, ref.dequantize(), f"dequantize(codes, scales, {group_size})",
                         "ŵ = code × its group's scale: repeat each scale group_size times along the row "
                         "(repeat_interleave) or reshape to (out, groups, group_size)")

    run_check("dequantization", test)


def check_decode_bound(decode_tokens_per_s) -> None:
    def test():
        for n_params, bytes_per, gb_s in ((6_590_720, 4, 33.0), (1_711_376_384, 2, 50.0), (7_000_000_000, 0.5, 800)):
            expected = decode_bound(n_params * bytes_per, gb_s * 1e9)
            found = decode_tokens_per_s(n_params, bytes_per, gb_s)
            what = f"decode bound for {n_params:,} parameters at {bytes_per:g} bytes each, {gb_s:g} GB/s"
            if isinstance(found, (int, float)) and expected > 0:
                if math.isclose(found, expected * bytes_per, rel_tol=1e-6) and bytes_per != 1:
                    raise CheckFailed(what, expected, found, "the bandwidth moves bytes, not parameters: multiply "
                                      "the parameters by the bytes each takes")
                if math.isclose(found, expected / 1e9, rel_tol=1e-6):
                    raise CheckFailed(what, expected, found, "1 GB/s is 10⁹ bytes per second: convert the bandwidth "
                                      "to bytes/s first")
                if math.isclose(found, 1 / expected, rel_tol=1e-6):
                    raise CheckFailed(what, expected, found, "that is seconds per token; tokens/s is its inverse")
            expect_close(found, expected, what, "tokens/s = bytes read per second ÷ bytes read per token (every "
                         "weight, once)", atol=0, rtol=1e-6)

    run_check("decode-speed bound", test)


def _gqa_config() -> LlamaConfig:
    """A Llama with grouped-query attention (4 query heads, 2 key/value heads) and head_dim ≠ hidden ÷ heads."""
    return LlamaConfig(vocab_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=3,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=64,
                       pad_token_id=0, bos_token_id=1, eos_token_id=2)


def check_kv_cache_bytes(kv_cache_bytes) -> None:
    def test():
        config = _gqa_config()
        with torch.random.fork_rng(devices=[]):  # building the model leaves the learner's RNG alone
            torch.manual_seed(0)
            model = LlamaForCausalLM(config).eval()
        ids = torch.tensor([[1, 5, 9, 13, 17]])
        held, tokens = generated_cache_bytes(model, ids, 8)  # a real generate call's cache, float32
        per_token = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim  # numbers
        for batch, n_tokens, bytes_per in ((1, tokens, 4), (3, 100, 2)):
            expected = held if batch == 1 else per_token * n_tokens * batch * bytes_per
            found = kv_cache_bytes(config, n_tokens, batch, bytes_per)
            what = f"KV cache of this config for {n_tokens} tokens, batch {batch}, {bytes_per} bytes per number"
            if isinstance(found, (int, float)):
                if math.isclose(found, expected / 2):
                    raise CheckFailed(what, expected, found, "the cache keeps keys AND values: a factor 2")
                if math.isclose(found, expected * 2):
                    raise CheckFailed(what, expected, found, "keys and values are cached only for the key/value "
                                      "heads (config.num_key_value_heads), not for every query head")
                wrong_head_dim = config.hidden_size // config.num_attention_heads
                if math.isclose(found, expected * wrong_head_dim / config.head_dim):
                    raise CheckFailed(what, expected, found, "use config.head_dim: here it is not hidden_size ÷ "
                                      "num_attention_heads")
            expect_close(found, expected, what, "2 (keys, values) · layers · key/value heads · head_dim · tokens · "
                         "batch · bytes", atol=0, rtol=1e-9)

    run_check("KV cache size", test)


def check_break_even(break_even) -> None:
    def test():
        cases = ((1000.0, 0.20, 0.60), (50.0, 1.00, 15.00), (10.0, 0.50, 0.40), (0.0, 0.10, 0.30))
        for fixed, local, endpoint in cases:
            expected = None if endpoint <= local else fixed / (endpoint - local) * 1e6
            found = break_even(fixed, local, endpoint)
            what = (f"break-even for ${fixed:g}/month fixed, local ${local:g} vs endpoint ${endpoint:g} "
                    "per million tokens")
            if expected is None:
                if found is not None:
                    raise CheckFailed(what, None, found, "when the endpoint's price per token is at or below the "
                                      "local cost per token, the local machine is never cheaper: return None")
                continue
            if isinstance(found, (int, float)) and expected and math.isclose(found, expected / 1e6):
                raise CheckFailed(what, expected, found, "prices are per MILLION tokens: the answer in tokens is "
                                  "10⁶ times larger")
            if isinstance(found, (int, float)) and expected and math.isclose(found, fixed / endpoint * 1e6):
                raise CheckFailed(what, expected, found, "the local machine also costs something per token (its "
                                  "electricity): divide by the price difference")
            expect_close(found, expected, what, "fixed cost = (endpoint price − local price) × tokens / 10⁶",
                         atol=1e-6, rtol=1e-9)

    run_check("break-even volume", test)
