"""Fine-tuning a course model on the held-out bank domain, and what it buys and costs.

The bank domain is never in the pretraining mix, so every contender starts from the same ignorance:
- the general models as shipped (zero-shot, or with a few worked examples in the prompt);
- fine-tuned copies: all weights (``method="full"``), or LoRA adapters (``"lora"``: the course's own
  ``course_utils.lora``; ``"peft"``: the same maths through the peft library).

Each contender is measured the same way (:func:`measure_contender`): domain bits/char against the domain's
exact floor, intent accuracy against the Bayes accuracy, general-mix bits/char (what fine-tuning costs
elsewhere: forgetting), trainable parameters, wall time, peak memory and training FLOPs (estimates:
6·N·T for full fine-tuning, ≈ 4·N·T for LoRA, which skips the weight gradients of the frozen model).
All fine-tuning runs through the course's one loop, ``course_utils.training.train``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, replace

import torch

from course_utils.corpus import BANK, Document, bank_task, bayes_accuracy, floor_of, make_splits
from course_utils.errors import BadInputError
from course_utils.lora import LoRAConfig, apply_lora, lora_state_dict, trainable_parameters
from course_utils.measure import peak_memory
from course_utils.training import History, TrainConfig, encode_texts, train
from course_utils.training_memory import guard_training
from course_utils.zoo import evaluate
from course_utils.zoo.evaluate import bits_per_char

METHODS = ("full", "lora", "peft")
DATA_SIZES = (50, 200, 1000, 2000)  # the data-efficiency sweep: documents of the bank train split
MIN_DOCS = 10  # fewer documents than this cannot fill a training batch of windows


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig:
    """One fine-tuning run. ``steps=None`` sizes the run by ``epochs`` over the training tokens."""

    method: str = "full"
    n_docs: int = 2000
    epochs: float = 2.0
    steps: int | None = None
    min_steps: int = 40  # a small data set is still seen often enough to learn its format
    max_steps: int = 400
    batch_size: int = 16
    block_size: int = 128
    lr: float | None = None  # None: 3e-4 for full fine-tuning, 3e-3 for LoRA (fewer, fresher weights)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    seed: int = 0
    precision: str = "auto"
    threads: int | None = None
    time_limit_s: float | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise BadInputError(f"Unknown fine-tuning method {self.method!r}: choose one of {', '.join(METHODS)}.")
        if self.n_docs < MIN_DOCS:
            raise BadInputError(f"{self.n_docs} training documents are too few to fine-tune on; use at least "
                                f"{MIN_DOCS} (the sweep uses {', '.join(map(str, DATA_SIZES))}).")
        if self.lr is not None and not 0 < self.lr <= 1:
            raise BadInputError(f"learning rate {self.lr} is outside (0, 1]; fine-tuning uses about 1e-4 … 1e-2.")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (3e-4 if self.method == "full" else 3e-3)

    def steps_for(self, n_tokens: int) -> int:
        """The run's length: ``steps`` if given, else ``epochs`` passes over the tokens, within [min, max]."""
        if self.steps is not None:
            return self.steps
        per_epoch = n_tokens / (self.batch_size * self.block_size)
        return int(min(self.max_steps, max(self.min_steps, math.ceil(self.epochs * per_epoch))))


@dataclass
class EvalSet:
    """The documents every contender is measured on (fixed splits of the generated world)."""

    train: list[Document]
    domain_test: list[Document]
    general: list[Document]  # general-mix validation documents: forgetting shows here

    @classmethod
    def make(cls, n_test: int = 500, n_general: int = 200) -> "EvalSet":
        bank = bank_task({"train": 2000, "val": 300, "test": n_test})
        return cls(bank["train"], bank["test"], make_splits({"val": n_general})["val"])

    @property
    def domain_floor(self) -> float:
        return floor_of(self.domain_test, under="domain").bits_per_char

    @property
    def general_floor(self) -> float:
        return floor_of(self.general, under="mix").bits_per_char

    @property
    def bayes_accuracy(self) -> float:
        return bayes_accuracy(self.domain_test, task=BANK)


