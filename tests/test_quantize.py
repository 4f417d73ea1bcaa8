"""course_utils.quantize: symmetric group-wise weight quantization from scratch."""

import copy

import pytest
import torch

from course_utils.errors import BadInputError
from course_utils.quantize import (NF4_LEVELS, NF4Weight, QuantizedLinear, bits_per_weight, model_packed_bytes,
                                   nf4_reconstruction_error, quantize_model, quantize_nf4, quantize_weight,
                                   reconstruction_error)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _weight(out=16, n=128, seed=0):
    return torch.randn(out, n, generator=torch.Generator().manual_seed(seed))


def test_codes_stay_in_range_and_each_group_uses_its_full_range():
    w = _weight()
    for bits in (2, 4, 8):
        q = quantize_weight(w, bits, group_size=32)
        qmax = 2 ** (bits - 1) - 1
        assert q.codes.dtype == torch.int8 and q.codes.abs().max() == qmax
        assert q.scales.shape == (16, 4)
        groups = q.codes.view(16, 4, 32).abs().amax(-1)
        assert torch.all(groups == qmax)  # the largest weight of every group maps to ±qmax


def test_a_weight_on_the_grid_comes_back_exactly_and_an_all_zero_group_stays_zero():
    scale = 0.25
    codes = torch.randint(-7, 8, (4, 64), generator=torch.Generator().manual_seed(1))
    codes[:, ::16] = 7  # every group reaches the top code, so its scale is exactly 0.25
    w = codes.float() * scale
    w[0, :16] = 0.0
    restored = quantize_weight(w, bits=4, group_size=16).dequantize()
    assert torch.equal(restored, w)


def test_error_falls_with_each_bit_and_with_smaller_groups():
    w = _weight(64, 256)
    errors = [reconstruction_error(w, bits, 64) for bits in range(2, 9)]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 0.01 and errors[2] > 0.05  # int8: under 1 %; 4-bit: several percent
    assert reconstruction_error(w, 4, 16) < reconstruction_error(w, 4, 256)
    # rounding error is at most half a step: |w - ŵ| <= scale / 2
    q = quantize_weight(w, 4, 64)
    step = q.scales.repeat_interleave(64, dim=1)
    assert torch.all((w - q.dequantize()).abs() <= step / 2 + 1e-6)


def test_quantized_linear_computes_with_the_restored_weight_and_stores_fewer_bytes():
    lin = torch.nn.Linear(128, 32)
    ql = QuantizedLinear.from_linear(lin, bits=4, group_size=32)
    x = torch.randn(3, 5, 128, generator=torch.Generator().manual_seed(2))
    restored = quantize_weight(lin.weight, 4, 32).dequantize()
    assert torch.allclose(ql(x), torch.nn.functional.linear(x, restored, lin.bias), atol=1e-6)
    assert ql.packed_bytes == 32 * 128 * 4 // 8 + 32 * 4 * 2 + 32 * 4  # codes + fp16 scales + fp32 bias
    assert bits_per_weight(4, 32) == 4.5 and bits_per_weight(8, 128) == 8.125


def test_a_quantized_course_model_loses_little_at_8_bits_and_a_lot_at_2(tiny_llama_dir):
    from course_utils.loading import load_model

    lm = load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The printer is jammed again and the screen is blank", return_tensors="pt")["input_ids"]

    def loss(model):
        with torch.no_grad():
            return model(input_ids=ids, labels=ids).loss.item()

    base = loss(lm.model)
    q8 = quantize_model(copy.deepcopy(lm.model), bits=8, group_size=32)
    q2 = quantize_model(copy.deepcopy(lm.model), bits=2, group_size=32)
    assert abs(loss(q8) - base) < 0.01 * base
    assert abs(loss(q2) - base) > 10 * abs(loss(q8) - base)
    assert not any(isinstance(m, torch.nn.Linear) and not name.endswith("lm_head") for name, m in q8.named_modules())
    full, packed8, packed2 = model_packed_bytes(lm.model), model_packed_bytes(q8), model_packed_bytes(q2)
    assert packed2 < packed8 < full


@pytest.mark.parametrize("kwargs, message", [
    (dict(bits=1), "bits=1 is not supported"),
    (dict(bits=16), "16-bit is a dtype"),
    (dict(bits=4, group_size=0), "group_size must be"),
    (dict(bits=4, group_size=48), "does not divide"),
])
def test_bad_settings_say_what_to_use_instead(kwargs, message):
    with pytest.raises(BadInputError, match=message):
        quantize_weight(_weight(4, 128), **kwargs)


def test_a_model_whose_width_the_group_does_not_divide_is_refused_before_any_change():
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 48), torch.nn.Linear(48, 8))
    before = [type(m) for m in model]
    with pytest.raises(BadInputError, match="48 inputs"):
        quantize_model(model, bits=4, group_size=32)
    assert [type(m) for m in model] == before


# --- NF4 ----------------------------------------------------------------------------------------------------------

