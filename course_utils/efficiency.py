"""One model in several forms (dtypes, quantized weights) compared on what a user feels (lesson 09): the bytes of
its weights, how fast it decodes and reads a prompt, and how good it stays (bits/char on held-out text, next to
the corpus's entropy floor).

The forms are made elsewhere (``loading`` for dtypes, ``quantize`` from scratch, ``quantize_libraries`` for
torchao and bitsandbytes); this module measures them all the same way, so the table compares like with like.
"""

from __future__ import annotations

import copy
import gc
from dataclasses import dataclass

import psutil
import torch

from course_utils.errors import BadInputError
from course_utils.hardware import Measured
from course_utils.measure import model_memory_bytes
from course_utils.quantize import bits_per_weight, model_packed_bytes, quantize_model
from course_utils.serving import decode_speed, prefill_speed
from course_utils.zoo.evaluate import bits_per_char

FULL_PRECISION_BITS = 32


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One form of a model, measured."""

    name: str
    weight_bytes: int  # as stored: packed codes and scales for quantized layers, tensor bytes otherwise
    decode: Measured  # tokens/s of one sequence
    prefill: Measured  # prompt tokens/s
    bits_per_char: float
    rss_growth: int | None = None  # how much the process grew while this form was built (None: not measured)

    def row(self, baseline: "Variant | None" = None) -> dict:
        r = {"form": self.name, "MB": self.weight_bytes / 1e6, "decode tok/s": self.decode.median,
             "decode range": f"{self.decode.low:.0f}–{self.decode.high:.0f}", "prefill tok/s": self.prefill.median,
             "bits/char": self.bits_per_char,
             "RSS growth MB": "–" if self.rss_growth is None else f"{self.rss_growth / 1e6:.1f}"}
        if baseline is not None:
            r["size ×"] = self.weight_bytes / baseline.weight_bytes
            r["decode ×"] = self.decode.median / baseline.decode.median
            r["quality loss"] = f"{self.bits_per_char / baseline.bits_per_char - 1:+.1%}"
        return r


def measure_variant(name: str, model, tokenizer, docs, prompt_ids: torch.Tensor, long_ids: torch.Tensor, *,
                    weight_bytes: int | None = None, n_new: int = 32, repeats: int = 3,
                    rss_growth: int | None = None) -> Variant:
    """Every figure of the lesson's comparison for one form of a model. ``prompt_ids`` starts the decode runs;
    ``long_ids`` (a long prompt) times prefill. ``weight_bytes`` defaults to the bytes of the model's tensors."""
    return Variant(name=name, weight_bytes=model_memory_bytes(model) if weight_bytes is None else weight_bytes,
                   decode=decode_speed(model, prompt_ids, n_new, repeats=repeats),
                   prefill=prefill_speed(model, long_ids, repeats=repeats),
                   bits_per_char=bits_per_char(model, tokenizer, docs), rss_growth=rss_growth)


def rss_bytes() -> int:
    """This process's resident memory now (after a garbage collection, so freed models are gone)."""
    gc.collect()
    return psutil.Process().memory_info().rss


def bits_sweep(model, tokenizer, docs, bits=(8, 6, 4, 3, 2), group_size: int = 16) -> list[dict]:
    """Bits/char of copies of ``model`` with every Linear quantized from scratch at each bit width (the original
    is untouched), against bits stored per weight. The first row is the model as it is."""
    if not bits:
        raise BadInputError("bits_sweep needs at least one bit width, e.g. bits=(8, 4, 2)")
    rows = [{"bits": FULL_PRECISION_BITS, "bits_per_weight": float(FULL_PRECISION_BITS),
             "weight_bytes": model_memory_bytes(model), "bits_per_char": bits_per_char(model, tokenizer, docs)}]
    for b in bits:
        q = quantize_model(copy.deepcopy(model), bits=b, group_size=group_size)
        rows.append({"bits": b, "bits_per_weight": bits_per_weight(b, group_size),
                     "weight_bytes": model_packed_bytes(q), "bits_per_char": bits_per_char(q, tokenizer, docs)})
        del q
    for r in rows:
        r["loss_vs_full"] = r["bits_per_char"] / rows[0]["bits_per_char"] - 1
    return rows


def plot_bits_sweep(sweeps: dict[str, list[dict]], floor: float | None = None, ax=None):
    """Bits/char against stored bits per weight, one line per model; the entropy floor as a dotted line."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4))[1]
    for label, rows in sweeps.items():
        ax.plot([r["bits_per_weight"] for r in rows], [r["bits_per_char"] for r in rows], "o-", label=label)
    if floor is not None:
        ax.axhline(floor, color="black", ls=":", label="entropy floor (the best any model can do)")
    ax.set(xscale="log", xlabel="bits stored per weight (codes + scales)", ylabel="bits/char on test text",
           title="Quality against bits per weight")
    ticks = sorted({round(r["bits_per_weight"], 2) for rows in sweeps.values() for r in rows})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    return ax


def plot_variants(variants: list[Variant], title: str = "", axes=None):
    """Three bars per form: megabytes of weights, decode tokens/s (with its range) and bits/char."""
    import matplotlib.pyplot as plt

    axes = axes if axes is not None else plt.subplots(1, 3, figsize=(12, 3.5))[1]
    names = [v.name for v in variants]
    axes[0].barh(names, [v.weight_bytes / 1e6 for v in variants])
    axes[0].set(xlabel="MB of weights", title="Memory")
    med = [v.decode.median for v in variants]
    err = [[m - v.decode.low for m, v in zip(med, variants)], [v.decode.high - m for m, v in zip(med, variants)]]
    axes[1].barh(names, med, xerr=err)
    axes[1].set(xlabel="decode tokens/s (median, range)", title="Speed")
    axes[2].barh(names, [v.bits_per_char for v in variants])
    axes[2].set(xlabel="bits/char (lower is better)", title="Quality",
                xlim=(min(v.bits_per_char for v in variants) * 0.95, max(v.bits_per_char for v in variants) * 1.02))
    for ax in axes[1:]:
        ax.set_yticklabels([])
    if title:
        axes[0].figure.suptitle(title, y=1.04)
    return axes
