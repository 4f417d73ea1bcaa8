"""Train one course model: fixed seed, fixed token budget, resumable from a checkpoint."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .ladder import ModelSpec


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


def get_batch(stream: tuple[torch.Tensor, torch.Tensor], spec: ModelSpec, step: int):
    """Windows that begin at a document's ``<s>`` (as in evaluation) and run on into the next
    documents. The batch depends only on (seed, step), so a resumed run sees the same data."""
    tokens, starts = stream
    starts = starts[starts < len(tokens) - spec.context - 1]
    g = torch.Generator().manual_seed(spec.seed * 1_000_003 + step)
    ix = starts[torch.randint(len(starts), (spec.batch_size,), generator=g)]
    x = torch.stack([tokens[i:i + spec.context] for i in ix])          # (B, T)
    y = torch.stack([tokens[i + 1:i + 1 + spec.context] for i in ix])  # (B, T)
    return x, y


def lr_at(spec: ModelSpec, step: int) -> float:
    """Linear warmup, then cosine decay to a tenth of the peak."""
    if step < spec.warmup_steps:
        return spec.lr * (step + 1) / spec.warmup_steps
    t = (step - spec.warmup_steps) / max(1, spec.steps - spec.warmup_steps)
    return spec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def make_optimizer(model: torch.nn.Module, spec: ModelSpec) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]     # matrices and embeddings
    no_decay = [p for p in model.parameters() if p.dim() < 2]   # RMSNorm gains
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=spec.lr, betas=(0.9, 0.95), eps=1e-8)


def train(model: torch.nn.Module, spec: ModelSpec, stream: tuple[torch.Tensor, torch.Tensor], workdir: Path,
          checkpoint_every_s: float = 60.0, progress: bool = True) -> dict:
    """Train ``model`` in place for ``spec.steps`` steps; checkpoints to ``workdir/ckpt.pt``.

    Returns the training record: steps, tokens, wall_s (training time only, summed over resumes),
    tokens_per_s and the final training loss.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(spec.threads)
    ckpt = workdir / "ckpt.pt"
    opt = make_optimizer(model, spec)
    start, wall, losses = 0, 0.0, []
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        if state["spec"] == str(spec.to_dict()):
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            start, wall, losses = state["step"], state["wall"], list(state["losses"])
    model.train()
    bar = tqdm(range(start, spec.steps), initial=start, total=spec.steps, desc=spec.name,
               disable=not progress, unit="step")
    last_save, t0 = time.time(), time.time()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(spec, step)
        x, y = get_batch(stream, spec, step)
        logits = model(input_ids=x).logits                               # (B, T, V)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.3f}")
        if time.time() - last_save > checkpoint_every_s or step == spec.steps - 1:
            wall += time.time() - t0
            t0 = last_save = time.time()
            torch.save({"spec": str(spec.to_dict()), "model": model.state_dict(), "opt": opt.state_dict(),
                        "step": step + 1, "wall": wall, "losses": losses}, ckpt)
    model.eval()
    tokens = spec.steps * spec.tokens_per_step
    return {"steps": spec.steps, "tokens": tokens, "wall_s": round(wall, 2),
            "tokens_per_s": round(tokens / max(wall, 1e-9), 1),
            "final_train_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4)}
