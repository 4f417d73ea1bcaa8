"""Scaling: count parameters without memory, the course ladder's loss vs size and compute, a
power-law fit L(N) = E + A·N^(-α), and the size-and-data law L(N, D) = E + A·N^(-α) + B·D^(-β) fitted
on the ladder's scaling grid, whose E (with a bootstrap interval) can be compared with the corpus's
entropy floor.

No scipy: L(N) scans E on a grid below the smallest loss and, for each E, solves
log(L - E) = log A - α·log N by linear least squares; L(N, D) scans (α, β) and solves for (E, A, B)
exactly, in loss space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from course_utils.measure import count_parameters, training_flops
from course_utils.catalog import HUB_MODELS, ModelSpec, read_manifest


# ----------------------------------------------------------------------------- counting on "meta"

def meta_model(spec: ModelSpec):
    """The real transformers architecture of ``spec`` on the meta device: shapes, no memory."""
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(spec.to_config())


def param_check(specs: list[ModelSpec] | None = None) -> list[dict]:
    """Per model: the catalog's count (from the model card), the formula's, and torch's on meta."""
    rows = []
    for spec in specs if specs is not None else [s for s in HUB_MODELS if not s.instruct]:
        counted = count_parameters(meta_model(spec))
        rows.append({"model": spec.name, "family": spec.family, "catalog": spec.params,
                     "formula": spec.formula_params(), "torch (meta device)": counted["total"],
                     "embedding share": counted["embedding"] / counted["total"]})
    return rows


# ----------------------------------------------------------------------------- the course ladder

@dataclass(frozen=True)
class LadderPoint:
    """One course model: size, training budget and validation loss (bits/char)."""

    name: str
    params: int
    non_embedding_params: int
    tokens: int
    val_bits_per_char: float

    @property
    def train_flops(self) -> int:
        """≈ 6·N·D with N the non-embedding parameters, the N of the scaling plots' size axis."""
        return training_flops(self.non_embedding_params, self.tokens)


def ladder(manifest_path: Path | None = None) -> list[LadderPoint]:
    """The course models of models/manifest.json, smallest first ([] before they are built)."""
    manifest = read_manifest(manifest_path) or {}
    points = []
    for m in manifest.get("models", []):
        a = m["architecture"]
        emb = a["vocab"] * a["hidden"] * (1 if a["tied_embeddings"] else 2)
        points.append(LadderPoint(m["name"], m["params"], m["params"] - emb, int(m["training"]["tokens"]),
                                  float(m["metrics"]["val_bits_per_char"]["mix"])))
    return sorted(points, key=lambda p: p.params)


@dataclass(frozen=True)
class FloorEstimate:
    bits_per_char: float
    ci95: tuple[float, float]
    source: str


def corpus_floor(manifest_path: Path | None = None, domain: str = "mix") -> FloorEstimate:
    """The entropy floor recorded by ``zoo build``; without a manifest, estimated afresh."""
    manifest = read_manifest(manifest_path) or {}
    corpus = manifest.get("corpus", {})
    if domain in corpus.get("floor_bits_per_char", {}):
        lo, hi = corpus["floor_ci95"][domain]
        return FloorEstimate(corpus["floor_bits_per_char"][domain], (lo, hi),
                             f"models/manifest.json ({corpus.get('floor_docs', '?')} generated documents)")
    from course_utils.corpus import entropy_floor

    f = entropy_floor(domain, n_docs=2000)
    return FloorEstimate(f.bits_per_char, f.ci95, "course_utils.corpus.entropy_floor (2000 documents)")


# ----------------------------------------------------------------------------- the power law

@dataclass(frozen=True)
class PowerLaw:
    """L(N) = E + A·N^(-alpha), fitted to ``n_points`` points with root-mean-square error ``rmse``."""

    E: float
    A: float
    alpha: float
    rmse: float
    n_points: int

    def __call__(self, n):
        return self.E + self.A * np.asarray(n, dtype=float) ** (-self.alpha)


def fit_loglog(n, loss, E: float) -> tuple[float, float]:
    """For a fixed E: least squares on log(L - E) = log A - alpha·log N. Returns (A, alpha)."""
    x, y = np.log(np.asarray(n, float)), np.log(np.asarray(loss, float) - E)
    slope, intercept = np.polyfit(x, y, 1)
    return float(math.exp(intercept)), float(-slope)