@dataclass
class Contender:
    """One row of the lesson's table: a model, how it was adapted, and what that cost and bought."""

    name: str
    model: str
    method: str  # "as shipped", "few-shot", "full", "lora", "peft"
    n_docs: int
    domain_bpc: float
    accuracy: float
    general_bpc: float
    trainable: int
    total: int
    wall_s: float = 0.0
    peak_bytes: int = 0
    train_tokens: int = 0
    steps: int = 0
    shots: int = 0
    history: dict = field(default_factory=dict, repr=False)

    @property
    def train_flops(self) -> float:
        """6·N·T for full fine-tuning; ≈ 4·N·T for LoRA (no weight gradients for the frozen matrices)."""
        if not self.train_tokens:
            return 0.0
        return (6 if self.method == "full" else 4) * self.total * self.train_tokens

    def row(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "history"}
        out["train_flops"] = self.train_flops
        return out


# ----------------------------------------------------------------------------- adapting a model

def adaptable_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A trainable copy: the shipped (cached) model itself is never changed."""
    clone = copy.deepcopy(model)
    clone.train()
    return clone


def add_adapters(model: torch.nn.Module, cfg: FinetuneConfig) -> torch.nn.Module:
    """Freeze the model and add LoRA adapters (the course's own, or peft's); full keeps every weight trainable."""
    if cfg.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if cfg.method == "lora":
        return apply_lora(model, LoRAConfig(r=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=0.0, seed=cfg.seed))
    from peft import LoraConfig, get_peft_model

    ours = LoRAConfig(r=cfg.lora_rank, alpha=cfg.lora_alpha, dropout=0.0, seed=cfg.seed)
    start_a = lora_state_dict(apply_lora(copy.deepcopy(model), ours))  # the A matrices our run starts from
    with torch.random.fork_rng():  # peft draws its A from the global generator: leave the learner's untouched
        tuned = get_peft_model(model, LoraConfig(r=ours.r, lora_alpha=ours.alpha, lora_dropout=0.0,
                                                 target_modules=list(ours.target_modules)))
    with torch.no_grad():  # the same starting point as ours, so the two runs differ only in the library
        for path, module in tuned.base_model.model.named_modules():
            if f"{path}.lora_A" in start_a:
                module.lora_A["default"].weight.copy_(start_a[f"{path}.lora_A"])
    return tuned


def finetune(model: torch.nn.Module, tokenizer, docs: list[Document], cfg: FinetuneConfig, *,
             callback=None, progress: bool = True) -> tuple[torch.nn.Module, History]:
    """Fine-tune ``model`` (in place, after ``add_adapters``) on ``docs`` with the course's loop."""
    if len(docs) < MIN_DOCS:
        raise BadInputError(f"{len(docs)} documents are too few to fine-tune on; use at least {MIN_DOCS}.")
    model = add_adapters(model, cfg)
    texts = [d.text for d in docs]
    stream = encode_texts(tokenizer, texts)
    val = encode_texts(tokenizer, texts[: max(MIN_DOCS, len(texts) // 10)])  # the loss on what it trains on
    lengths = torch.tensor([len(t) + 1 for t in tokenizer(texts)["input_ids"]])
    doc_starts = torch.cumsum(lengths, 0) - lengths
    tcfg = TrainConfig(steps=cfg.steps_for(len(stream)), batch_size=cfg.batch_size, block_size=cfg.block_size,
                       lr=cfg.learning_rate, warmup_steps=min(20, cfg.steps_for(len(stream)) // 5),
                       schedule="cosine", weight_decay=0.0 if cfg.method != "full" else 0.1,
                       eval_every=max(10, cfg.steps_for(len(stream)) // 8), eval_batches=4, seed=cfg.seed,
                       precision=cfg.precision, threads=cfg.threads, time_limit_s=cfg.time_limit_s,
                       bos_id=tokenizer.bos_token_id, doc_start_fraction=0.5)
    hist = train(model, stream, val, tcfg, callback=callback, progress=progress, doc_starts=doc_starts)
    if hist.diverged:
        raise BadInputError(f"Training diverged at step {len(hist.steps)} (loss {hist.train_loss[-1]}) with learning "
                            f"rate {tcfg.lr}: try a rate 3-10 times smaller.")
    model.eval()
    return model, hist


# ----------------------------------------------------------------------------- measuring a contender

def few_shot_prefix(examples: list[Document], tokenizer, budget_tokens: int) -> tuple[str, int]:
    """Worked examples (each chat up to its intent line) that fit in ``budget_tokens``; (text, how many)."""
    prefix, k = "", 0
    for d in examples:
        shot = d.text[: d.text.index(BANK.prompt) + len(BANK.prompt)] + d.label + "\n\n"
        if len(tokenizer(prefix + shot)["input_ids"]) > budget_tokens:
            break
        prefix, k = prefix + shot, k + 1
    return prefix, k


def few_shot_for(model, tokenizer, data: "EvalSet", pool: int = 50) -> tuple[str, int]:
    """As many worked examples (from the last ``pool`` training chats) as fit in ``model``'s context next to the
    longest test chat's prompt and its label: (prefix, how many)."""
    longest = max(len(tokenizer(BANK.prompt_of(d) + max(BANK.labels, key=len) + "\n")["input_ids"])
                  for d in data.domain_test)
    return few_shot_prefix(data.train[-pool:], tokenizer, model.config.max_position_embeddings - longest)


def accuracy(model, tokenizer, docs: list[Document], prefix: str = "") -> float:
    """Intent accuracy: the most likely label after each chat's prompt (with ``prefix`` before the chat)."""
    shown = [replace(d, text=prefix + d.text) for d in docs] if prefix else docs
    return evaluate.task_accuracy(model, tokenizer, shown, BANK)


def measure_contender(name: str, model_name: str, model, tokenizer, data: EvalSet, *, method: str,
                      n_docs: int = 0, hist: History | None = None, peak: int = 0, prefix: str = "",
                      shots: int = 0) -> Contender:
    """Every number of the lesson's table for one (adapted) model."""
    trainable, total = trainable_parameters(model)
    if method in ("as shipped", "few-shot"):
        trainable = 0
    return Contender(name=name, model=model_name, method=method, n_docs=n_docs,
                     domain_bpc=bits_per_char(model, tokenizer, data.domain_test),
                     accuracy=accuracy(model, tokenizer, data.domain_test, prefix),
                     general_bpc=bits_per_char(model, tokenizer, data.general), trainable=trainable,
                     total=total, wall_s=hist.wall_s if hist else 0.0, peak_bytes=peak,
                     train_tokens=hist.tokens if hist else 0, steps=len(hist.steps) if hist else 0, shots=shots,
                     history=asdict(hist) if hist else {})


def run_contender(lm, data: EvalSet, cfg: FinetuneConfig, *, callback=None, progress: bool = True,
                  available_bytes: int | None = None) -> tuple[Contender, torch.nn.Module]:
    """Fine-tune a copy of a loaded model (``LoadedModel``) and measure it: (row, the tuned model).

    Before anything is copied, the training-memory estimate is checked against this machine (or
    ``available_bytes``): a model that will not fit is refused, naming one that will.
    """
    if lm.spec is not None:
        guard_training(lm.spec, method="full" if cfg.method == "full" else "lora", batch=cfg.batch_size,
                       seq_len=min(cfg.block_size, lm.spec.context or cfg.block_size), r=cfg.lora_rank,
                       available_bytes=available_bytes)
    (model, hist), peak = peak_memory(finetune, adaptable_copy(lm.model), lm.tokenizer, data.train[: cfg.n_docs], cfg,
                                      callback=callback, progress=progress)
    label = {"full": "fine-tuned (all weights)", "lora": "LoRA (course_utils.lora)", "peft": "LoRA (peft)"}
    row = measure_contender(f"{lm.info.name}, {label[cfg.method]}, {cfg.n_docs} docs", lm.info.name, model,
                            lm.tokenizer, data, method=cfg.method, n_docs=cfg.n_docs, hist=hist, peak=peak)
    return row, model
