"""Lesson 13's groundwork benchmark: small and large together, each method against its baseline in the same run.

    python tools/bench_together.py                 # course-small with course-large, offline
    python tools/bench_together.py --skip distillation

Printed:
- speculative decoding (course-small drafts for course-large), per domain and k: acceptance rate, tokens per
  target forward pass, wall-clock speedup against course-large's own cached greedy decoding (1 thread);
- a cascade on helpdesk categories (course-small, then course-medium, first): the threshold tuned on the validation tickets to match course-large's
  accuracy at the lowest cost (measured seconds per ticket), then checked on the test tickets;
- the same at real sizes: one draft pass ÷ one target pass for SmolLM2-135M and SmolLM2-1.7B (from config, random
  weights, bfloat16), and the speedup the course pair's tokens per pass would give at that cost ratio;
- distillation: course-small's architecture trained from scratch on course-large's distributions vs on the data
  alone (same batches and steps), bits/char on fresh documents against the teacher and the floor, per FLOP; then
  the data-alone control again with the distilled run's FLOPs (more steps).
Figures, not pass/fail: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from course_utils import cascade, distillation, speculative  # noqa: E402
from course_utils.corpus import generate, helpdesk_task, make_splits  # noqa: E402
from course_utils.loading import load_model  # noqa: E402
from course_utils.training import TrainConfig, encode_texts  # noqa: E402


def bench_speculative(small, large, n_prompts: int, new_tokens: int) -> dict[str, list[dict]]:
    """The sweep per domain; returns its rows, {domain: [row per k]}."""
    tok = large.tokenizer
    out = {}
    for domain in ("weather", "recipe", "helpdesk", "story", "review"):
        prompts = [tok(d.text[:60], return_tensors="pt")["input_ids"] for d in generate(domain, n_prompts, seed=9)]
        rows = speculative.speedup_sweep(large.model, small.model, prompts, ks=(1, 2, 4, 8),
                                         max_new_tokens=new_tokens)
        print(f"  {domain:9s} " + " | ".join(f"k={r['k']}: accept {r['acceptance']:.2f}, "
                                             f"{r['tokens per target forward']:.2f} tok/pass, {r['speedup']:.2f}×"
                                             for r in rows))
        out[domain] = rows
    return out


def bench_real_sizes(threads: int, new_tokens: int, measured: list[dict] | None) -> None:
    """The cost ratio c = draft pass ÷ target pass at real sizes (random weights: speed only), and the speedup the
    course pair's tokens per pass, ``measured`` above (one domain's rows), would give there."""
    torch.set_num_threads(threads)
    ids = torch.tensor([[1] + list(range(100, 131))])
    speed = speculative.from_config_speeds(("SmolLM2-135M", "SmolLM2-1.7B"), ids, new_tokens, repeats=2)
    c = speed["SmolLM2-1.7B"] / speed["SmolLM2-135M"]
    print(f"  decode, bfloat16, {threads} threads (random weights): SmolLM2-135M {speed['SmolLM2-135M']:.1f} tokens/s, "
          f"SmolLM2-1.7B {speed['SmolLM2-1.7B']:.1f}: one draft pass costs c = {c:.3f} target passes")
    for r in measured or []:
        tpf = r["tokens per target forward"]
        print(f"  at {tpf:.2f} tokens per target pass (k = {r['k']}, the course pair on weather): predicted "
              f"speedup {speculative.predicted_speedup(tpf, r['k'], c):.2f}×")
    torch.set_num_threads(1)


def bench_cascade(small, large) -> None:
    print(f"  {small.info.name} first, {large.info.name} when unsure:")
    split = helpdesk_task({"val": 300, "test": 300})
    data, cost = {}, {}
    for name in ("val", "test"):
        first, second = cascade.score_labels(small, split[name]), cascade.score_labels(large, split[name])
        data[name], cost[name] = cascade.pair_data(first, second), (first.seconds_per_example,
                                                                    second.seconds_per_example)
    cs, cl = cost["val"]
    pick = cascade.cheapest_matching(cascade.cascade_curve(data["val"], cs, cl), data["val"].large_accuracy)
    print(f"  time per ticket: {small.info.name} {cs * 1000:.1f} ms, {large.info.name} {cl * 1000:.1f} ms")
    for name in ("val", "test"):
        d = data[name]
        print(f"  {name}: small alone {d.small_accuracy:.3f}, large alone {d.large_accuracy:.3f}", end="")
        if pick is None:
            print("; no threshold reaches the large model's accuracy")
            continue
        p = cascade.at_threshold(d, pick.threshold, cs, cl)
        print(f"; cascade at {pick.threshold:.3f}: accuracy {p.accuracy:.3f}, {p.deferred:.0%} deferred, "
              f"cost {p.cost / cl:.2f}× the large model's")


def bench_distillation(large, steps: int, matched: bool = True) -> None:
    tok = large.tokenizer
    splits = make_splits({"train": 3000, "val": 100, "test": 150})
    train_s = encode_texts(tok, [d.text for d in splits["train"]])
    val_s = encode_texts(tok, [d.text for d in splits["val"]])
    cfg = TrainConfig(steps=steps, batch_size=16, block_size=64, lr=3e-3, eval_every=steps, threads=2,
                      precision="auto", bos_id=tok.bos_token_id)
    runs, students = distillation.distill_vs_data(large.model, "course-small", train_s, val_s, cfg,
                                                  temperature=1.0, alpha=0.5)
    test = splits["test"]
    bpc = distillation.bits_per_char_on({**students, "teacher": large.model}, tok, test)
    teacher, floor = bpc["teacher"], bpc["floor"]
    closed = distillation.gap_closed(bpc["control"], bpc["distilled"], teacher)
    print(f"  {steps} steps × {cfg.batch_size} × {cfg.block_size} tokens ({runs.tokens:,}); wall: distilled "
          f"{runs.distilled.wall_s:.0f} s, control {runs.control.wall_s:.0f} s")
    print(f"  bits/char on {len(test)} fresh documents: distilled {bpc['distilled']:.4f}, data alone "
          f"{bpc['control']:.4f}, teacher {teacher:.4f}, floor {floor:.4f}")
    print(f"  gap to the teacher closed: {closed:.1%}, at {runs.flops('distilled') / runs.flops('control'):.2f}× the "
          f"control's training FLOPs (teacher forward passes included): {closed / runs.flops('distilled') * 1e12:.3f} "
          f"of the gap per TFLOP")
    if matched:  # the control again, given the distilled run's compute: more steps on the data alone
        from course_utils.training import train

        more = round(steps * runs.flops("distilled") / runs.flops("control"))
        student = distillation.fresh_student("course-small")
        hist = train(student, train_s, val_s, TrainConfig(**{**cfg.__dict__, "steps": more, "eval_every": more}),
                     progress=False)
        matched_bpc = distillation.bits_per_char_on({"matched": student}, tok, test)["matched"]
        print(f"  the data alone with the same FLOPs ({more} steps, {hist.wall_s:.0f} s): {matched_bpc:.4f} bits/char "
              f"against {bpc['distilled']:.4f} distilled")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip", nargs="*", default=[], choices=["speculative", "real-sizes", "cascade", "distillation"])
    ap.add_argument("--threads", type=int, default=2, help="for the real-size timing")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    small, large = load_model("course-slm"), load_model("course-llm")
    torch.set_num_threads(1)
    sweep = {}
    if "speculative" not in args.skip:
        print("speculative decoding, course-small drafting for course-large (1 thread):")
        sweep = bench_speculative(small, large, args.prompts, args.new_tokens)
    if "real-sizes" not in args.skip:
        print("speculative decoding at real sizes (SmolLM2-135M drafting for SmolLM2-1.7B, from config):")
        bench_real_sizes(args.threads, 16, sweep.get("weather"))
    if "cascade" not in args.skip:
        print("cascade on helpdesk categories (tuned on val, checked on test):")
        bench_cascade(small, large)
        bench_cascade(load_model("course-medium"), large)
    if "distillation" not in args.skip:
        print("distillation into course-small's architecture, from scratch:")
        bench_distillation(large, args.steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
