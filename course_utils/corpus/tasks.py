"""Controlled properties for later lessons: the helpdesk task and the occupation-pronoun skew."""

from __future__ import annotations

from .domains import CATEGORIES, CLINICIANS, OCCUPATIONS
from .world import CorpusConfig, Document, make_splits

CATEGORY_PROMPT = "\nCategory: "  # the labelled task: score each label after this prompt


def helpdesk_task(sizes: dict[str, int] | None = None,
                  cfg: CorpusConfig = CorpusConfig()) -> dict[str, list[Document]]:
    """Helpdesk tickets with their category ``label``, split by :func:`split_of` (so a ticket is in
    the same split here as in the general mix). Default sizes: train 2000, val 300, test 300."""
    return make_splits(dict(sizes or {"train": 2000, "val": 300, "test": 300}), "helpdesk", cfg)


def ticket_prompt(doc: Document) -> str:
    """The ticket text up to and including 'Category: ' (what a classifier may see)."""
    return doc.text[: doc.text.index(CATEGORY_PROMPT) + len(CATEGORY_PROMPT)]


def category_posterior(doc: Document, cfg: CorpusConfig = CorpusConfig()) -> dict[str, float]:
    """The exact Bayes posterior P(category | ticket) under the generator.

    Each clue's source category is visible in the text (phrases are unique to a category) and is the
    true category with probability ``cfg.helpdesk_clue_rate``, any other one uniformly otherwise.
    """
    r = cfg.helpdesk_clue_rate
    other = (1 - r) / (len(CATEGORIES) - 1)
    score = {}
    for c in CATEGORIES:
        p = 1.0
        for src in doc.meta["clue_sources"]:
            p *= r if src == c else other
        score[c] = p
    z = sum(score.values())
    return {c: p / z for c, p in score.items()}


def bayes_accuracy(docs: list[Document], cfg: CorpusConfig = CorpusConfig()) -> float:
    """Expected accuracy of the best possible classifier (ties split evenly)."""
    total = 0.0
    for d in docs:
        post = category_posterior(d, cfg)
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
