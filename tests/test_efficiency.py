"""course_utils.efficiency: every form of a model measured the same way."""

import copy

import matplotlib
import pytest
import torch

from course_utils import efficiency
from course_utils.corpus import make_splits
from course_utils.errors import BadInputError
from course_utils.loading import load_model
from course_utils.quantize import model_packed_bytes, quantize_model

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def docs():
    return make_splits({"test": 6})["test"]


def test_bits_sweep_leaves_the_model_alone_and_loses_more_at_fewer_bits(tiny_llama_dir, docs):
    lm = load_model(str(tiny_llama_dir))
    before = copy.deepcopy(lm.model.state_dict())
    rows = efficiency.bits_sweep(lm.model, lm.tokenizer, docs, bits=(8, 2), group_size=16)
    assert all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items())
    full, eight, two = rows
    assert full["bits"] == 32 and full["loss_vs_full"] == 0
    assert eight["bits_per_weight"] == 9.0 and two["bits_per_weight"] == 3.0
    assert abs(two["loss_vs_full"]) > 10 * abs(eight["loss_vs_full"])
    assert two["weight_bytes"] < eight["weight_bytes"] < full["weight_bytes"]
    assert eight["weight_bytes"] == model_packed_bytes(quantize_model(copy.deepcopy(lm.model), 8, 16))
    with pytest.raises(BadInputError):
        efficiency.bits_sweep(lm.model, lm.tokenizer, docs, bits=())


def test_a_variant_row_compares_with_its_baseline(tiny_llama_dir, docs):
    lm = load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The printer", return_tensors="pt")["input_ids"]
    full = efficiency.measure_variant("fp32", lm.model, lm.tokenizer, docs, ids, ids, n_new=4, repeats=1)
    half = efficiency.measure_variant("bf16", copy.deepcopy(lm.model).to(torch.bfloat16), lm.tokenizer, docs, ids,
                                      ids, n_new=4, repeats=1)
    row = half.row(full)
    assert row["size ×"] == pytest.approx(0.5) and row["decode ×"] == half.decode.median / full.decode.median
    assert row["quality loss"] == f"{half.bits_per_char / full.bits_per_char - 1:+.1%}"
    assert abs(half.bits_per_char / full.bits_per_char - 1) < 0.02  # bfloat16 barely moves the quality
    assert row["RSS growth MB"] == "–"
    grown = efficiency.measure_variant("fp32", lm.model, lm.tokenizer, docs, ids, ids, n_new=4, repeats=1,
                                       rss_growth=2_500_000)
    assert grown.row()["RSS growth MB"] == "2.5"
    axes = efficiency.plot_variants([full, half])
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["fp32", "bf16"]


def test_the_sweep_plot_has_one_line_per_model_and_the_floor():
    rows = [{"bits_per_weight": 32.0, "bits_per_char": 0.3}, {"bits_per_weight": 5.0, "bits_per_char": 0.31}]
    ax = efficiency.plot_bits_sweep({"a": rows, "b": rows}, floor=0.2)
    assert len(ax.get_lines()) == 3 and ax.get_lines()[2].get_ydata()[0] == 0.2
