"""Attention explorer: pick a model, a layer, a head and a sentence; see who attends to whom.

The weights come from the model itself (transformers' eager attention with
``output_attentions=True``), so any causal LM works: the course models offline, SmolLM2 online.
"""

from __future__ import annotations


import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from course_utils.errors import CourseError
from course_utils import heads
from course_utils.heads import attention_patterns
from course_utils.loading import load_model
from course_utils.sampling import token_labels
from course_utils.widgets.html import error_html

DEFAULT_TEXT = "The nurse said that she would call back tomorrow."
ONLINE_MODEL = "SmolLM2-135M"


# ----------------------------------------------------------------------------- computing attention

def head_summary(weights: torch.Tensor) -> dict[str, float]:
    """Where one head's attention goes, averaged over the query positions the head census uses
    (2 … T-1; fewer in a very short text): (T, T) in, shares out.

    'first token': mass on position 0; 'previous token': on i-1 (``heads.previous_token_score``);
    'itself': on i. Heads that park their attention on the first token are common (an "attention sink").
    """
    T = weights.size(-1)
    if T < 2:
        return {"first token": 1.0, "previous token": 0.0, "itself": 1.0}
    start = min(heads.PREVIOUS_TOKEN_START, T - 1)
    rows = torch.arange(start, T)
    return {"first token": heads.first_token_score(weights, start).item(),
            "previous token": heads.previous_token_score(weights, start).item(),
            "itself": weights[rows, rows].mean().item()}


# ----------------------------------------------------------------------------- drawing

def plot_attention(weights: torch.Tensor, labels: list[str], ax=None, title: str | None = None,
                   ticks: bool = True):
    """Heatmap of one head's weights (Tq, Tk): row = the query token, column = the key it attends to."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    w = weights.detach().float().cpu()
    im = ax.imshow(w, cmap="Blues", vmin=0.0, vmax=1.0)
    if ticks:
        T = len(labels)
        ax.set_xticks(range(T))
        ax.set_xticklabels(labels, rotation=90, fontsize=8)
        ax.set_yticks(range(T))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("key (attended to)")
        ax.set_ylabel("query (attending)")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return im


def attention_model_choices(include_online: bool = True) -> list[str]:
    """The course models that exist here, plus SmolLM2-135M when it is cached or the hub answers."""
    from course_utils.env import check_hub
    from course_utils.catalog import course_models

    names = [s.name for s in course_models() if s.available_offline]
    if include_online:
        try:
            from huggingface_hub import try_to_load_from_cache

            from course_utils.catalog import get_spec

            cached = isinstance(try_to_load_from_cache(get_spec(ONLINE_MODEL).hub_id, "config.json"), str)
        except Exception:  # no cache folder, unknown id: treat as not cached
            cached = False
        if cached or check_hub().reachable:
            names.append(ONLINE_MODEL)
    return names


# ----------------------------------------------------------------------------- the widget

class AttentionExplorer:
    """Model, sentence, layer and head in; the attention heatmap out (one head, or all heads of a layer).

    Attention is computed once per (model, sentence) and cached, so moving the sliders only redraws.
    """

    def __init__(self, models: list[str], model: str | None = None, text: str = DEFAULT_TEXT, max_tokens: int = 40,
                 loader=load_model):
        if not models:
            raise ValueError("AttentionExplorer needs at least one model name")
        self._loader = loader
        self.max_tokens = max_tokens
        self.model = W.Dropdown(options=list(models), value=model if model in models else models[0],
                                description="model")
        self.text = W.Text(value=text, description="sentence", layout=W.Layout(width="95%"))
        self.layer = W.IntSlider(value=0, min=0, max=0, description="layer")
        self.head = W.IntSlider(value=0, min=0, max=0, description="head")
        self.view = W.ToggleButtons(options=["one head", "all heads"], value="one head", description="show")
        self.button = W.Button(description="Show attention", button_style="primary")
        self.output = W.Output()
        self.message = W.HTML(value="<i>Press Show attention.</i>")
        self.button.on_click(lambda _: self.run())
        for control in (self.layer, self.head, self.view):
            control.observe(lambda _: self.draw(), names="value")
        self.model.observe(lambda _: self.run(), names="value")  # a new model: recompute straight away
        self.widget = W.VBox([self.model, self.text, W.HBox([self.layer, self.head]), self.view,
                              self.button, self.message, self.output])
        self.figure = None
        self.attentions = None  # list over layers of (nh, T, T)
        self.labels: list[str] = []
        self._key = None
        self._truncated = False

    def run(self):
        """Compute attention for the chosen model and sentence, then draw."""
        text = self.text.value.strip()
        if not text:
            self._error("The sentence is empty: type a few words first.")
            return None
        self.button.disabled = True
        try:
            lm = self._loader(self.model.value)
            if lm.tokenizer is None:
                self._error(f"{self.model.value} has no tokenizer here, so a sentence cannot be encoded.")
                return None
            key = (self.model.value, text)
            if key != self._key:
                ids = lm.tokenizer(text, return_tensors="pt")["input_ids"][:, : self.max_tokens]  # (1, T)
                self.attentions = [a[0] for a in attention_patterns(lm.model, ids)]  # n_layer x (nh, T, T)
                self.labels = token_labels(lm.tokenizer, ids[0])
                self._key = key
                self._truncated = len(lm.tokenizer(text)["input_ids"]) > self.max_tokens
        except CourseError as exc:
            self._error(str(exc))
            return None
        finally:
            self.button.disabled = False
        n_layer, n_head = len(self.attentions), self.attentions[0].size(0)
        with self.layer.hold_trait_notifications(), self.head.hold_trait_notifications():
            self.layer.max, self.head.max = n_layer - 1, n_head - 1  # setting max clamps value too
        self.draw()
        return self.attentions

    def draw(self):
        """Redraw the heatmap for the current layer, head and view (no recomputation)."""
        if self.attentions is None:
            return None
        layer = self.attentions[min(self.layer.value, len(self.attentions) - 1)]  # (nh, T, T)
        h = min(self.head.value, layer.size(0) - 1)
        name = self._key[0]  # the model these weights came from
        T = len(self.labels)
        if self.view.value == "one head":
            size = max(4.0, 0.28 * T + 2)
            fig, ax = plt.subplots(figsize=(size + 0.8, size))
            im = plot_attention(layer[h], self.labels, ax, f"{name} · layer {self.layer.value} · head {h}")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
            shares = head_summary(layer[h])
            note = ", ".join(f"{100 * v:.0f}% on the {k}" if k != "itself" else f"{100 * v:.0f}% on itself"
                             for k, v in shares.items())
            self.message.value = f"Head {h} of layer {self.layer.value} puts on average {note}."
        else:
            nh = layer.size(0)
            cols = min(nh, 4)
            rows = (nh + cols - 1) // cols
            fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False)
            for i, ax in enumerate(axes.flat):
                if i < nh:
                    plot_attention(layer[i], self.labels, ax, f"head {i}", ticks=False)
                else:
                    ax.axis("off")
            fig.suptitle(f"{name} · layer {self.layer.value} · all {nh} heads", fontsize=10)
            self.message.value = f"All {nh} heads of layer {self.layer.value}; pick one with the head slider."
        if self._truncated:
            self.message.value += f" (only the first {self.max_tokens} tokens are shown)"
        fig.tight_layout()
        plt.close(fig)
        self.figure = fig
        with self.output:
            from IPython.display import clear_output, display

            clear_output(wait=True)
            display(fig)
        return fig

    def _error(self, text: str):
        self.message.value = error_html(text)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
