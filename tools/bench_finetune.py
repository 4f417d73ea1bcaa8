"""Fine-tuning throughput and peak memory: full vs LoRA, float32 vs bfloat16 autocast, on the course models,
all measured in the same run (lesson 08).

    python tools/bench_finetune.py                    # course-small and course-large, 2 threads
    python tools/bench_finetune.py --steps 12 --threads 1

Each setting runs in a fresh child process (a process's peak resident memory only goes up, so settings measured
one after another in one process would hide each other's peaks): it loads the model, warms every code path up on
course-tiny, then fine-tunes a copy on bank chats (batch 16 × 128 tokens, the lesson's setting) for ``--steps``
steps (a quarter of that in bfloat16, which CPUs without bf16 matrix units run far slower). tokens/s counts training steps only (``History.tokens_per_s``); peak is the extra resident memory of the
run over the loaded model (``measure.peak_memory``), next to ``training_memory``'s estimate. Figures, not
pass/fail: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from course_utils.finetune import EvalSet, FinetuneConfig, adaptable_copy, finetune  # noqa: E402
from course_utils.loading import load_model  # noqa: E402
from course_utils.measure import peak_memory  # noqa: E402
from course_utils.tables import text_table  # noqa: E402


def measure(name: str, method: str, precision: str, steps: int, threads: int) -> dict:
    """One setting, in this process (the child's side)."""
    from course_utils.training_memory import training_memory

    docs = EvalSet.make(n_test=10, n_general=10).train
    tiny = load_model("course-tiny")
    finetune(adaptable_copy(tiny.model), tiny.tokenizer, docs, FinetuneConfig(method=method, steps=1,
             precision=precision, threads=threads), progress=False)
    lm = load_model(name)
    cfg = FinetuneConfig(method=method, steps=steps, precision=precision, threads=threads)
    (_, hist), peak = peak_memory(finetune, adaptable_copy(lm.model), lm.tokenizer, docs, cfg, progress=False)
    estimate = training_memory(name, method="full" if method == "full" else "lora", batch=cfg.batch_size,
                               seq_len=cfg.block_size, dtype="float32" if hist.precision == "float32" else "bfloat16")
    return {"model": name, "method": method, "precision": hist.precision, "tokens/s": hist.tokens_per_s,
            "s/step": hist.wall_s / len(hist.steps), "peak MB": peak / 1e6, "estimate MB": estimate.total / 1e6}


def in_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", *map(str, args)], capture_output=True, text=True,
                         check=True, env={**os.environ, "TQDM_DISABLE": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["course-small", "course-large"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", nargs=5, metavar=("MODEL", "METHOD", "PRECISION", "STEPS", "THREADS"),
                        help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args()
    if args.one:
        name, method, precision, steps, threads = args.one
        print(json.dumps(measure(name, method, precision, int(steps), int(threads))))
        return
    rows = []
    for name in args.models:
        for method in ("full", "lora"):
            for precision in ("float32", "bfloat16"):
                steps = args.steps if precision == "float32" else max(2, args.steps // 4)  # bf16 can be slow on CPU
                rows.append(in_child(name, method, precision, steps, args.threads))
                print(text_table(rows[-1:], digits=2), flush=True)
    base = {(r["model"], r["method"]): r["tokens/s"] for r in rows if r["precision"] == "float32"}
    for r in rows:
        r["vs float32 full"] = r["tokens/s"] / base[(r["model"], "full")]
    print(f"\ntorch {torch.__version__}, {args.threads} threads, {args.steps} float32 / "
          f"{max(2, args.steps // 4)} bfloat16 steps per run\n")
    print(text_table(rows, digits=2))


if __name__ == "__main__":
    main()
