"""Evaluation hygiene on the helpdesk task (lesson 10): when can a number be trusted?

Three ways an evaluation misleads, each measured on the course world:

- **contamination**: scoring on documents the model was trained on. The course models' training split is the
  100,000 'train' documents ``make_splits`` draws first (sizes in models/manifest.json); ``split_of`` files every
  text by a hash of its bytes, so no validation or test text can be in it. Each model read random 256-token windows
  of that split's 10.4 million tokens for 1.4 to 2.5 million tokens (13% to 24%): "in the training split" is not
  "read in training". :func:`training_exposure` replays the windows each model read, and :func:`read_vs_unread`
  compares documents read with documents not read, selected alike.
- **variance**: a test set is a sample. :func:`wilson_interval`, :func:`accuracy_over_sets` (disjoint subsets),
  :func:`difference_is_real` and :func:`paired_difference` say how far an accuracy moves from one set to the next.
- **calibration**: is a model right 70% of the time when it says 70%? :func:`reliability` bins the top label's
  probability and compares with accuracy per bin; ECE = Σ_bins (n_b / N) · |accuracy_b − confidence_b|. ECE is
  noisy and biased upwards on few items: the exact Bayes posterior, calibrated by construction, scores about
  0.03 on 300 tickets and 0.01 on 1,000 (:func:`bayes_reliability`), so compare models on the same tickets.

    probs = label_probabilities(model, tok, tickets)        # {label: p} per ticket, the 5 labels renormalised
    correct = correctness(probs, tickets)                    # top label == true label
    accuracy_over_sets(correct, 50)                           # accuracy of each disjoint set of 50, Wilson 95%
    difference_is_real(0.68, 0.70, n=200)                     # two-proportion z-test
    reliability_from_probs(probs, tickets).ece; bayes_reliability(tickets).ece   # the Bayes posterior: ≈ 0
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from course_utils import MODELS_DIR
from course_utils.corpus import (HELPDESK, CorpusConfig, Document, LabelTask, bayes_accuracy, helpdesk_task,
                                 iter_splits, label_posterior, make_splits)
from course_utils.errors import BadInputError
from course_utils.intervals import wilson_interval, z_of
from course_utils.tables import text_table



# ----------------------------------------------------------------------------- label probabilities

@torch.no_grad()
def label_probabilities(model, tokenizer, docs: list[Document], task: LabelTask = HELPDESK,
                        batch_size: int = 16) -> list[dict[str, float]]:
    """P(label | document up to the task's prompt) for every label, renormalised over the task's labels.

    The scores are those of ``zoo.evaluate.label_scores`` (log p(label + line end)), computed with one forward pass
    of the shared prompt and the model's KV cache for the labels' own tokens: about 4x fewer tokens than scoring
    each label's full sequence (the labels' tokens are few, the prompt is ~75 tokens).
    """
    if not docs:
        raise BadInputError("no documents to score; pass e.g. helpdesk_task({'test': 300})['test'].")
    device = next(model.parameters()).device
    n_lab = len(task.labels)
    prefixes, conts = [], []
    for d in docs:
        cands = [tokenizer(task.prompt_of(d) + c + "\n")["input_ids"] for c in task.labels]
        k = 0  # shared prefix: each label's own tokens start after it
        while all(len(c) > k and c[k] == cands[0][k] for c in cands):
            k += 1
        prefixes.append(cands[0][:k])
        conts.append([c[k:] for c in cands])
    out: list[dict[str, float]] = [{} for _ in docs]
    order = sorted(range(len(docs)), key=lambda i: len(prefixes[i]))
    pad = tokenizer.pad_token_id
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        B, P = len(idx), max(len(prefixes[i]) for i in idx)
        ids = torch.full((B, P), pad, dtype=torch.long)
        mask = torch.zeros((B, P), dtype=torch.long)
        for r, i in enumerate(idx):  # left padding, so every prompt ends at the same position
            ids[r, P - len(prefixes[i]):] = torch.tensor(prefixes[i])
            mask[r, P - len(prefixes[i]):] = 1
        # positions count real tokens only, so a padded prompt is read exactly as an unpadded one
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        first = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                      use_cache=True)
        lp_first = torch.log_softmax(first.logits[:, -1].float(), -1).cpu()  # (B, V): each label's first token
        L = max(len(c) for i in idx for c in conts[i])
        cont = torch.full((B * n_lab, L), pad, dtype=torch.long)
        cmask = torch.zeros((B * n_lab, L), dtype=torch.long)
        for r, i in enumerate(idx):
            for j, c in enumerate(conts[i]):
                cont[r * n_lab + j, :len(c)] = torch.tensor(c)
                cmask[r * n_lab + j, :len(c)] = 1
        cache = first.past_key_values
        cache.batch_repeat_interleave(n_lab)  # (B * labels) copies of each prompt's keys and values
        full_mask = torch.cat([mask.repeat_interleave(n_lab, 0), cmask], 1)
        cpos = pos[:, -1:].repeat_interleave(n_lab, 0) + 1 + torch.arange(L)  # (B * labels, L)
        rest = model(input_ids=cont.to(device), attention_mask=full_mask.to(device), position_ids=cpos.to(device),
                     past_key_values=cache, use_cache=True)
        lp_rest = torch.log_softmax(rest.logits.float(), -1).cpu()  # (B * labels, L, V)
        for r, i in enumerate(idx):
            scores = []
            for j, c in enumerate(conts[i]):
                row = r * n_lab + j
                lp = lp_first[r, c[0]] + sum(lp_rest[row, t - 1, c[t]] for t in range(1, len(c)))
                scores.append(float(lp))
            z = max(scores)
            w = [math.exp(x - z) for x in scores]
            out[i] = {lab: x / sum(w) for lab, x in zip(task.labels, w)}
    return out


def predictions(probs: list[dict[str, float]]) -> list[str]:
    """The most likely label of each document."""
    return [max(p, key=p.get) for p in probs]


def correctness(probs: list[dict[str, float]], docs: list[Document]) -> list[bool]:
    """Whether each document's most likely label is its true one."""
    if len(probs) != len(docs) or not docs:
        raise BadInputError(f"{len(probs)} probability sets for {len(docs)} documents: give one per document "
                            f"(at least one).")
    return [pred == d.label for pred, d in zip(predictions(probs), docs)]


