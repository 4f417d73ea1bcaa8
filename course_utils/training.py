"""A small, readable training loop for causal language models (lesson 04, reused for fine-tuning).

    stream = encode_texts(tokenizer, texts)          # (N,) token ids, documents joined by </s>
    x, y = get_batch(stream, batch_size, block_size)  # (B, T) inputs and their next tokens
    history = train(model, train_stream, val_stream, TrainConfig(steps=300), callback=plot.update)

Works with the from-scratch ``course_utils.nn.GPT`` (which returns logits) and with any
transformers causal LM (which returns an object with ``.logits``). AdamW, warmup then a cosine,
linear or warmup-stable-decay schedule, a periodic validation loss, a tqdm progress bar and a callback
for live plots. The same loop trains the course models (``course_utils.zoo``): it resumes from a
:class:`Checkpoint`, stops at any step, and can compute in bfloat16 under autocast where that pays.
The batch of step ``s`` depends only on (seed, s), so a resumed or forked run sees the same data.
"""

from __future__ import annotations

import copy
import functools
import math
import time
from dataclasses import asdict, dataclass, field

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
    schedule: str = "cosine"  # "cosine", "linear", "constant" (after warmup) or "wsd" (warmup-stable-decay)
    decay_fraction: float = 0.1  # "wsd": the last share of the steps, where the rate falls linearly
    weight_decay: float = 0.1
    grad_clip: float | None = 1.0
    eval_every: int = 50  # steps between validation losses (and callback calls)
    eval_batches: int = 8
    seed: int = 0
    time_limit_s: float | None = None  # stop early after this much training time (None: run all steps)
    threads: int | None = None  # CPU threads while training (None: torch's default). Tiny models are often
    # fastest on 1: their matrices are too small to share out, and on a busy machine extra threads wait on each other
    precision: str = "float32"  # "float32", "bfloat16" (autocast, float32 master weights) or "auto" (measure)
    bos_id: int | None = None  # begin every window with this token, as the tokenizer begins every prompt
    doc_start_fraction: float = 0.0  # share of windows that start at a document start (needs doc_starts)

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.block_size < 1:
            raise ValueError("steps, batch_size and block_size must be >= 1")
        if self.schedule not in ("cosine", "linear", "constant", "wsd"):
            raise ValueError(f"schedule must be 'cosine', 'linear', 'constant' or 'wsd', got {self.schedule!r}")
        if self.eval_every < 1:
            raise ValueError("eval_every must be >= 1")
        if self.precision not in ("float32", "bfloat16", "auto"):
            raise ValueError(f"precision must be 'float32', 'bfloat16' or 'auto', got {self.precision!r}")
        if not 0.0 <= self.doc_start_fraction <= 1.0 or not 0.0 < self.decay_fraction <= 1.0:
            raise ValueError("doc_start_fraction must be in [0, 1] and decay_fraction in (0, 1]")


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
    diverged: bool = False  # the loss became inf or nan: the run stopped there (the rate is too high)
    precision: str = "float32"  # what the steps computed in (after "auto" was resolved)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        val = f", validation loss {self.val_loss[-1]:.3f}" if self.val_loss else ""
        early = (" (stopped: the loss diverged; use a smaller learning rate)" if self.diverged else
                 " (stopped early: time limit)" if self.stopped_early else "")
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
              generator: torch.Generator | None = None, *, bos_id: int | None = None,
              doc_starts: torch.Tensor | None = None,
              doc_start_fraction: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of the stream: inputs x (B, T) and targets y (B, T), y shifted one token left.

    Windows start anywhere, so the model learns to read from the middle of a document. With ``bos_id``
    a window that does not start at a document start is prefixed with that token, as a prompt is by the
    tokenizer. With ``doc_starts`` (offsets of each document's first token), a share
    ``doc_start_fraction`` of the windows starts exactly at a document start.
    """
    if len(stream) < block_size + 2:
        raise ValueError(f"the token stream ({len(stream)} tokens) is shorter than one window "
                         f"({block_size + 1} tokens); use more text or a smaller block_size")
    ix = torch.randint(len(stream) - block_size - 1, (batch_size,), generator=generator)  # (B,)
    if doc_starts is not None and doc_start_fraction > 0:
        valid = doc_starts[doc_starts < len(stream) - block_size - 1]
        at_start = torch.rand(batch_size, generator=generator) < doc_start_fraction  # (B,)
        ix = torch.where(at_start, valid[torch.randint(len(valid), (batch_size,), generator=generator)], ix)
    seq = stream[ix[:, None] + torch.arange(block_size + 1)]  # (B, T+1)
    if bos_id is not None:
        prefixed = torch.cat([torch.full((batch_size, 1), bos_id, dtype=seq.dtype), seq[:, :-1]], dim=1)
        seq = torch.where((seq[:, :1] == bos_id), seq, prefixed)  # a window at a document start has its <s>
    return seq[:, :-1], seq[:, 1:]  # x: (B, T), y: (B, T), the next token at every position


# ----------------------------------------------------------------------------- loss, schedule, optimizer

def lm_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
            autocast_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Mean next-token cross-entropy (nats/token); targets of -100 are ignored. With ``autocast_dtype``
    the forward pass runs under autocast (matmuls in that dtype, the loss in float32)."""
    with torch.autocast(x.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
        out = model(x)
    logits = out.logits if hasattr(out, "logits") else out  # transformers models vs our GPT
    return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=-100)


def decay_start(cfg: TrainConfig) -> int:
    """The step where a warmup-stable-decay schedule leaves its constant rate. A "wsd" run of any
    length shares every step before this with a longer one: fork a longer run here, decay it, and
    you have the model trained for the shorter budget."""
    return cfg.steps - max(1, round(cfg.decay_fraction * cfg.steps))


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr, then a cosine or linear decay to cfg.lr * cfg.min_lr_ratio, or ("wsd")
    constant until :func:`decay_start`, then linear to cfg.lr * cfg.min_lr_ratio at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "wsd":
        start = max(decay_start(cfg), cfg.warmup_steps)
        if step < start:
            return cfg.lr
        t = min(1.0, (step - start + 1) / max(1, cfg.steps - start))  # (0, 1]: the last step ends the decay
        return cfg.lr * (1 - (1 - cfg.min_lr_ratio) * t)
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - 1 - cfg.warmup_steps))  # 0 -> 1
    decay = 0.5 * (1 + math.cos(math.pi * t)) if cfg.schedule == "cosine" else 1 - t  # 1 -> 0
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * decay)


