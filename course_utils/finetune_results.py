"""The full fine-tuning grid of lesson 08, run by a command and shipped as a small results file.

    python -m course_utils finetune                 # the whole grid (about an hour on 2 cores)
    python -m course_utils finetune --sizes 50 200  # part of it

It writes ``models/finetune/results.json`` (every contender's numbers, the configs, the machine and the
sha256 of the models it started from) and the LoRA adapters of the largest data size as safetensors
(``models/finetune/adapters/*.safetensors``, with their sha256 in the results). The lesson reads this file
for the rows it does not train live, and says which numbers are which.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import fields
from pathlib import Path

from course_utils import MODELS_DIR
from course_utils.errors import CourseError
from course_utils.finetune import (DATA_SIZES, METHODS, Contender, EvalSet, FinetuneConfig, few_shot_for,
                                   measure_contender, run_contender)
from course_utils.results_file import read_results, run_metadata

RESULTS_DIR = MODELS_DIR / "finetune"
FORMAT = 1
GRID_MODELS = ("course-small", "course-large")


class ResultsFileError(CourseError):
    pass


def model_hashes(name: str) -> dict[str, str]:
    """The sha256 of the model's weights as the zoo manifest records them."""
    from course_utils.catalog import read_manifest

    for m in (read_manifest() or {}).get("models", []):
        if m["name"] == name:
            return {k: v for k, v in m.get("files", {}).items() if k.endswith(".safetensors")}
    return {}


def general_contenders(data: EvalSet, models=GRID_MODELS) -> list[Contender]:
    """The shipped models, untouched: zero-shot, and the large one with worked examples in its prompt."""
    from course_utils.loading import load_model

    rows = []
    for name in models:
        lm = load_model(name)
        rows.append(measure_contender(f"{name}, as shipped (zero-shot)", name, lm.model, lm.tokenizer, data,
                                      method="as shipped"))
    lm = load_model(models[-1])
    prefix, k = few_shot_for(lm.model, lm.tokenizer, data)
    if k:
        rows.append(measure_contender(f"{models[-1]}, {k}-shot in the prompt", models[-1], lm.model, lm.tokenizer,
                                      data, method="few-shot", prefix=prefix, shots=k))
    return rows


def run_grid(models=GRID_MODELS, methods=("full", "lora"), sizes=DATA_SIZES, *, peft_check: bool = True,
             out: Path = RESULTS_DIR, progress: bool = True, data: EvalSet | None = None) -> dict:
    """Every (model, method, data size) of the grid; adapters of the largest size saved as safetensors."""
    from course_utils.loading import load_model
    from course_utils.lora import save_adapter
    from course_utils.zoo.manifest import sha256

    out = Path(out)
    (out / "adapters").mkdir(parents=True, exist_ok=True)
    data = data or EvalSet.make()
    start = time.time()
    rows = general_contenders(data, models)
    runs = [(m, meth, n) for m in models for meth in methods for n in sizes]
    if peft_check and "lora" in methods:  # the library's LoRA on the same run as ours
        runs += [(m, "peft", max(sizes)) for m in models]
    configs, adapters = {}, {}
    for i, (name, method, n) in enumerate(runs, 1):
        cfg = FinetuneConfig(method=method, n_docs=n, threads=os.cpu_count() and min(2, os.cpu_count()))
        print(f"[{i}/{len(runs)}] {name} {method} on {n} documents", flush=True)
        lm = load_model(name)
        row, model = run_contender(lm, data, cfg, progress=progress)
        rows.append(row)
        if method == "lora" and n == max(sizes):
            folder = save_adapter(model, out / "adapters" / f"{name}-bank-r{cfg.lora_rank}")
            adapters[row.name] = {"path": folder.relative_to(out).as_posix(),
                                  "sha256": sha256(folder / "adapter.safetensors"),
                                  "bytes": (folder / "adapter.safetensors").stat().st_size}
        configs[row.name] = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
        print(f"    accuracy {row.accuracy:.3f}, domain {row.domain_bpc:.4f} bits/char, general "
              f"{row.general_bpc:.4f}, {row.wall_s:.0f} s", flush=True)
    results = {
        "format": FORMAT,
        **run_metadata("python -m course_utils finetune"),
        "minutes": round((time.time() - start) / 60, 1),
        "floors": {"domain_bits_per_char": data.domain_floor, "general_bits_per_char": data.general_floor,
                   "bayes_accuracy": data.bayes_accuracy},
        "eval": {"domain_test_docs": len(data.domain_test), "general_docs": len(data.general)},
        "models": {m: model_hashes(m) for m in models},
        "configs": configs,
        "contenders": [r.row() | {"loss_curve": _curve(r)} for r in rows],
        "adapters": adapters,
    }
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {path} ({results['minutes']} min)")
    return results


