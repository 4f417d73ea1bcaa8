"""Memorisation of canary secrets, and how it grows with model size (lesson 11).

Carlini et al. 2019 ("The Secret Sharer"): hide a random secret in the training data — "the secret code is
4821." — train, then ask how much more likely the model finds the real secret than every other one it could
have been. With R the space of possible secrets and rank(s) the number of candidates at least as likely as s:

    exposure(s) = log2 |R| − log2 rank(s)      (bits; at most log2 |R|, about 1.4 for a secret never seen)

    lp = canary_log_perplexities(model, tokenizer, n_digits=4)   # (10**4,) bits, every secret of the space
    exposure(lp, "4821"), rank_of(lp, "4821")                     # 13.3 bits = ranked first of 10,000
    extraction(model, tokenizer, "4821")                          # greedy decoding writes the secret
    run_memorisation(MemorisationConfig(model="course-small"))    # insert, fine-tune, measure (the live run)
    python -m course_utils memorisation                           # the grid -> models/memorisation/results.json

The whole space is scored exactly, not sampled: candidates share the prefix, so they form a digit trie, and one
forward pass of a node gives the probabilities of its 10 children. With the model's KV cache each trie node costs
one token (about 1.11 · 10**(n−1) tokens for the space); without one, each (n−1)-digit path is one short
sequence (10**(n−1) sequences). The log-perplexity is of the digits only, −log2 P(digits | prefix): the secret
is the digits, and every candidate shares the prefix (and would share the final "."), so only the digits rank.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from course_utils import MODELS_DIR, __version__
from course_utils.corpus import CANARY_PREFIX, Document, insert_canaries, make_splits
from course_utils.errors import BadInputError
from course_utils.results_file import read_results

MAX_DIGITS = 6  # 10**6 candidates: the largest space scored exactly in minutes on a laptop
LN2 = math.log(2)
DIGITS = "0123456789"
RESULTS_DIR = MODELS_DIR / "memorisation"
FORMAT = 1
GRID_MODELS = ("course-small", "course-large")
MITIGATIONS = ("as is", "deduplicated", "fewer epochs")
FEWER_EPOCHS = 0.25  # the "fewer epochs" mitigation trains for this share of the epochs
GRID_DIGITS = 6  # the shipped grid: Carlini et al.'s 6-digit secrets (max exposure 19.9 bits)


# ----------------------------------------------------------------------------- checks

def _check_n_digits(n_digits) -> int:
    if isinstance(n_digits, bool) or not isinstance(n_digits, int) or not 1 <= n_digits <= MAX_DIGITS:
        raise BadInputError(f"n_digits={n_digits!r}: the canary space covers secrets of 1 to {MAX_DIGITS} digits "
                            f"(10**{MAX_DIGITS} = {10 ** MAX_DIGITS:,} candidates is the most scored exactly); "
                            f"use an int in that range.")
    return n_digits


def _check_secret(secret, n_digits: int) -> str:
    if not isinstance(secret, str) or len(secret) != n_digits or not all(c in DIGITS for c in secret):
        raise BadInputError(f"secret {secret!r} is not a string of {n_digits} digits (the space scored has "
                            f"{10 ** n_digits:,} candidates, '{'0' * n_digits}' … '{'9' * n_digits}').")
    return secret


def _space_digits(log_perplexities: torch.Tensor) -> int:
    """n for a tensor that scores the whole space of n-digit secrets (10**n values)."""
    size = log_perplexities.numel()
    n = round(math.log10(size)) if size > 0 else 0
    if log_perplexities.dim() != 1 or n < 1 or 10 ** n != size:
        raise BadInputError(f"expected the log-perplexities of a whole canary space (a 1-D tensor of 10**n values, "
                            f"from canary_log_perplexities), got shape {tuple(log_perplexities.shape)}.")
    return n


def prefix_token_ids(tokenizer, prefix: str = CANARY_PREFIX) -> list[int]:
    """The prompt's tokens as the model saw them in training (with the tokenizer's <s>, as each document had)."""
    return list(tokenizer(prefix)["input_ids"])


def digit_token_ids(tokenizer, prefix: str = CANARY_PREFIX) -> list[int]:
    """The token of each digit 0-9 after ``prefix``; refuses a tokenizer that does not split digits one a token.

    Checked in context: ``prefix + d`` must be the prefix's tokens plus one token, and every two-digit string
    after the prefix must be two such tokens (no merge across digits, so none in a longer secret either).
    """
    base = prefix_token_ids(tokenizer, prefix)
    singles = tokenizer([prefix + d for d in DIGITS])["input_ids"]
    ids = [t[-1] for t in singles]
    bad = next((d for d, t in zip(DIGITS, singles) if list(t[:-1]) != base), None)
    if bad is None and len(set(ids)) < 10:
        bad = DIGITS
    if bad is None:
        pairs = [a + b for a in DIGITS for b in DIGITS]
        tokens = tokenizer([prefix + x for x in pairs])["input_ids"]
        bad = next((x for x, t in zip(pairs, tokens) if list(t) != base + [ids[int(x[0])], ids[int(x[1])]]), None)
    if bad is not None:
        shown = tokenizer.convert_ids_to_tokens(tokenizer(prefix + bad)["input_ids"][len(base) - 1:])
        raise BadInputError(f"This tokenizer does not split the secret into one token per digit: after the prefix, "
                            f"{bad!r} becomes {shown} (from the prefix's last token on). Scoring the whole space "
                            f"by its digit trie needs single-digit tokens: use the course tokenizer (or one like "
                            f"Llama's that splits digits), or score candidates one by one with log_perplexities_of.")
    return ids


# ----------------------------------------------------------------------------- scoring the space

def _logits(out) -> torch.Tensor:
    return out.logits if hasattr(out, "logits") else out  # transformers models vs the course's own GPT


def _digit_logprobs(logits: torch.Tensor, digit_ids: torch.Tensor) -> torch.Tensor:
    """(B, V) logits -> (B, 10) natural-log probabilities of each digit (softmax over the whole vocabulary)."""
    return torch.log_softmax(logits.float(), dim=-1)[:, digit_ids].double()


def _has_kv_cache(model) -> bool:
    try:
        from transformers import PreTrainedModel
    except ImportError:  # pragma: no cover - transformers is a course requirement
        return False
    return isinstance(model, PreTrainedModel)


def _select(cache, index: torch.Tensor):
    """A new KV cache holding the batch rows ``index`` of ``cache`` (which is left as it was)."""
    if not hasattr(cache, "layers"):
        child = copy.deepcopy(cache)
    else:  # the layers' tensors are replaced, never written into: a shallow copy is enough, and far cheaper
        child = copy.copy(cache)
        child.layers = [copy.copy(layer) for layer in cache.layers]
    child.batch_select_indices(index)
    return child


def _descend(model, cache, logp: torch.Tensor, next_logp: torch.Tensor, depth: int, digit_ids: torch.Tensor,
             batch_size: int) -> torch.Tensor:
    """Every completion below M trie nodes, lexicographic: (M * 10**(depth+1),) natural-log probabilities.

    cache: the KV cache of the M nodes' token paths; logp (M,): log P(path | prefix); next_logp (M, 10).
    """
    if depth == 0:
        return (logp[:, None] + next_logp).flatten()
    parts = []
    step = max(1, batch_size // 10)  # parents per forward pass: their 10·step children are one batch
    for lo in range(0, len(logp), step):
        hi = min(len(logp), lo + step)
        child = _select(cache, torch.arange(lo, hi).repeat_interleave(10).to(digit_ids.device))
        tokens = digit_ids.repeat(hi - lo)[:, None]  # (10·k, 1): each parent's 10 children, in order
        out = model(input_ids=tokens, past_key_values=child, use_cache=True)
        child_next = _digit_logprobs(_logits(out)[:, -1], digit_ids)  # (10·k, 10)
        child_logp = (logp[lo:hi, None] + next_logp[lo:hi]).flatten()  # (10·k,)
        parts.append(_descend(model, out.past_key_values, child_logp, child_next, depth - 1, digit_ids, batch_size))
    return torch.cat(parts)


def _paths(prefix_ids: list[int], digit_ids: torch.Tensor, n_digits: int, batch_size: int, model) -> torch.Tensor:
    """The same without a KV cache: one sequence prefix + (n−1) digits per trie node of depth n−1."""
    heads = n_digits - 1
    m = 10 ** heads
    place = 10 ** torch.arange(heads - 1, -1, -1)  # (n−1,) place values, most significant first
    prefix = torch.tensor(prefix_ids, device=digit_ids.device)
    parts = []
    for lo in range(0, m, batch_size):
        idx = torch.arange(lo, min(m, lo + batch_size))
        tails = digit_ids[((idx[:, None] // place) % 10).to(digit_ids.device)]  # (B, n−1) digit tokens
        ids = torch.cat([prefix.expand(len(idx), -1), tails], dim=1)  # (B, P + n − 1)
        logits = _logits(model(ids))[:, len(prefix_ids) - 1:]  # (B, n, V): position k predicts digit k
        logp = torch.log_softmax(logits.float(), dim=-1).double()
        path = logp[:, :heads].gather(-1, tails[..., None])[..., 0].sum(-1)  # (B,) log P(first n−1 digits)
        parts.append((path[:, None] + logp[:, heads][:, digit_ids]).flatten())  # (10·B,)
    return torch.cat(parts)


@torch.no_grad()
def canary_log_perplexities(model, tokenizer, n_digits: int, prefix: str = CANARY_PREFIX, *,
                            batch_size: int = 256, kv_cache: bool | None = None) -> torch.Tensor:
    """−log2 P(digits | prefix) for every secret of ``n_digits`` digits, in ``canary_space`` order: (10**n,) float64.

    Exact (the model's own probabilities, softmax over its whole vocabulary), by the digit trie: with
    ``kv_cache`` (default: when the model is a transformers model) one token per trie node, else one
    sequence per (n−1)-digit path. ``batch_size`` bounds the sequences per forward pass (and so the memory).
    """
    n_digits = _check_n_digits(n_digits)
    if batch_size < 10:
        raise BadInputError(f"batch_size={batch_size} is below 10, the children of one trie node; use 10 or more.")
    device = next(model.parameters()).device
    digit_ids = torch.tensor(digit_token_ids(tokenizer, prefix), device=device)
    prefix_ids = prefix_token_ids(tokenizer, prefix)
    was_training = model.training
    model.eval()
    try:
        if kv_cache if kv_cache is not None else _has_kv_cache(model):
            out = model(input_ids=torch.tensor([prefix_ids], device=device), use_cache=True)
            root = _digit_logprobs(_logits(out)[:, -1], digit_ids)  # (1, 10): the first digit
            lp = _descend(model, out.past_key_values, torch.zeros(1, dtype=torch.float64, device=device), root,
                          n_digits - 1, digit_ids, batch_size)
        else:
            lp = _paths(prefix_ids, digit_ids, n_digits, batch_size, model)
    finally:
        model.train(was_training)
    return (-lp / LN2).cpu()


@torch.no_grad()
def log_perplexities_of(model, tokenizer, secrets: list[str], prefix: str = CANARY_PREFIX) -> torch.Tensor:
    """−log2 P(digits | prefix) of each secret, one full sequence per secret (the brute force): (len(secrets),)."""
    from course_utils.zoo.evaluate import sequence_logprobs

    if not secrets:
        raise BadInputError("log_perplexities_of needs at least one secret.")
    n = len(secrets[0])
    _check_n_digits(n)
    for s in secrets:
        _check_secret(s, n)
    base = prefix_token_ids(tokenizer, prefix)
    seqs = tokenizer([prefix + s for s in secrets])["input_ids"]
    for s, seq in zip(secrets, seqs):
        if list(seq[:len(base)]) != base or len(seq) != len(base) + n:
            raise BadInputError(f"{prefix + s!r} does not tokenize as the prefix's tokens plus one per digit; "
                                "score it as a whole text instead (course_utils.zoo.evaluate.doc_bits).")
    lps = sequence_logprobs(model, [list(s) for s in seqs], tokenizer.pad_token_id or 0)
    return torch.tensor([-sum(lp[-n:]) / LN2 for lp in lps], dtype=torch.float64)


# ----------------------------------------------------------------------------- exposure and extraction

def rank_of(log_perplexities: torch.Tensor, secret: str) -> int:
    """How many candidates are at least as likely as ``secret`` (log-perplexity ≤ its own; ties count): 1 … |R|."""
    n = _space_digits(log_perplexities)
    own = log_perplexities[int(_check_secret(secret, n))]
    return int((log_perplexities <= own).sum())


def max_exposure(n_digits: int) -> float:
    """log2 |R|: the exposure of a secret ranked first of its space."""
    return _check_n_digits(n_digits) * math.log2(10)


def exposure(log_perplexities: torch.Tensor, secret: str) -> float:
    """log2 |R| − log2 rank(secret), in bits: 0 for the least likely candidate, log2 |R| for the most likely."""
    return math.log2(log_perplexities.numel()) - math.log2(rank_of(log_perplexities, secret))


def expected_random_exposure(space_size: int) -> float:
    """The mean exposure of a secret whose rank is uniform on 1 … |R| (a model that never saw it):
    log2 |R| − log2(|R|!) / |R|, which tends to 1 / ln 2 ≈ 1.44 bits."""
    if space_size < 1:
        raise BadInputError(f"space_size={space_size}: a canary space has at least one candidate.")
    return math.log2(space_size) - math.lgamma(space_size + 1) / LN2 / space_size


@torch.no_grad()
def greedy_completion(model, tokenizer, n_tokens: int, prefix: str = CANARY_PREFIX) -> list[int]:
    """The ``n_tokens`` tokens greedy decoding writes after ``prefix`` (argmax over the whole vocabulary)."""
    device = next(model.parameters()).device
    ids = torch.tensor([prefix_token_ids(tokenizer, prefix)], device=device)
    was_training = model.training
    model.eval()
    try:
        for _ in range(n_tokens):
            nxt = _logits(model(ids))[:, -1].argmax(-1, keepdim=True)  # (1, 1)
            ids = torch.cat([ids, nxt], dim=1)
    finally:
        model.train(was_training)
    return ids[0, -n_tokens:].tolist()


def extraction(model, tokenizer, secret: str, prefix: str = CANARY_PREFIX) -> bool:
    """Does greedy decoding after ``prefix`` write exactly the secret's digits? (Every canary shares the prefix,
    so greedy decoding writes one secret at most: rank and exposure say how close the others came.)"""
    if not isinstance(secret, str) or not secret or not all(c in DIGITS for c in secret):
        raise BadInputError(f"secret {secret!r} is not a string of digits, e.g. '4821'.")
    ids = digit_token_ids(tokenizer, prefix)
    return greedy_completion(model, tokenizer, len(secret), prefix) == [ids[int(c)] for c in secret]


# ----------------------------------------------------------------------------- the experiment

@dataclass(frozen=True, kw_only=True)
class MemorisationConfig:
    """One run: canaries hidden among general documents, a full fine-tune, every canary's exposure.

    The defaults are the lesson's live run (course-small, 4 digits: about 30 s on a shared 2-core machine).
    Mitigations: ``dedup`` drops exact duplicate documents before training (each canary is then seen once
    per epoch), ``epochs`` below the default trains less.
    """

    model: str = "course-small"
    repetitions: tuple[int, ...] = (1, 4, 16)  # copies of each canary in the training set, one group each
    n_canaries: int = 4  # secrets per repetition group
    n_controls: int = 16  # secrets never inserted: the baseline exposure (about 1.4 bits)
    n_digits: int = 4
    n_docs: int = 300  # general-mix training documents the canaries hide among
    epochs: float = 3.0
    dedup: bool = False
    lr: float = 1e-3  # a third of course-small's pretraining rate: enough to memorise in a few epochs
    batch_size: int = 16
    block_size: int = 128
    n_eval_docs: int = 40  # general-mix validation documents for bits/char before and after
    seed: int = 0
    threads: int = 1  # these models train fastest on one thread on a shared 2-core machine (see TrainConfig)

    def __post_init__(self):
        _check_n_digits(self.n_digits)
        if not self.repetitions or any(not isinstance(r, int) or r < 1 for r in self.repetitions) \
                or len(set(self.repetitions)) != len(self.repetitions):
            raise BadInputError(f"repetitions={self.repetitions!r}: give distinct whole numbers >= 1, e.g. (1, 4, 16).")
        inserted = self.n_canaries * len(self.repetitions)
        if self.n_canaries < 1 or self.n_controls < 0 or inserted + self.n_controls > 10 ** self.n_digits:
            raise BadInputError(f"{inserted} canaries and {self.n_controls} controls do not fit in the space of "
                                f"{10 ** self.n_digits:,} secrets (n_canaries must be >= 1): use more digits.")
        if self.epochs <= 0 or self.threads < 1 or self.n_eval_docs < 1:
            raise BadInputError("epochs must be > 0, threads >= 1 and n_eval_docs >= 1.")

    @property
    def mitigation(self) -> str:
        return "deduplicated" if self.dedup else "as is"


def deduplicate(docs: list[Document]) -> list[Document]:
    """The documents with exact duplicates removed (the first copy kept, order kept): a common data-pipeline
    step, and the mitigation Carlini et al. 2023 and Kandpal et al. 2022 recommend."""
    seen: set[str] = set()
    out = []
    for d in docs:
        if d.text not in seen:
            seen.add(d.text)
            out.append(d)
    return out


def training_set(cfg: MemorisationConfig, general: list[Document]):
    """(documents to fine-tune on, canaries by repetition group, control secrets): different secrets per group."""
    docs, groups, taken = list(general), {}, set()
    for k, reps in enumerate(cfg.repetitions):
        docs, canaries = insert_canaries(docs, cfg.n_canaries, reps, cfg.n_digits, seed=cfg.seed * 1000 + k,
                                         exclude=taken)
        groups[reps] = canaries
        taken.update(c.secret for c in canaries)
    rng = random.Random(f"controls/{cfg.seed}")
    controls: list[str] = []
    while len(controls) < cfg.n_controls:
        s = "".join(rng.choice(DIGITS) for _ in range(cfg.n_digits))
        if s not in taken and s not in controls:
            controls.append(s)
    return (deduplicate(docs) if cfg.dedup else docs), groups, controls


@contextmanager
def _torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _row(lp: torch.Tensor, secret: str, completion: list[int], digit_ids: list[int]) -> dict:
    return {"secret": secret, "log_perplexity": round(float(lp[int(secret)]), 4), "rank": rank_of(lp, secret),
            "exposure": round(exposure(lp, secret), 4),
            "extracted": completion == [digit_ids[int(c)] for c in secret]}


def _summary(reps: int, rows: list[dict]) -> dict:
    """One repetition group: mean and best exposure, median rank, how many greedy decoding wrote."""
    return {"repetitions": reps, "mean_exposure": round(sum(r["exposure"] for r in rows) / len(rows), 4),
            "max_exposure_seen": max(r["exposure"] for r in rows),
            "median_rank": sorted(r["rank"] for r in rows)[len(rows) // 2],
            "extracted": sum(r["extracted"] for r in rows), "n": len(rows)}


def run_memorisation(cfg: MemorisationConfig | None = None, progress: bool = True, *, lm=None,
                     mitigation: str | None = None) -> dict:
    """Insert the canaries, fine-tune a copy of ``cfg.model`` (all weights, float32) and measure every canary
    and control: exposure, rank, greedy extraction; general bits/char before and after; wall times.
    ``lm``: an already loaded model (``LoadedModel``) to use instead of loading ``cfg.model``."""
    from course_utils.finetune import FinetuneConfig, adaptable_copy, finetune
    from course_utils.loading import load_model
    from course_utils.zoo.evaluate import bits_per_char

    cfg = cfg or MemorisationConfig()
    start = time.perf_counter()
    lm = lm or load_model(cfg.model, dtype="float32")
    tok = lm.tokenizer
    digit_ids = digit_token_ids(tok)  # refuse a tokenizer that merges digits before any training
    splits = make_splits({"train": cfg.n_docs, "val": cfg.n_eval_docs})
    docs, groups, controls = training_set(cfg, splits["train"])
    fcfg = FinetuneConfig(method="full", n_docs=len(docs), epochs=cfg.epochs, min_steps=1, max_steps=100_000,
                          batch_size=cfg.batch_size, block_size=cfg.block_size, lr=cfg.lr, seed=cfg.seed,
                          precision="float32", threads=cfg.threads)
    with _torch_threads(cfg.threads):
        bpc_before = bits_per_char(lm.model, tok, splits["val"])
        t0 = time.perf_counter()
        model, hist = finetune(adaptable_copy(lm.model).float(), tok, docs, fcfg, progress=progress)
        t1 = time.perf_counter()
        lp = canary_log_perplexities(model, tok, cfg.n_digits)
        completion = greedy_completion(model, tok, cfg.n_digits)
        t2 = time.perf_counter()
        bpc_after = bits_per_char(model, tok, splits["val"])
    copies = {}
    for d in docs:
        if d.domain == "canary":
            copies[d.meta["secret"]] = copies.get(d.meta["secret"], 0) + 1
    canaries = [_row(lp, c.secret, completion, digit_ids) | {"repetitions": reps, "copies_trained": copies[c.secret]}
                for reps, group in groups.items() for c in group]
    control_rows = [_row(lp, s, completion, digit_ids) for s in controls]
    by_group = [_summary(reps, [r for r in canaries if r["repetitions"] == reps]) for reps in cfg.repetitions]
    return {
        "model": lm.info.name, "params": sum(p.numel() for p in model.parameters()),
        "mitigation": mitigation or cfg.mitigation, "config": asdict(cfg),
        "n_digits": cfg.n_digits, "space_size": 10 ** cfg.n_digits, "max_exposure": max_exposure(cfg.n_digits),
        "expected_random_exposure": expected_random_exposure(10 ** cfg.n_digits),
        "groups": by_group, "canaries": canaries, "controls": control_rows,
        "control_mean_exposure": round(sum(r["exposure"] for r in control_rows) / len(control_rows), 4)
        if control_rows else None,
        "greedy_completion": tok.decode(completion),
        "general_bpc_before": bpc_before, "general_bpc_after": bpc_after,
        "train": {"docs": len(docs), "canary_docs": sum(copies.values()), "steps": len(hist.steps),
                  "tokens": hist.tokens, "final_loss": hist.train_loss[-1], "precision": hist.precision},
        "wall_s": {"finetune": round(t1 - t0, 2), "scoring": round(t2 - t1, 2),
                   "total": round(time.perf_counter() - start, 2)},
    }


# ----------------------------------------------------------------------------- the grid and its file

def mitigated(cfg: MemorisationConfig, mitigation: str) -> MemorisationConfig:
    """The run of ``cfg`` under one of ``MITIGATIONS``."""
    if mitigation == "as is":
        return cfg
    if mitigation == "deduplicated":
        return replace(cfg, dedup=True)
    if mitigation == "fewer epochs":
        return replace(cfg, epochs=cfg.epochs * FEWER_EPOCHS)
    raise BadInputError(f"Unknown mitigation {mitigation!r}: choose from {', '.join(MITIGATIONS)}.")


def run_grid(models=GRID_MODELS, mitigations=MITIGATIONS, base: MemorisationConfig | None = None, *,
             out: Path = RESULTS_DIR, progress: bool = False) -> dict:
    """Every (model, mitigation) run of ``base``, written with provenance to ``out/results.json``."""
    base = base or MemorisationConfig(n_digits=GRID_DIGITS)
    start = time.time()
    runs = []
    todo = [(m, g) for m in models for g in mitigations]
    for i, (name, mitigation) in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {name}, {mitigation}", flush=True)
        run = run_memorisation(mitigated(replace(base, model=name), mitigation), progress=progress,
                               mitigation=mitigation)
        runs.append(run)
        print("    " + ", ".join(f"{g['repetitions']}x: {g['mean_exposure']:.1f} bits ({g['extracted']}/{g['n']} "
                                 f"extracted)" for g in run["groups"])
              + f"; controls {run['control_mean_exposure']:.1f} bits; {run['wall_s']['total']:.0f} s", flush=True)
    results = {
        "format": FORMAT, "command": "python -m course_utils memorisation", "course_version": __version__,
        "created": time.strftime("%Y-%m-%d"),
        "machine": {"cpu_count": os.cpu_count(), "threads": base.threads, "platform": platform.platform(),
                    "torch": torch.__version__},
        "wall_s": round(time.time() - start, 1), "config": asdict(base), "fewer_epochs_share": FEWER_EPOCHS,
        "runs": runs,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {path} ({results['wall_s'] / 60:.1f} min)")
    return results


def load_results(path: Path | None = None) -> dict | None:
    """The shipped grid, or None with a one-line reason printed (missing, corrupt, another format)."""
    results = read_results(Path(path or RESULTS_DIR / "results.json"), what="memorisation",
                           command="python -m course_utils memorisation", fmt=FORMAT, key="runs")
    if results is not None and not isinstance(results["runs"], list):
        print("The memorisation results file holds no list of runs; it is ignored.")
        return None
    return results


def _runs(results: dict) -> list[dict]:
    """The runs of a grid (``run_grid``/``load_results``) or of one ``run_memorisation`` result."""
    return results["runs"] if "runs" in results else [results]


def exposure_table(results: dict) -> list[dict]:
    """One row per (model, mitigation, repetitions): mean exposure, extracted, and the run's controls."""
    return [{"model": r["model"], "mitigation": r["mitigation"], "repetitions": g["repetitions"],
             "mean_exposure": g["mean_exposure"], "extracted": f"{g['extracted']}/{g['n']}",
             "controls": r["control_mean_exposure"], "max": round(r["max_exposure"], 2)}
            for r in _runs(results) for g in r["groups"]]


