"""Cost calculator: its figures are course_utils.cost's, it reacts to each control and never breaks on bad input."""

import pytest

from course_utils.cost import (EXAMPLE_ASSUMPTIONS_DATE, EXAMPLE_ENDPOINTS, EXAMPLE_HARDWARE, LocalHardware,
                               break_even_tokens_per_month, monthly_cost_curve)
from course_utils.errors import BadInputError
from course_utils.widgets import CostCalculator
from course_utils.widgets.cost_calculator import DEFAULT_TOKENS_PER_S, format_tokens, format_usd

LAPTOP, GPU, VM = EXAMPLE_HARDWARE
SMALL, LARGE = EXAMPLE_ENDPOINTS
MEASURED = {"course-small, batch 1": 20.0, "course-small, batch 8": 120.0}


def _curves(calc):
    ax = calc.figure.axes[0]
    return {line.get_label().split(":")[0]: line for line in ax.get_lines()}, ax


def test_the_figures_are_the_cost_models_for_the_chosen_presets():
    calc = CostCalculator(MEASURED, hardware=LAPTOP, endpoint=LARGE, million_tokens_per_month=5.0)
    r, hw, ep = calc.result, EXAMPLE_HARDWARE[LAPTOP], EXAMPLE_ENDPOINTS[LARGE]
    assert r["tokens_per_s"] == 20.0 and r["tokens_per_month"] == 5e6
    assert r["local_usd"] == pytest.approx(hw.monthly_usd(5e6, 20.0))
    assert r["endpoint_usd"] == pytest.approx(ep.monthly_usd(5e6))
    assert r["break_even"] == pytest.approx(break_even_tokens_per_month(hw, 20.0, ep))
    assert r["machines"] == 1 and r["cheaper"] == "local"
    text = calc.summary_text()
    for figure in (format_usd(r["local_usd"]), format_usd(r["endpoint_usd"]), format_tokens(r["break_even"]),
                   "1 machine", "Cheaper at this volume: the local machine"):
        assert figure in text, figure
    assert f"example assumptions dated {EXAMPLE_ASSUMPTIONS_DATE}" in calc.note.value


def test_volume_across_the_break_even_changes_which_is_cheaper():
    calc = CostCalculator(MEASURED, hardware=LAPTOP, endpoint=LARGE)
    be = calc.result["break_even"]
    calc.volume.value = be / 1e6 * 0.9
    assert calc.result["cheaper"] == "endpoint" and "the endpoint" in calc.summary_text()
    calc.volume.value = be / 1e6 * 1.1
    assert calc.result["cheaper"] == "local"
    calc.volume.value = 400.0  # beyond one machine's 52.56 M tokens a month at 20 tokens/s
    assert calc.result["machines"] == EXAMPLE_HARDWARE[LAPTOP].machines_needed(400e6, 20.0) == 8
    assert "8 machines" in calc.summary_text()


def test_each_control_moves_the_figures():
    calc = CostCalculator(MEASURED, hardware=LAPTOP, endpoint=LARGE)
    first = dict(calc.result)
    calc.throughput.value = "course-small, batch 8"
    assert calc.tokens_per_s.value == 120.0 and calc.result["break_even"] < first["break_even"]
    calc.tokens_per_s.value = 20.0
    assert calc.result["break_even"] == pytest.approx(first["break_even"])
    calc.watts.value = 90.0  # twice the power
    assert calc.result["local_usd"] > first["local_usd"] and "edited" in calc.result["hardware"].name
    calc.input_per_output.value = 3.0
    assert calc.result["endpoint_usd"] == pytest.approx(EXAMPLE_ENDPOINTS[LARGE].monthly_usd(5e6, 15e6))
    calc.output_price.value = 30.0
    assert calc.result["endpoint_usd"] == pytest.approx((5 * 30.0 + 15 * 3.0))


