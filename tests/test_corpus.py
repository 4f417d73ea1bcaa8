"""The generated world: determinism, exact log-probabilities, splits, controlled properties."""

import math
import random
from collections import Counter

import pytest

from course_utils.corpus import (CANARY_PREFIX, CATEGORIES, CATEGORY_PROMPT, DOMAINS, CorpusConfig,
                                 bayes_accuracy, canary_space, canary_space_size, category_posterior,
                                 derivations, entropy_floor, floor_of, generate, helpdesk_task,
                                 insert_canaries, iter_splits, make_splits, pronoun_rates, split_of, ticket_prompt)
from course_utils.corpus.grammar import Sampler


def test_same_seed_same_bytes_and_other_seed_differs():
    a = generate("mix", 200, seed=7)
    b = generate("mix", 200, seed=7)
    c = generate("mix", 200, seed=8)
    assert [d.text for d in a] == [d.text for d in b]
    assert [d.mix_logprob for d in a] == [d.mix_logprob for d in b]
    assert [d.text for d in a] != [d.text for d in c]


def test_every_domain_is_present_and_distinct():
    docs = generate("mix", 3000, seed=1)
    freq = Counter(d.domain for d in docs)
    w = CorpusConfig().domain_weights
    for dom, p in w.items():
        assert abs(freq[dom] / len(docs) - p) < 4 * math.sqrt(p * (1 - p) / len(docs)), dom
    with pytest.raises(ValueError, match="unknown domain"):
        generate("poetry", 1)


@pytest.mark.parametrize("domain", ["mix", *DOMAINS])
def test_each_text_has_exactly_one_derivation_with_the_recorded_logprob(domain):
    for doc in generate(domain, 6, seed=3):
        found = derivations(doc.text, domain, limit=2)
        assert len(found) == 1, f"{len(found)} derivations of {doc.text!r}"
        choices, lp = found[0]
        assert choices == doc.choices
        assert lp == pytest.approx(doc.mix_logprob if domain == "mix" else doc.logprob, abs=1e-9)


def test_parser_rejects_text_outside_the_grammar():
    doc = generate("helpdesk", 1, seed=5)[0]
    assert derivations(doc.text + " extra", "helpdesk") == []
    assert derivations(doc.text.replace("Ticket #", "Ticket no. "), "helpdesk") == []


def test_distinct_derivations_give_distinct_texts_on_a_large_sample():
    seen: dict[str, tuple] = {}
    for doc in generate("mix", 5000, seed=11):
        key = tuple(doc.choices)
        assert seen.setdefault(doc.text, key) == key, f"two derivations for {doc.text!r}"


def _toy(g, cfg):
    """A small grammar using every primitive, so all its outcomes can be enumerated."""
    g.emit(g.pick(["x", "y", "z"], [1, 2, 3]))
    if g.chance(0.3):
        g.digits(1)
    g.emit("-", "".join(g.distinct("abc", 2)))