def results_markdown(results: dict) -> str:
    """The grid as a markdown table: mean exposure (bits) by model, mitigation and repetitions."""
    runs = _runs(results)
    reps = sorted({g["repetitions"] for r in runs for g in r["groups"]})
    rows = ["| model | mitigation | " + " | ".join(f"{k}× (bits, extracted)" for k in reps) + " | controls | "
            "bits/char before → after | wall s |", "|" + "---|" * (len(reps) + 5)]
    for r in runs:
        by = {g["repetitions"]: g for g in r["groups"]}
        cells = [f"{by[k]['mean_exposure']:.1f}, {by[k]['extracted']}/{by[k]['n']}" if k in by else "–" for k in reps]
        rows.append(f"| {r['model']} | {r['mitigation']} | " + " | ".join(cells) +
                    f" | {r['control_mean_exposure']:.1f} | {r['general_bpc_before']:.3f} → "
                    f"{r['general_bpc_after']:.3f} | {r['wall_s']['total']:.0f} |")
    spaces = sorted({(r["space_size"], r["max_exposure"]) for r in runs})
    rows.append("")
    rows.append("Maximum exposure (ranked first): " + ", ".join(f"{m:.1f} bits of {s:,} secrets" for s, m in spaces)
                + f"; a secret never seen averages {expected_random_exposure(spaces[0][0]):.2f} bits.")
    return "\n".join(rows)


