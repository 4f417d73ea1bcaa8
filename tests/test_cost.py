"""The cost model: hand-computed monthly costs, machine steps, the break-even, and messages that say what to enter."""

import math

import pytest

import course_utils.arena as A
from course_utils import cost as C
from course_utils.cost import (EXAMPLE_ASSUMPTIONS_DATE, EXAMPLE_ENDPOINTS, EXAMPLE_HARDWARE, HOURS_PER_MONTH,
                               EndpointPrice, LocalHardware, break_even_tokens_per_month, monthly_cost_curve)
from course_utils.errors import BadInputError


def laptop(**kw):
    return LocalHardware(**{"name": "laptop", "purchase_usd": 1200.0, "lifetime_years": 3.0, "watts": 45.0,
                            "electricity_usd_per_kwh": 0.30, **kw})


def gpu(**kw):
    return LocalHardware(**{"name": "gpu", "rent_usd_per_hour": 2.50, "watts": 700.0,
                            "electricity_usd_per_kwh": 0.0, "utilisation": 0.5, **kw})


LARGE = EndpointPrice(name="large", usd_per_million_input=3.0, usd_per_million_output=15.0)
SMALL = EndpointPrice(name="small", usd_per_million_input=0.10, usd_per_million_output=0.30)
ONE_M_PER_HOUR = 1e6 / 3600  # tokens/s that make a million tokens an hour


def test_the_arena_still_exports_the_same_cost_assumptions():
    assert A.CostAssumptions is C.CostAssumptions
    c = C.CostAssumptions(0.9, 100, 1.0, 2.0)  # positional, as the arena widget builds it
    assert c.usd_per_hour() == pytest.approx(1.0) and c.per_1k_tokens(5, "endpoint") == pytest.approx(0.002)


# ----------------------------------------------------------------------------- a bought machine

def test_a_bought_laptop_costs_its_amortised_price_plus_power_for_the_busy_hours():
    hw = laptop()
    assert not hw.rented
    assert hw.fixed_usd_per_month() == pytest.approx(1200 / 36)
    assert hw.usd_per_busy_hour() == pytest.approx(0.045 * 0.30)
    # 5 M tokens at 20 tokens/s: 5e6 / 20 / 3600 = 69.44 busy hours, one machine
    assert hw.busy_hours(5e6, 20) == pytest.approx(69.4444, rel=1e-5)
    assert hw.machines_needed(5e6, 20) == 1
    assert hw.monthly_usd(5e6, 20) == pytest.approx(1200 / 36 + 5e6 / 72_000 * 0.0135)  # 33.33 + 0.94
    assert hw.monthly_usd(0, 20) == pytest.approx(1200 / 36)  # bought: paid for even when idle


def test_machines_step_up_when_one_machine_runs_out_of_hours():
    capacity = HOURS_PER_MONTH * 3600 * 20  # 52.56 M tokens a month at 20 tokens/s, busy all month
    hw = laptop()
    assert [hw.machines_needed(v, 20) for v in (0, capacity, capacity + 1, 3 * capacity, 3 * capacity + 1)] == \
        [1, 1, 2, 3, 4]
    half = laptop(utilisation=0.5)  # each machine gives half the hours
    assert half.machines_needed(capacity, 20) == 2 and half.machines_needed(capacity / 2, 20) == 1
    step = hw.monthly_usd(capacity + 1, 20) - hw.monthly_usd(capacity, 20)
    assert step == pytest.approx(hw.fixed_usd_per_month(), rel=1e-6)  # a second machine's fixed cost at once


def test_cost_per_million_is_the_cost_of_fully_used_machines():
    hw = laptop(utilisation=0.5)
    capacity = HOURS_PER_MONTH * 0.5 * 3600 * 20
    expected = (1200 / 36 / (HOURS_PER_MONTH * 0.5) + 0.0135) * 1e6 / 72_000
    assert hw.usd_per_million_tokens(20) == pytest.approx(expected)
    for k in (1, 2, 7):  # at k full machines the average is exactly that
        assert hw.monthly_usd(k * capacity, 20) / (k * capacity) * 1e6 == pytest.approx(expected)
    assert hw.monthly_usd(capacity / 10, 20) / (capacity / 10) * 1e6 > 5 * expected  # part-empty: dearer


# ----------------------------------------------------------------------------- a rented machine

def test_a_rented_machine_is_billed_for_its_idle_hours():
    hw = gpu()
    assert hw.rented and hw.fixed_usd_per_month() == 0
    # a million tokens an hour: 10 M tokens = 10 busy hours = 20 billed hours at 2.50
    assert hw.monthly_usd(10e6, ONE_M_PER_HOUR) == pytest.approx(50.0)
    assert hw.usd_per_million_tokens(ONE_M_PER_HOUR) == pytest.approx(5.0)
    assert hw.monthly_usd(0, ONE_M_PER_HOUR) == 0
    assert hw.machines_needed(365e6, ONE_M_PER_HOUR) == 1 and hw.machines_needed(366e6, ONE_M_PER_HOUR) == 2
    assert gpu(utilisation=1.0).monthly_usd(10e6, ONE_M_PER_HOUR) == pytest.approx(25.0)


