"""Memory calculator: model, dtype, context length and batch -> weights + KV cache, and where it fits."""

from __future__ import annotations

import html

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.ticker import FuncFormatter, NullFormatter

from course_utils.env import human_bytes
from course_utils.measure import dtype_bytes
from course_utils.catalog import catalog, get_spec
from course_utils.sizing import MACHINES, context_used, estimate_memory_bytes, kv_cache_bytes_for, machines_that_fit

# name -> (bytes a model may use, is it a CPU machine where Python + torch take their share too)
DTYPES = ["float32", "bfloat16", "float16", "int8", "int4"]
MAX_CONTEXT, MAX_BATCH = 1_048_576, 1024


def memory_breakdown(spec, dtype: str, context: int, batch: int = 1) -> dict:
    """Bytes for the weights, the KV cache (``context`` tokens, capped at the model's own context),
    and activations (≈ 10 % of the weights); ``total`` equals sizing.estimate_memory_bytes."""
    n = spec.params or spec.formula_params()
    used_context = context_used(spec, context)
    weights = n * dtype_bytes(dtype)
    kv = kv_cache_bytes_for(spec, context, batch=batch, dtype=dtype)
    total = estimate_memory_bytes(spec, dtype, context, batch)
    return {"weights": int(weights), "kv_cache": kv, "activations": total - int(weights) - kv,
            "total": total, "context": used_context, "capped": used_context < context}


def _model_names() -> list[str]:
    return [name for name, spec in catalog().items() if spec.params or spec.n_layers]  # no placeholders


class MemoryCalculator:
    """Pick a model, a dtype, a context length and a batch; see the memory and where it fits."""

    def __init__(self, model: str = "SmolLM2-360M", dtype: str = "bfloat16", context: int = 2048, batch: int = 1):
        names = _model_names()
        self.model = W.Dropdown(options=names, value=model if model in names else names[0], description="model",
                                layout=W.Layout(width="360px"))
        self.dtype = W.Dropdown(options=DTYPES, value=dtype, description="dtype")
        self.context = W.BoundedIntText(value=context, min=1, max=MAX_CONTEXT, description="context")
        self.batch = W.BoundedIntText(value=batch, min=1, max=MAX_BATCH, description="batch")
        self.summary = W.HTML()
        self.plot = W.Output()
        for control in (self.model, self.dtype, self.context, self.batch):
            control.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([W.HBox([self.model, self.dtype]), W.HBox([self.context, self.batch]),
                              self.summary, self.plot])
        self.figure = None
        self.result: dict = {}
        self.update()

    def update(self):
        spec = get_spec(self.model.value)
        context, batch = int(self.context.value or 1), int(self.batch.value or 1)
        b = memory_breakdown(spec, self.dtype.value, max(1, context), max(1, batch))
        self.result = {**b, "fits": machines_that_fit(b["total"])}
        note = (f"<br><i>{html.escape(spec.name)} reads at most {spec.context:,} tokens: the KV cache is "
                f"computed for {b['context']:,}, not the {context:,} asked for.</i>") if b["capped"] else ""
        verdicts = " &nbsp; ".join(f"{'✅' if ok else '❌'} {html.escape(name)}"
                                   for name, ok in self.result["fits"].items())
        self.summary.value = (
            f"<b>{html.escape(spec.name)}</b> in {self.dtype.value}: weights {human_bytes(b['weights'])} + "
            f"KV cache {human_bytes(b['kv_cache'])} + activations {human_bytes(b['activations'])} = "
            f"<b>{human_bytes(b['total'])}</b>{note}<br>{verdicts}")
        self._draw(spec.name, b)

    def _draw(self, name: str, b: dict):
        self.plot.clear_output(wait=True)
        with self.plot:
            fig, ax = plt.subplots(figsize=(7, 2.6))
            self.figure = fig
            left = 0.0
            for part, color in (("weights", "#4c9be8"), ("kv_cache", "#e8884c"), ("activations", "#999999")):
                ax.barh(0, b[part] / 1e9, left=left, color=color, label=part.replace("_", " "))
                left += b[part] / 1e9
            devices = list(MACHINES)
            ax.barh(range(1, len(devices) + 1), [MACHINES[d][0] / 1e9 for d in devices],
                    color=["#c9f0c1" if ok else "#f7c8d9" for ok in self.result["fits"].values()])
            ax.set_yticks(range(len(devices) + 1), [name] + devices, fontsize=8)
            ax.set_xscale("log")
            ax.set_xlim(min(b["total"] / 1e9 / 3, 0.5), 200)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("GB (log scale); devices green where the model fits")
            ax.legend(fontsize=7, loc="lower right")
            fig.tight_layout()
            display(fig)
            plt.close(fig)  # shown once, in the Output widget

    def _ipython_display_(self):
        display(self.widget)