def plot_exposure(results: dict, mitigation: str = "as is", ax=None):
    """Mean canary exposure against repetitions (log scale), one line per model, for one mitigation (None: all,
    as line styles); the maximum log2|R| dashed, each model's controls dotted."""
    import matplotlib.pyplot as plt

    runs = [r for r in _runs(results) if mitigation is None or r["mitigation"] == mitigation]
    if not runs:
        raise BadInputError(f"No runs with mitigation {mitigation!r} in these results; they have "
                            f"{sorted({r['mitigation'] for r in _runs(results)})}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    models = list(dict.fromkeys(r["model"] for r in runs))
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    styles = {"as is": "-", "deduplicated": "--", "fewer epochs": "-."}
    for r in runs:
        g = sorted(r["groups"], key=lambda g: g["repetitions"])
        label = r["model"] if mitigation is not None else f"{r['model']}, {r['mitigation']}"
        ax.plot([x["repetitions"] for x in g], [x["mean_exposure"] for x in g], styles.get(r["mitigation"], ":"),
                marker="o", color=colours[r["model"]], label=label)
        if r["control_mean_exposure"] is not None and (mitigation is not None or r["mitigation"] == "as is"):
            ax.axhline(r["control_mean_exposure"], color=colours[r["model"]], ls=":", lw=1,
                       label=f"{r['model']}: never-inserted controls")
    for top in sorted({r["max_exposure"] for r in runs}):
        ax.axhline(top, color="black", ls="--", lw=1, label=f"maximum: log2 |R| = {top:.1f} bits")
    ax.set_xscale("log", base=2)
    reps = sorted({g["repetitions"] for r in runs for g in r["groups"]})
    ax.set_xticks(reps, [str(k) for k in reps])
    ax.set_xlabel("copies of the canary in the fine-tuning set")
    ax.set_ylabel("exposure (bits)")
    ax.set_ylim(0, max(r["max_exposure"] for r in runs) * 1.08)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Memorisation of canary secrets" + (f" ({mitigation})" if mitigation else ""))
    return ax


# ----------------------------------------------------------------------------- the command

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of ``python -m course_utils memorisation``."""
    parser.add_argument("--models", nargs="+", default=list(GRID_MODELS))
    parser.add_argument("--mitigations", nargs="+", default=list(MITIGATIONS), choices=list(MITIGATIONS))
    parser.add_argument("--digits", type=int, default=GRID_DIGITS, help="secret length (10**digits candidates)")
    parser.add_argument("--docs", type=int, default=MemorisationConfig.n_docs, help="general documents to hide among")
    parser.add_argument("--epochs", type=float, default=MemorisationConfig.epochs)
    parser.add_argument("--threads", type=int, default=MemorisationConfig.threads)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)


def run_from_args(args: argparse.Namespace) -> int:
    import sys

    base = MemorisationConfig(n_digits=args.digits, n_docs=args.docs, epochs=args.epochs, threads=args.threads)
    run_grid(args.models, args.mitigations, base, out=args.out, progress=sys.stderr.isatty())
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils memorisation``: run the grid and write models/memorisation/results.json."""
    parser = argparse.ArgumentParser(prog="python -m course_utils memorisation", description=run_grid.__doc__)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
