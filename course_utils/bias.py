"""Bias comes from data, measured (lesson 10).

The course world has a built-in control: in stories and reviews an occupation's pronoun follows a stereotype
with probability ``CorpusConfig.pronoun_skew`` (0.85); in clinic notes the clinician's pronoun is a fair coin.
So the "right" answer for a model is known exactly, and any skew a model shows can be traced to its data:

    probes = pronoun_probe_prompts("story")          # held-out documents cut right before the pronoun
    model_skew(model, tok, probes)["story"]["nurse"]  # P(" She") / (P(" She") + P(" He")), with a 95% interval
    data_skew(training_docs())                       # the rate in the training data, per domain and occupation
    table = skew_table({"course-small": (m, t), ...}); print(table.text()); print(table.verdict())
    swapped = counterfactual_swap(docs)              # the same documents with the pronoun choice flipped
    tuned = debias_finetune(lm, docs)                # fine-tune on docs + swaps: change the data, change the bias

Every pronoun of a story, a review or a clinic note refers to the one occupation holder, so the first one after the
occupation is where the model must choose. A story and a clinic note write it capitalised (" She", " He"), a review
in lower case (" she", " he"): the probe compares the two forms of the document's own case. With the course
tokenizer each form is one token; a tokenizer that splits a form into several tokens is handled by summing the
log-probabilities of its tokens.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from course_utils.corpus import CorpusConfig, Document, make_splits, sample_document, split_of
from course_utils.corpus.domains import CLINICIANS, DOMAINS, OCCUPATIONS
from course_utils.corpus.grammar import Gen
from course_utils.corpus.parse import derivations
from course_utils.corpus.world import mix_grammar
from course_utils.errors import BadInputError, CourseError
from course_utils.finetune import FinetuneConfig, adaptable_copy, finetune
from course_utils.intervals import bootstrap_interval
from course_utils.tables import text_table
from course_utils.zoo.evaluate import padded_batches

PROBE_DOMAINS = {"story": OCCUPATIONS, "review": OCCUPATIONS, "clinic": CLINICIANS}  # domain -> occupation table
GENERAL = ("story", "review")  # the skewed domains of the general mix; "clinic" is the balanced control
PRONOUN_RE = re.compile(r"\b(She|He|she|he)\b")
MAX_DRAWS = 2_000_000  # documents drawn for probes before giving up (never reached by the course world)


def configured_rate(domain: str, cfg: CorpusConfig = CorpusConfig()) -> float:
    """P(stereotyped pronoun) the generator uses in ``domain``: the skew in stories and reviews, 0.5 in clinic notes."""
    _check_domain(domain)
    return 0.5 if domain == "clinic" else cfg.pronoun_skew


def _check_domain(domain: str) -> None:
    if domain not in PROBE_DOMAINS:
        raise BadInputError(f"domain {domain!r} has no occupation pronouns; choose one of {', '.join(PROBE_DOMAINS)}.")


def _stereotype(domain: str, occupation: str) -> str:
    return PROBE_DOMAINS[domain][occupation]


# ----------------------------------------------------------------------------- probe prompts

@dataclass(frozen=True)
class Probe:
    """A held-out document cut right before the first pronoun after its occupation.

    ``prompt`` ends just before the space of that pronoun; ``candidates`` are the two continuations the model
    chooses between (" She"/" He" or " she"/" he", the document's own case); ``pronoun`` is the one the document has.
    """

    domain: str
    occupation: str
    stereotype: str
    pronoun: str
    prompt: str
    candidates: dict
    doc: Document = field(repr=False, compare=False)


def probe_of(doc: Document) -> Probe:
    """The probe of one generated document with an occupation pronoun (a story, a review that names one, a clinic
    note): the cut is found from the document's meta (occupation, pronoun) and checked against its text."""
    if "pronoun" not in doc.meta or "occupation" not in doc.meta:
        raise BadInputError(f"this {doc.domain} document has no occupation pronoun (its meta has no 'pronoun'); "
                            f"use stories, clinic notes, or reviews that name an occupation.")
    _check_domain(doc.domain)
    occ, pron = doc.meta["occupation"], doc.meta["pronoun"]
    at = re.search(rf"\b{re.escape(occ)}\b", doc.text)
    m = PRONOUN_RE.search(doc.text, at.end()) if at else None
    if m is None or m.group(1).lower() != pron or doc.text[m.start() - 1] != " ":
        raise CourseError(f"could not find the pronoun {pron!r} after {occ!r} in this {doc.domain} document; the "
                          f"grammar in course_utils/corpus/domains.py no longer writes it as the probe expects: "
                          f"{doc.text[:120]!r}")
    cap = m.group(1)[0].isupper()
    form = {p: " " + (p.capitalize() if cap else p) for p in ("she", "he")}
    return Probe(doc.domain, occ, _stereotype(doc.domain, occ), pron, doc.text[:m.start() - 1], form, doc)


def pronoun_probe_prompts(domain: str, occupations=None, n: int = 30, seed: int = 0,
                          cfg: CorpusConfig = CorpusConfig()) -> list[Probe]:
    """``n`` probes per occupation of ``domain`` ('story', 'review' or 'clinic'), from freshly generated documents
    outside the training split (``split_of`` is not 'train', so no course model has seen them)."""
    _check_domain(domain)
    known = PROBE_DOMAINS[domain]
    occupations = list(known) if occupations is None else list(occupations)
    if not occupations:
        raise BadInputError(f"no occupations given; pass None for all of them ({', '.join(known)}).")
    unknown = [o for o in occupations if o not in known]
    if unknown:
        raise BadInputError(f"unknown occupation(s) {', '.join(map(repr, unknown))} in {domain} documents; the known "
                            f"ones are {', '.join(known)}.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadInputError(f"n={n!r}: ask for at least 1 prompt per occupation (an int).")
    rng = random.Random(f"{seed}/probes/{domain}")
    count = {o: 0 for o in occupations}
    out = []
    for _ in range(MAX_DRAWS):
        if all(c >= n for c in count.values()):
            return out
        doc = sample_document(rng, domain, cfg)
        occ = doc.meta.get("occupation")
        if occ in count and count[occ] < n and split_of(doc.text, cfg) != "train":
            out.append(probe_of(doc))
            count[occ] += 1
    raise CourseError(f"found only {count} probes in {MAX_DRAWS:,} {domain} documents; ask for fewer.")


def general_and_clinic_probes(n: int = 30, seed: int = 0, cfg: CorpusConfig = CorpusConfig()) -> list[Probe]:
    """``n`` probes per occupation in each probe domain: stories, reviews (skewed) and clinic notes (balanced)."""
    return [p for d in PROBE_DOMAINS for p in pronoun_probe_prompts(d, n=n, seed=seed, cfg=cfg)]


# ----------------------------------------------------------------------------- the model's skew

def _unpack(lm):
    """(model, tokenizer) from a LoadedModel or a (model, tokenizer) pair."""
    if hasattr(lm, "model") and hasattr(lm, "tokenizer"):
        return lm.model, lm.tokenizer
    model, tokenizer = lm
    return model, tokenizer


@torch.no_grad()
def _last_logprobs(model, seqs: list[list[int]], pad_id: int, batch_size: int = 32) -> torch.Tensor:
    """log p(next token | seq) over the vocabulary, after the last token of each sequence: (N, V)."""
    device = next(model.parameters()).device
    out = [None] * len(seqs)
    for idx, ids, mask in padded_batches(seqs, pad_id, batch_size):
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float().cpu()  # (B, T, V)
        last = mask.sum(1) - 1  # (B,) position of each sequence's last real token (right padding)
        lp = torch.log_softmax(logits[torch.arange(len(idx)), last], -1)  # (B, V)
        for r, i in enumerate(idx):
            out[i] = lp[r]
    return torch.stack(out)


def pronoun_probabilities(model, tokenizer, probes: list[Probe], batch_size: int = 32) -> list[dict[str, float]]:
    """P(she form) and P(he form) right after each probe's prompt.

    The two continuations are scored from the first token where they differ. When each is one token there (the
    course tokenizer: " She", " He", " she", " he" are single tokens) one forward pass of the prompt reads both;
    otherwise each continuation is scored as a sequence, summing the log-probabilities of its tokens. A tokenizer
    that merges the prompt's last characters into the pronoun's token is handled too (the shared tokens cancel in
    the ratio, but the absolute probabilities then include them).
    """
    from course_utils.zoo.evaluate import sequence_logprobs

    if not probes:
        raise BadInputError("no probes given; make some with pronoun_probe_prompts(domain).")
    one_pass, slow = [], []  # (probe index, prefix ids, she id, he id) | (probe index, she ids, he ids, start)
    for j, p in enumerate(probes):
        she, he = (tokenizer(p.prompt + p.candidates[w])["input_ids"] for w in ("she", "he"))
        k = 0
        while k < min(len(she), len(he)) and she[k] == he[k]:
            k += 1
        if k >= 1 and len(she) == len(he) == k + 1:
            one_pass.append((j, she[:k], she[k], he[k]))
        else:
            slow.append((j, she, he, k))
    out: list[dict[str, float]] = [{} for _ in probes]
    if one_pass:
        lp = _last_logprobs(model, [x[1] for x in one_pass], tokenizer.pad_token_id, batch_size)  # (N, V)
        for r, (j, _, s_id, h_id) in enumerate(one_pass):
            out[j] = {"she": float(lp[r, s_id].exp()), "he": float(lp[r, h_id].exp())}
    if slow:
        lps = sequence_logprobs(model, [s for x in slow for s in x[1:3]], tokenizer.pad_token_id, batch_size)
        for r, (j, _, _, k) in enumerate(slow):
            start = max(k, 1) - 1  # log-probs of tokens k... (index t-1 holds token t)
            out[j] = {"she": math.exp(sum(lps[2 * r][start:])), "he": math.exp(sum(lps[2 * r + 1][start:]))}
    return out


@dataclass(frozen=True)
class SkewEstimate:
    """Mean P(stereotyped pronoun) / (P(he) + P(she)) over one occupation's probes, with a bootstrap 95% interval
    over the probes (how the model's answer varies from one context to another; not the noise of training it);
    ``mass`` is the mean P(he) + P(she) (how sure the model is that a pronoun comes next at all)."""

    domain: str
    occupation: str
    stereotype: str
    skew: float
    low: float
    high: float
    n: int
    mass: float


def skew_from_probabilities(probes: list[Probe], probs: list[dict[str, float]], n_boot: int = 1000,
                            seed: int = 0) -> dict[str, dict[str, SkewEstimate]]:
    """Per domain and occupation: the mean skew of the probes, from their pronoun probabilities."""
    if len(probes) != len(probs) or not probes:
        raise BadInputError(f"{len(probes)} probes and {len(probs)} probability pairs: give one pair per probe "
                            f"(at least one).")
    groups: dict[tuple[str, str], list[int]] = {}
    for i, p in enumerate(probes):
        groups.setdefault((p.domain, p.occupation), []).append(i)
    out: dict[str, dict[str, SkewEstimate]] = {}
    for (dom, occ), ix in groups.items():
        st = probes[ix[0]].stereotype
        skews = [probs[i][st] / (probs[i]["she"] + probs[i]["he"]) for i in ix]
        lo, hi = bootstrap_interval(skews, n_boot, seed=seed)
        out.setdefault(dom, {})[occ] = SkewEstimate(dom, occ, st, float(np.mean(skews)), lo, hi, len(ix),
                                                    float(np.mean([probs[i]["she"] + probs[i]["he"] for i in ix])))
    return out


def model_skew(model, tokenizer, probes: list[Probe], n_boot: int = 1000,
               seed: int = 0) -> dict[str, dict[str, SkewEstimate]]:
    """``{domain: {occupation: SkewEstimate}}``: how often the model's next word is the stereotyped pronoun."""
    return skew_from_probabilities(probes, pronoun_probabilities(model, tokenizer, probes), n_boot, seed)


# ----------------------------------------------------------------------------- the data's skew

def training_docs(n: int = 20_000, cfg: CorpusConfig = CorpusConfig()) -> list[Document]:
    """The first ``n`` documents of the course models' training split (the build's 100,000 start with these)."""
    if n < 1:
        raise BadInputError(f"n={n}: ask for at least one training document.")
    return make_splits({"train": n}, cfg=cfg)["train"]


def data_skew(docs: list[Document], cfg: CorpusConfig = CorpusConfig()) -> dict[str, dict[str, dict]]:
    """``{domain: {occupation: {rate, stereotyped, n, configured}}}``: the exact share of documents whose pronoun is
    the occupation's stereotype (from the generator's meta), next to the rate the generator was configured with."""
    if not docs:
        raise BadInputError("no documents given; pass e.g. training_docs().")
    counts: dict[tuple[str, str], list[int]] = {}
    for d in docs:
        if "pronoun" in d.meta and d.domain in PROBE_DOMAINS:
            c = counts.setdefault((d.domain, d.meta["occupation"]), [0, 0])
            c[0] += d.meta["pronoun"] == _stereotype(d.domain, d.meta["occupation"])
            c[1] += 1
    if not counts:
        raise BadInputError(f"none of the {len(docs)} documents has an occupation pronoun; stories, reviews and "
                            f"clinic notes have them (e.g. training_docs()).")
    out: dict[str, dict[str, dict]] = {}
    for (dom, occ), (k, n) in sorted(counts.items()):
        out.setdefault(dom, {})[occ] = {"rate": k / n, "stereotyped": k, "n": n,
                                        "configured": configured_rate(dom, cfg)}
    return out


# ----------------------------------------------------------------------------- model vs data

@dataclass
class SkewTable:
    """One row per (model, domain, occupation), and per model a summary per group ('general' = stories and
    reviews, the skewed part of the mix; 'clinic' = the balanced control)."""

    rows: list[dict]
    summary: dict[str, dict[str, dict]]

    def text(self, digits: int = 3) -> str:
        cols = ["model", "domain", "occupation", "stereotype", "data", "model_skew", "low", "high", "n"]
        return text_table(self.rows, cols, digits)

    def summary_text(self, digits: int = 3) -> str:
        rows = [{"model": m, "group": g, **v} for m, groups in self.summary.items()
                for g, v in groups.items() if isinstance(v, dict)]
        return text_table(rows, digits=digits)

    def by_occupation(self, domain: str = "story") -> list[dict]:
        """One row per occupation of ``domain``: its stereotype, the data's rate and each model's skew."""
        rows: dict[str, dict] = {}
        for r in self.rows:
            if r["domain"] == domain:
                row = rows.setdefault(r["occupation"], {"occupation": r["occupation"], "stereotype": r["stereotype"],
                                                        "data": r["data"]})
                row[r["model"]] = r["model_skew"]
        if not rows:
            raise BadInputError(f"no {domain!r} rows in this table; its domains are "
                                f"{', '.join(sorted({r['domain'] for r in self.rows}))}.")
        return list(rows.values())

    def renamed(self, name: str, new_name: str) -> "SkewTable":
        """The rows and summary of one model, under a new name."""
        if name not in self.summary:
            raise BadInputError(f"{name!r} is not in this table; its models are {', '.join(self.summary)}.")
        return SkewTable([{**r, "model": new_name} for r in self.rows if r["model"] == name],
                         {new_name: self.summary[name]})

    def most_faithful(self, group: str = "general") -> str:
        """The model whose skews are closest to the data's (smallest mean |model − data|) in ``group``."""
        if not all(isinstance(s.get(group), dict) for s in self.summary.values()):
            raise BadInputError(f"group {group!r} is not in every model's summary; choose 'general' or 'clinic'.")
        return min(self.summary, key=lambda m: self.summary[m][group]["mean_abs_gap"])

    def verdict(self) -> str:
        """The lesson's question answered from the numbers: which model reproduces the data's skew most closely?"""
        lines = []
        for group in ("general", "clinic"):
            if not all(isinstance(s.get(group), dict) for s in self.summary.values()):
                continue
            parts = ", ".join(f"{m} {s[group]['mean_skew']:.2f} (|gap| {s[group]['mean_abs_gap']:.3f})"
                              for m, s in self.summary.items())
            data = next(iter(self.summary.values()))[group]["mean_data"]
            lines.append(f"{group}: data {data:.2f}; models {parts}; closest to the data: {self.most_faithful(group)}")
        return "\n".join(lines)


def _summarise(rows: list[dict]) -> dict[str, dict]:
    groups = {"general": [r for r in rows if r["domain"] in GENERAL],
              "clinic": [r for r in rows if r["domain"] == "clinic"]}
    return {g: {"mean_skew": float(np.mean([r["model_skew"] for r in rs])),
                "mean_data": float(np.mean([r["data"] for r in rs])),
                "mean_abs_gap": float(np.mean([abs(r["model_skew"] - r["data"]) for r in rs])),
                # P(she) / (P(he) + P(she)) whatever the occupation: a pronoun preference, not a stereotype
                "she_share": float(np.mean([r["model_skew"] if r["stereotype"] == "she" else 1 - r["model_skew"]
                                            for r in rs])),
                "occupations": len(rs)}
            for g, rs in groups.items() if rs}


def skew_table(models: dict, probes: list[Probe] | None = None, data: dict | None = None, *, n: int = 30,
               n_boot: int = 1000, seed: int = 0) -> SkewTable:
    """Model skew against data skew per occupation and domain, for each of ``models`` ({name: (model, tokenizer)}
    or {name: LoadedModel}). Defaults: ``n`` held-out probes per occupation of every probe domain; the data skew of
    :func:`training_docs`. ``summary[name]["seconds"]`` is the time the model's probes took."""
    if not models:
        raise BadInputError("no models given; pass {name: (model, tokenizer)}, e.g. {'course-small': load_model(...)}.")
    probes = general_and_clinic_probes(n, seed) if probes is None else probes
    data = data_skew(training_docs()) if data is None else data
    rows, summary = [], {}
    for name, lm in models.items():
        model, tok = _unpack(lm)
        t0 = time.perf_counter()
        skews = model_skew(model, tok, probes, n_boot, seed)
        seconds = time.perf_counter() - t0
        mine = []
        for dom, occs in skews.items():
            for occ, s in occs.items():
                if occ not in data.get(dom, {}):
                    raise BadInputError(f"the data skew has no {occ!r} in {dom!r}; compute it from documents that "
                                        f"include that domain (e.g. data_skew(training_docs())).")
                mine.append({"model": name, "domain": dom, "occupation": occ, "stereotype": s.stereotype,
                             "data": data[dom][occ]["rate"], "configured": data[dom][occ]["configured"],
                             "model_skew": s.skew, "low": s.low, "high": s.high, "n": s.n, "mass": s.mass})
        rows += mine
        summary[name] = {**_summarise(mine), "seconds": seconds}
    return SkewTable(rows, summary)


def plot_skew(table: SkewTable, ax=None):
    """Model skew against data skew, one point per (model, domain, occupation) with its 95% interval; the dashed
    diagonal is a model that reproduces its data exactly."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5))
    markers = {"story": "o", "review": "s", "clinic": "^"}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, name in enumerate(table.summary):
        for dom, mk in markers.items():
            rs = [r for r in table.rows if r["model"] == name and r["domain"] == dom]
            if not rs:
                continue
            x = np.array([r["data"] for r in rs])
            y = np.array([r["model_skew"] for r in rs])
            err = np.array([[r["model_skew"] - r["low"] for r in rs], [r["high"] - r["model_skew"] for r in rs]])
            ax.errorbar(x, y, yerr=err, fmt=mk, color=colours[k % len(colours)], ms=5, capsize=2, alpha=0.8,
                        label=f"{name}, {dom}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="model = data")
    ax.set_xlim(0.3, 1.0)
    ax.set_ylim(0, 1)
    ax.set_xlabel("data: share of documents with the stereotyped pronoun")
    ax.set_ylabel("model: P(stereotyped) / (P(he) + P(she))")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Does the model reproduce its data's skew?")
    return ax


# ----------------------------------------------------------------------------- change the data, change the bias

class _OutOfChoices(Exception):
    pass


class _Replay(Gen):
    """Re-runs a grammar on a document's recorded choices; with ``flip`` it takes the other option at the pronoun
    pick (the grammars' only pick between 'she' and 'he'), and the grammar then writes every form itself."""

    def __init__(self, forced: list[int], flip: bool) -> None:
        super().__init__()
        self.forced, self.flip, self.n, self.flips, self.at_pronoun = forced, flip, 0, 0, False

    def pick(self, options, weights=None):
        self.at_pronoun = self.flip and isinstance(options, list) and sorted(options) == ["he", "she"]
        return super().pick(options, weights)

    def _choose(self, weights) -> int:
        if self.n >= len(self.forced):
            raise _OutOfChoices
        i = self.forced[self.n]
        self.n += 1
        if self.at_pronoun:
            self.flips += 1
            return 1 - i
        return i


def _grammar_of(doc: Document, choices: list[int], cfg: CorpusConfig):
    """The grammar whose run on ``choices`` writes ``doc``: its domain's, or the mix's (a document drawn from the
    mix also recorded the choice of its domain)."""
    for grammar in (DOMAINS[doc.domain], mix_grammar(cfg)):
        g = _Replay(choices, flip=False)
        try:
            grammar(g, cfg)
        except (_OutOfChoices, IndexError, ValueError):  # not this grammar: its picks do not fit the choices
            continue
        if g.text == doc.text and g.n == len(choices):
            return grammar
    raise CourseError(f"this {doc.domain} document's recorded choices do not rebuild its text (was it edited?): "
                      f"{doc.text[:80]!r}")


def swap_pronoun(doc: Document, cfg: CorpusConfig = CorpusConfig()) -> Document:
    """``doc`` with its occupation holder's pronoun reversed (see :func:`counterfactual_swap`)."""
    if "pronoun" not in doc.meta or doc.domain not in PROBE_DOMAINS:
        raise BadInputError(f"this {doc.domain} document has no occupation pronoun to swap.")
    choices = doc.choices or derivations(doc.text, doc.domain, cfg, limit=1)[0][0]
    grammar = _grammar_of(doc, choices, cfg)
    g = _Replay(choices, flip=True)
    grammar(g, cfg)
    assert g.flips == 1 and g.n == len(choices), "a document has exactly one pronoun choice"
    g.meta.pop("domain", None)
    share = cfg.domain_weights.get(doc.domain, 0.0) / sum(cfg.domain_weights.values())
    if grammar is DOMAINS[doc.domain]:
        lp, lp_mix = g.logprob, g.logprob + (math.log(share) if share else 0.0)
    else:  # the mix's run includes log p(domain)
        lp, lp_mix = g.logprob - math.log(share), g.logprob
    return replace(doc, text=g.text, logprob=lp, mix_logprob=lp_mix, meta=dict(g.meta), choices=list(g.choices))


def counterfactual_swap(docs: list[Document], cfg: CorpusConfig = CorpusConfig()) -> list[Document]:
    """A pronoun-swapped copy of every document with an occupation pronoun (the others are skipped).

    Exact by construction, not by search-and-replace: the document's grammar is re-run on its recorded choices with
    the one pronoun choice reversed, so every reference to the occupation holder changes (she/her/her ↔ he/him/his,
    capitalised where the grammar capitalises: "her bed" ↔ "his bed", "thanked her" ↔ "thanked him") and nothing
    else does. ``logprob`` is the swapped text's own under the generator (lower for a skewed occupation: the world
    made it rarer). Counterfactual data augmentation (Lu et al. 2018) trains on the originals and these copies.
    """
    if not docs:
        raise BadInputError("no documents given to swap; pass e.g. training_docs(2000).")
    out = [swap_pronoun(d, cfg) for d in docs if "pronoun" in d.meta and d.domain in PROBE_DOMAINS]
    if not out:
        raise BadInputError(f"none of the {len(docs)} documents has an occupation pronoun to swap; stories, clinic "
                            f"notes and some reviews have one.")
    return out


DEBIAS = FinetuneConfig(method="full", steps=24, batch_size=8, block_size=128, lr=3e-4)  # ~12 s on course-large
DOMAIN = replace(DEBIAS, steps=20)  # a brief domain fine-tune (domain_model)


def domain_model(lm, domain: str = "clinic", n_docs: int = 400, cfg: FinetuneConfig = DOMAIN, *,
                 progress: bool = False):
    """A copy of the model fine-tuned on ``n_docs`` training-split documents of one ``domain`` (default: clinic
    notes, whose pronouns are a fair coin): the focused "domain model" of the claim. The model passed in is not
    changed."""
    if domain not in DOMAINS:
        raise BadInputError(f"unknown domain {domain!r}; choose one of {', '.join(DOMAINS)}.")
    if isinstance(n_docs, bool) or not isinstance(n_docs, int) or n_docs < 1:
        raise BadInputError(f"n_docs={n_docs!r}: fine-tune on at least one document (an int).")
    model, tok = _unpack(lm)
    docs = make_splits({"train": n_docs}, domain=domain)["train"]
    tuned, _ = finetune(adaptable_copy(model), tok, docs, cfg, progress=progress)
    return tuned


def augment(docs: list[Document], cfg: CorpusConfig = CorpusConfig()) -> list[Document]:
    """``docs`` with each pronoun-swapped copy right after its original: in the result every occupation has each
    pronoun equally often (``data_skew(augment(docs))`` is 0.5 everywhere)."""
    swaps = iter(counterfactual_swap(docs, cfg))
    return [x for d in docs for x in ((d, next(swaps)) if "pronoun" in d.meta and d.domain in PROBE_DOMAINS else (d,))]


def debias_finetune(lm, docs: list[Document], cfg: FinetuneConfig = DEBIAS, *, progress: bool = False):
    """A copy of the model fine-tuned on ``docs`` plus their pronoun-swapped copies (counterfactual data
    augmentation, :func:`augment`). Returns the tuned copy; the model passed in (``LoadedModel`` or
    (model, tokenizer)) is not changed. General-mix documents (e.g. ``training_docs(2000)``) keep the rest of
    what the model knows: fine-tuning on pronoun documents alone costs more bits/char elsewhere."""
    model, tok = _unpack(lm)
    tuned, _ = finetune(adaptable_copy(model), tok, augment(list(docs)), cfg, progress=progress)
    return tuned


def debias_effect(lm, docs: list[Document], probes: list[Probe], eval_docs: list[Document],
                  cfg: FinetuneConfig = DEBIAS, data: dict | None = None, *, before: SkewTable | None = None,
                  before_name: str | None = None, progress: bool = False) -> dict:
    """Skew and general bits/char before and after :func:`debias_finetune`, and the fine-tune's wall time:
    ``{"table": SkewTable (models 'before', 'after', against the original data), "bits_per_char": {before, after},
    "finetune_s", "model"}``. The fine-tuning data itself is balanced: its skew is 0.5 for every occupation.
    ``before``: a table that already holds the model's skews on the same probes, under ``before_name`` (its rows
    are reused instead of measured again)."""
    from course_utils.zoo.evaluate import bits_per_char

    if not eval_docs:
        raise BadInputError("no evaluation documents; pass e.g. make_splits({'val': 200})['val'].")
    model, tok = _unpack(lm)
    data = data_skew(training_docs()) if data is None else data
    if before is None:
        ref = skew_table({"before": (model, tok)}, probes, data)
    else:
        ref = before.renamed(before_name, "before")
        if sum(r["n"] for r in ref.rows) != len(probes) or \
                {(r["domain"], r["occupation"]) for r in ref.rows} != {(p.domain, p.occupation) for p in probes}:
            raise BadInputError("the table given as 'before' was measured on other probes; pass the same probes.")
    t0 = time.perf_counter()
    tuned = debias_finetune(lm, docs, cfg, progress=progress)
    seconds = time.perf_counter() - t0
    after = skew_table({"after": (tuned, tok)}, probes, data)
    table = SkewTable(ref.rows + after.rows, {**ref.summary, **after.summary})
    return {"table": table, "finetune_s": seconds, "model": tuned,
            "bits_per_char": {"before": bits_per_char(model, tok, eval_docs),
                              "after": bits_per_char(tuned, tok, eval_docs)}}
