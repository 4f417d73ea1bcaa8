"""Cost calculator: measured tokens/s, a machine and an endpoint -> monthly cost of each and the break-even."""

from __future__ import annotations

import html
import math
import re

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

from course_utils.cost import (EXAMPLE_ASSUMPTIONS_DATE, EXAMPLE_ENDPOINTS, EXAMPLE_HARDWARE, HOURS_PER_MONTH, EndpointPrice,
                               LocalHardware, break_even_tokens_per_month, monthly_cost_curve)
from course_utils.errors import BadInputError, CourseError
from course_utils.widgets.html import error_html

DEFAULT_TOKENS_PER_S = 20.0
_STYLE = {"description_width": "initial"}
_HARDWARE_FIELDS = ("rent_usd_per_hour", "purchase_usd", "lifetime_years", "watts", "electricity_usd_per_kwh",
                    "utilisation")


def format_usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:.2g}"


def format_tokens(n: float) -> str:
    for unit, scale in (("billion", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if n >= scale:
            return f"{n / scale:,.4g} {unit}"
    return f"{n:,.0f}"


def _usable(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _text(label: str, value: float, width: str = "170px") -> W.FloatText:
    return W.FloatText(value=value, description=label, style=_STYLE, layout=W.Layout(width=width))


def _pick(preset, presets: dict, kind: str):
    """A preset label, or an own LocalHardware / EndpointPrice added to the presets under its name."""
    presets = dict(presets)
    if isinstance(preset, (LocalHardware, EndpointPrice)):
        presets[preset.name] = preset
        return preset.name, presets
    if preset is None:
        return next(iter(presets)), presets
    if preset not in presets:
        raise BadInputError(f"No {kind} preset called {preset!r}: pick one of {', '.join(map(repr, presets))}, "
                          f"or pass your own {'LocalHardware' if kind == 'hardware' else 'EndpointPrice'}.")
    return preset, presets


class CostCalculator:
    """Measured tokens/s, a local machine and a hosted endpoint (presets you edit): monthly cost of each,
    the break-even volume, and a log–log plot of cost against volume.

    ``throughputs`` maps a label ("course-small, batch 1") to measured tokens/s; ``hardware`` and ``endpoint``
    are preset labels (course_utils.cost.EXAMPLE_HARDWARE / EXAMPLE_ENDPOINTS) or your own objects.
    After each change ``result`` holds the figures (or ``{"error": message}``) and ``figure`` the plot.
    """

    def __init__(self, throughputs: dict[str, float] | None = None, hardware: str | LocalHardware | None = None,
                 endpoint: str | EndpointPrice | None = None, million_tokens_per_month: float = 5.0,
                 input_per_output: float = 0.0):
        self.throughputs = {k: float(v) for k, v in (throughputs or {}).items() if _usable(v)}
        skipped = [k for k, v in (throughputs or {}).items() if not _usable(v)]
        hw_label, self.hardware_presets = _pick(hardware, EXAMPLE_HARDWARE, "hardware")
        ep_label, self.endpoint_presets = _pick(endpoint or next(reversed(EXAMPLE_ENDPOINTS)), EXAMPLE_ENDPOINTS,
                                                "endpoint")
        self._filling = False
        self.result: dict = {}
        self.figure = None

        labels = list(self.throughputs) or ["(none measured)"]
        self.throughput = W.Dropdown(options=labels, value=labels[0], description="measured",
                                     disabled=not self.throughputs, style=_STYLE, layout=W.Layout(width="360px"))
        first = self.throughputs.get(labels[0], DEFAULT_TOKENS_PER_S)
        self.tokens_per_s = _text("tokens/s", first)
        self.hardware = W.Dropdown(options=list(self.hardware_presets), value=hw_label, description="local machine",
                                   style=_STYLE, layout=W.Layout(width="420px"))
        self.rent = _text("rent USD/h", 0.0)
        self.purchase = _text("purchase USD", 0.0)
        self.lifetime = _text("lifetime years", 3.0)
        self.watts = _text("watts", 0.0)
        self.electricity = _text("USD/kWh", 0.0)
        self.utilisation = _text("utilisation (0–1]", 1.0)
        self.endpoint = W.Dropdown(options=list(self.endpoint_presets), value=ep_label, description="endpoint",
                                   style=_STYLE, layout=W.Layout(width="420px"))
        self.input_price = _text("USD per M input", 0.0, "210px")
        self.output_price = _text("USD per M output", 0.0, "210px")
        self.volume = W.BoundedFloatText(value=million_tokens_per_month, min=0.001, max=1e7,
                                         description="million output tokens / month", style=_STYLE,
                                         layout=W.Layout(width="300px"))
        self.input_per_output = _text("input tokens per output token", input_per_output, "260px")

        notes = [f"<i>The prices are editable example assumptions dated {EXAMPLE_ASSUMPTIONS_DATE}, not facts: "
                 "replace them with the quotes and the power bill you actually have.</i>"]
        if not self.throughputs:
            notes.append(f"No measured throughputs were given: tokens/s is set to {DEFAULT_TOKENS_PER_S:g}, an "
                         "example. Type your own measurement, or pass them: CostCalculator({'label': tokens_per_s}).")
        if skipped:
            notes.append(f"Left out (not a speed above 0 tokens/s): {', '.join(skipped)}.")
        self.note = W.HTML("<br>".join(n if n.startswith("<i>") else html.escape(n) for n in notes))
        self.summary = W.HTML()
        self.plot = W.Output()

        self.throughput.observe(lambda change: self._use_throughput(), names="value")
        self.hardware.observe(lambda change: self._fill_hardware(), names="value")
        self.endpoint.observe(lambda change: self._fill_endpoint(), names="value")
        for control in (self.tokens_per_s, self.rent, self.purchase, self.lifetime, self.watts, self.electricity,
                        self.utilisation, self.input_price, self.output_price, self.volume, self.input_per_output):
            control.observe(lambda change: self._changed(), names="value")
        self.widget = W.VBox([
            self.note, W.HBox([self.throughput, self.tokens_per_s]),
            self.hardware, W.HBox([self.rent, self.purchase, self.lifetime]),
            W.HBox([self.watts, self.electricity, self.utilisation]),
            self.endpoint, W.HBox([self.input_price, self.output_price]),
            W.HBox([self.volume, self.input_per_output]), self.summary, self.plot])
        self._fill_hardware(update=False)
        self._fill_endpoint(update=False)
        self.update()

    # ------------------------------------------------------------------ presets into the fields

    def _hardware_controls(self) -> dict[str, W.FloatText]:
        return dict(zip(_HARDWARE_FIELDS, (self.rent, self.purchase, self.lifetime, self.watts, self.electricity,
                                           self.utilisation)))

    def _fill_hardware(self, update: bool = True):
        preset = self.hardware_presets[self.hardware.value]
        self._filling = True
        try:
            for name, control in self._hardware_controls().items():
                control.value = getattr(preset, name)
        finally:
            self._filling = False
        if update:
            self.update()

    def _fill_endpoint(self, update: bool = True):
        preset = self.endpoint_presets[self.endpoint.value]
        self._filling = True
        try:
            self.input_price.value = preset.usd_per_million_input
            self.output_price.value = preset.usd_per_million_output
        finally:
            self._filling = False
        if update:
            self.update()

    def _use_throughput(self):
        if self.throughput.value in self.throughputs:
            self._filling = True
            try:
                self.tokens_per_s.value = self.throughputs[self.throughput.value]
            finally:
                self._filling = False
            self.update()

    def _changed(self):
        if not self._filling:
            self.update()

    # ------------------------------------------------------------------ the figures

    def current(self) -> tuple[LocalHardware, EndpointPrice]:
        """The machine and the endpoint the fields describe (BadInputError when a field is not valid)."""
        preset = self.hardware_presets[self.hardware.value]
        values = {name: c.value for name, c in self._hardware_controls().items()}
        edited = any(values[n] != getattr(preset, n) for n in _HARDWARE_FIELDS)
        hardware = LocalHardware(name=preset.name + (", edited" if edited else ""), **values)
        ep = self.endpoint_presets[self.endpoint.value]
        edited = (self.input_price.value, self.output_price.value) != (ep.usd_per_million_input,
                                                                        ep.usd_per_million_output)
        endpoint = EndpointPrice(name=ep.name + (", edited" if edited else ""), usd_per_million_input=self.input_price.value,
                            usd_per_million_output=self.output_price.value)
        return hardware, endpoint

    def update(self):
        try:
            self.result = self._compute()
        except CourseError as err:
            self.result = {"error": str(err)}
            self.summary.value = error_html(err)
            self.plot.clear_output()
            self.figure = None
            return
        self.summary.value = self._summary_html(self.result)
        self._draw(self.result)

    def _compute(self) -> dict:
        hardware, endpoint = self.current()
        tps, ratio = self.tokens_per_s.value, self.input_per_output.value
        volume = self.volume.value * 1e6
        per_token = endpoint.usd_per_output_token(ratio)  # checks the ratio
        local = hardware.monthly_usd(volume, tps)
        remote = endpoint.monthly_usd(volume, ratio * volume)
        cheaper = "local" if local < remote else "endpoint" if remote < local else "same"
        return {"hardware": hardware, "endpoint": endpoint, "tokens_per_s": tps, "input_per_output": ratio,
                "tokens_per_month": volume, "local_usd": local, "endpoint_usd": remote, "cheaper": cheaper,
                "machines": hardware.machines_needed(volume, tps), "busy_hours": hardware.busy_hours(volume, tps),
                "local_usd_per_million": hardware.usd_per_million_tokens(tps),
                "endpoint_usd_per_million": per_token * 1e6,
                "break_even": break_even_tokens_per_month(hardware, tps, endpoint, ratio)}

    def summary_text(self) -> str:
        """The summary as plain text (what the learner reads, without the markup)."""
        text = re.sub(r"<[^>]+>", "", self.summary.value.replace("<br>", "\n"))
        return html.unescape(text)

    @staticmethod
    def _summary_html(r: dict) -> str:
        hw, ep, e = r["hardware"], r["endpoint"], html.escape
        machines = f"{r['machines']} machine{'s' if r['machines'] > 1 else ''}"
        if hw.rented:
            how = (f"{r['busy_hours']:,.1f} busy hours, billed {r['busy_hours'] / hw.utilisation:,.1f} at "
                   f"utilisation {hw.utilisation:g} ({machines})")
        else:
            how = f"{machines} × {format_usd(hw.fixed_usd_per_month())} + power for {r['busy_hours']:,.1f} busy hours"
        ratio = f", {r['input_per_output']:g} input tokens sent per output token" if r["input_per_output"] else ""
        lines = [f"At <b>{format_tokens(r['tokens_per_month'])}</b> output tokens a month "
                 f"({r['tokens_per_s']:g} tokens/s{ratio}):",
                 f"local, {e(hw.name)}: <b>{format_usd(r['local_usd'])}</b> a month — {how}",
                 f"endpoint, {e(ep.name)}: <b>{format_usd(r['endpoint_usd'])}</b> a month"]
        low, high = sorted((r["local_usd"], r["endpoint_usd"]))
        if r["cheaper"] == "same":
            lines.append("<b>Both cost the same at this volume.</b>")
        else:
            winner = "the local machine" if r["cheaper"] == "local" else "the endpoint"
            lines.append(f"<b>Cheaper at this volume: {winner}</b>, by {format_usd(high - low)} a month.")
        per_m = (f"{format_usd(r['local_usd_per_million'])} per million output tokens locally at scale, "
                 f"{format_usd(r['endpoint_usd_per_million'])} at the endpoint")
        be = r["break_even"]
        if be is None:
            lines.append(f"Break-even: none, the local machine is never cheaper ({per_m}).")
        elif be == 0:
            lines.append(f"Break-even: none needed, the rented machine is cheaper at every volume ({per_m}).")
        else:
            lines.append(f"Break-even: above <b>{format_tokens(be)}</b> output tokens a month the local machine is "
                         f"cheaper, and stays so ({per_m}).")
        return "<br>".join(lines)

    def _draw(self, r: dict):
        hw, ep, tps = r["hardware"], r["endpoint"], r["tokens_per_s"]
        volume, be = r["tokens_per_month"], r["break_even"]
        marks = [volume] + ([be] if be else [])
        lo, hi = min(marks) / 100, max(marks) * 100
        grid = list(np.geomspace(lo, hi, 240))
        if not hw.rented:  # each extra machine is a step: put points on both sides of it
            capacity = HOURS_PER_MONTH * hw.utilisation * 3600 * tps
            for k in range(max(1, math.ceil(lo / capacity)), min(int(hi // capacity), 300) + 1):
                grid += [k * capacity, k * capacity * (1 + 1e-9)]
        grid.sort()
        local, remote = monthly_cost_curve(hw, tps, ep, grid, r["input_per_output"])
        self.plot.clear_output(wait=True)
        with self.plot:
            fig, ax = plt.subplots(figsize=(7, 3.4))
            self.figure = fig
            x = [v / 1e6 for v in grid]
            ax.loglog(x, local, color="#4c9be8", label=f"local: {hw.name}")
            ax.loglog(x, remote, color="#e8884c", label=f"endpoint: {ep.name}")
            ax.axvline(volume / 1e6, color="#999999", ls=":", label="this volume")
            if be:
                ax.plot([be / 1e6], [ep.monthly_usd(be, r["input_per_output"] * be)], "o", color="black",
                        label="break-even")
            ax.set_xlabel("million output tokens a month (log scale)")
            ax.set_ylabel("USD a month (log scale)")
            ax.set_title(f"example assumptions, {EXAMPLE_ASSUMPTIONS_DATE}: edit them", fontsize=9)
            ax.legend(fontsize=7, loc="upper left")
            fig.tight_layout()
            display(fig)
            plt.close(fig)  # shown once, in the Output widget

    def _ipython_display_(self):
        display(self.widget)