def test_a_preset_fills_the_fields_and_a_rented_gpu_vs_the_small_model_never_breaks_even():
    calc = CostCalculator(MEASURED, hardware=LAPTOP, endpoint=LARGE)
    calc.hardware.value = GPU
    gpu = EXAMPLE_HARDWARE[GPU]
    assert (calc.rent.value, calc.purchase.value, calc.utilisation.value) == (2.50, 0.0, 0.5)
    assert calc.result["hardware"].name == gpu.name  # not edited
    assert calc.result["local_usd"] == pytest.approx(gpu.monthly_usd(5e6, 20.0))
    calc.endpoint.value = SMALL
    assert (calc.input_price.value, calc.output_price.value) == (0.10, 0.30)
    assert calc.result["break_even"] is None and "never cheaper" in calc.summary_text()
    calc.hardware.value = VM
    calc.endpoint.value = LARGE
    assert calc.result["break_even"] == 0.0 and "cheaper at every volume" in calc.summary_text()


def test_invalid_input_shows_the_message_and_recovers():
    calc = CostCalculator(MEASURED, hardware=LAPTOP, endpoint=LARGE)
    calc.output_price.value = 0.0  # must not raise
    assert "error" in calc.result and calc.figure is None
    assert "⚠" in calc.summary.value and "usd_per_million_output is 0" in calc.summary_text()
    calc.output_price.value = 15.0
    assert "error" not in calc.result and calc.figure is not None
    calc.purchase.value = 0.0  # a free machine
    assert "free machine" in calc.summary_text()
    calc.purchase.value = 1200.0
    calc.tokens_per_s.value = 0.0
    assert "tokens per second above 0" in calc.summary_text()
    calc.tokens_per_s.value = 20.0
    calc.utilisation.value = 80.0  # a percentage
    assert "not a percentage" in calc.summary_text()


def test_the_plot_has_both_cost_curves_and_the_break_even_point():
    calc = CostCalculator(MEASURED, hardware=LAPTOP, endpoint=LARGE)
    lines, ax = _curves(calc)
    assert {"local", "endpoint", "break-even"} <= set(lines)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    x = [v * 1e6 for v in lines["local"].get_xdata()]
    local, remote = monthly_cost_curve(EXAMPLE_HARDWARE[LAPTOP], 20.0, EXAMPLE_ENDPOINTS[LARGE], x)
    assert list(lines["local"].get_ydata()) == pytest.approx(local)
    assert list(lines["endpoint"].get_ydata()) == pytest.approx(remote)
    be = calc.result["break_even"]
    assert lines["break-even"].get_xdata()[0] == pytest.approx(be / 1e6)
    assert min(x) < be < max(x)
    calc.hardware.value = GPU
    calc.endpoint.value = SMALL  # never cheaper: two curves, no break-even point
    lines, _ = _curves(calc)
    assert {"local", "endpoint"} <= set(lines) and "break-even" not in lines


def test_without_throughputs_a_default_editable_speed_and_a_clear_message():
    calc = CostCalculator()
    assert calc.tokens_per_s.value == DEFAULT_TOKENS_PER_S and calc.throughput.disabled
    assert "No measured throughputs were given" in calc.note.value
    calc.tokens_per_s.value = 40.0
    assert calc.result["tokens_per_s"] == 40.0 and "error" not in calc.result
    skipped = CostCalculator({"ok": 10.0, "failed run": None, "zero": 0.0})
    assert list(skipped.throughputs) == ["ok"] and "failed run, zero" in skipped.note.value


def test_own_hardware_joins_the_presets_and_an_unknown_preset_is_refused():
    mine = LocalHardware(name="my workstation", purchase_usd=3000, watts=300, electricity_usd_per_kwh=0.25)
    calc = CostCalculator(MEASURED, hardware=mine)
    assert calc.hardware.value == "my workstation" and calc.purchase.value == 3000
    assert calc.result["local_usd"] == pytest.approx(mine.monthly_usd(5e6, 20.0))
    with pytest.raises(BadInputError, match="No hardware preset called 'a toaster'"):
        CostCalculator(hardware="a toaster")