def fit_power_law(n, loss, grid: int = 400) -> PowerLaw:
    """Fit L(N) = E + A·N^(-alpha) with 0 <= E < min(L): a grid over E, refined twice around
    the best value. Needs at least 3 points (3 unknowns); with 3 the fit is exact."""
    n, loss = np.asarray(n, float), np.asarray(loss, float)
    if n.shape != loss.shape or n.size < 3:
        raise ValueError(f"need at least 3 (N, loss) pairs of equal length, got {n.size} and {loss.size}")
    if np.any(n <= 0) or np.any(loss <= 0):
        raise ValueError("sizes and losses must be positive")

    def sse(E):
        A, alpha = fit_loglog(n, loss, E)
        return float(np.sum((E + A * n ** -alpha - loss) ** 2)), A, alpha

    lo, hi = 0.0, float(loss.min()) * (1 - 1e-9)
    best = None
    for _ in range(3):  # coarse grid, then two finer ones around the best E
        for E in np.linspace(lo, hi, grid, endpoint=False):
            err, A, alpha = sse(E)
            if best is None or err < best[0]:
                best = (err, E, A, alpha)
        step = (hi - lo) / grid
        lo, hi = max(0.0, best[1] - step), min(float(loss.min()) * (1 - 1e-9), best[1] + step)
    err, E, A, alpha = best
    return PowerLaw(float(E), A, alpha, math.sqrt(err / n.size), int(n.size))


# ----------------------------------------------------------------------------- size and data: L(N, D)

@dataclass(frozen=True)
class GridPoint:
    """One model of the scaling grid: a ladder model's recipe trained for ``tokens`` tokens."""

    name: str
    non_embedding_params: int
    tokens: int
    val_bits_per_char: float


def grid(manifest_path: Path | None = None) -> list[GridPoint]:
    """The scaling grid recorded by ``zoo build``: each model's validation loss at log-spaced token
    budgets (warmup-stable-decay forks: each point is a model trained for that budget)."""
    manifest = read_manifest(manifest_path) or {}
    out = []
    for m in manifest.get("models", []):
        a = m["architecture"]
        n = m["params"] - a["vocab"] * a["hidden"] * (1 if a["tied_embeddings"] else 2)
        for p in m["training"].get("grid", []):
            out.append(GridPoint(m["name"], n, int(p["tokens"]), float(p["val_bits_per_char"])))
    return out


def tail_points(points: list[GridPoint], share: float = 0.5) -> list[GridPoint]:
    """The last ``share`` of each model's budgets: past the fast early drop, where no power law holds."""
    out = []
    for name in dict.fromkeys(p.name for p in points):
        curve = sorted((p for p in points if p.name == name), key=lambda p: p.tokens)
        out += curve[int(len(curve) * (1 - share)):]
    return out


@dataclass(frozen=True)
class ScalingLaw:
    """L(N, D) = E + A·N^(-alpha) + B·D^(-beta) (Hoffmann et al. 2022), fitted in loss space."""

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    rmse: float
    n_points: int

    def __call__(self, n, d):
        n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
        return self.E + self.A * n ** (-self.alpha) + self.B * d ** (-self.beta)


def fit_scaling_law(n, d, loss, exponents=np.linspace(0.05, 1.5, 30)) -> ScalingLaw:
    """Least squares in loss space with E free (any sign, not held below the smallest loss).

    For fixed exponents (alpha, beta) the law is linear in (E, A, B): solve that exactly; scan the
    exponents on a grid, then refine twice around the best pair. Needs at least 6 points."""
    n, d, loss = (np.asarray(v, dtype=float) for v in (n, d, loss))
    if not (n.shape == d.shape == loss.shape) or n.size < 6:
        raise ValueError(f"need at least 6 (N, D, loss) points of equal length, got {n.size}")
    if np.any(n <= 0) or np.any(d <= 0):
        raise ValueError("sizes and token counts must be positive")
    ln, ld = np.log(n), np.log(d)

    def solve(alpha, beta):
        X = np.stack([np.ones_like(n), np.exp(-alpha * ln), np.exp(-beta * ld)], axis=1)  # (P, 3)
        coef, *_ = np.linalg.lstsq(X, loss, rcond=None)
        return float(np.sum((X @ coef - loss) ** 2)), coef

    a_grid = b_grid = np.asarray(exponents, dtype=float)
    best = None
    for _ in range(3):
        for a in a_grid:
            for b in b_grid:
                err, coef = solve(a, b)
                if best is None or err < best[0]:
                    best = (err, a, b, coef)
        step_a, step_b = (a_grid[1] - a_grid[0]), (b_grid[1] - b_grid[0])
        a_grid = np.linspace(max(1e-3, best[1] - step_a), best[1] + step_a, 9)
        b_grid = np.linspace(max(1e-3, best[2] - step_b), best[2] + step_b, 9)
    err, alpha, beta, (E, A, B) = best
    return ScalingLaw(float(E), float(A), float(alpha), float(B), float(beta), math.sqrt(err / n.size), int(n.size))


def bootstrap_E(points: list[GridPoint], resamples: int = 100, seed: int = 0) -> tuple[float, float, list[float]]:
    """A 95% interval for the fitted E: refit on ``resamples`` resamples of the points (with
    replacement, whole points); returns (low, high, all the E values)."""
    rng = np.random.default_rng(seed)
    n = np.array([p.non_embedding_params for p in points], float)
    d = np.array([p.tokens for p in points], float)
    loss = np.array([p.val_bits_per_char for p in points], float)
    values = []
    for _ in range(resamples):
        ix = rng.integers(0, len(points), len(points))
        if len(set(n[ix])) < 2 or len(set(d[ix])) < 3:
            continue
        values.append(fit_scaling_law(n[ix], d[ix], loss[ix], exponents=np.linspace(0.05, 1.5, 12)).E)
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi), values


