"""What a token costs, from assumptions the learner can see and edit.

    laptop = LocalHardware(name="my laptop", purchase_usd=1200, watts=45, electricity_usd_per_kwh=0.30)
    api = EndpointPrice(name="large hosted model", usd_per_million_input=3.0, usd_per_million_output=15.0)
    laptop.monthly_usd(5e6, tokens_per_s=20), api.monthly_usd(5e6)
    break_even_tokens_per_month(laptop, 20, api)      # output tokens a month above which the laptop is cheaper

A local machine is either rented (billed per hour, idle hours too) or bought (its price spread over its
lifetime as a fixed monthly cost); either way it draws power while it generates. An endpoint charges per
token. Every price here is an assumption: the presets are dated examples, not facts — edit them.

Local time counts generated (output) tokens only, at the measured ``tokens_per_s``: reading the prompt
(prefill) is much faster than generating and is taken as free, which slightly favours the local machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from course_utils.errors import BadInputError

HOURS_PER_MONTH = 730  # 8,760 hours a year / 12
EXAMPLE_ASSUMPTIONS_DATE = "2026-12"


@dataclass
class CostAssumptions:
    """What an hour of generation costs. Local: hardware rent (or purchase price ÷ hours of use)
    plus electricity. An endpoint: the provider's price per million generated tokens."""

    hardware_usd_per_hour: float = 0.10
    power_watts: float = 65.0
    electricity_usd_per_kwh: float = 0.30
    endpoint_usd_per_million_tokens: float = 0.50

    def usd_per_hour(self) -> float:
        return self.hardware_usd_per_hour + self.power_watts / 1000 * self.electricity_usd_per_kwh

    def per_1k_tokens(self, tokens_per_s: float | None, kind: str = "local") -> float | None:
        """Dollars for 1,000 generated tokens at ``tokens_per_s`` (one request at a time)."""
        if kind == "endpoint":
            return self.endpoint_usd_per_million_tokens / 1000
        if not tokens_per_s or tokens_per_s <= 0 or math.isnan(tokens_per_s):
            return None
        return 1000 / tokens_per_s / 3600 * self.usd_per_hour()


# ----------------------------------------------------------------------------- validation

