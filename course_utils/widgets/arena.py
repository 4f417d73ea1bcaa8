"""The arena widget: one prompt, two models, streamed side by side with live metrics.

All of the arena's HTML and plots are drawn here; the engine (course_utils.arena) computes only.

Generation runs in worker threads (course_utils.arena.ArenaRun). In a kernel, "Run both" starts
them and schedules a pump coroutine on the kernel's event loop; the pump updates the widgets from
the kernel's own thread and sleeps between polls, so the Stop button's click is handled while
the models generate. ``run(wait=True)`` (a notebook cell, pytest) polls in the calling thread.
"""

from __future__ import annotations

import asyncio
import html

import ipywidgets as W

from course_utils.arena import (CATEGORIES, OTHER, SCHEDULES, ArenaRun, BatchResult, LocalSide, NextTokenComparison,
                                RemoteSide, UnavailableSide, compare_next_token, load_prompts, run_batch)
from course_utils.cost import CostAssumptions
from course_utils.env import human_bytes
from course_utils.errors import CourseError
from course_utils.generation import GenerationSettings
from course_utils.loading import RANDOM_WEIGHTS_LABEL, load_model
from course_utils.widgets.html import error_html

ENDPOINT = "OpenAI-compatible endpoint…"
MODES = ("trained weights", "from config (random weights)")
_STYLE = {"description_width": "initial"}