@functools.lru_cache(maxsize=None)
def bfloat16_speedup(n: int = 256) -> float:
    """How many times faster a bfloat16 matmul of (4n, n) @ (n, n) runs than a float32 one, here (fastest of 3).
    CPUs with AMX or AVX512-BF16 run it several times faster; others (AVX2 only) far slower."""
    from course_utils.hardware import matmul_rate

    return matmul_rate("bfloat16", 4 * n, n, n, repeats=3).high / matmul_rate("float32", 4 * n, n, n, repeats=3).high


def autocast_dtype_for(precision: str, device: str = "cpu") -> torch.dtype | None:
    """The autocast dtype for a TrainConfig.precision; "auto" picks bfloat16 only where it is faster
    (measured on a CPU; on a GPU wherever the GPU supports it)."""
    if precision == "bfloat16":
        return torch.bfloat16
    if precision == "auto":
        pays = torch.cuda.is_bf16_supported() if device == "cuda" else bfloat16_speedup() > 1.2
        return torch.bfloat16 if pays else None
    return None


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


# ----------------------------------------------------------------------------- checkpoints

@dataclass
class Checkpoint:
    """Everything needed to continue a run: the step reached, weights, optimizer state, history.
    Its tensors are copies, so the run (or a fork of it) can go on without changing them."""

    step: int
    model: dict
    optimizer: dict
    history: dict

    @classmethod
    def of(cls, model: torch.nn.Module, opt: torch.optim.Optimizer, hist: History) -> "Checkpoint":
        return cls(len(hist.steps), copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()),
                   copy.deepcopy(asdict(hist)))

    def save(self, path) -> None:
        torch.save(asdict(self), path)

    @classmethod
    def load(cls, path) -> "Checkpoint":
        return cls(**torch.load(path, weights_only=True))