def test_power_is_added_to_the_rent_when_you_pay_it():
    hw = gpu(rent_usd_per_hour=1.0, watts=500.0, electricity_usd_per_kwh=0.20, utilisation=1.0)
    assert hw.usd_per_busy_hour() == pytest.approx(1.10)
    assert hw.monthly_usd(3e6, ONE_M_PER_HOUR) == pytest.approx(3.30)


# ----------------------------------------------------------------------------- an endpoint

def test_an_endpoint_charges_input_and_output_tokens():
    assert LARGE.monthly_usd(1e6) == pytest.approx(15.0)
    assert LARGE.monthly_usd(1e6, 2e6) == pytest.approx(15.0 + 6.0)
    assert LARGE.usd_per_output_token(2.0) == pytest.approx(21e-6)
    free_prompts = EndpointPrice(name="cached", usd_per_million_input=0.0, usd_per_million_output=1.0)
    assert free_prompts.monthly_usd(2e6, 5e6) == pytest.approx(2.0)


@pytest.mark.parametrize("kw, words", [
    (dict(usd_per_million_input=1.0, usd_per_million_output=0.0), "usd_per_million_output is 0"),
    (dict(usd_per_million_input=0.0, usd_per_million_output=0.0), "usd_per_million_output is 0"),
    (dict(usd_per_million_input=-1.0, usd_per_million_output=2.0), "below zero"),
    (dict(usd_per_million_input=1.0, usd_per_million_output=float("nan")), "is nan"),
])
def test_bad_endpoint_prices_are_refused_with_what_to_enter(kw, words):
    with pytest.raises(BadInputError, match=words) as err:
        EndpointPrice(name="x", **kw)
    assert "enter the provider's price" in str(err.value)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kw, words", [
    (dict(purchase_usd=0.0), "free machine"),
    (dict(rent_usd_per_hour=1.0), "enter 0 as the purchase price for a rented machine"),
    (dict(purchase_usd=-5.0), "purchase_usd is -5, below zero"),
    (dict(utilisation=0.0), "utilisation is 0, outside"),
    (dict(utilisation=50.0), "not a percentage"),
    (dict(watts=-1.0), "watts is -1, below zero"),
    (dict(electricity_usd_per_kwh=float("nan")), "electricity_usd_per_kwh is nan"),
    (dict(lifetime_years=0.0), "lifetime_years is 0"),
    (dict(watts="45"), "must be a number"),
])
def test_bad_hardware_is_refused_with_what_to_enter(kw, words):
    with pytest.raises(BadInputError, match=words) as err:
        laptop(**kw)
    assert "enter" in str(err.value)


def test_free_electricity_is_allowed():
    assert laptop(electricity_usd_per_kwh=0.0).usd_per_busy_hour() == 0


@pytest.mark.parametrize("tps", [0, -3, float("nan"), float("inf")])
def test_a_throughput_must_be_a_positive_number(tps):
    with pytest.raises(BadInputError, match="tokens per second above 0"):
        laptop().monthly_usd(1e6, tps)
    with pytest.raises(BadInputError, match="tokens_per_s"):
        break_even_tokens_per_month(gpu(), tps, LARGE)


def test_negative_volumes_and_ratios_are_refused():
    with pytest.raises(BadInputError, match="tokens_per_month is -1"):
        laptop().monthly_usd(-1, 20)
    with pytest.raises(BadInputError, match="input_per_output is -2"):
        break_even_tokens_per_month(laptop(), 20, LARGE, input_per_output=-2)


# ----------------------------------------------------------------------------- break-even

def _cheaper(hw, tps, ep, v, ratio=0.0):
    return hw.monthly_usd(v, tps) < ep.monthly_usd(v, ratio * v)


def test_a_rented_machine_is_cheaper_always_or_never():
    vm = gpu(rent_usd_per_hour=0.10, watts=20.0)  # 0.20 USD per busy hour at utilisation 0.5; 72k tokens/h
    assert vm.usd_per_million_tokens(20) == pytest.approx(0.20 / 0.072)  # 2.78 USD per M
    assert break_even_tokens_per_month(vm, 20, LARGE) == 0.0
    assert _cheaper(vm, 20, LARGE, 1) and _cheaper(vm, 20, LARGE, 1e12)
    assert break_even_tokens_per_month(vm, 20, SMALL) is None
    assert not _cheaper(vm, 20, SMALL, 1e6)
    # 30 prompt tokens per output token at 0.10 per M: 3.30 per M generated, above the VM's 2.78
    assert break_even_tokens_per_month(vm, 20, SMALL, input_per_output=30) == 0.0


