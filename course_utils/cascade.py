"""A cascade: the small model answers when it is sure, the large one otherwise.

    val = CascadeData(small_confidence, small_correct, large_correct)   # one entry per labelled example
    curve = cascade_curve(val, small_cost=1.0, large_cost=7.0)            # cost: seconds, dollars, FLOPs … per example
    pick = cheapest_matching(curve, val.large_accuracy)                  # the lowest cost at the large model's accuracy
    at_threshold(test, pick.threshold, 1.0, 7.0)                         # checked on data it was not tuned on
    tune_then_test(val, test, 1.0, 7.0)                                  # both steps: .pick, .on_test, .cost_ratio()
    pair_data(score_labels(small, docs), score_labels(large, docs))      # the data, from two models on one task

The small model always runs first (its cost is paid on every example); the large one only on the examples the small
one defers, those whose confidence is below the threshold.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from course_utils.errors import BadInputError


@dataclass(frozen=True)
class CascadeData:
    small_confidence: tuple[float, ...]  # the small model's probability for its own answer
    small_correct: tuple[bool, ...]
    large_correct: tuple[bool, ...]

    def __init__(self, small_confidence, small_correct, large_correct):
        conf, sc, lc = tuple(float(c) for c in small_confidence), tuple(map(bool, small_correct)), \
            tuple(map(bool, large_correct))
        if not conf:
            raise BadInputError("the cascade needs at least one labelled example.")
        if not len(conf) == len(sc) == len(lc):
            raise BadInputError(f"one confidence and two correctness flags per example: got {len(conf)}, {len(sc)} "
                                f"and {len(lc)}.")
        if any(not (0 <= c <= 1) or math.isnan(c) for c in conf):
            raise BadInputError("a confidence is a probability, from 0 to 1.")
        object.__setattr__(self, "small_confidence", conf)
        object.__setattr__(self, "small_correct", sc)
        object.__setattr__(self, "large_correct", lc)

    def __len__(self) -> int:
        return len(self.small_confidence)

    @property
    def small_accuracy(self) -> float:
        return sum(self.small_correct) / len(self)

    @property
    def large_accuracy(self) -> float:
        return sum(self.large_correct) / len(self)


@dataclass(frozen=True)
class CascadePoint:
    label: str
    threshold: float | None  # None for a model alone
    deferred: float  # share of examples the large model answered
    accuracy: float
    cost: float  # per example


def _costs(small_cost, large_cost) -> tuple[float, float]:
    for name, v in (("small_cost", small_cost), ("large_cost", large_cost)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or math.isinf(v):
            raise BadInputError(f"{name}={v!r}: a cost per example is a number above 0 (seconds, dollars, FLOPs…).")
    return float(small_cost), float(large_cost)


def at_threshold(data: CascadeData, threshold: float, small_cost: float, large_cost: float) -> CascadePoint:
    """Accuracy and cost per example when the small model answers where its confidence ≥ ``threshold``."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise BadInputError(f"threshold={threshold!r}: a confidence threshold lies in [0, 1] (0: the small model "
                            "answers everything; 1: only when it is certain).")
    s, l_ = _costs(small_cost, large_cost)
    keep = [c >= threshold for c in data.small_confidence]
    right = sum(sc if k else lc for k, sc, lc in zip(keep, data.small_correct, data.large_correct))
    deferred = 1 - sum(keep) / len(data)
    return CascadePoint(f"cascade at {threshold:.2f}", float(threshold), deferred, right / len(data), s + deferred * l_)


def cascade_curve(data: CascadeData, small_cost: float, large_cost: float, thresholds=None) -> list[CascadePoint]:
    """The cascade at each threshold (default: 0, every distinct confidence, and 1), then both models alone."""
    s, l_ = _costs(small_cost, large_cost)
    if thresholds is None:
        thresholds = sorted({0.0, 1.0, *data.small_confidence})
    points = [at_threshold(data, t, s, l_) for t in thresholds]
    return points + [CascadePoint("small alone", None, 0.0, data.small_accuracy, s),
                     CascadePoint("large alone", None, 1.0, data.large_accuracy, l_)]