# ----------------------------------------------------------------------------- variance

def accuracy_interval(correct, level: float = 0.95) -> dict:
    """Accuracy of a list of right/wrong answers, with its Wilson interval."""
    correct = list(correct)
    if not correct:
        raise BadInputError("no answers: pass at least one right/wrong value.")
    k, n = int(sum(bool(c) for c in correct)), len(correct)
    lo, hi = wilson_interval(k, n, level)
    return {"accuracy": k / n, "correct": k, "n": n, "low": lo, "high": hi}


def accuracy_over_sets(correct, set_size: int, level: float = 0.95) -> list[dict]:
    """Accuracy of each disjoint set of ``set_size`` consecutive answers (leftovers dropped), with Wilson intervals:
    how much an accuracy moves when the test set is swapped for another of the same size."""
    correct = list(correct)
    if not isinstance(set_size, int) or set_size < 1:
        raise BadInputError(f"set_size={set_size!r}: each set needs at least one item.")
    if len(correct) < set_size:
        raise BadInputError(f"{len(correct)} answers cannot fill one set of {set_size}; score more documents or "
                            f"use smaller sets.")
    return [{"set": s, **accuracy_interval(correct[s * set_size:(s + 1) * set_size], level)}
            for s in range(len(correct) // set_size)]


@dataclass(frozen=True)
class Difference:
    """Is accuracy a − accuracy b more than noise? ``real`` when the test's p-value is below ``alpha``."""

    diff: float
    low: float
    high: float
    p_value: float
    real: bool
    n: int
    test: str

    def __str__(self) -> str:
        verdict = "a real difference" if self.real else "could be noise"
        return (f"{self.diff:+.3f} (95% CI {self.low:+.3f} … {self.high:+.3f}), p = {self.p_value:.3g} with "
                f"n = {self.n:,} each ({self.test}): {verdict}")


def difference_is_real(acc_a: float, acc_b: float, n: int, alpha: float = 0.05, n_b: int | None = None) -> Difference:
    """Two-proportion z-test of accuracies measured on ``n`` (and ``n_b``) items.

    It treats the two accuracies as measured on independent test sets (the p-value uses the pooled proportion; the
    interval of the difference the unpooled standard error). When both models answered the same items,
    :func:`paired_difference` uses the pairing and is more sensitive.
    """
    n_b = n if n_b is None else n_b
    for name, v in (("acc_a", acc_a), ("acc_b", acc_b)):
        if not 0 <= v <= 1:
            raise BadInputError(f"{name}={v}: an accuracy is a fraction in [0, 1].")
    if n < 1 or n_b < 1:
        raise BadInputError(f"n={n}, n_b={n_b}: each accuracy needs at least one item.")
    if not 0 < alpha < 1:
        raise BadInputError(f"alpha={alpha}: a significance level is in (0, 1), e.g. 0.05.")
    diff = acc_a - acc_b
    pooled = (acc_a * n + acc_b * n_b) / (n + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n_b))
    p = 1.0 if se0 == 0 else math.erfc(abs(diff) / se0 / math.sqrt(2))  # two-sided; erfc keeps tiny p exact
    se = math.sqrt(acc_a * (1 - acc_a) / n + acc_b * (1 - acc_b) / n_b)
    z = z_of(1 - alpha)
    return Difference(diff, diff - z * se, diff + z * se, p, p < alpha, n, "two-proportion z-test")


def paired_difference(correct_a, correct_b, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0) -> Difference:
    """Paired bootstrap of accuracy a − accuracy b on the same items: resample items, keep each item's pair of
    answers. ``real`` when the (1 − alpha) interval excludes 0; ``p_value`` is twice the smaller tail share
    (at least 1 / n_boot: the resamples cannot resolve smaller ones)."""
    a, b = np.asarray(list(correct_a), dtype=float), np.asarray(list(correct_b), dtype=float)
    if a.size == 0 or a.size != b.size:
        raise BadInputError(f"{a.size} and {b.size} answers: pass the two models' right/wrong answers on the same "
                            f"items (at least one).")
    d = a - b
    means = d[np.random.default_rng(seed).integers(0, d.size, (n_boot, d.size))].mean(1)  # (n_boot,)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    p = min(1.0, max(1 / n_boot, 2 * min((means <= 0).mean(), (means >= 0).mean())))
    return Difference(float(d.mean()), float(lo), float(hi), float(p), bool(lo > 0 or hi < 0), int(d.size),
                      "paired bootstrap")


# ----------------------------------------------------------------------------- calibration

@dataclass
class Reliability:
    """Confidence (the top label's probability) against accuracy, per equal-width bin of confidence."""

    bins: list[dict]  # lo, hi, n, confidence, accuracy (empty bins have n = 0 and None)
    ece: float
    accuracy: float
    confidence: float
    n: int

    def text(self, digits: int = 3) -> str:
        return text_table([b for b in self.bins if b["n"]], digits=digits)


def reliability_from(confidence, correct, bins: int = 10) -> Reliability:
    """The reliability table and expected calibration error of top-label ``confidence`` values and whether each
    answer was right: ECE = Σ_bins (n_b / N) · |accuracy_b − confidence_b|."""
    c, ok = np.asarray(list(confidence), dtype=float), np.asarray(list(correct), dtype=float)
    if c.size == 0 or c.size != ok.size:
        raise BadInputError(f"{c.size} confidences and {ok.size} answers: give one of each per item (at least one).")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise BadInputError(f"bins={bins!r}: a reliability diagram needs at least 2 bins (10 is usual).")
    if c.min() < 0 or c.max() > 1:
        raise BadInputError(f"confidences run from {c.min()} to {c.max()}: they are probabilities in [0, 1].")
    which = np.minimum((c * bins).astype(int), bins - 1)  # (N,) bin of each item; 1.0 goes in the last bin
    rows, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        k = int(sel.sum())
        conf = float(c[sel].mean()) if k else None
        acc = float(ok[sel].mean()) if k else None
        if k:
            ece += k / c.size * abs(acc - conf)
        rows.append({"lo": b / bins, "hi": (b + 1) / bins, "n": k, "confidence": conf, "accuracy": acc})
    return Reliability(rows, float(ece), float(ok.mean()), float(c.mean()), int(c.size))


def reliability_from_probs(probs: list[dict[str, float]], docs: list[Document], bins: int = 10) -> Reliability:
    """Reliability of per-document label probabilities (e.g. from :func:`label_probabilities`)."""
    ok = correctness(probs, docs)
    return reliability_from([max(p.values()) for p in probs], ok, bins)


def reliability(model, tokenizer, docs: list[Document], bins: int = 10, task: LabelTask = HELPDESK) -> Reliability:
    """How well the model's label confidence matches its accuracy on ``docs``."""
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise BadInputError(f"bins={bins!r}: a reliability diagram needs at least 2 bins (10 is usual).")
    return reliability_from_probs(label_probabilities(model, tokenizer, docs, task), docs, bins)


def bayes_reliability(docs: list[Document], bins: int = 10, task: LabelTask = HELPDESK,
                      cfg: CorpusConfig = CorpusConfig()) -> Reliability:
    """The reference: the generator's exact posterior is calibrated by construction (its ECE is sampling noise)."""
    if not docs:
        raise BadInputError("no documents; pass e.g. helpdesk_task({'test': 300})['test'].")
    return reliability_from_probs([label_posterior(d, task, cfg) for d in docs], docs, bins)


def plot_accuracy_over_sets(sets: dict[str, list[dict]], ax=None):
    """Each model's accuracy on each disjoint test set ({name: accuracy_over_sets(...)}), one column per model:
    the spread of a column is how much one test set of that size can mislead."""
    import matplotlib.pyplot as plt

    if not sets:
        raise BadInputError("nothing to plot: pass {name: accuracy_over_sets(correct, set_size)}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for k, (name, rows) in enumerate(sets.items()):
        accs = [r["accuracy"] for r in rows]
        ax.scatter(np.full(len(accs), k) + np.linspace(-0.15, 0.15, len(accs)), accs, s=12, label=name)
    size = next(iter(sets.values()))[0]["n"]
    ax.set_xticks(range(len(sets)), list(sets))
    ax.set_ylabel(f"accuracy on a set of {size}")
    ax.set_title(f"The same model, {len(next(iter(sets.values())))} test sets of {size}")
    return ax


def plot_reliability(rels, ax=None):
    """Accuracy against confidence per bin for one Reliability or {name: Reliability}; the dashed diagonal is a
    perfectly calibrated model. Marker area grows with the items in a bin."""
    import matplotlib.pyplot as plt

    if isinstance(rels, Reliability):
        rels = {"model": rels}
    if not rels:
        raise BadInputError("nothing to plot: pass a Reliability or {name: Reliability}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    for name, r in rels.items():
        pts = [b for b in r.bins if b["n"]]
        line, = ax.plot([b["confidence"] for b in pts], [b["accuracy"] for b in pts], "-", alpha=0.6)
        ax.scatter([b["confidence"] for b in pts], [b["accuracy"] for b in pts], color=line.get_color(),
                   s=[10 + 200 * b["n"] / r.n for b in pts], label=f"{name} (ECE {r.ece:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="calibrated")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence: the top label's probability")
    ax.set_ylabel("accuracy in the bin")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Reliability diagram (helpdesk tickets)")
    return ax


# ----------------------------------------------------------------------------- contamination

def training_split_sizes() -> dict[str, int]:
    """The split sizes the course models were built from (models/manifest.json)."""
    return dict(json.loads((MODELS_DIR / "manifest.json").read_text())["corpus"]["config"]["sizes"])


def _bpc_with_interval(bits: list[float], docs: list[Document], n_boot: int, seed: int) -> tuple[float, np.ndarray]:
    b, ch = np.asarray(bits), np.asarray([len(d.text) for d in docs], dtype=float)
    ix = np.random.default_rng(seed).integers(0, b.size, (n_boot, b.size))
    return float(b.sum() / ch.sum()), b[ix].sum(1) / ch[ix].sum(1)  # bits/char and its bootstrap replicates


def training_tickets(n: int, cfg: CorpusConfig = CorpusConfig()) -> list[Document]:
    """The first ``n`` helpdesk tickets of the models' training split (the general mix's, which they trained on)."""
    share = cfg.domain_weights["helpdesk"] / sum(cfg.domain_weights.values())
    pool = math.ceil(n / share * 1.2) + 20
    while True:
        tickets = [d for d in make_splits({"train": pool}, cfg=cfg)["train"] if d.domain == "helpdesk"]
        if len(tickets) >= n:
            return tickets[:n]
        pool *= 2


def contamination_gap(model, tokenizer, n_docs: int = 300, n_tickets: int = 300, n_boot: int = 1000,
                      seed: int = 0, cfg: CorpusConfig = CorpusConfig()) -> dict:
    """Scores on the first documents of the models' training split against held-out test documents.

    bits/char: ``n_docs`` general-mix documents of each split; accuracy: ``n_tickets`` helpdesk tickets from the
    training split's mix against test-split tickets. ``gap`` is train − test with a bootstrap 95% interval (bits/char)
    and a two-proportion test (accuracy); a model that memorised its training data scores better on it. The two
    ticket sets differ in difficulty too (their Bayes accuracies), so ``gap_vs_bayes`` compares each with its own
    best possible accuracy. A course model read only part of its split (:func:`training_exposure`;
    :func:`read_vs_unread` compares the documents it did read with ones it did not).
    """
    from course_utils.zoo.evaluate import doc_bits

    if n_docs < 1 or n_tickets < 1:
        raise BadInputError(f"n_docs={n_docs}, n_tickets={n_tickets}: score at least one document of each kind.")
    t0 = time.perf_counter()
    train = make_splits({"train": n_docs}, cfg=cfg)["train"]
    test = make_splits({"test": n_docs}, cfg=cfg)["test"]
    train_tickets = training_tickets(n_tickets, cfg)
    test_tickets = helpdesk_task({"test": len(train_tickets)}, cfg)["test"]
    bpc_tr, rep_tr = _bpc_with_interval(doc_bits(model, tokenizer, train), train, n_boot, seed)
    bpc_te, rep_te = _bpc_with_interval(doc_bits(model, tokenizer, test), test, n_boot, seed + 1)
    gap = rep_tr - rep_te
    acc_tr = float(np.mean(correctness(label_probabilities(model, tokenizer, train_tickets), train_tickets)))
    acc_te = float(np.mean(correctness(label_probabilities(model, tokenizer, test_tickets), test_tickets)))
    bayes_tr, bayes_te = bayes_accuracy(train_tickets, cfg), bayes_accuracy(test_tickets, cfg)
    return {"bits_per_char": {"train": bpc_tr, "test": bpc_te, "gap": bpc_tr - bpc_te,
                              "gap_ci95": tuple(float(x) for x in np.quantile(gap, [0.025, 0.975])), "n": n_docs},
            "accuracy": {"train": acc_tr, "test": acc_te, "gap": acc_tr - acc_te,
                         "test_of_gap": difference_is_real(acc_tr, acc_te, len(train_tickets)),
                         # the best possible accuracy of each set: two samples of tickets differ in difficulty
                         "bayes_train": bayes_tr, "bayes_test": bayes_te,
                         "gap_vs_bayes": (acc_tr - bayes_tr) - (acc_te - bayes_te), "n": len(train_tickets)},
            "seconds": time.perf_counter() - t0}


@dataclass
class Exposure:
    """Which documents of the training split a course model read: ``coverage[i]`` is the share of document i's
    tokens (after its ``<s>``) that were training targets at least once; ``times[i]`` the most times any of them was."""

    model: str
    coverage: np.ndarray  # (documents of the split,) in make_splits order
    times: np.ndarray
    tokens_read: int
    stream_tokens: int

    @property
    def seen(self) -> np.ndarray:
        """Indices of documents read in full at least once."""
        return np.flatnonzero(self.coverage >= 1.0)

    @property
    def unseen(self) -> np.ndarray:
        """Indices of documents of which the model read no token."""
        return np.flatnonzero(self.coverage == 0.0)


_STREAMS: dict = {}


def _training_stream(cfg: CorpusConfig):
    """Document lengths (tokens, with <s> and </s>) in the build's shuffled order, and that order (cached)."""
    if cfg not in _STREAMS:
        from transformers import AutoTokenizer

        n = training_split_sizes()["train"]
        tok = AutoTokenizer.from_pretrained(str(MODELS_DIR / "tokenizer")).backend_tokenizer
        lengths, chunk = [], []
        for i, (_, doc) in enumerate(iter_splits({"train": n}, cfg=cfg)):  # in chunks: 100,000 encodings are ~1 GB
            chunk.append(doc.text)
            if len(chunk) == 2000 or i == n - 1:
                # <s> text </s>, as zoo.train.encode writes them
                lengths += [len(e.ids) + 2 for e in tok.encode_batch(chunk, add_special_tokens=False)]
                chunk = []
        lengths = torch.tensor(lengths)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))  # zoo.train.token_stream
        _STREAMS[cfg] = (lengths[order], order)
    return _STREAMS[cfg]


def target_counts(lengths: torch.Tensor, *, steps: int, batch_size: int, context: int, seed: int,
                  doc_start_fraction: float) -> np.ndarray:
    """How many times each token of a training stream was a target, replaying ``training.train``'s batches.

    ``lengths``: the documents' token counts in stream order (each starts with ``<s>``). Every step draws its
    windows from its own generator (seed · 1,000,003 + step), so the windows are a pure function of the step; the
    tokens themselves are not needed, only where documents start.
    """
    from course_utils.training import get_batch

    starts = torch.cumsum(lengths, 0) - lengths  # (D,) offset of each document
    total = int(lengths.sum())
    positions = torch.arange(total)  # a stand-in stream: each "token" is its own position
    is_start = torch.zeros(total, dtype=torch.bool)
    is_start[starts] = True
    hits = torch.zeros(total + 1, dtype=torch.int64)  # a difference array: +1 where a window starts, -1 after it
    for step in range(steps):
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        x, _ = get_batch(positions, batch_size, context, g, doc_starts=starts, doc_start_fraction=doc_start_fraction)
        ix = x[:, 0]  # (B,)
        # a window at a document start predicts ix+1 … ix+T; any other gets <s> prefixed and predicts ix … ix+T-1
        first = torch.where(is_start[ix], ix + 1, ix)
        hits.index_add_(0, first, torch.ones_like(first))
        hits.index_add_(0, first + context, -torch.ones_like(first))
    return hits[:-1].cumsum(0).numpy()


def exposure_of(per_token: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per document (stream order): the share of its tokens after ``<s>`` that were targets, and the most times
    any of them was."""
    st = np.cumsum(lengths) - lengths
    read = np.concatenate([[0], np.cumsum(per_token > 0)])  # read[k]: tokens before position k read at least once
    cov = (read[st + lengths] - read[st + 1]) / (lengths - 1)
    counts = per_token.copy()
    counts[st] = 0  # a document's <s> is a target of the window before it; leave it out of the maximum
    return cov, np.maximum.reduceat(counts, st)


def training_exposure(model_name: str, seed: int | None = None, cfg: CorpusConfig = CorpusConfig()) -> Exposure:
    """Which training-split documents a course model read, from its training record in models/manifest.json.

    ``seed``: None replays the model's own batches; another seed draws the same number of windows the same way,
    windows the model never trained on (a placebo, see :func:`read_vs_unread`). Slow the first time in a process:
    generating and tokenizing the 100,000-document split takes about half a minute on 2 cores.
    """
    models = json.loads((MODELS_DIR / "manifest.json").read_text())["models"]
    record = next((m for m in models if m["name"] == model_name), None)
    if record is None:
        raise BadInputError(f"{model_name!r} is not a course model; choose one of "
                            f"{', '.join(m['name'] for m in models)}.")
    tr = record["training"]
    lengths, order = _training_stream(cfg)
    per_token = target_counts(lengths, steps=tr["steps"], batch_size=tr["batch_size"], context=tr["context"],
                              seed=tr["seed"] if seed is None else seed, doc_start_fraction=tr["doc_start_fraction"])
    cov_s, times_s = exposure_of(per_token, lengths.numpy())
    cov, times = np.zeros(len(order)), np.zeros(len(order), dtype=int)
    cov[order.numpy()], times[order.numpy()] = cov_s, times_s  # back to make_splits order
    return Exposure(model_name, cov, times, tr["steps"] * tr["batch_size"] * tr["context"], int(lengths.sum()))


def read_vs_unread(model, tokenizer, model_name: str, n_docs: int = 300, pool: int = 5000, n_boot: int = 1000,
                   seed: int = 0, cfg: CorpusConfig = CorpusConfig()) -> dict:
    """bits/char of training-split documents the model read in full against ones it never read.

    A document that fits inside one window is more often a short one, so "read in full" is not a random sample.
    The comparison set is selected the same way by a placebo replay (the same windows drawn with another seed,
    never trained on): ``read`` = fully read in training and untouched by the placebo, ``unread`` = fully inside a
    placebo window and never read in training. Only the training differs between the two.
    """
    from course_utils.zoo.evaluate import doc_bits

    if n_docs < 1 or pool < 1:
        raise BadInputError(f"n_docs={n_docs}, pool={pool}: compare at least one document from a pool of at least one.")
    t0 = time.perf_counter()
    real = training_exposure(model_name, cfg=cfg)
    models = json.loads((MODELS_DIR / "manifest.json").read_text())["models"]
    taken = {m["training"]["seed"] for m in models}
    placebo = training_exposure(model_name, seed=max(taken) + 12_345, cfg=cfg)  # a seed no course model trained with
    pool = min(pool, len(real.coverage))
    docs = make_splits({"train": pool}, cfg=cfg)["train"]
    read = [docs[i] for i in range(pool) if real.coverage[i] >= 1 and placebo.coverage[i] == 0][:n_docs]
    unread = [docs[i] for i in range(pool) if placebo.coverage[i] >= 1 and real.coverage[i] == 0][:n_docs]
    if not read or not unread:
        raise BadInputError(f"the first {pool} training documents hold {len(read)} read and {len(unread)} unread "
                            f"ones; use a larger pool.")
    bpc_r, rep_r = _bpc_with_interval(doc_bits(model, tokenizer, read), read, n_boot, seed)
    bpc_u, rep_u = _bpc_with_interval(doc_bits(model, tokenizer, unread), unread, n_boot, seed + 1)
    return {"read": bpc_r, "unread": bpc_u, "gap": bpc_r - bpc_u,
            "gap_ci95": tuple(float(x) for x in np.quantile(rep_r - rep_u, [0.025, 0.975])),
            "n": (len(read), len(unread)), "share_read": float((real.coverage >= 1).mean()),
            "seconds": time.perf_counter() - t0}
