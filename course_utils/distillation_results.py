"""Lesson 13's full distillation run, by a command, shipped as a small results file (the lesson's live run is short).

    python -m course_utils distill                  # about 12 minutes on 2 cores
    python -m course_utils distill --steps 300      # shorter

Every run trains course-small's architecture from scratch on the same batches (the same config and seed), with
course-large as the teacher: the data alone (the control); distilled at T = 1, 2 and 4 with half the loss from the
teacher (alpha = 0.5), and at T = 2 from the teacher alone (alpha = 1); and the data alone again, given as many
training FLOPs as a distilled run (more steps). Each run's bits/char on fresh test documents, its training FLOPs
(the teacher's forward passes included) and its wall time go to ``models/distillation/results.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from course_utils import MODELS_DIR
from course_utils.results_file import read_results, run_metadata

RESULTS_DIR = MODELS_DIR / "distillation"
FORMAT = 1
COMMAND = "python -m course_utils distill"
SETTINGS = ({"temperature": 1.0, "alpha": 0.5}, {"temperature": 2.0, "alpha": 0.5},
            {"temperature": 4.0, "alpha": 0.5}, {"temperature": 2.0, "alpha": 1.0})


def run_sweep(steps: int = 600, settings=SETTINGS, *, n_train: int = 3000, n_test: int = 200, threads: int = 2,
              out: Path = RESULTS_DIR, progress: bool = True) -> dict:
    """The control, each distillation setting, and the FLOP-matched control; written to ``out``/results.json."""
    from course_utils.corpus import make_splits
    from course_utils.distillation import DistillationLoss, bits_per_char_on, fresh_student, run_flops
    from course_utils.loading import load_model
    from course_utils.training import TrainConfig, encode_texts, train

    start = time.time()
    teacher = load_model("course-llm")
    tok = teacher.tokenizer
    splits = make_splits({"train": n_train, "val": 100, "test": n_test})
    train_s = encode_texts(tok, [d.text for d in splits["train"]])
    val_s = encode_texts(tok, [d.text for d in splits["val"]])
    cfg = TrainConfig(steps=steps, batch_size=16, block_size=64, lr=3e-3, eval_every=max(1, steps // 10),
                      threads=threads, precision="auto", bos_id=tok.bos_token_id)
    n_teacher = sum(p.numel() for p in teacher.model.parameters())
    runs = []

    def run(label, config, loss=None, **setting):
        student = fresh_student("course-small")
        print(f"{label} …", flush=True)
        hist = train(student, train_s, val_s, config, progress=progress, loss_fn=loss)
        n_student = sum(p.numel() for p in student.parameters())
        row = {"run": label, **setting, "steps": config.steps, "tokens": hist.tokens,
               "bits_per_char": bits_per_char_on({"student": student}, tok, splits["test"])["student"],
               "flops": run_flops(n_student, hist.tokens, n_teacher if loss is not None else 0),
               "wall_s": round(hist.wall_s, 1), "val_steps": hist.val_steps,
               "val_loss": [round(v, 4) for v in hist.val_loss]}
        print(f"    {row['bits_per_char']:.4f} bits/char, {row['flops']:.3g} FLOPs, {row['wall_s']:.0f} s", flush=True)
        runs.append(row)
        return row

    control = run("data alone", cfg)
    for s in settings:
        run(f"distilled, T = {s['temperature']:g}, alpha = {s['alpha']:g}", cfg,
            DistillationLoss(teacher.model, s["temperature"], s["alpha"]), **s)
    matched = round(steps * max(r["flops"] for r in runs) / control["flops"])
    run("data alone, a distilled run's FLOPs", TrainConfig(**{**cfg.__dict__, "steps": matched,
                                                                 "eval_every": max(1, matched // 10)}))
    reference = bits_per_char_on({"teacher": teacher.model}, tok, splits["test"])
    results = {"format": FORMAT, **run_metadata(COMMAND), "minutes": round((time.time() - start) / 60, 1),
               "config": {"steps": steps, "batch_size": cfg.batch_size, "block_size": cfg.block_size, "lr": cfg.lr,
                          "threads": threads, "train_docs": n_train, "test_docs": n_test},
               "teacher": {"name": teacher.info.name, "params": n_teacher,
                           "bits_per_char": reference["teacher"]},
               "floor_bits_per_char": reference["floor"], "runs": runs}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out / 'results.json'} ({results['minutes']} min)")
    return results


def load_results(path: Path | None = None) -> dict | None:
    """The shipped results, or None with a one-line reason printed (missing, corrupt, older format)."""
    return read_results(Path(path or RESULTS_DIR / "results.json"), what="distillation", command=COMMAND,
                        fmt=FORMAT, key="runs")


def results_table(results: dict) -> list[dict]:
    """One row per run: bits/char, its share of the control–teacher gap closed, FLOPs against the control's."""
    from course_utils.distillation import gap_closed

    control = results["runs"][0]
    teacher = results["teacher"]["bits_per_char"]
    return [{"run": r["run"], "steps": r["steps"], "bits/char": f"{r['bits_per_char']:.4f}",
             "gap closed": f"{gap_closed(control['bits_per_char'], r['bits_per_char'], teacher):.0%}",
             "FLOPs ÷ control": f"{r['flops'] / control['flops']:.2f}", "wall (s)": f"{r['wall_s']:.0f}"}
            for r in results["runs"]]


def plot_results(results: dict, ax=None):
    """Bits/char against training FLOPs per run, with the teacher and the floor as lines."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    for r in results["runs"]:
        data_only = r["run"].startswith("data alone")
        ax.plot(r["flops"], r["bits_per_char"], "s" if data_only else "o", ms=8, label=r["run"],
                color="tab:gray" if data_only else None)
    ax.axhline(results["teacher"]["bits_per_char"], color="tab:red", ls="--",
               label=f"teacher ({results['teacher']['name']})")
    ax.axhline(results["floor_bits_per_char"], color="k", ls=":", label="floor (the generator's entropy)")
    ax.set(xscale="log", xlabel="training FLOPs (teacher passes included)", ylabel="bits/char on fresh documents",
           title="Distillation against the data alone, per FLOP")
    ax.legend(fontsize=7, loc="upper right")
    return ax


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of ``python -m course_utils distill``."""
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)


def run_from_args(args: argparse.Namespace) -> int:
    import sys

    if args.steps < 10:
        print("--steps: use at least 10 steps (600 is the shipped run).")
        return 2
    run_sweep(args.steps, threads=args.threads, out=args.out, progress=sys.stderr.isatty())
    return 0