def cheapest_matching(curve: list[CascadePoint], accuracy: float) -> CascadePoint | None:
    """The cheapest cascade point whose accuracy is at least ``accuracy`` (None if no threshold reaches it)."""
    ok = [p for p in curve if p.threshold is not None and p.accuracy >= accuracy - 1e-12]
    return min(ok, key=lambda p: (p.cost, -p.accuracy)) if ok else None


@dataclass(frozen=True)
class TunedCascade:
    curve: list[CascadePoint]  # on the validation data
    pick: CascadePoint  # the threshold chosen there
    test: CascadeData
    on_test: CascadePoint  # that threshold on the test data

    def cost_ratio(self) -> float:
        """The cascade's test cost per example ÷ the large model's alone."""
        large = next(p for p in self.curve if p.label == "large alone")
        return self.on_test.cost / large.cost


def tune_then_test(val: CascadeData, test: CascadeData, small_cost: float, large_cost: float) -> TunedCascade:
    """Choose the threshold on ``val`` (the cheapest that reaches the large model's validation accuracy), then
    measure that threshold on ``test``, which it was not tuned on."""
    curve = cascade_curve(val, small_cost, large_cost)
    pick = cheapest_matching(curve, val.large_accuracy)
    if pick is None:
        raise BadInputError("no threshold reaches the large model's accuracy on the validation data (the small model "
                            "is sure of answers it gets wrong): use the large model alone, or a better first model.")
    return TunedCascade(curve, pick, test, at_threshold(test, pick.threshold, small_cost, large_cost))


@dataclass(frozen=True)
class Scored:
    """One model's answers on a labelled task: its confidence in each answer, whether each was right, and the measured
    seconds per example."""
    confidence: tuple[float, ...]
    correct: tuple[bool, ...]
    seconds_per_example: float


def score_labels(lm, docs, task=None) -> Scored:
    """``lm`` labels ``docs`` (a labelled task's documents; the helpdesk category unless ``task`` says otherwise)."""
    from course_utils.corpus import HELPDESK
    from course_utils.eval_hygiene import correctness, label_probabilities

    start = time.perf_counter()
    probs = label_probabilities(lm.model, lm.tokenizer, docs, task or HELPDESK)
    seconds = (time.perf_counter() - start) / len(docs)
    return Scored(tuple(max(p.values()) for p in probs), tuple(correctness(probs, docs)), seconds)


def pair_data(first: Scored, second: Scored) -> CascadeData:
    """The cascade of ``first`` (answers when sure) and ``second`` (the rest), on the same examples."""
    if len(first.correct) != len(second.correct):
        raise BadInputError(f"the two models were scored on different examples ({len(first.correct)} and "
                            f"{len(second.correct)}): score both on the same documents.")
    return CascadeData(first.confidence, first.correct, second.correct)


def tune_then_test_scores(scores: dict, first: str, second: str) -> TunedCascade:
    """``tune_then_test`` from ``{"val": {model: Scored}, "test": {model: Scored}}``, each model's cost its measured
    seconds per example on the validation split."""
    val, test = (pair_data(scores[s][first], scores[s][second]) for s in ("val", "test"))
    return tune_then_test(val, test, scores["val"][first].seconds_per_example,
                          scores["val"][second].seconds_per_example)


def plot_cascade(curve: list[CascadePoint], pick: CascadePoint | None = None, ax=None, unit: str = "cost"):
    """Accuracy against cost per example as the threshold moves, with both models alone as the end points."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    line = sorted((p for p in curve if p.threshold is not None), key=lambda p: p.cost)
    ax.plot([p.cost for p in line], [p.accuracy for p in line], ".-", color="tab:blue", label="cascade")
    for p, marker in zip((q for q in curve if q.threshold is None), ("s", "D")):
        ax.plot(p.cost, p.accuracy, marker, ms=8, label=p.label)
    if pick is not None:
        ax.plot(pick.cost, pick.accuracy, "*", ms=14, color="gold", mec="k",
                label=f"threshold {pick.threshold:.2f}: {pick.deferred:.0%} deferred")
    ax.set(xlabel=f"{unit} per example", ylabel="accuracy", title="A cascade: accuracy against cost")
    ax.legend(fontsize=8)
    return ax
