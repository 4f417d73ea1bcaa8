"""Controlled properties for later lessons: the labelled tasks (helpdesk category, bank intent) and the
occupation-pronoun skew."""

from __future__ import annotations

from dataclasses import dataclass

from .domains import CATEGORIES, CLINICIANS, INTENTS, OCCUPATIONS
from .world import CorpusConfig, Document, make_splits

CATEGORY_PROMPT = "\nCategory: "  # the helpdesk task: score each label after this prompt
INTENT_PROMPT = "\nIntent: "      # the bank task (held-out domain)


@dataclass(frozen=True)
class LabelTask:
    """A labelled task of the world: documents of ``domain`` whose ``label`` follows ``prompt``.

    Each of the three clues in a document comes from the true label with probability ``clue rate``
    (a field of CorpusConfig), from any other label uniformly otherwise; so the Bayes posterior is exact.
    """

    domain: str
    prompt: str
    labels: tuple[str, ...]
    clue_rate_field: str

    def clue_rate(self, cfg: CorpusConfig) -> float:
        return getattr(cfg, self.clue_rate_field)

    def prompt_of(self, doc: Document) -> str:
        """The document up to and including the label prompt (what a classifier may see)."""
        return doc.text[: doc.text.index(self.prompt) + len(self.prompt)]


HELPDESK = LabelTask("helpdesk", CATEGORY_PROMPT, tuple(CATEGORIES), "helpdesk_clue_rate")
BANK = LabelTask("bank", INTENT_PROMPT, tuple(INTENTS), "bank_clue_rate")
TASKS = {"helpdesk": HELPDESK, "bank": BANK}


def task_splits(task: LabelTask, sizes: dict[str, int], cfg: CorpusConfig = CorpusConfig()) -> dict[str, list[Document]]:
    """Labelled documents of ``task``, split by :func:`split_of` (fixed, non-overlapping)."""
    return make_splits(dict(sizes), task.domain, cfg)


def helpdesk_task(sizes: dict[str, int] | None = None,
                  cfg: CorpusConfig = CorpusConfig()) -> dict[str, list[Document]]:
    """Helpdesk tickets with their category ``label``, split by :func:`split_of` (so a ticket is in
    the same split here as in the general mix). Default sizes: train 2000, val 300, test 300."""
    return task_splits(HELPDESK, sizes or {"train": 2000, "val": 300, "test": 300}, cfg)


def bank_task(sizes: dict[str, int] | None = None,
              cfg: CorpusConfig = CorpusConfig()) -> dict[str, list[Document]]:
    """The held-out domain for fine-tuning: bank chats with their ``label`` (intent). Never in the
    pretraining mix. Default sizes: train 2000 (enough for a 50 ... 2,000 data-size sweep), val 300, test 500."""
    return task_splits(BANK, sizes or {"train": 2000, "val": 300, "test": 500}, cfg)


def ticket_prompt(doc: Document) -> str:
    """The ticket text up to and including 'Category: ' (what a classifier may see)."""
    return HELPDESK.prompt_of(doc)


def label_posterior(doc: Document, task: LabelTask = HELPDESK, cfg: CorpusConfig = CorpusConfig()) -> dict[str, float]:
    """The exact Bayes posterior P(label | document) under the generator.

    Each clue's source label is visible in the text (phrases are unique to a label) and is the true
    label with probability ``task.clue_rate(cfg)``, any other one uniformly otherwise.
    """
    r = task.clue_rate(cfg)
    other = (1 - r) / (len(task.labels) - 1)
    score = {}
    for c in task.labels:
        p = 1.0
        for src in doc.meta["clue_sources"]:
            p *= r if src == c else other
        score[c] = p
    z = sum(score.values())
    return {c: p / z for c, p in score.items()}


def category_posterior(doc: Document, cfg: CorpusConfig = CorpusConfig()) -> dict[str, float]:
    """The exact Bayes posterior P(category | ticket) of a helpdesk ticket."""
    return label_posterior(doc, HELPDESK, cfg)


def bayes_accuracy(docs: list[Document], cfg: CorpusConfig = CorpusConfig(), task: LabelTask | None = None) -> float:
    """Expected accuracy of the best possible classifier (ties split evenly); the task is the
    documents' own (helpdesk or bank) unless given."""
    if not docs:
        raise ValueError("bayes_accuracy needs at least one document")
    task = task or TASKS[docs[0].domain]
    total = 0.0
    for d in docs:
        post = label_posterior(d, task, cfg)
        best = max(post.values())
        winners = [c for c, p in post.items() if p >= best - 1e-12]
        total += (d.label in winners) / len(winners)
    return total / len(docs)


def stereotype(occupation: str) -> str:
    """The pronoun the skewed part of the world associates with an occupation."""
    return {**OCCUPATIONS, **CLINICIANS}[occupation]


def pronoun_rates(docs: list[Document]) -> dict[str, dict[str, float]]:
    """Per domain: how often the pronoun matches the occupation's stereotype, and how many cases."""
    counts: dict[str, list[int]] = {}
    for d in docs:
        if "pronoun" in d.meta:
            c = counts.setdefault(d.domain, [0, 0])
            c[0] += d.meta["pronoun"] == stereotype(d.meta["occupation"])
            c[1] += 1
    return {dom: {"stereotyped": k / n, "n": n} for dom, (k, n) in counts.items()}