def _number(what: str, value, instead: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInputError(f"{what} must be a number, got {value!r}: {instead}.")
    value = float(value)
    if not math.isfinite(value):
        raise BadInputError(f"{what} is {value}: {instead}.")
    return value


def _at_least_zero(what: str, value, instead: str) -> float:
    value = _number(what, value, instead)
    if value < 0:
        raise BadInputError(f"{what} is {value:g}, below zero: {instead}.")
    return value


def _positive(what: str, value, instead: str) -> float:
    value = _number(what, value, instead)
    if value <= 0:
        raise BadInputError(f"{what} is {value:g}: {instead}.")
    return value


def _throughput(tokens_per_s) -> float:
    return _positive("tokens_per_s", tokens_per_s,
                     "enter the measured generation speed, a number of tokens per second above 0 (e.g. 20)")


def _volume(tokens_per_month) -> float:
    return _at_least_zero("tokens_per_month", tokens_per_month,
                          "enter how many tokens a month you generate, 0 or more (e.g. 5e6 for 5 million)")


def _ratio(input_per_output) -> float:
    return _at_least_zero("input_per_output", input_per_output,
                          "enter how many prompt tokens you send per generated token, 0 or more (e.g. 3)")


# ----------------------------------------------------------------------------- a local machine

@dataclass(kw_only=True)
class LocalHardware:
    """A machine that generates locally: rented (``rent_usd_per_hour`` > 0, billed for every paid hour,
    busy or not) or bought (``purchase_usd`` > 0, spread over ``lifetime_years`` as a fixed monthly cost).

    ``utilisation``: the share of the paid hours that do useful work. A rented machine waits between
    requests and is billed while it waits (0.5: you pay two hours for each busy one); a bought one runs all
    month, and utilisation caps the busy hours one machine gives a month, so more volume needs more machines.
    Power: a bought machine pays it for the busy hours; a rented one is charged rent + power for every billed
    hour (``electricity_usd_per_kwh`` = 0 when the rent includes it, as a cloud machine's does).
    """

    name: str
    rent_usd_per_hour: float = 0.0
    purchase_usd: float = 0.0
    lifetime_years: float = 3.0
    watts: float
    electricity_usd_per_kwh: float
    utilisation: float = 1.0

    def __post_init__(self):
        self.rent_usd_per_hour = _at_least_zero(
            "rent_usd_per_hour", self.rent_usd_per_hour, "enter the hourly rent in USD, or 0 for a machine you bought")
        self.purchase_usd = _at_least_zero(
            "purchase_usd", self.purchase_usd, "enter the purchase price in USD, or 0 for a rented machine")
        if self.rent_usd_per_hour == 0 and self.purchase_usd == 0:
            raise BadInputError(f"{self.name}: rent and purchase price are both 0, a free machine: enter the hourly "
                                "rent (rented) or the purchase price (bought): even a laptop you own cost something.")
        if self.rent_usd_per_hour > 0 and self.purchase_usd > 0:
            raise BadInputError(f"{self.name}: both a rent ({self.rent_usd_per_hour:g} USD/h) and a purchase price "
                                f"({self.purchase_usd:g} USD) are set: enter 0 as the purchase price for a rented "
                                "machine, or 0 as the rent for a bought one.")
        self.lifetime_years = _positive(
            "lifetime_years", self.lifetime_years, "enter how many years the machine is used, above 0 (e.g. 3)")
        self.watts = _at_least_zero("watts", self.watts, "enter the power drawn while generating, 0 W or more")
        self.electricity_usd_per_kwh = _at_least_zero(
            "electricity_usd_per_kwh", self.electricity_usd_per_kwh,
            "enter the electricity price in USD per kWh, or 0 when the rent includes power")
        u = _number("utilisation", self.utilisation, "enter the share of paid hours that do useful work, "
                    "above 0 and at most 1 (e.g. 0.5)")
        if not 0 < u <= 1:
            raise BadInputError(f"utilisation is {u:g}, outside (0, 1]: enter the share of paid hours that do useful "
                                "work, above 0 and at most 1 (0.5 = busy half the time; not a percentage).")
        self.utilisation = u

    @property
    def rented(self) -> bool:
        return self.rent_usd_per_hour > 0

    def fixed_usd_per_month(self) -> float:
        """The purchase price spread evenly over the lifetime (0 for a rented machine)."""
        return self.purchase_usd / (self.lifetime_years * 12)

    def power_usd_per_hour(self) -> float:
        return self.watts / 1000 * self.electricity_usd_per_kwh

    def usd_per_busy_hour(self) -> float:
        """Rent plus power for one hour of generating (a bought machine's fixed cost is not in it)."""
        return self.rent_usd_per_hour + self.power_usd_per_hour()

    @staticmethod
    def busy_hours(tokens_per_month: float, tokens_per_s: float) -> float:
        return _volume(tokens_per_month) / _throughput(tokens_per_s) / 3600

    def machines_needed(self, tokens_per_month: float, tokens_per_s: float) -> int:
        """Machines to generate ``tokens_per_month``: each gives HOURS_PER_MONTH × utilisation busy hours."""
        per_machine = HOURS_PER_MONTH * self.utilisation
        return max(1, math.ceil(round(self.busy_hours(tokens_per_month, tokens_per_s) / per_machine, 9)))

    def monthly_usd(self, tokens_per_month: float, tokens_per_s: float) -> float:
        """Dollars a month for ``tokens_per_month`` generated tokens.

        Rented: busy hours ÷ utilisation (the billed hours) × (rent + power). Bought: every machine's fixed
        monthly cost, paid busy or not, plus power for the busy hours.
        """
        busy = self.busy_hours(tokens_per_month, tokens_per_s)
        if self.rented:
            return busy / self.utilisation * self.usd_per_busy_hour()
        return (self.machines_needed(tokens_per_month, tokens_per_s) * self.fixed_usd_per_month()
                + busy * self.power_usd_per_hour())

    def usd_per_million_tokens(self, tokens_per_s: float) -> float:
        """Dollars per million generated tokens when every machine you pay for is as busy as ``utilisation``
        allows (no part-empty last machine): what each further million costs at large volume, the slope of
        :meth:`monthly_usd`. Rented: the actual cost per token at any volume. Bought: the lowest average cost;
        below one machine's month of tokens each token carries a larger share of the fixed cost.
        """
        hours_per_million = 1e6 / _throughput(tokens_per_s) / 3600
        if self.rented:  # billed idle hours are charged at the busy rate (rent usually includes the power)
            per_busy_hour = self.usd_per_busy_hour() / self.utilisation
        else:
            fixed_per_busy_hour = self.fixed_usd_per_month() / (HOURS_PER_MONTH * self.utilisation)
            per_busy_hour = fixed_per_busy_hour + self.power_usd_per_hour()
        return per_busy_hour * hours_per_million


# ----------------------------------------------------------------------------- a hosted endpoint

@dataclass(kw_only=True)
class EndpointPrice:
    """A hosted model billed per token. The output price must be above 0 (every provider charges for generated
    tokens; 0 is almost surely a typo); the input price may be 0 (free or cached prompts), never negative.
    (Not course_utils.remote.Endpoint, which says where to send requests: this says what they cost.)"""

    name: str
    usd_per_million_input: float
    usd_per_million_output: float

    def __post_init__(self):
        self.usd_per_million_input = _at_least_zero(
            "usd_per_million_input", self.usd_per_million_input,
            "enter the provider's price per million prompt tokens in USD, 0 or more (e.g. 3.0)")
        self.usd_per_million_output = _positive(
            "usd_per_million_output", self.usd_per_million_output,
            "enter the provider's price per million generated tokens in USD, above 0 (e.g. 15.0)")

    def usd_per_output_token(self, input_per_output: float = 0.0) -> float:
        """Dollars per generated token, with ``input_per_output`` prompt tokens sent for each."""
        return (self.usd_per_million_output + _ratio(input_per_output) * self.usd_per_million_input) / 1e6

    def monthly_usd(self, output_tokens_per_month: float, input_tokens_per_month: float = 0) -> float:
        out = _volume(output_tokens_per_month)
        inp = _at_least_zero("input_tokens_per_month", input_tokens_per_month,
                             "enter how many prompt tokens a month you send, 0 or more")
        return (out * self.usd_per_million_output + inp * self.usd_per_million_input) / 1e6


# ----------------------------------------------------------------------------- comparing the two

def break_even_tokens_per_month(hardware: LocalHardware, tokens_per_s: float, endpoint: EndpointPrice,
                                input_per_output: float = 0.0) -> float | None:
    """Output tokens a month above which the local machine is cheaper than the endpoint, at every volume;
    None when it never gets there: its cost per million tokens at full use
    (:meth:`LocalHardware.usd_per_million_tokens`) is not below the endpoint's.

    Rented: both costs grow in proportion to volume, so local is cheaper from the first token (0.0) or never
    (None). Bought: the fixed cost F of each machine is paid back by the saving per token e − p (endpoint minus
    local power) after r = F ÷ (e − p) tokens; with k machines local is cheaper above k·r. Each extra machine
    adds F again, so just above a step local can be dearer again; the answer is the last such crossing. Local
    first gets cheaper at ``r``, which this returns when no later step brings it back.
    """
    tps, ratio = _throughput(tokens_per_s), _ratio(input_per_output)
    e = endpoint.usd_per_output_token(ratio)
    if hardware.usd_per_million_tokens(tps) / 1e6 >= e:
        return None
    if hardware.rented:
        return 0.0
    p = hardware.power_usd_per_hour() / (tps * 3600)  # power per generated token
    r = hardware.fixed_usd_per_month() / (e - p)  # one machine pays for itself at r tokens
    capacity = HOURS_PER_MONTH * hardware.utilisation * 3600 * tps  # tokens one machine makes a month
    # With k machines (volumes ((k-1)·capacity, k·capacity]) local is cheaper above k·r; that covers the whole
    # step once k·r <= (k-1)·capacity, i.e. from k0 = ceil(capacity / (capacity - r)) on. The last volume
    # where local is not cheaper is then (k0 - 1)·r, on step k0 - 1.
    k0 = math.ceil(round(capacity / (capacity - r), 9))
    return (k0 - 1) * r


def monthly_cost_curve(hardware: LocalHardware, tokens_per_s: float, endpoint: EndpointPrice, volumes,
                       input_per_output: float = 0.0) -> tuple[list[float], list[float]]:
    """Monthly dollars, local and endpoint, at each output volume in ``volumes`` (tokens a month)."""
    ratio = _ratio(input_per_output)
    local = [hardware.monthly_usd(v, tokens_per_s) for v in volumes]
    remote = [endpoint.monthly_usd(v, ratio * v) for v in volumes]
    return local, remote


# ----------------------------------------------------------------------------- example presets

def _example(label: str) -> str:
    return f"{label} (example, {EXAMPLE_ASSUMPTIONS_DATE})"


def _presets(items) -> dict:
    return {item.name: item for item in items}


# Example assumptions, not facts: round numbers of the kind quoted in EXAMPLE_ASSUMPTIONS_DATE, to be edited.
EXAMPLE_HARDWARE: dict[str, LocalHardware] = _presets([
    LocalHardware(name=_example("this laptop, bought"), purchase_usd=1200.0, lifetime_years=3.0, watts=45.0,
                  electricity_usd_per_kwh=0.30, utilisation=1.0),
    LocalHardware(name=_example("rented cloud GPU"), rent_usd_per_hour=2.50, watts=700.0,
                  electricity_usd_per_kwh=0.0, utilisation=0.5),  # power is in the rent
    LocalHardware(name=_example("rented CPU VM, 2 cores"), rent_usd_per_hour=0.10, watts=20.0,
                  electricity_usd_per_kwh=0.0, utilisation=0.5),
])
EXAMPLE_ENDPOINTS: dict[str, EndpointPrice] = _presets([
    EndpointPrice(name=_example("small hosted model"), usd_per_million_input=0.10, usd_per_million_output=0.30),
    EndpointPrice(name=_example("large hosted model"), usd_per_million_input=3.00, usd_per_million_output=15.00),
])
