"""Batch mode: the shipped prompt set (course_utils/data/arena_prompts.json) through every side,
one prompt at a time, scored against the answer keys and summarised per model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from course_utils.arena.run import ArenaRun
from course_utils.arena.sides import Side
from course_utils.errors import BadInputError
from course_utils.generation import GenerationSettings

PROMPTS_PATH = Path(__file__).parent.parent / "data" / "arena_prompts.json"
CATEGORIES = ("general knowledge", "course world", "reasoning", "instructions")


def course_world_prompts(n_per_kind: int = 3, seed: int = 2026) -> list[dict]:
    """Questions about the course world with answer keys: ``course_utils.world_facts`` (prompts cut
    from held-out documents where the world fixes what comes next), in the prompt-set format."""
    from course_utils.world_facts import world_facts

    out, seen = [], {}
    for f in world_facts(n_per_kind, seed):
        tag = f.kind.split(":")[0]
        seen[tag] = seen.get(tag, 0) + 1
        out.append({"id": f"{tag}-{seen[tag]}", "category": "course world", "kind": f.kind,
                    "prompt": f.prompt, "answer": f.answer.strip()})
    return out


def load_prompts(categories=None, n_per_category: int | None = None, path: Path = PROMPTS_PATH) -> list[dict]:
    """The shipped prompt set, optionally only some categories and the first n of each."""
    prompts = json.loads(Path(path).read_text())["prompts"]
    if categories is not None:
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise BadInputError(f"Unknown categories {sorted(unknown)}; the prompt set has {list(CATEGORIES)}.")
        prompts = [p for p in prompts if p["category"] in categories]
    if n_per_category is not None:  # the first n of each category, taking each kind in turn
        rank: dict[str, int] = {}
        keyed = []
        for i, p in enumerate(prompts):
            rank[p["kind"]] = rank.get(p["kind"], 0) + 1
            keyed.append((p["category"], rank[p["kind"]], i, p))
        taken: dict[str, int] = {}
        kept = []
        for cat, _, i, p in sorted(keyed, key=lambda x: (CATEGORIES.index(x[0]), x[1], x[2])):
            taken[cat] = taken.get(cat, 0) + 1
            if taken[cat] <= n_per_category:
                kept.append(p)
        prompts = kept
    return prompts


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def score_answer(text: str, answer: str, instruct: bool = False) -> bool:
    """Base models must continue with the answer (its words come first); instruct models answer
    in a sentence, so the answer's words must appear within their first 20 words."""
    got, want = words(text), words(answer)
    if not want:
        return False
    if not instruct:
        return got[: len(want)] == want
    window = got[:20]
    return any(window[i:i + len(want)] == want for i in range(len(window) - len(want) + 1))


@dataclass
class BatchRow:
    prompt_id: str
    category: str
    side: str
    params: int | None
    text: str
    n_tokens: int
    ttft_s: float | None
    tokens_per_s: float | None
    total_s: float | None
    correct: bool | None      # None: no answer key
    error: str = ""


@dataclass
class BatchResult:
    """Every answer of a batch; its table and plots are drawn by course_utils.widgets.arena."""

    rows: list[BatchRow]
    sides: list[str]

    def by_side(self, side: str) -> list[BatchRow]:
        return [r for r in self.rows if r.side == side]

    def agreement(self) -> dict[str, float]:
        """Per category: share of prompts where both sides begin with the same word."""
        if len(self.sides) < 2:
            return {}
        a = {r.prompt_id: r for r in self.by_side(self.sides[0])}
        b = {r.prompt_id: r for r in self.by_side(self.sides[1])}
        agree: dict[str, list[bool]] = {}
        for pid, ra in a.items():
            if pid in b:
                agree.setdefault(ra.category, []).append(words(ra.text)[:1] == words(b[pid].text)[:1])
        return {c: sum(v) / len(v) for c, v in agree.items()}

    def summary(self) -> list[dict]:
        """One row per side: median latency and speed, accuracy per category with an answer key."""
        out = []
        for side in self.sides:
            rows = [r for r in self.by_side(side) if not r.error]
            med = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")  # noqa: E731
            row = {"model": side, "params": rows[0].params if rows else None, "prompts": len(rows),
                   "median first token (s)": med([r.ttft_s for r in rows if r.ttft_s is not None]),
                   "median tokens/s": med([r.tokens_per_s for r in rows if r.tokens_per_s]),
                   "median total (s)": med([r.total_s for r in rows if r.total_s is not None])}
            for c in CATEGORIES:
                keyed = [r.correct for r in rows if r.category == c and r.correct is not None]
                if keyed:
                    row[f"accuracy: {c}"] = sum(keyed) / len(keyed)
            out.append(row)
        return out


def run_batch(sides: list[Side], prompts: list[dict], settings: GenerationSettings | None = None,
              progress: bool = True) -> BatchResult:
    """Every prompt through every side, one at a time (fair timings), with a progress bar.

    A side may write more than ``settings.max_new_tokens`` when an answer key needs more of its
    tokens (plus 2), so a long answer is never cut short and scored wrong.
    """
    from tqdm.auto import tqdm

    settings = settings or GenerationSettings(max_new_tokens=12, temperature=0.0)
    rows = []
    bar = tqdm(total=len(prompts) * len(sides), desc="batch", unit="answer", disable=not progress)
    for p in prompts:
        for side in sides:
            need = side.count_tokens(" " + p["answer"]) if p.get("answer") else None
            s = settings if not need else replace(settings, max_new_tokens=max(settings.max_new_tokens, need + 2))
            run = ArenaRun([side], p["prompt"], s).start().wait()
            r = run.results[0]
            t = r.timing
            correct = None if not p.get("answer") or r.error else \
                score_answer(r.text, p["answer"], side.info.instruct)
            rows.append(BatchRow(p["id"], p["category"], side.info.name, side.info.params, r.text,
                                 r.n_tokens, t.time_to_first_token_s if t else None,
                                 t.tokens_per_s if t else None, t.total_s if t else None, correct, r.error))
            bar.update(1)
    bar.close()
    return BatchResult(rows, [s.info.name for s in sides])
