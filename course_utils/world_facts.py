"""Facts of the course world: prompts cut from held-out documents where the grammar fixes what
comes next, so every prompt has one right answer (e.g. a weather report ends with the city it
began with; step 2 of a recipe adds the first ingredient of its list).

A model "gets" a fact when the answer is its greedy continuation: each answer token is the
argmax given the prompt and the answer tokens before it (one forward pass, teacher-forced).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from course_utils.corpus import CATEGORY_PROMPT, sample_document, split_of
from course_utils.corpus.domains import CONDITIONS, VERDICT
from course_utils.corpus.world import CorpusConfig


@dataclass(frozen=True)
class Fact:
    kind: str
    prompt: str  # ends before a space: the answer starts with one, as the tokenizer expects
    answer: str


def _cut(text: str, marker: str, answer: str, kind: str, last: bool = False) -> Fact | None:
    i = text.rfind(marker) if last else text.find(marker)
    if i < 0:
        return None
    end = i + len(marker)
    return Fact(kind, text[:end], answer)


def _weather_city(doc):
    city = doc.text[len("Weather report for "):doc.text.index(" on ")]
    return _cut(doc.text, " That was the weather for", " " + city, "weather: city in the sign-off", last=True)


def _weather_advice(doc):
    morning = doc.text.split("expect ", 1)[1].split(".", 1)[0]
    advice = CONDITIONS[morning][2]
    i = doc.text.rindex(" " + advice)
    return Fact("weather: advice for the morning's weather", doc.text[:i], " " + advice)


def _recipe_step(doc):
    first = doc.text.split("grams of ")[2].split("\n", 1)[0]  # [1] is the main ingredient
    return _cut(doc.text, "\n2. Add the", " " + first, "recipe: ingredient added in step 2")


def _recipe_serve(doc):
    ending = doc.text.rsplit(". Serve the", 1)[1]
    return _cut(doc.text, ". Serve the", ending, "recipe: how the dish is served", last=True)


def _story_object(doc):
    thing = doc.text.split(" showed the ", 1)[1].split(" to ", 1)[0]
    return _cut(doc.text, " showed the", " " + thing, "story: the object shown to the friend")


def _review_verdict(doc):
    if "occupation" not in doc.meta:  # without the optional friend sentence the verdict is not certain next
        return None
    stars = int(doc.text.split("Rating: ", 1)[1][0])
    return _cut(doc.text, " uses it every day.", " " + VERDICT[stars], "review: verdict that follows the rating")


def _clinic_pronoun(doc):
    obj = doc.text.split(" will see ", 1)[1].split(" ", 1)[0]
    return _cut(doc.text, " will see", " " + obj, "clinic: pronoun for the clinician")


def _helpdesk_category(doc):
    if len(set(doc.meta["clue_sources"])) != 1:  # only tickets whose three clues agree
        return None
    return _cut(doc.text, CATEGORY_PROMPT.rstrip(), " " + doc.label, "helpdesk: category of a clear ticket")


FACT_MAKERS = {"weather": [_weather_city, _weather_advice], "recipe": [_recipe_step, _recipe_serve],
               "story": [_story_object], "review": [_review_verdict], "clinic": [_clinic_pronoun],
               "helpdesk": [_helpdesk_category]}


def world_facts(n_per_kind: int = 20, seed: int = 2026, cfg: CorpusConfig = CorpusConfig()) -> list[Fact]:
    """``n_per_kind`` facts of each kind, from fresh documents of the *test* split (never trained on)."""
    facts: list[Fact] = []
    for domain, makers in FACT_MAKERS.items():
        rng = random.Random(f"{seed}/facts/{domain}")
        counts = {m: 0 for m in makers}
        for _ in range(200 * n_per_kind):
            if all(c >= n_per_kind for c in counts.values()):
                break
            doc = sample_document(rng, domain, cfg)
            if split_of(doc.text, cfg) != "test":
                continue
            for make in makers:
                fact = make(doc) if counts[make] < n_per_kind else None
                if fact is not None:
                    facts.append(fact)
                    counts[make] += 1
    return facts


def encode_fact(tokenizer, fact: Fact) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids), split where the tokenizations of prompt and prompt+answer part."""
    full = tokenizer(fact.prompt + fact.answer)["input_ids"]
    prompt = tokenizer(fact.prompt)["input_ids"]
    k = 0
    while k < min(len(full), len(prompt)) and full[k] == prompt[k]:
        k += 1
    return full[:k], full[k:]


@torch.no_grad()
def score_fact(lm, fact: Fact) -> dict:
    """Whether ``lm`` continues the prompt greedily with the answer, and the answer's probability."""
    prompt, answer = encode_fact(lm.tokenizer, fact)
    ids = torch.tensor([prompt + answer])
    logp = torch.log_softmax(lm.model(input_ids=ids).logits[0, len(prompt) - 1:-1].float(), -1)  # (n_ans, V)
    target = torch.tensor(answer)
    guess = lm.tokenizer.decode(logp.argmax(-1).tolist())
    return {"kind": fact.kind, "correct": bool((logp.argmax(-1) == target).all()),
            "p_answer": float(logp.gather(-1, target[:, None]).sum().exp()), "greedy": guess}


def compare(small, large, facts: list[Fact]) -> tuple[list[dict], list[dict]]:
    """Per kind: accuracy of each model and how often the large one gets what the small one misses;
    and the per-fact rows (prompt end, answer, both models' greedy answers)."""
    rows, table = [], {}
    for fact in facts:
        s, l = score_fact(small, fact), score_fact(large, fact)
        rows.append({"kind": fact.kind, "prompt end": "…" + fact.prompt[-40:], "answer": fact.answer,
                     "small says": s["greedy"], "large says": l["greedy"], "small": s["correct"],
                     "large": l["correct"], "p small": s["p_answer"], "p large": l["p_answer"]})
        t = table.setdefault(fact.kind, {"fact": fact.kind, "n": 0, "small correct": 0, "large correct": 0,
                                         "large gets, small misses": 0, "small gets, large misses": 0})
        t["n"] += 1
        t["small correct"] += s["correct"]
        t["large correct"] += l["correct"]
        t["large gets, small misses"] += l["correct"] and not s["correct"]
        t["small gets, large misses"] += s["correct"] and not l["correct"]
    return list(table.values()), rows