def test_one_machine_pays_for_itself_at_fixed_cost_over_the_saving_per_token():
    saving = 15e-6 - 0.0135 / 72_000  # endpoint minus laptop power, per token at 20 tokens/s
    be = break_even_tokens_per_month(laptop(), 20, LARGE)
    assert be == pytest.approx((1200 / 36) / saving)  # 2.25 M tokens, well inside one machine's 52.56 M
    assert not _cheaper(laptop(), 20, LARGE, be * 0.999) and _cheaper(laptop(), 20, LARGE, be * 1.001)


def test_break_even_respects_machine_steps():
    # 30 USD a month each, no power, 2 M tokens a month each, endpoint 20 USD per M: one machine pays for itself
    # at 1.5 M; two are cheaper above 3 M (of 4 M), three above 4.5 M (of 6 M); from four on every step is cheaper.
    hw = LocalHardware(name="box", purchase_usd=360.0, lifetime_years=1.0, watts=0.0, electricity_usd_per_kwh=0.0)
    tps = 2e6 / (HOURS_PER_MONTH * 3600)
    ep = EndpointPrice(name="api", usd_per_million_input=0.0, usd_per_million_output=20.0)
    be = break_even_tokens_per_month(hw, tps, ep)
    assert be == pytest.approx(4.5e6)
    cheaper = {v: _cheaper(hw, tps, ep, v * 1e6) for v in (1.4, 1.6, 2.5, 3.5, 4.4, 4.6, 6.1, 9, 50)}
    assert cheaper == {1.4: False, 1.6: True, 2.5: False, 3.5: True, 4.4: False, 4.6: True, 6.1: True, 9: True,
                       50: True}


@pytest.mark.parametrize("hw, tps, ep, ratio", [
    (laptop(), 20, LARGE, 0.0),
    (laptop(utilisation=0.3), 3, LARGE, 1.0),
    (laptop(purchase_usd=30_000, watts=1000), 900, LARGE, 0.5),
    (LocalHardware(name="box", purchase_usd=360, lifetime_years=1, watts=0, electricity_usd_per_kwh=0),
     2.6e6 / (HOURS_PER_MONTH * 3600), EndpointPrice(name="api", usd_per_million_input=0, usd_per_million_output=20), 0),
])
def test_local_is_cheaper_at_every_scanned_volume_above_the_break_even_and_not_just_below(hw, tps, ep, ratio):
    be = break_even_tokens_per_month(hw, tps, ep, ratio)
    assert be is not None and be > 0
    above = [be * (1 + 1e-6) * 1.01 ** i for i in range(1200)]  # to ~150,000 × the break-even
    assert all(_cheaper(hw, tps, ep, v, ratio) for v in above)
    assert not _cheaper(hw, tps, ep, be * (1 - 1e-6), ratio)


def test_a_bought_machine_that_is_never_cheaper_gives_none():
    hw = laptop()  # 0.82 USD per M at full use against the small endpoint's 0.30
    assert hw.usd_per_million_tokens(20) > SMALL.usd_per_million_output
    assert break_even_tokens_per_month(hw, 20, SMALL) is None
    assert not any(_cheaper(hw, 20, SMALL, 10 ** (e / 4)) for e in range(0, 52))  # 1 token to 10^13


# ----------------------------------------------------------------------------- curves and presets

def test_the_cost_curve_is_the_monthly_costs_at_each_volume():
    volumes = [1e5, 1e6, 1e8]
    local, remote = monthly_cost_curve(laptop(), 20, LARGE, volumes, input_per_output=2.0)
    assert local == [laptop().monthly_usd(v, 20) for v in volumes]
    assert remote == pytest.approx([LARGE.monthly_usd(v, 2 * v) for v in volumes])


def test_presets_are_dated_examples_with_the_stated_numbers():
    assert EXAMPLE_ASSUMPTIONS_DATE == "2026-12"
    for presets in (EXAMPLE_HARDWARE, EXAMPLE_ENDPOINTS):
        for label, preset in presets.items():
            assert label == preset.name and label.endswith(f"(example, {EXAMPLE_ASSUMPTIONS_DATE})")
    hw = {label.split(" (example")[0]: p for label, p in EXAMPLE_HARDWARE.items()}
    assert hw["this laptop, bought"].purchase_usd == 1200 and hw["this laptop, bought"].watts == 45
    assert hw["rented cloud GPU"].rent_usd_per_hour == 2.50 and hw["rented cloud GPU"].utilisation == 0.5
    assert hw["rented CPU VM, 2 cores"].rent_usd_per_hour == 0.10
    ep = {label.split(" (example")[0]: p for label, p in EXAMPLE_ENDPOINTS.items()}
    assert (ep["small hosted model"].usd_per_million_input, ep["small hosted model"].usd_per_million_output) == \
        (0.10, 0.30)
    assert (ep["large hosted model"].usd_per_million_input, ep["large hosted model"].usd_per_million_output) == \
        (3.00, 15.00)
    assert not math.isnan(break_even_tokens_per_month(hw["this laptop, bought"], 20, ep["large hosted model"]))
