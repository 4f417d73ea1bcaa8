"""World facts: every prompt has its one right answer, and the scorer counts greedy answers."""

import torch

from course_utils import world_facts as wf
from course_utils.corpus import split_of
from course_utils.loading import load_model


def test_facts_of_every_kind_come_from_the_test_split():
    facts = wf.world_facts(n_per_kind=5)
    kinds = {f.kind for f in facts}
    assert len(kinds) == 9 and len(facts) == 45
    for f in facts:
        assert f.answer.startswith(" ") and not f.prompt.endswith(" ")
    assert wf.world_facts(n_per_kind=5) == facts  # deterministic
    city = [f for f in facts if f.kind.startswith("weather: city")][0]
    assert city.prompt.startswith("Weather report for" + city.answer + " on")
    step = [f for f in facts if f.kind.startswith("recipe: ingredient")][0]
    assert f"grams of{step.answer}\n" in step.prompt.split("Steps:")[0]


def test_facts_documents_are_held_out():
    # the prompt is a prefix of a test-split document; rebuild it to check the split
    from course_utils.corpus.world import CorpusConfig, sample_document
    import random

    rng = random.Random("2026/facts/clinic")
    doc = next(d for d in (sample_document(rng, "clinic", CorpusConfig()) for _ in range(1000))
               if split_of(d.text) == "test")
    fact = wf.world_facts(n_per_kind=1)
    clinic = [f for f in fact if f.kind.startswith("clinic")][0]
    assert doc.text.startswith(clinic.prompt + clinic.answer)


class _Oracle(torch.nn.Module):
    """Puts all its probability on the token that really comes next (the scorer teacher-forces)."""

    def __init__(self, vocab, shift=1):
        super().__init__()
        self.vocab, self.shift = vocab, shift

    def forward(self, input_ids, attention_mask=None):
        B, T = input_ids.shape
        logits = torch.zeros(B, T, self.vocab)
        nxt = torch.roll(input_ids, -self.shift, dims=1)
        logits.scatter_(-1, nxt[..., None], 30.0)
        return type("Out", (), {"logits": logits})()


def test_scorer_counts_greedy_answers(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    facts = wf.world_facts(n_per_kind=2)
    prompt, answer = wf.encode_fact(lm.tokenizer, facts[0])
    assert prompt and answer
    assert lm.tokenizer.decode(prompt + answer, skip_special_tokens=True) == facts[0].prompt + facts[0].answer
    oracle = type(lm)(_Oracle(len(lm.tokenizer)), lm.tokenizer, lm.info)
    wrong = type(lm)(_Oracle(len(lm.tokenizer), shift=2), lm.tokenizer, lm.info)
    r = wf.score_facts(oracle, facts, batch_size=5)  # batches of different lengths, right-padded
    assert all(x["correct"] and x["p_answer"] > 0.99 for x in r) and r[0]["greedy"] == facts[0].answer
    missed = wf.score_facts(wrong, facts)
    assert len(r) == len(missed) == len(facts) == 18
    assert not any(x["correct"] for x in missed) and all(x["greedy"].endswith("…") for x in missed)
    table, rows = wf.compare(wrong, oracle, facts)
    assert sum(t["n"] for t in table) == len(facts) == len(rows)
    assert all(t["large correct"] == t["n"] == t["large gets, small misses"] for t in table)
    one_by_one = [wf.score_facts(lm, [f])[0] for f in facts[:4]]
    batched = wf.score_facts(lm, facts[:4])
    for a, b in zip(one_by_one, batched):  # padding changes nothing
        assert a["correct"] == b["correct"] and abs(a["p_answer"] - b["p_answer"]) < 1e-5


def test_the_email_fact_is_a_number_only_copying_can_get():
    facts = [f for f in wf.world_facts(n_per_kind=5) if f.kind.startswith("email")]
    assert len(facts) == 5
    for f in facts:
        digits = f.answer.strip()
        assert digits.isdigit() and len(digits) == 6
        head, quote = f.prompt.split("\n> ")
        assert f"My order {digits} " in head and quote.endswith("My order")  # it was said once, before the quote
