"""Memory calculator: the numbers are course_utils.sizing's, the widget reacts and never breaks."""

import pytest

from course_utils.catalog import get_spec
from course_utils.sizing import estimate_memory_bytes
from course_utils.sizing import MACHINES, machines_that_fit
from course_utils.widgets.memory_calculator import MemoryCalculator, memory_breakdown


def test_breakdown_adds_up_to_the_sizing_estimate_and_the_kv_formula():
    spec = get_spec("SmolLM2-135M")
    b = memory_breakdown(spec, "bfloat16", 2048, batch=2)
    assert b["total"] == estimate_memory_bytes(spec, "bfloat16", 2048, 2)
    assert b["weights"] + b["kv_cache"] + b["activations"] == b["total"]
    assert b["kv_cache"] == 2 * 30 * 3 * 64 * 2048 * 2 * 2  # K and V, layers, kv heads, head dim, T, batch, bytes
    assert b["weights"] == 134_515_008 * 2 and not b["capped"]


def test_context_beyond_the_model_is_capped_and_said():
    b = memory_breakdown(get_spec("GPT-2"), "float32", 100_000)
    assert b["capped"] and b["context"] == 1024
    calc = MemoryCalculator(model="GPT-2", context=100_000)
    assert "reads at most 1,024 tokens" in calc.summary.value


def test_fits_depends_on_the_device():
    big = memory_breakdown(get_spec("Qwen2.5-7B"), "bfloat16", 4096)["total"]
    f = machines_that_fit(big)
    assert set(f) == set(MACHINES)
    assert not f["Binder (2 GB RAM)"] and not f["Colab T4 (16 GB GPU)"] and f["H100 (80 GB GPU)"]
    small = machines_that_fit(memory_breakdown(get_spec("SmolLM2-135M"), "bfloat16", 1024)["total"])
    assert set(small) == set(MACHINES) and all(small.values())  # every device listed, and it fits on each


def test_widget_reacts_to_each_control():
    calc = MemoryCalculator(model="Qwen2.5-7B", dtype="bfloat16", context=2048)
    first = calc.result["total"]
    assert calc.figure is not None and "❌ Binder" in calc.summary.value and "✅ H100" in calc.summary.value
    calc.dtype.value = "int4"
    assert calc.result["weights"] == pytest.approx(7_615_616_512 * 0.5, abs=1)
    assert calc.result["total"] < first
    calc.context.value = 32768
    kv_long = calc.result["kv_cache"]
    calc.batch.value = 4
    assert calc.result["kv_cache"] == 4 * kv_long
    calc.model.value = "Pythia-70M"
    assert calc.result["weights"] == 70_426_624 * 0.5 and calc.result["capped"]
    labels = [t.get_text() for t in calc.figure.axes[0].get_yticklabels()]
    assert labels[0] == "Pythia-70M" and labels[1:] == list(MACHINES)


def test_out_of_range_inputs_are_clamped_not_fatal():
    calc = MemoryCalculator()
    calc.context.value = -5  # BoundedIntText clamps to its minimum
    calc.batch.value = 10**9
    assert calc.context.value == 1 and calc.batch.value == 1024
    assert calc.result["total"] > 0


def test_a_32k_context_on_smollm2_gives_the_8k_cache_with_a_note():
    spec = get_spec("SmolLM2-135M")
    b = memory_breakdown(spec, "bfloat16", 32768)
    assert b["capped"] and b["context"] == 8192
    assert b["kv_cache"] == 2 * 30 * 3 * 64 * 8192 * 2 == memory_breakdown(spec, "bfloat16", 8192)["kv_cache"]
    calc = MemoryCalculator(model="SmolLM2-135M", context=32768)
    assert calc.result["kv_cache"] == b["kv_cache"]
    assert "reads at most 8,192 tokens" in calc.summary.value
    assert "computed for 8,192, not the 32,768 asked for" in calc.summary.value
    calc.context.value = 4096
    assert not calc.result["capped"] and "reads at most" not in calc.summary.value
