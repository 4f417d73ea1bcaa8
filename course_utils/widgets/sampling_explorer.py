"""Sampling explorer: a prompt, temperature / top-k / top-p sliders, the next-token bars, a sample.

The model runs once per prompt; moving a slider only re-applies the transforms in
``course_utils.sampling`` to the cached logits, so the bars follow the sliders instantly.
"""

from __future__ import annotations

import html

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from course_utils.errors import CourseError
from course_utils.sampling import next_token_logits, sample_continuation, show_token, transform
from course_utils.widgets.html import error_html


class SamplingExplorer:
    """Explore how temperature, top-k and top-p reshape a model's next-token distribution.

    ``lm`` is a ``LoadedModel`` (e.g. ``load_model("course-slm")``). The chart shows the
    ``n_bars`` most likely tokens: the model's probabilities, after temperature, and what is
    finally sampled from (after top-k and top-p, renormalised).
    """

    def __init__(self, lm, prompt: str = "Once upon a time, there was a", n_bars: int = 15, seed: int = 0):
        self.lm, self.n_bars = lm, n_bars
        self.prompt = W.Text(value=prompt, description="prompt", continuous_update=False,
                             layout=W.Layout(width="95%"))
        self.temperature = W.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="temperature",
                                         continuous_update=False)
        self.top_k = W.IntSlider(value=0, min=0, max=50, description="top-k (0=off)", continuous_update=False)
        self.top_p = W.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p",
                                   continuous_update=False)
        self.max_new_tokens = W.IntSlider(value=20, min=1, max=60, description="new tokens",
                                          continuous_update=False)
        self.button = W.Button(description="Sample a continuation", button_style="primary", icon="random")
        self.stats = W.HTML()
        self.sample_html = W.HTML(value="<i>Press the button to sample a continuation.</i>")
        self.plot = W.Output()
        self.figure = None        # the last matplotlib figure, for tests
        self.step = None          # the last SamplingStep
        self.samples: list[str] = []
        self._logits, self._logits_prompt = None, None
        self._generator = torch.Generator().manual_seed(seed)

        for control in (self.prompt, self.temperature, self.top_k, self.top_p):
            control.observe(lambda _: self.update(), names="value")
        self.button.on_click(lambda _: self.sample())
        self.widget = W.VBox([self.prompt, W.HBox([self.temperature, self.top_k, self.top_p]), self.stats,
                              self.plot, W.HBox([self.button, self.max_new_tokens]), self.sample_html])
        self.update()

    # ------------------------------------------------------------------ logic

    def _error(self, target: W.HTML, message: str) -> None:
        target.value = error_html(message)

    def _current_logits(self) -> torch.Tensor:
        if self._logits_prompt != self.prompt.value:  # the model runs only when the prompt changes
            self._logits = next_token_logits(self.lm, self.prompt.value)
            self._logits_prompt = self.prompt.value
        return self._logits

    def update(self):
        """Recompute the distribution for the current prompt and sliders; redraw the bars."""
        try:
            logits = self._current_logits()
        except CourseError as exc:
            self.step = None
            self._error(self.stats, str(exc))
            self._draw(None)
            return None
        s = transform(logits, self.temperature.value, self.top_k.value, self.top_p.value)
        self.step = s
        greedy = " (temperature 0: greedy, only the most likely token)" if self.temperature.value == 0 else ""
        self.stats.value = (
            f"<b>{s.n_kept:,}</b> of {len(s.probs):,} tokens kept{greedy} · mass kept "
            f"<b>{100 * s.mass_kept:.1f}%</b> · entropy {s.entropy_before:.2f} bits (model) → "
            f"<b>{s.entropy_after:.2f} bits</b> (sampled from)")
        self._draw(s)
        return s

    def _draw(self, s) -> None:
        if self.figure is not None:
            plt.close(self.figure)
            self.figure = None
        self.plot.clear_output(wait=True)
        if s is None:
            return
        top = torch.argsort(s.probs, descending=True)[: self.n_bars]           # (n_bars,)
        labels = [show_token(self.lm.tokenizer.decode([int(i)])) for i in top]
        x = torch.arange(len(top)).float()
        with self.plot:
            self.figure = self._bars(s, top, labels, x)
            display(self.figure)
            plt.close(self.figure)  # shown once, in the Output widget; kept on self for tests

    def _bars(self, s, top, labels, x):
        fig, ax = plt.subplots(figsize=(9, 3.2))
        w = 0.28
        ax.bar(x - w, s.probs[top], w, label="model (temperature 1)", color="#bbbbbb")
        ax.bar(x, s.tempered[top], w, label=f"after temperature {self.temperature.value:g}", color="#7fb1e3")
        colors = ["#1a5fb4" if k else "#f0b0b0" for k in s.kept[top].tolist()]
        ax.bar(x + w, s.final[top], w, label="sampled from (after top-k, top-p)", color=colors)
        ax.set_xticks(x.tolist())
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=9)
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"Next token after “{self.prompt.value[-40:]}” (top {len(top)}; pink = removed)", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        return fig

    def sample(self) -> str | None:
        """Sample a continuation with the current settings and show it."""
        self.button.disabled = True
        try:
            ids = sample_continuation(self.lm, self.prompt.value, self.max_new_tokens.value,
                                      self.temperature.value, self.top_k.value, self.top_p.value,
                                      generator=self._generator)
        except CourseError as exc:
            self._error(self.sample_html, str(exc))
            return None
        finally:
            self.button.disabled = False
        text = self.lm.tokenizer.decode(ids, skip_special_tokens=True)
        self.samples.append(text)
        settings = (f"temperature {self.temperature.value:g}, top-k {self.top_k.value or 'off'}, "
                    f"top-p {self.top_p.value:g}")
        self.sample_html.value = (
            f"<div style='font-family:monospace;white-space:pre-wrap'><b>{html.escape(self.prompt.value)}</b>"
            f"<span style='color:#1a5fb4'>{html.escape(text)}</span></div><small>{len(ids)} new tokens · "
            f"{settings} · press again for another sample</small>")
        return text

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