def test_nf4_levels_are_normal_quantiles_with_an_exact_zero_and_match_bitsandbytes():
    levels = torch.tensor(NF4_LEVELS)
    assert levels.dtype == torch.float32 and levels.numel() == 16
    assert torch.all(levels[1:] > levels[:-1]) and levels[0] == -1 and levels[-1] == 1
    assert (levels < 0).sum() == 7 and (levels == 0).sum() == 1 and (levels > 0).sum() == 8
    # QLoRA's construction: the positive half are normal quantiles, scaled so the largest is 1
    normal = torch.distributions.Normal(0.0, 1.0)
    offset = 0.9677083  # the paper's outermost quantile, (1 - 1 / (2 * 15) + 1 - 1 / (2 * 16)) / 2
    positive = normal.icdf(torch.linspace(offset, 0.5, 9)[:-1]).flip(0)  # 8 levels above zero
    negative = -normal.icdf(torch.linspace(offset, 0.5, 8)[:-1])  # 7 below
    assert torch.allclose(levels[8:], positive / positive.max(), atol=1e-6)
    assert torch.allclose(levels[:7], negative / positive.max(), atol=1e-6)
    bnb = pytest.importorskip("bitsandbytes.functional")
    assert torch.equal(levels, bnb.get_4bit_type("nf4", device="cpu"))


def test_nf4_codes_are_the_nearest_level_of_each_value_over_its_block_absmax():
    w = _weight(8, 96) * 0.02
    q = quantize_nf4(w, block_size=32)
    assert q.codes.dtype == torch.uint8 and q.codes.shape == (8 * 96,) and q.absmax.shape == (8 * 96 // 32,)
    assert q.shape == (8, 96) and int(q.codes.max()) <= 15
    blocks = w.reshape(-1, 32)
    assert torch.equal(q.absmax, blocks.abs().amax(-1))
    nearest = (blocks[..., None] / q.absmax[:, None, None] - torch.tensor(NF4_LEVELS)).abs().argmin(-1)
    assert torch.equal(q.codes.long(), nearest.view(-1))
    assert torch.all(q.codes.view(-1, 32).long().sub(7).abs().amax(-1) >= 7)  # each block's absmax hits ±1


def test_nf4_reproduces_bitsandbytes_codes_absmax_and_values_exactly():
    bnb = pytest.importorskip("bitsandbytes.functional")
    for shape in ((64, 128), (128, 352), (352, 128)):
        w = torch.randn(*shape, generator=torch.Generator().manual_seed(shape[1])) * 0.05
        packed, state = bnb.quantize_4bit(w, blocksize=64, quant_type="nf4")
        packed = packed.view(-1)
        codes = torch.stack([packed >> 4, packed & 0xF], dim=1).view(-1)  # two codes a byte, high nibble first
        ours = quantize_nf4(w, block_size=64)
        assert torch.equal(codes, ours.codes)
        assert torch.equal(state.absmax, ours.absmax)
        if shape[1] % 64 == 0:  # bitsandbytes' CPU dequantize needs whole blocks per row (quantize_libraries)
            assert torch.equal(bnb.dequantize_4bit(packed.view(-1, 1), state), ours.dequantize())


def test_nf4_restores_values_on_its_grid_exactly_and_an_all_zero_block_as_zeros():
    codes = torch.randint(0, 16, (4, 64), generator=torch.Generator().manual_seed(3))
    codes[:, ::16] = 15  # every block of 16 reaches level 1.0, so its absmax is exactly 0.5
    w = torch.tensor(NF4_LEVELS)[codes] * 0.5
    w[1, :16] = 0.0
    q = quantize_nf4(w, block_size=16)
    assert torch.equal(q.dequantize(), w)
    assert q.dequantize(torch.bfloat16).dtype == torch.bfloat16
    assert not torch.isnan(q.dequantize()).any()


def test_nf4_beats_evenly_spaced_int4_on_normal_weights_at_the_same_block_and_costs_four_and_a_half_bits():
    w = _weight(64, 256) * 0.02
    assert nf4_reconstruction_error(w, 64) < 0.9 * reconstruction_error(w, bits=4, group_size=64)
    q = quantize_nf4(w, 64)
    assert q.packed_bytes == 64 * 256 // 2 + (64 * 256 // 64) * 4  # codes + float32 absmax
    assert q.packed_bytes * 8 / w.numel() == 4.5
    assert isinstance(q, NF4Weight)


@pytest.mark.parametrize("weight, block_size, message", [
    (torch.zeros(4, 40), 64, "does not divide the weight's 160 values"),
    (torch.zeros(4, 64), 0, "block_size must be"),
    (torch.zeros(4, 64), True, "block_size must be"),
    (torch.zeros(256), 64, r"\(out, in\) matrix"),
])
def test_nf4_bad_input_says_what_to_use_instead(weight, block_size, message):
    with pytest.raises(BadInputError, match=message):
        quantize_nf4(weight, block_size)
