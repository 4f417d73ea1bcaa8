"""course_utils.quantize: symmetric group-wise weight quantization from scratch."""

import copy

import pytest
import torch

from course_utils.errors import BadInputError
from course_utils.quantize import (QuantizedLinear, bits_per_weight, model_packed_bytes, quantize_model,
                                   quantize_weight, reconstruction_error)

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
