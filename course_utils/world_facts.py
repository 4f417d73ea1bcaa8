"""Facts of the course world: prompts cut from held-out documents where the grammar fixes what
comes next, so every prompt has one right answer (e.g. a weather report ends with the city it
began with; step 2 of a recipe adds the first ingredient of its list; an email reply's quote repeats
the order number of the message: six random digits that only copying can get).

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


def _email_quote(doc):
    if "My order " not in doc.text:  # only emails with an order number to copy
        return None
    number = doc.text.split("My order ", 1)[1].split(" ", 1)[0]
    return _cut(doc.text, "My order", " " + number, "email: order number copied into the quote", last=True)


FACT_MAKERS = {"weather": [_weather_city, _weather_advice], "recipe": [_recipe_step, _recipe_serve],
               "story": [_story_object], "review": [_review_verdict], "clinic": [_clinic_pronoun],
               "helpdesk": [_helpdesk_category], "email": [_email_quote]}


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
def score_facts(lm, facts: list[Fact], batch_size: int = 32) -> list[dict]:
    """Per fact: whether ``lm`` continues the prompt greedily with the answer, the answer's
    probability and the model's greedy answer. Batched, right-padded."""
    out = []
    for k in range(0, len(facts), batch_size):
        chunk = [encode_fact(lm.tokenizer, f) for f in facts[k:k + batch_size]]
        T = max(len(p) + len(a) for p, a in chunk)
        ids = torch.full((len(chunk), T), lm.tokenizer.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, (p, a) in enumerate(chunk):
            ids[r, :len(p) + len(a)] = torch.tensor(p + a)
            mask[r, :len(p) + len(a)] = 1
        logits = lm.model(input_ids=ids, attention_mask=mask).logits.float()           # (B, T, V)
        for r, ((p, a), fact) in enumerate(zip(chunk, facts[k:k + batch_size])):
            logp = torch.log_softmax(logits[r, len(p) - 1:len(p) + len(a) - 1], -1)    # (n_answer, V)
            target = torch.tensor(a)
            guess = logp.argmax(-1)
            wrong = (guess != target).nonzero()
            # greedy decoding follows the answer up to the first wrong token, then leaves it
            greedy = a if len(wrong) == 0 else a[:int(wrong[0])] + [int(guess[wrong[0]])]
            out.append({"kind": fact.kind, "correct": len(wrong) == 0,
                        "p_answer": float(logp.gather(-1, target[:, None]).sum().exp()),
                        "greedy": lm.tokenizer.decode(greedy) + ("" if len(wrong) == 0 else "…")})
    return out


def compare(small, large, facts: list[Fact]) -> tuple[list[dict], list[dict]]:
    """Per kind: accuracy of each model and how often the large one gets what the small one misses;
    and the per-fact rows (prompt end, answer, both models' greedy answers)."""
    rows, table = [], {}
    for fact, s, l in zip(facts, score_facts(small, facts), score_facts(large, facts)):
        end = "…" + fact.prompt[-40:].replace("\n", "⏎")
        rows.append({"kind": fact.kind, "prompt end": end, "answer": fact.answer,
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
