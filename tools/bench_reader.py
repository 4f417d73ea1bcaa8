"""Can a course model learn to read its prompt? The retrieval section of lesson 13 found that neither course model
copies a number from a retrieved message (0 of 100, even given the right one). This benchmark tries to teach
course-small to copy, and measures the same oracle questions (the right message in the prompt) as it trains:

    python tools/bench_reader.py                  # about 10 min on 2 cores
    python tools/bench_reader.py --runs email --steps 600

Runs (block 192, batch 16, bfloat16 autocast, 2 threads):
- email: course-small fine-tuned on email threads only, whose replies quote their message (copying pays);
- email+repeats: the same, half the stream replaced by random token sequences repeated once ([s] x x [/s]), the
  classic task on which induction heads form;
- repeats, from scratch: course-small's architecture from random weights, on the repeats alone, scored on the
  repeats (share of second-half tokens predicted exactly).
Printed, not asserted: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from course_utils import retrieval  # noqa: E402
from course_utils.corpus import generate  # noqa: E402
from course_utils.distillation import fresh_student  # noqa: E402
from course_utils.loading import load_model  # noqa: E402
from course_utils.training import TrainConfig, encode_texts, train  # noqa: E402


def repeats(n_tokens: int, vocab: int, bos: int, eos: int, seed: int) -> torch.Tensor:
    """Random sequences of 10-39 tokens, each repeated once: [bos] x x [eos], about ``n_tokens`` in all."""
    g = torch.Generator().manual_seed(seed)
    parts, total = [], 0
    while total < n_tokens:
        x = torch.randint(10, vocab, (int(torch.randint(10, 40, (1,), generator=g)),), generator=g)
        parts.append(torch.cat([torch.tensor([bos]), x, x, torch.tensor([eos])]))
        total += len(parts[-1])
    return torch.cat(parts)


@torch.no_grad()
def copied_share(model, stream: torch.Tensor, bos: int) -> float:
    """Share of the second copies' tokens (after their first) that the model predicts exactly."""
    starts = (stream == bos).nonzero().flatten().tolist() + [len(stream)]
    ok = total = 0
    for a, b in zip(starts[:40], starts[1:41]):
        seq = stream[a:b - 1]  # [bos] x x
        n = (len(seq) - 1) // 2
        pred = model(seq[None, :-1]).logits[0].argmax(-1)
        ok += int((pred[n + 1:] == seq[n + 2:]).sum())
        total += n - 1
    return ok / total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="*", default=["email", "email+repeats", "repeats"],
                    choices=["email", "email+repeats", "repeats"])
    ap.add_argument("--steps", type=int, default=900)
    args = ap.parse_args()
    base = load_model("course-slm")
    tok = base.tokenizer
    bos, eos, vocab = tok.bos_token_id, tok.eos_token_id, len(tok)
    box = retrieval.mailbox(200)
    questions = box.questions[:100]
    hits = [[retrieval.Hit(q.message, 1.0, box.messages[q.message])] for q in questions]
    prompts = [retrieval.retrieval_prompt(q, h, tok) for q, h in zip(questions, hits)]
    answers = [q.answer for q in questions]
    email = encode_texts(tok, [d.text for d in generate("email", 3000, seed=77)])
    val = encode_texts(tok, [d.text for d in generate("email", 100, seed=78)])
    held_out_repeats = repeats(4000, vocab, bos, eos, seed=1)
    cfg = TrainConfig(steps=args.steps, batch_size=16, block_size=192, lr=3e-3, eval_every=max(1, args.steps // 6),
                      threads=2, precision="bfloat16", bos_id=bos)
    for run in args.runs:
        if run == "repeats":
            model, stream = fresh_student("course-small"), repeats(len(email), vocab, bos, eos, seed=0)
        else:
            model, stream = copy.deepcopy(base.model), email
            if run == "email+repeats":  # alternate 2,000-token chunks of email and repeats
                rep = repeats(len(email), vocab, bos, eos, seed=0)
                stream = torch.cat([c for i in range(0, len(email), 2000) for c in (email[i:i + 2000],
                                                                                   rep[i:i + 2000])])
        lm = dataclasses.replace(base, model=model)
        start = time.perf_counter()

        def report(hist, lm=lm, run=run):
            step = hist.steps[-1] if hist.steps else 0
            quoted = sum(retrieval.answered(lm, prompts, answers)) / len(prompts)
            print(f"  {run:14s} step {step:5d} ({time.perf_counter() - start:4.0f} s): numbers quoted given the right "
                  f"message {quoted:.0%}, repeats copied {copied_share(model, held_out_repeats, bos):.1%}", flush=True)

        train(model, stream, val if run != "repeats" else None, cfg, callback=report, progress=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