def _curve(row: Contender, points: int = 40) -> dict:
    """The training loss, thinned to ``points`` values (the file stays small)."""
    h = row.history
    if not h.get("steps"):
        return {}
    stride = max(1, len(h["steps"]) // points)
    return {"steps": h["steps"][::stride], "train_loss": [round(x, 4) for x in h["train_loss"][::stride]]}


def load_results(path: Path | None = None) -> dict | None:
    """The shipped results, or None with a one-line reason printed (missing, corrupt, older format)."""
    return read_results(Path(path or RESULTS_DIR / "results.json"), what="fine-tuning",
                        command="python -m course_utils finetune", fmt=FORMAT, key="contenders")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of ``python -m course_utils finetune``."""
    parser.add_argument("--models", nargs="+", default=list(GRID_MODELS))
    parser.add_argument("--methods", nargs="+", default=["full", "lora"], choices=[m for m in METHODS if m != "peft"])
    parser.add_argument("--sizes", nargs="+", type=int, default=list(DATA_SIZES))
    parser.add_argument("--no-peft", action="store_true", help="skip the peft run next to the course's LoRA")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)


def run_from_args(args: argparse.Namespace) -> int:
    import sys

    run_grid(args.models, args.methods, args.sizes, peft_check=not args.no_peft, out=args.out, progress=sys.stderr.isatty())
    return 0


# ----------------------------------------------------------------------------- reading the grid

GENERAL_METHODS = ("as shipped", "few-shot")


def best_general(contenders: list[dict]) -> dict:
    """The most accurate contender that was not trained on the domain (the bar fine-tuning must clear)."""
    general = [c for c in contenders if c["method"] in GENERAL_METHODS]
    if not general:
        raise ResultsFileError("the results hold no general (untrained) contender to compare with")
    return max(general, key=lambda c: c["accuracy"])


def sweep(contenders: list[dict], model: str, method: str) -> list[dict]:
    """One (model, method) curve of the data-efficiency sweep, by number of documents."""
    return sorted((c for c in contenders if c["model"] == model and c["method"] == method), key=lambda c: c["n_docs"])


def docs_to_beat(contenders: list[dict], model: str, method: str, target: float) -> int | None:
    """The fewest fine-tuning documents (of those tried) with which ``model`` beats accuracy ``target``."""
    return next((c["n_docs"] for c in sweep(contenders, model, method) if c["accuracy"] > target), None)


def plot_data_efficiency(results: dict, ax=None):
    """Intent accuracy against fine-tuning documents for every (model, method), with the best general
    contender and the Bayes accuracy as lines."""
    import matplotlib.pyplot as plt

    contenders = results["contenders"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    styles = {"full": "-", "lora": "--", "peft": ":"}
    for model in results["models"]:
        for method in ("full", "lora"):
            pts = sweep(contenders, model, method)
            if pts:
                ax.plot([p["n_docs"] for p in pts], [p["accuracy"] for p in pts], styles[method], marker="o",
                        label=f"{model}, {'all weights' if method == 'full' else 'LoRA'}")
    bar = best_general(contenders)
    ax.axhline(bar["accuracy"], color="grey", ls="-.", label=f"best untrained: {bar['name']}")
    ax.axhline(results["floors"]["bayes_accuracy"], color="black", ls=":", label="Bayes accuracy (the best possible)")
    ax.set_xscale("log")
    ax.set_xlabel("fine-tuning documents (bank chats)")
    ax.set_ylabel("intent accuracy (test chats)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("How much domain data does each model need?")
    return ax


def plot_forgetting(results: dict, n_docs: int = 2000, ax=None) -> list[dict]:
    """General-mix bits/char of each model as shipped and after fine-tuning on ``n_docs`` chats (all weights and
    LoRA), against the floor; returns the rows drawn (name, before, after)."""
    import matplotlib.pyplot as plt

    rows = results["contenders"]
    shipped = {c["model"]: c["general_bpc"] for c in rows if c["method"] == "as shipped"}
    tuned = [c for c in rows if c["method"] in ("full", "lora") and c["n_docs"] == n_docs]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    x = range(len(tuned))
    ax.bar(x, [shipped[c["model"]] for c in tuned], width=0.4, label="as shipped")
    ax.bar([i + 0.4 for i in x], [c["general_bpc"] for c in tuned], width=0.4,
           label=f"after fine-tuning on {n_docs:,} bank chats")
    ax.axhline(results["floors"]["general_bits_per_char"], color="black", ls=":", label="entropy floor")
    ax.set_xticks([i + 0.2 for i in x],
                  [f"{c['model']}\n{'all weights' if c['method'] == 'full' else 'LoRA'}" for c in tuned], fontsize=8)
    ax.set_ylabel("general-mix bits/char")
    ax.legend(fontsize=8)
    return [{"name": c["name"], "before": shipped[c["model"]], "after": c["general_bpc"]} for c in tuned]


def plot_cost_vs_quality(contenders: list[dict], ax=None):
    """Accuracy against training FLOPs (log scale): each fine-tuned contender a point, labelled."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    markers = {"full": "o", "lora": "s", "peft": "x"}
    for c in contenders:
        if c["method"] in markers:
            ax.scatter(c["train_flops"], c["accuracy"], marker=markers[c["method"]],
                       color="tab:orange" if "large" in c["model"] else "tab:blue")
            ax.annotate(f"{c['n_docs']}", (c["train_flops"], c["accuracy"]), fontsize=7,
                        textcoords="offset points", xytext=(4, 2))
    bar = best_general(contenders)
    ax.axhline(bar["accuracy"], color="grey", ls="-.", label=f"best untrained ({bar['name']})")
    ax.scatter([], [], color="tab:blue", label="course-small")
    ax.scatter([], [], color="tab:orange", label="course-large")
    for method, m in markers.items():
        ax.scatter([], [], marker=m, color="grey", label={"full": "all weights", "lora": "LoRA (ours)",
                                                          "peft": "LoRA (peft)"}[method])
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (estimate: 6·N·T full, 4·N·T LoRA)")
    ax.set_ylabel("intent accuracy")
    ax.legend(fontsize=7)
    ax.set_title("Quality against training cost (numbers next to points: documents)")
    return ax


def estimated_training_bytes(contender: dict, results: dict) -> int:
    """``training_memory``'s estimate for a grid run's settings. (The peak resident memory a long-running
    process sees is no measure of one run: freed memory stays with the allocator. tools/bench_finetune.py
    measures each setting in a fresh process instead.)"""
    from course_utils.training_memory import training_memory

    cfg = results["configs"][contender["name"]]
    return training_memory(contender["model"], method="full" if contender["method"] == "full" else "lora",
                           batch=cfg["batch_size"], seq_len=cfg["block_size"], r=cfg["lora_rank"]).total


def results_markdown(results: dict) -> str:
    """The shipped grid as a markdown table (docs/fine_tuning.md shows it; a test keeps the two in step)."""
    head = ("| contender | intent accuracy | domain bits/char | general bits/char | trainable | steps | wall s | "
            "training memory (estimate) | training FLOPs (estimate) |")
    rows = [head, "|" + "---|" * 9]
    for c in results["contenders"]:
        memory = f"{estimated_training_bytes(c, results) / 1e6:.0f} MB" if c["train_tokens"] else "–"
        rows.append(f"| {c['name']} | {c['accuracy']:.3f} | {c['domain_bpc']:.4f} | {c['general_bpc']:.4f} | "
                    f"{c['trainable']:,} | {c['steps']} | {c['wall_s']:.0f} | {memory} | {c['train_flops']:.2g} |")
    f = results["floors"]
    rows.append("")
    rows.append(f"Floors: domain {f['domain_bits_per_char']:.4f} bits/char, general mix "
                f"{f['general_bits_per_char']:.4f}; Bayes accuracy {f['bayes_accuracy']:.3f} "
                f"({results['eval']['domain_test_docs']} test chats, {results['eval']['general_docs']} general documents).")
    return "\n".join(rows)


def with_shipped_adapter(lm, results: dict | None = None):
    """A copy of ``lm`` (a loaded course model) with the grid's shipped LoRA adapter for it: fine-tuned on the
    bank chats, the largest data size. The shipped model itself is left as it was."""
    import copy
    import dataclasses

    from course_utils.lora import load_adapter

    results = results or load_results()
    if results is None:
        raise ResultsFileError("the fine-tuning results are missing: run `python -m course_utils finetune`.")
    found = [a for name, a in results.get("adapters", {}).items() if name.startswith(f"{lm.info.name}, LoRA")]
    if not found:
        raise ResultsFileError(f"no shipped adapter for {lm.info.name}; the grid saved adapters for "
                               f"{', '.join(results.get('adapters', {})) or 'no model'}.")
    model = load_adapter(copy.deepcopy(lm.model), RESULTS_DIR / found[0]["path"])
    return dataclasses.replace(lm, model=model)