def _fmt_flops(f: int | None) -> str:
    if f is None:
        return "? FLOPs/token"
    for unit, scale in (("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if f >= scale:
            return f"{f / scale:,.1f} {unit}/token"
    return f"{f} FLOPs/token"


# ----------------------------------------------------------------------------- drawing the engine's results

def plot_next_token(cmp: NextTokenComparison, ax=None):
    """Grouped bars, one pair per decoded token text; returns the figure."""
    import matplotlib.pyplot as plt

    from course_utils.sampling import show_token

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.28 * len(cmp.labels) + 1.2))
    y = range(len(cmp.labels))
    ax.barh([i - 0.2 for i in y], cmp.p_a, height=0.4, label=cmp.names[0], color="#1a5fb4")
    ax.barh([i + 0.2 for i in y], cmp.p_b, height=0.4, label=cmp.names[1], color="#e66100")
    ax.set_yticks(list(y), [show_token(t) if t != OTHER else t for t in cmp.labels])
    ax.invert_yaxis()
    ax.set_xlabel("probability of the next token")
    ax.set_title(f"KL(a‖b) = {cmp.kl_ab_bits:.2f} bits, KL(b‖a) = {cmp.kl_ba_bits:.2f} bits", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def batch_table_html(result: BatchResult) -> str:
    """A batch's summary as an HTML table; every name and value is escaped (a side's name may be a
    path or an endpoint's label, typed by the learner)."""
    rows = result.summary()
    cols = list(dict.fromkeys(k for r in rows for k in r))
    fmt = lambda v: html.escape(f"{v / 1e6:,.1f}M" if isinstance(v, int) and v > 10000 else  # noqa: E731
                                f"{v:.3g}" if isinstance(v, float) else "?" if v is None else str(v))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    agree = html.escape(", ".join(f"{c}: {v:.0%}" for c, v in result.agreement().items()))
    return (f"<table><tr>{head}</tr>{body}</table>"
            + (f"<p>Same first word (agreement): {agree}</p>" if agree else ""))


def plot_batch(result: BatchResult):
    """Latency vs size, agreement per category, accuracy per category; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    summary = result.summary()
    ax = axes[0]
    for s in summary:
        if s["params"]:
            ax.scatter(s["params"], s["median total (s)"], s=40)
            ax.annotate(s["model"], (s["params"], s["median total (s)"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("median time per answer (s)")
    ax.set_title("latency vs size", fontsize=10)
    agree = result.agreement()
    axes[1].bar(list(agree), list(agree.values()), color="#888")
    axes[1].set_ylim(0, 1)
    axes[1].set_title("same first word (agreement)", fontsize=10)
    keyed = [c for c in CATEGORIES if any(f"accuracy: {c}" in s for s in summary)]
    width = 0.8 / max(len(summary), 1)
    for j, s in enumerate(summary):
        axes[2].bar([i + j * width for i in range(len(keyed))],
                    [s.get(f"accuracy: {c}", 0) for c in keyed], width=width, label=s["model"])
    axes[2].set_xticks([i + width * (len(summary) - 1) / 2 for i in range(len(keyed))], keyed)
    axes[2].set_ylim(0, 1)
    axes[2].set_title("accuracy (prompts with an answer key)", fontsize=10)
    axes[2].legend(fontsize=8)
    for ax in axes[1:]:
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- the widget

class _Column:
    """One side of the arena: model picker, endpoint settings, streamed text and metrics."""

    def __init__(self, title: str, options: list[str], value: str):
        self.model = W.Dropdown(options=options, value=value, description=title, style=_STYLE,
                                layout=W.Layout(width="98%"))
        self.url = W.Text(value="http://127.0.0.1:8000/v1", description="base URL", style=_STYLE)
        self.remote_model = W.Text(value="", description="model name", style=_STYLE)
        self.key_env = W.Text(value="", description="API key env. variable", style=_STYLE,
                              placeholder="e.g. OPENAI_API_KEY (the name, not the key)")
        self.api = W.Dropdown(options=["completions", "chat"], value="completions", description="API",
                              style=_STYLE)
        self.endpoint_box = W.VBox([self.url, self.remote_model, self.key_env, self.api])
        self.header = W.HTML()
        self.output = W.HTML(value="<i>Press Run both.</i>")
        self.metrics = W.HTML()
        self.notes = W.HTML()
        self.model.observe(lambda change: self._toggle(), names="value")
        self._toggle()
        self.widget = W.VBox([self.model, self.endpoint_box, self.header, self.output, self.metrics,
                              self.notes], layout=W.Layout(width="50%", padding="0 6px"))

    def _toggle(self):
        self.endpoint_box.layout.display = "" if self.model.value == ENDPOINT else "none"


class Arena:
    """Two models side by side. Controls are attributes (``prompt``, ``temperature``, ``run_button``…);
    ``last_run`` holds the last ArenaRun, ``figure`` the last next-token plot,
    ``batch_result`` / ``batch_figure`` the last batch comparison."""

    def __init__(self, models: list[str] | None = None, pair: tuple[str, str] | None = None,
                 prompt: str = "", max_new_tokens: int = 40, temperature: float = 0.0,
                 loader=load_model, available_bytes: int | None = None, schedule: str | None = None,
                 dtype: str | None = None):
        if pair is None:
            from course_utils.env import machine_info
            from course_utils.tiers import pick_pair

            choice = pick_pair(machine_info())
            pair = (choice.small, choice.large)
            dtype = dtype or choice.load_dtype  # the dtype the pair was sized for
        if models is None:
            from course_utils.catalog import catalog

            models = [name for name, spec in catalog().items() if not spec.gated]
        options = list(dict.fromkeys([*pair, *models])) + [ENDPOINT]
        self._loader, self.available_bytes, self.dtype = loader, available_bytes, dtype
        self.prompt = W.Textarea(value=prompt, description="prompt",
                                 layout=W.Layout(width="98%", height="70px"))
        self.left = _Column("model A", options, pair[0])
        self.right = _Column("model B", options, pair[1])
        self.mode = W.ToggleButtons(options=list(MODES), value=MODES[0], description="weights",
                                    style=_STYLE)
        self.temperature = W.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.05,
                                         description="temperature", style=_STYLE)
        self.top_k = W.IntSlider(value=50, min=0, max=200, description="top-k (0 = off)", style=_STYLE)
        self.top_p = W.FloatSlider(value=0.95, min=0.05, max=1.0, step=0.05, description="top-p",
                                   style=_STYLE)
        self.max_new_tokens = W.IntText(value=max_new_tokens, description="max new tokens", style=_STYLE,
                                        layout=W.Layout(width="200px"))
        self.seed = W.IntText(value=0, description="seed", style=_STYLE, layout=W.Layout(width="140px"))
        import os

        default_schedule = schedule or ("one after another" if (os.cpu_count() or 1) < 4 else "together")
        self.schedule = W.Dropdown(options=list(SCHEDULES), value=default_schedule, description="run",
                                   style=_STYLE, layout=W.Layout(width="260px"))
        self.run_button = W.Button(description="Run both", button_style="primary", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.dist_button = W.Button(description="Next-token distribution", icon="bar-chart")
        self.message = W.HTML()
        # cost assumptions, visible and editable
        c = CostAssumptions()
        self.hardware_usd = W.FloatText(value=c.hardware_usd_per_hour, description="hardware $/hour",
                                        style=_STYLE, layout=W.Layout(width="220px"))
        self.power_w = W.FloatText(value=c.power_watts, description="power (W)", style=_STYLE,
                                   layout=W.Layout(width="180px"))
        self.kwh_usd = W.FloatText(value=c.electricity_usd_per_kwh, description="electricity $/kWh",
                                   style=_STYLE, layout=W.Layout(width="220px"))
        self.endpoint_usd = W.FloatText(value=c.endpoint_usd_per_million_tokens,
                                        description="endpoint $/1M tokens", style=_STYLE,
                                        layout=W.Layout(width="240px"))
        for w in (self.hardware_usd, self.power_w, self.kwh_usd, self.endpoint_usd):
            w.observe(lambda change: self._render(self.last_run), names="value")
        self.dist_out = W.Output()
        self.batch_categories = W.SelectMultiple(options=list(CATEGORIES), value=["course world"],
                                                 description="categories", style=_STYLE)
        self.batch_n = W.IntText(value=3, description="prompts per category", style=_STYLE,
                                 layout=W.Layout(width="220px"))
        self.batch_button = W.Button(description="Run the prompt set", icon="table")
        self.batch_out = W.Output()

        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.dist_button.on_click(lambda _: self.show_distribution())
        self.batch_button.on_click(lambda _: self.run_batch())
        self.last_run: ArenaRun | None = None
        self.figure = self.batch_figure = self.batch_result = None
        self.comparison = None
        self._task = None
        self._sides: dict[int, object] = {}

        cost = W.VBox([W.HTML("<b>Cost assumptions</b> (edit them): local cost = time × (hardware + power × "
                              "electricity); an endpoint costs its price per token."),
                       W.HBox([self.hardware_usd, self.power_w, self.kwh_usd, self.endpoint_usd])])
        batch = W.VBox([W.HTML("<b>Batch mode</b>: the shipped prompt set through both models, one at a time."),
                        W.HBox([self.batch_categories, self.batch_n, self.batch_button]), self.batch_out])
        self.widget = W.VBox([
            self.prompt, self.mode, W.HBox([self.left.widget, self.right.widget]),
            W.HBox([self.temperature, self.top_k, self.top_p]),
            W.HBox([self.max_new_tokens, self.seed, self.schedule]),
            W.HBox([self.run_button, self.stop_button, self.dist_button]), self.message, cost,
            self.dist_out, batch])

    # ------------------------------------------------------------------ models
    @property
    def columns(self) -> list[_Column]:
        return [self.left, self.right]

    def settings(self) -> GenerationSettings:
        return GenerationSettings(max_new_tokens=self.max_new_tokens.value, temperature=self.temperature.value,
                                  top_k=self.top_k.value, top_p=self.top_p.value, seed=self.seed.value)

    def costs(self) -> CostAssumptions:
        return CostAssumptions(self.hardware_usd.value, self.power_w.value, self.kwh_usd.value,
                               self.endpoint_usd.value)

    def side(self, i: int):
        """The side for column ``i``: a loaded model, an endpoint, or why neither is possible."""
        col = self.columns[i]
        name = col.model.value
        try:
            if name == ENDPOINT:
                from course_utils.remote import Endpoint

                return RemoteSide(Endpoint(col.url.value, col.remote_model.value, col.key_env.value.strip(),
                                           col.api.value))
            lm = self._loader(name, from_config=self.mode.value == MODES[1], dtype=self.dtype,
                              available_bytes=self.available_bytes)
            return LocalSide(lm)
        except CourseError as exc:
            return UnavailableSide(name, str(exc))

    # ------------------------------------------------------------------ running
    def run(self, wait: bool | None = None) -> ArenaRun | None:
        """Run both sides. wait=None: in a kernel's event loop, stream in the background."""
        if self.last_run is not None and self.last_run.running:
            self.message.value = "<i>Already running: press Stop first.</i>"
            return None
        self.message.value = "<i>Loading the models…</i>"
        sides = [self.side(i) for i in range(2)]
        self._sides = dict(enumerate(sides))
        self.message.value = ""
        try:
            run = ArenaRun(sides, self.prompt.value, self.settings(), self.schedule.value, on_update=self._render)
        except CourseError as exc:
            self.message.value = error_html(str(exc))
            return None
        self.last_run = run
        self.run_button.disabled, self.stop_button.disabled = True, False
        run.start()
        if wait is None:
            try:
                asyncio.get_running_loop()
                wait = False
            except RuntimeError:
                wait = True
        if wait:
            run.wait()
            self._finished(run)
        else:
            self._task = asyncio.ensure_future(self._pump(run))
        return run

    async def _pump(self, run: ArenaRun) -> None:
        try:
            await run.pump()
        finally:
            self._finished(run)

    def _finished(self, run: ArenaRun) -> None:
        self.run_button.disabled, self.stop_button.disabled = False, True
        self._render(run)

    def stop(self) -> None:
        if self.last_run is not None:
            self.last_run.stop()
            self.message.value = "<i>Stopping after the current token…</i>"

    # ------------------------------------------------------------------ display
    def _render(self, run: ArenaRun | None) -> None:
        if run is None:
            return
        costs = self.costs()
        for i, (col, r) in enumerate(zip(self.columns, run.results)):
            info = run.sides[i].info
            label = f" <span style='color:#b00'>[{RANDOM_WEIGHTS_LABEL}]</span>" if info.label and \
                RANDOM_WEIGHTS_LABEL in info.label else (f" <small>({html.escape(info.label)})</small>"
                                                          if info.label else "")
            col.header.value = f"<b>{html.escape(info.name)}</b>{label}"
            cursor = "" if r.done else " ▌"
            col.output.value = ("<div style='font-family:monospace;white-space:pre-wrap;min-height:3em;"
                                f"border:1px solid #ddd;padding:4px'>{html.escape(r.text)}{cursor}</div>")
            col.metrics.value = self._metrics_html(info, r, costs)
            notes = [error_html(r.error)] if r.error else []
            notes += [html.escape(n) for n in r.notes]
            if r.stopped:
                notes.append("stopped by you")
            col.notes.value = "<small>" + "<br>".join(notes) + "</small>"
        if not run.running and "Stopping" in self.message.value:
            self.message.value = "<i>Stopped.</i>"

    @staticmethod
    def _metrics_html(info, r, costs: CostAssumptions) -> str:
        t = r.timing
        speed = "" if t is None else (f"first token {t.time_to_first_token_s:.2f} s · "
                                      f"{t.tokens_per_s:.1f} tokens/s · {r.n_tokens} tokens")
        params = "? parameters" if info.params is None else f"{info.params / 1e6:,.1f}M parameters"
        memory = "memory ?" if info.memory_bytes is None else human_bytes(info.memory_bytes)
        flops = _fmt_flops(info.flops_per_token(r.n_prompt_tokens + r.n_tokens))
        usd = costs.per_1k_tokens(t.tokens_per_s if t else None, info.kind)
        cost = "" if usd is None else f"≈ ${usd:.5f} per 1,000 tokens"
        return ("<small>" + " · ".join(x for x in (speed, cost) if x) + "<br>"
                + f"{params} · {memory} · {flops}</small>")

    def show_distribution(self, k: int = 10):
        """Both models' next-token distributions after the prompt, on one axis, with KL."""
        from IPython.display import display
        import matplotlib.pyplot as plt

        sides = [self.side(i) for i in range(2)]
        bad = [s for s in sides if not isinstance(s, LocalSide)]
        if bad:
            why = bad[0].reason if isinstance(bad[0], UnavailableSide) else \
                "next-token probabilities need both models in this process (not an endpoint)"
            self.message.value = error_html(why)
            return None
        try:
            cmp = compare_next_token(sides[0].lm, sides[1].lm, self.prompt.value, k)
        except CourseError as exc:
            self.message.value = error_html(str(exc))
            return None
        self.comparison = cmp
        if self.figure is not None:
            plt.close(self.figure)
        self.figure = plot_next_token(cmp)
        with self.dist_out:
            self.dist_out.clear_output(wait=True)
            display(self.figure)
        plt.close(self.figure)  # shown once, in the Output; kept on self for inspection
        return cmp

    def run_batch(self, categories=None, n_per_category: int | None = None,
                  settings: GenerationSettings | None = None, progress: bool = True):
        """The shipped prompt set through both models: a table and three plots."""
        from IPython.display import HTML, display
        import matplotlib.pyplot as plt

        sides = [self.side(i) for i in range(2)]
        bad = [s for s in sides if isinstance(s, UnavailableSide)]
        if bad:
            self.message.value = error_html(bad[0].reason)
            return None
        n = n_per_category if n_per_category is not None else self.batch_n.value
        if n < 1:
            self.message.value = error_html("Ask for at least 1 prompt per category.")
            return None
        cats = list(categories or self.batch_categories.value)
        if not cats:
            self.message.value = error_html("Pick at least one category.")
            return None
        settings = settings or GenerationSettings(max_new_tokens=12, temperature=0.0)
        self.batch_result = run_batch(sides, load_prompts(cats, n), settings, progress=progress)
        if self.batch_figure is not None:
            plt.close(self.batch_figure)
        self.batch_figure = plot_batch(self.batch_result)
        with self.batch_out:
            self.batch_out.clear_output(wait=True)
            display(HTML(batch_table_html(self.batch_result)))
            display(self.batch_figure)
        plt.close(self.batch_figure)
        return self.batch_result

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
