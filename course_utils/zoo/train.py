"""Train one course model with the course's training loop, and record its scaling grid on the way.

The schedule is warmup-stable-decay (``course_utils.training``, schedule "wsd"). A run of S steps
shares every step before its decay with any longer run, so the model trained for a smaller budget
S_i is had by forking the long run at the start of S_i's decay and decaying the fork: each grid
point is a model trained for exactly that budget, at the cost of its short decay only.
Resumable: the main run is checkpointed to ``workdir/main.pt`` and finished grid points are kept in
``workdir/grid.json``.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from course_utils import training
from course_utils.training import Checkpoint, TrainConfig, decay_start

from .ladder import LadderSpec


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """``<s> text </s>`` token ids for each text (the tokenizer adds ``<s>``)."""
    ids = tokenizer(texts)["input_ids"]
    return [x + [tokenizer.eos_token_id] for x in ids]


def token_stream(encoded: list[list[int]], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All training documents, shuffled with ``seed`` and concatenated: tokens (N,) and the
    offsets where documents start (D,)."""
    order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(seed)).tolist()
    lengths = torch.tensor([len(encoded[i]) for i in order])
    starts = torch.cumsum(lengths, 0) - lengths
    return torch.tensor([t for i in order for t in encoded[i]], dtype=torch.long), starts


def train_config(spec: LadderSpec, bos_id: int | None, steps: int | None = None) -> TrainConfig:
    """The course loop's settings for a ladder model (``steps``: a shorter budget of the same run)."""
    return TrainConfig(steps=steps or spec.steps, batch_size=spec.batch_size, block_size=spec.context, lr=spec.lr,
                       warmup_steps=spec.warmup_steps, schedule="wsd", decay_fraction=spec.decay_fraction,
                       min_lr_ratio=0.0, weight_decay=0.1, grad_clip=1.0, eval_every=10**9, seed=spec.seed,
                       threads=spec.threads, precision=spec.precision, bos_id=bos_id,
                       doc_start_fraction=spec.doc_start_fraction)


def train(model: torch.nn.Module, spec: LadderSpec, stream: tuple[torch.Tensor, torch.Tensor], workdir: Path,
          grid_loss=None, bos_id: int | None = None, checkpoint_every_s: float = 60.0,
          progress: bool = True) -> dict:
    """Train ``model`` in place for ``spec.steps`` steps; ``grid_loss(model) -> bits/char`` is measured
    at each budget of ``spec.grid_steps()`` (no grid if None). Returns the training record."""
    workdir.mkdir(parents=True, exist_ok=True)
    tokens, starts = stream
    main_path, grid_path = workdir / "main.pt", workdir / "grid.json"
    key = json.dumps(spec.to_dict(), sort_keys=True)
    grid: list[dict] = []
    ckpt = None
    if grid_path.exists() and json.loads(grid_path.read_text()).get("spec") == key:
        grid = json.loads(grid_path.read_text())["points"]
        if main_path.exists():
            ckpt = Checkpoint.load(main_path)
    else:
        main_path.unlink(missing_ok=True)

    def save_grid():
        grid_path.write_text(json.dumps({"spec": key, "points": grid}, indent=1))

    def save_main(c: Checkpoint):
        nonlocal ckpt
        ckpt = c
        c.save(main_path)

    save_grid()
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
    cfg = train_config(spec, bos_id)
    run = dict(doc_starts=starts, progress=progress, on_checkpoint=save_main, checkpoint_every_s=checkpoint_every_s)
    hist = None
    points = spec.grid_steps() if grid_loss is not None else [spec.steps]
    for steps in points:
        if steps == spec.steps:  # the main run itself is the last point
            hist = training.train(model, tokens, None, cfg, resume=ckpt, **run)
            if grid_loss is not None and not any(p["steps"] == steps for p in grid):
                grid.append({"steps": steps, "tokens": steps * spec.tokens_per_step,
                             "val_bits_per_char": round(grid_loss(model), 5), "decay_steps": steps - decay_start(cfg)})
                save_grid()
            break
        if any(p["steps"] == steps for p in grid):
            continue
        short = train_config(spec, bos_id, steps)
        fork = decay_start(short)
        if ckpt is not None and ckpt.step > fork:  # resumed past this fork (the grid changed): cannot be had now
            print(f"{spec.name}: grid point {steps} skipped, the run is already at step {ckpt.step}", flush=True)
            continue
        if ckpt is None or ckpt.step < fork:
            hist = training.train(model, tokens, None, cfg, resume=ckpt, stop_at=fork, **run)
        branch = copy.deepcopy(model)
        t0 = time.perf_counter()
        training.train(branch, tokens, None, short, resume=ckpt, doc_starts=starts, progress=False)
        grid.append({"steps": steps, "tokens": steps * spec.tokens_per_step,
                     "val_bits_per_char": round(grid_loss(branch), 5), "decay_steps": steps - fork,
                     "decay_wall_s": round(time.perf_counter() - t0, 2)})
        save_grid()
        del branch
    if hist is None:  # resumed after the end
        hist = training.History(**ckpt.history)
    model.eval()
    extra = sum(p.get("decay_steps", 0) for p in grid[:-1]) * spec.tokens_per_step
    return {"steps": len(hist.steps), "tokens": hist.tokens, "wall_s": round(hist.wall_s, 2),
            "tokens_per_s": round(hist.tokens / max(hist.wall_s, 1e-9), 1), "precision": hist.precision,
            "final_train_loss": round(sum(hist.train_loss[-20:]) / max(1, len(hist.train_loss[-20:])), 4),
            "grid": grid, "grid_extra_tokens": extra,
            "grid_extra_wall_s": round(sum(p.get("decay_wall_s", 0) for p in grid), 1),
            "schedule": "warmup-stable-decay; each grid point forks the run and decays it"}