def test_logprobs_match_sampling_frequencies_and_sum_to_one(monkeypatch):
    monkeypatch.setitem(DOMAINS, "toy", _toy)
    texts = set()
    rng = random.Random(0)
    counts, lps = Counter(), {}
    n = 40000
    for _ in range(n):
        g = Sampler(rng)
        _toy(g, CorpusConfig())
        counts[g.text] += 1
        lps[g.text] = g.logprob
    # enumerate the support exactly: every outcome, its unique derivation and probability
    for first in "xyz":
        texts |= {f"{first}-{a}{b}" for a in "abc" for b in "abc" if a != b}
        texts |= {f"{first}{d}-{a}{b}" for d in "0123456789" for a in "abc" for b in "abc" if a != b}
    probs = {}
    for t in texts:
        (found,) = derivations(t, "toy")
        probs[t] = math.exp(found[1])
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-12)
    for t, c in counts.items():
        assert lps[t] == pytest.approx(math.log(probs[t]))
    # frequencies agree with probabilities (a generous 5-sigma band per outcome)
    for t, p in probs.items():
        assert abs(counts[t] / n - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-4, t


def test_entropy_floor_has_a_sane_value_and_an_honest_ci():
    f1 = entropy_floor("mix", 3000, seed=1)
    f2 = entropy_floor("mix", 3000, seed=2)
    big = entropy_floor("mix", 12000, seed=3)
    for f in (f1, f2, big):
        assert f.ci95[0] < f.bits_per_char < f.ci95[1]
        assert 0.05 < f.bits_per_char < 1.0
    assert big.ci95[1] - big.ci95[0] < f1.ci95[1] - f1.ci95[0]
    # independent estimates agree within their combined uncertainty
    s1, s2 = (f1.ci95[1] - f1.ci95[0]) / 3.92, (f2.ci95[1] - f2.ci95[0]) / 3.92
    assert abs(f1.bits_per_char - f2.bits_per_char) < 4 * math.hypot(s1, s2)
    # the mix floor charges the domain choice, so it is above the domain-only rate
    docs = generate("story", 500, seed=4)
    assert floor_of(docs, "mix").bits_per_char > floor_of(docs, "domain").bits_per_char


def test_splits_are_disjoint_fixed_and_sized():
    sp = make_splits({"train": 2000, "val": 200, "test": 200})
    assert {k: len(v) for k, v in sp.items()} == {"train": 2000, "val": 200, "test": 200}
    sets = {k: {d.text for d in v} for k, v in sp.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"])
    assert not (sets["val"] & sets["test"])
    for k, docs in sp.items():
        assert all(split_of(d.text) == k for d in docs)
    again = make_splits({"train": 2000, "val": 200, "test": 200})
    assert [d.text for d in again["val"]] == [d.text for d in sp["val"]]
    streamed = list(iter_splits({"train": 2000, "val": 200, "test": 200}))  # one at a time, in the same order
    assert [d.text for s, d in streamed if s == "val"] == [d.text for d in sp["val"]]
    assert [d.text for s, d in streamed if s == "train"] == [d.text for d in sp["train"]]


def test_helpdesk_task_labels_prompts_and_bayes_accuracy():
    task = helpdesk_task({"train": 300, "val": 100, "test": 100})
    assert {k: len(v) for k, v in task.items()} == {"train": 300, "val": 100, "test": 100}
    for k, docs in task.items():
        assert all(split_of(d.text) == k for d in docs)
        for d in docs:
            assert d.label in CATEGORIES
            p = ticket_prompt(d)
            assert p.endswith(CATEGORY_PROMPT) and d.text[len(p):].startswith(d.label + "\n")
            post = category_posterior(d)
            assert sum(post.values()) == pytest.approx(1.0)
    acc = bayes_accuracy(task["train"])
    assert 0.6 < acc < 0.95  # uncertain labels: evidence must be combined, yet learnable
    # with truthful clues the label is (almost) certain
    honest = CorpusConfig(helpdesk_clue_rate=0.999)
    assert bayes_accuracy(helpdesk_task({"val": 100}, honest)["val"], honest) > 0.99


@pytest.mark.parametrize("skew", [0.85, 0.6])
def test_pronoun_skew_is_the_configured_rate_and_clinic_is_balanced(skew):
    cfg = CorpusConfig(pronoun_skew=skew)
    rates = pronoun_rates(generate("story", 3000, seed=2, cfg=cfg) + generate("clinic", 3000, seed=2, cfg=cfg))
    for dom, target in (("story", skew), ("clinic", 0.5)):
        r, n = rates[dom]["stereotyped"], rates[dom]["n"]
        assert abs(r - target) < 4 * math.sqrt(target * (1 - target) / n), (dom, r)


def test_canaries_are_inserted_counted_and_enumerable():
    docs = generate("mix", 50, seed=1)
    out, canaries = insert_canaries(docs, n_canaries=3, repetitions=4, n_digits=5, seed=2)
    assert len(docs) == 50 and len(out) == 50 + 12
    assert len({c.secret for c in canaries}) == 3
    for c in canaries:
        assert len(c.secret) == 5 and c.secret.isdigit()
        assert sum(d.text == c.text for d in out) == 4
        assert c.text.startswith(CANARY_PREFIX)
    assert [d.text for d in out if d.domain != "canary"] == [d.text for d in docs]
    space = list(canary_space(3))
    assert len(space) == canary_space_size(3) == 1000 and space[0] == "000" and space[-1] == "999"
    with pytest.raises(ValueError):
        insert_canaries(docs, repetitions=0)


def test_an_email_reply_quotes_the_message_verbatim_and_the_quote_costs_nothing():
    from course_utils.corpus.grammar import Replayer

    for doc in generate("email", 50, seed=6):
        head, quote = doc.text.split("\n> ")
        body = head[head.index("\nHi ") + 1: head.index("\nReply from ")]
        assert quote == body and len(quote) > 60
        # replaying the derivation without the quote emits exactly the text before it, with the same log p:
        # the quote adds no choice, so its information content is zero
        g = Replayer(doc.choices, doc.text)
        DOMAINS["email"](g, CorpusConfig())
        assert g.pos == len(doc.text) and g.logprob == pytest.approx(doc.logprob, abs=1e-12)
    # the quote is forced: a reply that misquotes one character is not a text of the world
    doc = generate("email", 1, seed=9)[0]
    i = doc.text.index("\n> ") + 6
    wrong = doc.text[:i] + ("x" if doc.text[i] != "x" else "y") + doc.text[i + 1:]
    assert len(derivations(doc.text, "email")) == 1 and derivations(wrong, "email") == []
    f = floor_of(generate("email", 2000, seed=7), "domain")
    assert 0.05 < f.bits_per_char < 0.3


def test_the_bank_domain_is_held_out_of_the_mix_and_has_a_labelled_task():
    from course_utils.corpus import BANK, HELD_OUT, INTENTS, bank_task

    assert "bank" in HELD_OUT and "bank" in DOMAINS and "bank" not in CorpusConfig().domain_weights
    assert not any(d.domain == "bank" for d in generate("mix", 3000, seed=8))
    task = bank_task({"train": 2000, "val": 300, "test": 300})
    assert {k: len(v) for k, v in task.items()} == {"train": 2000, "val": 300, "test": 300}
    texts = {k: {d.text for d in v} for k, v in task.items()}
    assert not (texts["train"] & texts["val"]) and not (texts["train"] & texts["test"])
    assert [d.text for d in bank_task({"train": 50})["train"]] == [d.text for d in task["train"][:50]]  # fixed
    for d in task["val"]:
        assert d.label in INTENTS and d.mix_logprob == d.logprob  # not charged a mix choice: it is not in the mix
        p = BANK.prompt_of(d)
        assert d.text[len(p):].startswith(d.label + "\n")
    acc = bayes_accuracy(task["test"])
    assert 0.7 < acc < 0.95
    f = floor_of(task["val"], "domain")
    assert 0.05 < f.bits_per_char < 0.4
