"""Arena overhead: tokens/s and time to first visible token through the arena widget vs plain
``model.generate`` on the same model and prompt, measured in the same run.

    python tools/bench_arena.py                      # course-slm (or SmolLM2-135M from config)
    python tools/bench_arena.py --model course-llm --tokens 96 --reps 7 --threads 1

Plain: tokenize, then ``model.generate`` with a streamer that only records when the first token
arrives. Arena: ``Arena.run(wait=True)`` from the "click" — model lookup (cached), settings check,
worker threads, queue, decoding and widget rendering; the first token counts when its text has
been written into the output widget. Both sides of the arena hold the same model and run one
after another, so each is timed alone. Greedy decoding; medians over ``--reps`` alternating runs.
Figures, not pass/fail: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from course_utils import MODELS_DIR  # noqa: E402
from course_utils.arena import LocalSide  # noqa: E402
from course_utils.catalog import get_spec  # noqa: E402
from course_utils.generation import prepare_generation  # noqa: E402
from course_utils.loading import load_model  # noqa: E402
from course_utils.measure import time_generation  # noqa: E402
from course_utils.widgets.arena import Arena  # noqa: E402

PROMPT = "Weather report for Oslo on a winter Monday.\nIn the morning, expect"


def plain_in_thread(lm, tokens: int) -> tuple[float, float, int]:
    """The same plain generate, called from a worker thread as the arena does: on a busy small
    CPU, torch runs much faster there than in the main thread, which is not the arena's doing."""
    out = []
    t = threading.Thread(target=lambda: out.append(plain(lm, tokens)))
    t.start()
    t.join()
    return out[0]


@torch.no_grad()
def plain(lm, tokens: int) -> tuple[float, float, int]:
    """(tokens/s after the first token, time to first token, tokens) for plain generate."""
    t0 = time.perf_counter()
    prep = prepare_generation(lm, PROMPT, max_new_tokens=tokens, temperature=0.0)
    prepared_s = time.perf_counter() - t0  # tokenizing counts towards the first token, as in the arena
    _, timing = time_generation(lm.model, prep.input_ids, tokens, min_new_tokens=tokens, **prep.generate_kwargs)
    return timing.tokens_per_s, prepared_s + timing.time_to_first_token_s, timing.n_new_tokens


def through_arena(box: Arena) -> list[tuple[float, float, int]]:
    """The same, per side, through the widget's Run button."""
    t0 = time.perf_counter()
    run = box.run(wait=True)
    out = []
    for r in run.results:
        assert not r.error, r.error
        out.append((r.timing.tokens_per_s, r.t_first_visible - t0 if r is run.results[0] else
                    r.t_first_visible - r.t_start, r.n_tokens))
    return out


def resolve(name: str) -> str:
    """A catalog name, or a model folder; before the course models are all built, the largest
    trained course model folder there is (random weights would print no visible text)."""
    if (Path(name) / "config.json").exists():
        return name
    spec = get_spec(name)
    if not spec.is_course_model or spec.available_offline:
        return name
    folders = sorted((p.parent for p in MODELS_DIR.glob("*/config.json") if any(p.parent.glob("*.safetensors"))),
                     key=lambda d: sum(f.stat().st_size for f in d.glob("*.safetensors")))
    if not folders:
        raise SystemExit(f"{name} is not built yet and models/ has no trained model folder.")
    print(f"{name} is not built yet: using {folders[-1]}")
    return str(folders[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="course-slm")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    name = resolve(args.model)
    lm = load_model(name)
    print(f"model: {lm.info.summary()}")
    print(f"torch threads: {torch.get_num_threads()}, prompt: {PROMPT!r}, {args.tokens} new tokens, greedy")

    box = Arena(models=[], pair=(name, name), prompt=PROMPT, max_new_tokens=args.tokens, temperature=0.0,
                schedule="one after another")
    box.side = lambda i: LocalSide(lm, min_new_tokens=args.tokens)  # exactly --tokens, like plain
    plain(lm, args.tokens)  # warm up every path
    plain_in_thread(lm, args.tokens)
    through_arena(box)
    runs = {"plain generate (main thread)": [], "plain generate (worker thread)": [], "arena": []}
    for _ in range(args.reps):  # alternate, so a busy moment hits all three alike
        runs["plain generate (main thread)"].append(plain(lm, args.tokens))
        runs["plain generate (worker thread)"].append(plain_in_thread(lm, args.tokens))
        runs["arena"] += through_arena(box)
    assert all(n == args.tokens for rows in runs.values() for _, _, n in rows)
    med = statistics.median
    tps = {k: med(r[0] for r in rows) for k, rows in runs.items()}
    ttft = {k: med(r[1] for r in rows) for k, rows in runs.items()}
    print("\n| path | runs | tokens/s (median) | arena / this | first visible token, ms (median) | arena / this |")
    print("|---|---|---|---|---|---|")
    for k, rows in runs.items():
        print(f"| {k} | {len(rows)} | {tps[k]:.1f} | {tps['arena'] / tps[k]:.3f} | {ttft[k] * 1000:.1f} | "
              f"{ttft['arena'] / ttft[k]:.2f} |")
    for k, rows in runs.items():
        print(f"tokens/s, {k}: {', '.join(f'{r[0]:.1f}' for r in rows)}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