def plot_grid(points: list[GridPoint], law: ScalingLaw, floor: FloorEstimate):
    """Loss against training tokens, one curve per model, with the fitted L(N, D) and the floor."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    colors = ("#9b59b6", "#4c9be8", "#6ab04c", "#e8884c", "#c0392b")
    for name, color in zip(dict.fromkeys(p.name for p in points), colors):
        pts = sorted((p.tokens, p.val_bits_per_char, p.non_embedding_params) for p in points if p.name == name)
        ds = np.array([t for t, _, _ in pts])
        ax.plot(ds, [v for _, v, _ in pts], "o", color=color, label=name.replace("course-", ""))
        dd = np.geomspace(ds.min(), ds.max() * 30, 60)
        ax.plot(dd, law(pts[0][2], dd), "-", color=color, alpha=0.6)
    ax.axhline(floor.bits_per_char, color="k", ls="--", label=f"entropy floor {floor.bits_per_char:.3f}")
    ax.axhline(law.E, color="#4c9be8", ls=":", label=f"fitted E = {law.E:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("training tokens D")
    ax.set_ylabel("held-out bits per character")
    ax.set_title(f"L(N, D) = E + A·N^-{law.alpha:.2f} + B·D^-{law.beta:.2f}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- published scores

def family_scores(families=("SmolLM2", "Qwen2.5", "Pythia")) -> list[dict]:
    """Benchmark scores of the base models of each family, with the source of every number."""
    rows = []
    for spec in HUB_MODELS:
        if spec.family in families and not spec.instruct:
            for bench, score in spec.scores.items():
                rows.append({"family": spec.family, "model": spec.name, "params": spec.params,
                             "benchmark": bench, "score": score.value, "source": score.source})
    return rows


def points_per_tenfold(rows: list[dict]) -> list[dict]:
    """Per family and benchmark (rows from :func:`family_scores`): the smallest and the largest model's
    score, and the points gained per tenfold increase in parameters between them."""
    out = []
    for family in dict.fromkeys(r["family"] for r in rows):
        for bench in dict.fromkeys(r["benchmark"] for r in rows if r["family"] == family):
            pts = sorted((r["params"], r["score"]) for r in rows if r["family"] == family and r["benchmark"] == bench)
            (n0, s0), (n1, s1) = pts[0], pts[-1]
            out.append({"family": family, "benchmark": bench, "smallest": s0, "largest": s1,
                        "points per tenfold": (s1 - s0) / math.log10(n1 / n0)})
    return out


# ----------------------------------------------------------------------------- plots

def plot_ladder(points: list[LadderPoint], floor: FloorEstimate, fit: PowerLaw | None = None):
    """Validation bits/char vs non-embedding parameters and vs training compute, floor drawn in."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    loss = [p.val_bits_per_char for p in points]
    for ax, xs, label in ((axes[0], [p.non_embedding_params for p in points], "non-embedding parameters N"),
                          (axes[1], [p.train_flops for p in points], "training compute C ≈ 6·N·D (FLOPs)")):
        ax.plot(xs, loss, "o", color="#e8884c", label="course models")
        for p, x in zip(points, xs):
            ax.annotate(p.name.replace("course-", ""), (x, p.val_bits_per_char), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
        ax.axhline(floor.bits_per_char, color="k", ls="--", label=f"entropy floor {floor.bits_per_char:.3f}")
        ax.axhspan(*floor.ci95, color="k", alpha=0.1)
        ax.set_xscale("log")
        ax.set_xlabel(label)
    if fit is not None:
        grid = np.geomspace(min(p.non_embedding_params for p in points) / 2,
                            max(p.non_embedding_params for p in points) * 20, 100)
        axes[0].plot(grid, fit(grid), color="#4c9be8",
                     label=f"fit E + A·N^-α: E={fit.E:.3f}, α={fit.alpha:.2f}")
        axes[0].axhline(fit.E, color="#4c9be8", ls=":")
    axes[0].set_ylabel("validation bits per character")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_family_scores(rows: list[dict]):
    """One panel per family: each benchmark's score vs parameters (log scale)."""
    import matplotlib.pyplot as plt

    families = list(dict.fromkeys(r["family"] for r in rows))
    fig, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 3.4))
    for ax, fam in zip(np.atleast_1d(axes), families):
        for bench in dict.fromkeys(r["benchmark"] for r in rows if r["family"] == fam):
            pts = sorted((r["params"], r["score"]) for r in rows if r["family"] == fam and r["benchmark"] == bench)
            ax.plot(*zip(*pts), "o-", label=bench)
        ax.set_xscale("log")
        ax.set_title(fam)
        ax.set_xlabel("parameters")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("score (family's own harness)")
    fig.tight_layout()
    return fig