# ----------------------------------------------------------------------------- the loop

def train(model: torch.nn.Module, train_stream: torch.Tensor, val_stream: torch.Tensor | None = None,
          cfg: TrainConfig | None = None, callback=None, progress: bool = True, *,
          doc_starts: torch.Tensor | None = None, resume: Checkpoint | None = None, stop_at: int | None = None,
          on_checkpoint=None, checkpoint_every_s: float = 60.0, loss_fn=None) -> History:
    """Train ``model`` in place; returns the History.

    ``loss_fn(model, x, y, autocast_dtype)`` replaces the next-token loss (default :func:`lm_loss`), e.g. lesson
    13's distillation loss; the validation loss stays the plain next-token loss, so runs compare.
    Before the first step, every ``cfg.eval_every`` steps and at the end the validation loss is measured (if a
    val_stream is given) and ``callback(history)`` is called, e.g. a LossPlot's update.
    ``resume`` continues a :class:`Checkpoint`; ``stop_at`` ends the run after that many steps (of
    ``cfg.steps``); ``on_checkpoint(ckpt)`` receives a Checkpoint every ``checkpoint_every_s`` seconds
    and when the run stops.
    """
    cfg = cfg or TrainConfig()
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(model, train_stream, val_stream, cfg, callback, progress, doc_starts, resume, stop_at,
                      on_checkpoint, checkpoint_every_s, loss_fn or lm_loss)
    finally:
        torch.set_num_threads(threads_before)


def _train(model, train_stream, val_stream, cfg, callback, progress, doc_starts, resume, stop_at,
           on_checkpoint, checkpoint_every_s, loss_fn) -> History:
    device = next(model.parameters()).device
    amp = autocast_dtype_for(cfg.precision, device.type)
    opt = make_optimizer(model, cfg)
    if resume is not None:
        model.load_state_dict(resume.model)
        opt.load_state_dict(copy.deepcopy(resume.optimizer))
        hist = History(**copy.deepcopy(resume.history))
        hist.total_steps = cfg.steps
    else:
        hist = History(total_steps=cfg.steps)
    hist.precision = "bfloat16" if amp is not None else "float32"
    start = len(hist.steps)
    end = min(cfg.steps, stop_at if stop_at is not None else cfg.steps)

    def evaluate(step):
        if val_stream is not None:
            hist.val_steps.append(step)
            hist.val_loss.append(estimate_loss(model, val_stream, cfg))
        if callback is not None:
            callback(hist)

    if start == 0:
        evaluate(0)  # the starting point: an untrained model scores about ln(vocabulary size)
    model.train()
    bar = tqdm(range(start, end), initial=start, total=cfg.steps, desc="training", unit="step",
               disable=not progress)
    last_save = time.time()
    for step in bar:
        t0 = time.perf_counter()
        lr = lr_at(step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)  # this step's batch, whatever came before
        x, y = get_batch(train_stream, cfg.batch_size, cfg.block_size, g, bos_id=cfg.bos_id,
                         doc_starts=doc_starts, doc_start_fraction=cfg.doc_start_fraction)  # (B, T) each
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model, x, y, amp)
        if not torch.isfinite(loss):  # diverged: every later step would be nan too
            hist.diverged = hist.stopped_early = True
            hist.train_loss.append(loss.item())
            hist.steps.append(step + 1)
            hist.lr.append(lr)
            break
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
        last = step == end - 1
        if cfg.time_limit_s is not None and hist.wall_s > cfg.time_limit_s and not last:
            hist.stopped_early = True
            last = True
        if (step + 1) % cfg.eval_every == 0 or (last and step + 1 == cfg.steps) or hist.stopped_early:
            evaluate(step + 1)
        if on_checkpoint is not None and (last or time.time() - last_save > checkpoint_every_s):
            on_checkpoint(Checkpoint.of(model, opt, hist))
            last_save = time.time()
        if last:
            break
    bar.close()
    model.eval()
    return hist
