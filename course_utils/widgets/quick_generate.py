"""A first generation: pick a model, type a prompt, press Generate, see text and speed."""

from __future__ import annotations

import html

import ipywidgets as W

from course_utils.errors import CourseError
from course_utils.generation import generate
from course_utils.loading import load_model
from course_utils.widgets.html import error_html


class QuickGenerate:
    """Prompt box, model picker, two sliders and a button; results show as HTML.

    Models load on first use through the per-process cache, so switching back and forth
    never reloads one. ``dtype`` is passed to the loader (e.g. ``pair.load_dtype``, the dtype
    ``pick_pair`` sized the pair for; None: each model's default).
    """

    def __init__(self, models: list[str], prompt: str = "", max_new_tokens: int = 40,
                 temperature: float = 0.8, loader=load_model, dtype: str | None = None):
        self._loader, self.dtype = loader, dtype
        self.model = W.Dropdown(options=list(models), value=models[0], description="model")
        self.prompt = W.Textarea(value=prompt, description="prompt", layout=W.Layout(width="95%", height="70px"))
        self.max_new_tokens = W.IntSlider(value=max_new_tokens, min=1, max=200, description="new tokens",
                                            style={"description_width": "initial"})
        self.temperature = W.FloatSlider(value=temperature, min=0.0, max=2.0, step=0.05, description="temperature",
                                            style={"description_width": "initial"})
        self.button = W.Button(description="Generate", button_style="primary", icon="play")
        self.result = W.HTML(value="<i>Press Generate.</i>")
        self.button.on_click(lambda _: self.run())
        self.widget = W.VBox([self.model, self.prompt, W.HBox([self.max_new_tokens, self.temperature]),
                              self.button, self.result])
        self.last = None  # the last GenerationResult, for tests and curious learners

    def run(self):
        self.button.disabled = True
        self.result.value = "<i>Generating…</i>"
        try:
            lm = self._loader(self.model.value, dtype=self.dtype)
            r = generate(lm, self.prompt.value, max_new_tokens=self.max_new_tokens.value,
                         temperature=self.temperature.value)
        except CourseError as exc:
            self.last = None
            self.result.value = error_html(str(exc))
            return None
        finally:
            self.button.disabled = False
        self.last = r
        t = r.timing
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in r.notes)
        self.result.value = (
            f"<div style='font-family:monospace;white-space:pre-wrap'><b>{html.escape(r.prompt)}</b>"
            f"<span style='color:#1a5fb4'>{html.escape(r.text)}</span></div>"
            f"<small>{html.escape(lm.info.name)} · {t.n_new_tokens} new tokens · first token after "
            f"{t.time_to_first_token_s * 1000:.0f} ms · {t.tokens_per_s:.1f} tokens/s</small>"
            + (f"<ul><small>{notes}</small></ul>" if notes else ""))
        return r

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
