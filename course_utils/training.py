"""A small, readable training loop for causal language models (lesson 04, reused for fine-tuning).

    stream = encode_texts(tokenizer, texts)          # (N,) token ids, documents joined by </s>
    x, y = get_batch(stream, batch_size, block_size)  # (B, T) inputs and their next tokens
    history = train(model, train_stream, val_stream, TrainConfig(steps=300), callback=plot.update)

Works with the from-scratch ``course_utils.nn.GPT`` (which returns logits) and with any
transformers causal LM (which returns an object with ``.logits``). AdamW, warmup then a cosine or
linear decay, a periodic validation loss, a tqdm progress bar and a callback for live plots.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass
class TrainConfig:
    steps: int = 300
    batch_size: int = 16
    block_size: int = 64  # tokens per training window (the context the model learns to use)
    lr: float = 3e-3  # peak learning rate
    min_lr_ratio: float = 0.1  # the schedule decays to lr * min_lr_ratio
    warmup_steps: int = 20
    schedule: str = "cosine"  # "cosine", "linear" or "constant" (after warmup)
    weight_decay: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int = 50  # steps between validation losses (and callback calls)
    eval_batches: int = 8
    seed: int = 0
    time_limit_s: float | None = None  # stop early after this much training time (None: run all steps)
    threads: int | None = None  # CPU threads while training (None: torch's default). Tiny models are often
    # fastest on 1: their matrices are too small to share out, and on a busy machine extra threads wait on each other

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.block_size < 1:
            raise ValueError("steps, batch_size and block_size must be >= 1")
        if self.schedule not in ("cosine", "linear", "constant"):
            raise ValueError(f"schedule must be 'cosine', 'linear' or 'constant', got {self.schedule!r}")
        if self.eval_every < 1:
            raise ValueError("eval_every must be >= 1")


@dataclass
class History:
    """What happened during training; the callback receives this object after each evaluation."""

    steps: list[int] = field(default_factory=list)  # 1, 2, ...: steps done ...
    train_loss: list[float] = field(default_factory=list)  # ... and its training loss (nats/token)
    lr: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)  # 0 (before training), eval_every, ...
    val_loss: list[float] = field(default_factory=list)
    tokens: int = 0
    wall_s: float = 0.0
    total_steps: int = 0
    stopped_early: bool = False

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        val = f", validation loss {self.val_loss[-1]:.3f}" if self.val_loss else ""
        early = " (stopped early: time limit)" if self.stopped_early else ""
        return (f"{len(self.steps)} steps, {self.tokens:,} tokens in {self.wall_s:.1f} s "
                f"({self.tokens_per_s:,.0f} tokens/s); last training loss {self.train_loss[-1]:.3f}{val}{early}")


# ----------------------------------------------------------------------------- data

def encode_texts(tokenizer, texts: list[str]) -> torch.Tensor:
    """Tokenize documents and join them into one stream, each followed by the end-of-text token: (N,)."""
    if not texts:
        raise ValueError("encode_texts needs at least one text")
    ids = tokenizer(list(texts))["input_ids"]
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    return torch.tensor([t for doc in ids for t in doc + eos], dtype=torch.long)


def get_batch(stream: torch.Tensor, batch_size: int, block_size: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the stream: inputs x (B, T) and targets y (B, T), y shifted one token left."""
    if len(stream) < block_size + 2:
        raise ValueError(f"the token stream ({len(stream)} tokens) is shorter than one window "
                         f"({block_size + 1} tokens); use more text or a smaller block_size")
    ix = torch.randint(len(stream) - block_size - 1, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size)  # (T,)
    x = stream[ix[:, None] + offsets]  # (B, T)
    y = stream[ix[:, None] + offsets + 1]  # (B, T): the next token at every position
    return x, y


# ----------------------------------------------------------------------------- loss, schedule, optimizer

def lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats/token); targets of -100 are ignored."""
    out = model(x)
    logits = out.logits if hasattr(out, "logits") else out  # transformers models vs our GPT
    return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=-100)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr, then a cosine or linear decay to cfg.lr * cfg.min_lr_ratio."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - 1 - cfg.warmup_steps))  # 0 -> 1
    decay = 0.5 * (1 + math.cos(math.pi * t)) if cfg.schedule == "cosine" else 1 - t  # 1 -> 0
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * decay)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not on norm gains), as in nanoGPT."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=(0.9, 0.95))


@torch.no_grad()
def estimate_loss(model: torch.nn.Module, stream: torch.Tensor, cfg: TrainConfig) -> float:
    """Mean loss over cfg.eval_batches fixed batches of the stream (the same batches every call)."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(cfg.seed + 10_000)
    losses = [lm_loss(model, *get_batch(stream, cfg.batch_size, cfg.block_size, g)).item()
              for _ in range(cfg.eval_batches)]
    model.train(was_training)
    return sum(losses) / len(losses)


# ----------------------------------------------------------------------------- the loop

def train(model: torch.nn.Module, train_stream: torch.Tensor, val_stream: torch.Tensor | None = None,
          cfg: TrainConfig | None = None, callback=None, progress: bool = True) -> History:
    """Train ``model`` in place; returns the History.

    Before the first step, every ``cfg.eval_every`` steps and at the end the validation loss is measured (if a
    val_stream is given) and ``callback(history)`` is called, e.g. a LossPlot's update.
    """
    cfg = cfg or TrainConfig()
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(model, train_stream, val_stream, cfg, callback, progress)
    finally:
        torch.set_num_threads(threads_before)


def _train(model, train_stream, val_stream, cfg, callback, progress) -> History:
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    opt = make_optimizer(model, cfg)
    hist = History(total_steps=cfg.steps)

    def evaluate(step):
        if val_stream is not None:
            hist.val_steps.append(step)
            hist.val_loss.append(estimate_loss(model, val_stream, cfg))
        if callback is not None:
            callback(hist)

    evaluate(0)  # the starting point: an untrained model scores about ln(vocabulary size)
    model.train()
    bar = tqdm(range(cfg.steps), desc="training", unit="step", disable=not progress)
    for step in bar:
        t0 = time.perf_counter()
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_stream, cfg.batch_size, cfg.block_size, g)  # (B, T) each
        loss = lm_loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        hist.wall_s += time.perf_counter() - t0
        hist.steps.append(step + 1)  # steps done so far
        hist.train_loss.append(loss.item())
        hist.lr.append(lr)
        hist.tokens += x.numel()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        last = step == cfg.steps - 1
        if cfg.time_limit_s is not None and hist.wall_s > cfg.time_limit_s and not last:
            hist.stopped_early = True
            last = True
        if (step + 1) % cfg.eval_every == 0 or last:
            evaluate(step + 1)
        if last:
            break
    bar.close()
    model.eval()
    return hist
