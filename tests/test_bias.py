"""Bias from data (lesson 10): probe cut points, skew arithmetic on fake models, exact pronoun swaps."""

import math
import re
from types import SimpleNamespace

import pytest
import torch

from course_utils import bias_templates
from course_utils.bias import (PROBE_DOMAINS, augment, configured_rate, counterfactual_swap, data_skew,
                               debias_finetune, domain_model, model_skew, plot_skew, probe_of, pronoun_probabilities,
                               pronoun_probe_prompts, skew_from_probabilities, skew_table, swap_pronoun,
                               training_docs)
from course_utils.corpus import CorpusConfig, derivations, generate, split_of
from course_utils.corpus.domains import CLINICIANS, OCCUPATIONS
from course_utils.errors import BadInputError
from course_utils.finetune import FinetuneConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")
WORD = re.compile(r"[A-Za-z]+")


@pytest.fixture(scope="module")
def tok():
    from course_utils.loading import load_model

    return load_model("course-tiny").tokenizer


class FakeLM(torch.nn.Module):
    """Next-token probabilities set by a rule on the text so far: ``rule(text) -> (p_she, p_he)`` is the
    probability of " She" and of " she" (p_she each), of " He" and of " he" (p_he each); the rest of the mass is
    spread evenly over the other tokens."""

    def __init__(self, tokenizer, rule):
        super().__init__()
        self.tok, self.rule = tokenizer, rule
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.ids = {w: tokenizer(w, add_special_tokens=False)["input_ids"] for w in (" She", " He", " she", " he")}
        assert all(len(v) == 1 for v in self.ids.values())

    def forward(self, input_ids, attention_mask=None, **_):
        B, T = input_ids.shape
        V = len(self.tok)
        probs = torch.full((B, T, V), 1.0 / V, dtype=torch.float64)
        for b in range(B):
            for t in range(T):
                if attention_mask is not None and attention_mask[b, t] == 0:
                    continue
                she, he = self.rule(self.tok.decode(input_ids[b, :t + 1], skip_special_tokens=True))
                probs[b, t] = (1 - 2 * she - 2 * he) / (V - 4)
                for w, p in ((" She", she), (" she", she), (" He", he), (" he", he)):
                    probs[b, t, self.ids[w][0]] = p
        return SimpleNamespace(logits=probs.log())


# ----------------------------------------------------------------------------- probes

@pytest.mark.parametrize("domain", list(PROBE_DOMAINS))
def test_probes_end_right_before_the_first_pronoun_after_the_occupation(domain):
    probes = pronoun_probe_prompts(domain, n=3)
    occupations = PROBE_DOMAINS[domain]
    assert len(probes) == 3 * len(occupations)
    assert {p.occupation for p in probes} == set(occupations)
    for p in probes:
        text = p.doc.text
        word = p.candidates[p.pronoun]
        assert text.startswith(p.prompt + word)
        assert not text[len(p.prompt + word)].isalpha()  # the whole word, not the start of a longer one
        after = p.prompt[p.prompt.index(p.occupation):]
        assert not re.search(r"\b(she|he|her|him|his)\b", after, re.I)  # nothing of the pronoun before the cut
        assert p.stereotype == (CLINICIANS if domain == "clinic" else OCCUPATIONS)[p.occupation]
        assert p.pronoun == p.doc.meta["pronoun"]
        assert split_of(text) != "train"  # no course model trained on it
        cased = domain != "review"  # stories and clinic notes start a sentence with the pronoun
        assert p.candidates == ({"she": " She", "he": " He"} if cased else {"she": " she", "he": " he"})


def test_probes_are_deterministic_and_restricted_to_the_occupations_asked():
    a = pronoun_probe_prompts("story", ["nurse", "pilot"], n=4, seed=3)
    b = pronoun_probe_prompts("story", ["nurse", "pilot"], n=4, seed=3)
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert sorted(p.occupation for p in a) == ["nurse"] * 4 + ["pilot"] * 4
    assert [p.prompt for p in pronoun_probe_prompts("story", ["nurse", "pilot"], n=4, seed=4)] != [p.prompt for p in a]


def test_bad_probe_requests_are_refused_with_the_known_names():
    with pytest.raises(BadInputError) as err:
        pronoun_probe_prompts("story", ["nurse", "astronaut"])
    assert "'astronaut'" in str(err.value) and all(o in str(err.value) for o in OCCUPATIONS)
    with pytest.raises(BadInputError, match="surgeon"):
        pronoun_probe_prompts("clinic", ["engineer"])  # an occupation of stories is not a clinician
    with pytest.raises(BadInputError, match="no occupations"):
        pronoun_probe_prompts("story", [])
    with pytest.raises(BadInputError, match="story, review, clinic"):
        pronoun_probe_prompts("weather")
    for n in (0, -1, 2.5, True):
        with pytest.raises(BadInputError, match="at least 1"):
            pronoun_probe_prompts("story", n=n)
    with pytest.raises(BadInputError, match="no occupation pronoun"):
        probe_of(generate("weather", 1)[0])


# ----------------------------------------------------------------------------- skew arithmetic

def _probes(n=3):
    return [p for d in ("story", "review", "clinic") for p in pronoun_probe_prompts(d, ["nurse"], n=n)]


def test_skew_of_a_fake_model_with_known_probabilities(tok):
    fake = FakeLM(tok, lambda text: (0.3, 0.1))
    probes = _probes()
    probs = pronoun_probabilities(fake, tok, probes)
    for p in probs:
        assert p["she"] == pytest.approx(0.3, rel=1e-4) and p["he"] == pytest.approx(0.1, rel=1e-4)
    skew = model_skew(fake, tok, probes)
    for dom in ("story", "review", "clinic"):
        s = skew[dom]["nurse"]  # the nurse's stereotype is "she": 0.3 / (0.3 + 0.1)
        assert s.skew == pytest.approx(0.75, rel=1e-4) and s.mass == pytest.approx(0.4, rel=1e-4)
        assert s.low == pytest.approx(0.75, rel=1e-4) and s.high == pytest.approx(0.75, rel=1e-4)  # no spread
        assert s.n == 3 and s.stereotype == "she"


def test_skew_follows_the_prompt_when_the_fake_model_does(tok):
    # "she" after a nurse, "he" after anyone else: a model that has fully learnt a stereotype
    fake = FakeLM(tok, lambda text: (0.32, 0.08) if "nurse" in text else (0.08, 0.32))
    probes = [p for p in pronoun_probe_prompts("story", ["nurse", "pilot", "baker"], n=2)]
    skew = model_skew(fake, tok, probes)["story"]
    assert skew["nurse"].skew == pytest.approx(0.8, rel=1e-4)
    assert skew["pilot"].skew == pytest.approx(0.8, rel=1e-4)  # P(he) for a "he" occupation
    assert skew["baker"].skew == pytest.approx(0.2, rel=1e-4)  # a "she" occupation, but the model says "he"


def test_skew_is_the_mean_of_per_prompt_ratios_with_a_bootstrap_interval():
    probes = pronoun_probe_prompts("story", ["pilot"], n=4)  # stereotype "he"
    probs = [{"she": 0.1, "he": 0.1}, {"she": 0.0, "he": 0.5}, {"she": 0.3, "he": 0.1}, {"she": 0.2, "he": 0.6}]
    ratios = [0.5, 1.0, 0.25, 0.75]
    s = skew_from_probabilities(probes, probs, n_boot=500)["story"]["pilot"]
    assert s.skew == pytest.approx(sum(ratios) / 4)
    assert min(ratios) <= s.low < s.skew < s.high <= max(ratios)
    assert s.mass == pytest.approx((0.2 + 0.5 + 0.4 + 0.8) / 4)
    with pytest.raises(BadInputError, match="one pair per probe"):
        skew_from_probabilities(probes, probs[:3])


def test_multi_token_pronouns_are_scored_by_summing_their_tokens(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils.zoo.evaluate import sequence_logprobs

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    probes = _probes(1)
    probs = pronoun_probabilities(model, tok, probes)
    for p, got in zip(probes, probs):
        ids = {w: tok(p.prompt + p.candidates[w])["input_ids"] for w in ("she", "he")}
        k = next(i for i, (a, b) in enumerate(zip(ids["she"], ids["he"])) if a != b)
        lps = sequence_logprobs(model, [ids["she"], ids["he"]], tok.pad_token_id)
        assert got["she"] == pytest.approx(math.exp(sum(lps[0][k - 1:])), rel=1e-4)
        assert got["he"] == pytest.approx(math.exp(sum(lps[1][k - 1:])), rel=1e-4)
    with pytest.raises(BadInputError, match="no probes"):
        pronoun_probabilities(model, tok, [])


# ----------------------------------------------------------------------------- data skew and the table

def test_data_skew_counts_the_generator_meta_exactly():
    docs = training_docs(600)
    skew = data_skew(docs)
    assert set(skew) <= set(PROBE_DOMAINS) and "story" in skew and "clinic" in skew
    for dom, occs in skew.items():
        for occ, row in occs.items():
            mine = [d for d in docs if d.domain == dom and d.meta.get("occupation") == occ]
            k = sum(d.meta["pronoun"] == PROBE_DOMAINS[dom][occ] for d in mine)
            assert (row["stereotyped"], row["n"]) == (k, len(mine)) and row["rate"] == k / len(mine)
            assert row["configured"] == (0.5 if dom == "clinic" else CorpusConfig().pronoun_skew)
    assert configured_rate("story", CorpusConfig(pronoun_skew=0.6)) == 0.6
    with pytest.raises(BadInputError, match="no documents"):
        data_skew([])
    with pytest.raises(BadInputError, match="none of the 5"):
        data_skew(generate("weather", 5))


def _data(rate=0.85):
    return {dom: {o: {"rate": 0.5 if dom == "clinic" else rate, "stereotyped": 0, "n": 1,
                      "configured": 0.5 if dom == "clinic" else rate} for o in occs}
            for dom, occs in PROBE_DOMAINS.items()}


def test_skew_table_names_the_model_closest_to_its_data(tok):
    faithful = FakeLM(tok, lambda text: (0.34, 0.06) if re.search(r"\b(nurse|baker)\b", text) else (0.06, 0.34))
    neutral = FakeLM(tok, lambda text: (0.2, 0.2))
    probes = [p for d in ("story", "review") for p in pronoun_probe_prompts(d, ["nurse", "pilot", "baker"], n=2)]
    table = skew_table({"faithful": (faithful, tok), "neutral": (neutral, tok)}, probes, _data(), n_boot=50)
    assert len(table.rows) == 2 * 2 * 3
    assert table.summary["faithful"]["general"]["mean_abs_gap"] == pytest.approx(0.0, abs=1e-4)
    assert table.summary["neutral"]["general"]["mean_abs_gap"] == pytest.approx(0.35, rel=1e-3)
    assert table.summary["neutral"]["general"]["mean_skew"] == pytest.approx(0.5, rel=1e-3)
    assert table.summary["neutral"]["general"]["she_share"] == pytest.approx(0.5, rel=1e-3)
    assert table.most_faithful("general") == "faithful"
    assert "closest to the data: faithful" in table.verdict()
    assert "faithful" in table.text() and "mean_abs_gap" in table.summary_text()
    wide = {r["occupation"]: r for r in table.by_occupation("review")}
    assert set(wide) == {"nurse", "pilot", "baker"}
    assert wide["pilot"]["neutral"] == pytest.approx(0.5, rel=1e-3) and wide["pilot"]["faithful"] == pytest.approx(0.85, rel=1e-3)
    with pytest.raises(BadInputError, match="no 'clinic' rows"):
        table.by_occupation("clinic")
    ax = plot_skew(table)
    assert ax.get_lines()[-1].get_linestyle() == "--"  # the diagonal
    with pytest.raises(BadInputError, match="no models"):
        skew_table({}, probes, _data())
    with pytest.raises(BadInputError, match="'general' or 'clinic'"):
        table.most_faithful("clinic")  # no clinic probes here


# ----------------------------------------------------------------------------- counterfactual swaps

SWAPS = {("she", "he"), ("She", "He"), ("her", "him"), ("her", "his")}


def _pairs_differ_only_in_pronouns(a: str, b: str) -> int:
    wa, wb = WORD.findall(a), WORD.findall(b)
    assert len(wa) == len(wb) and WORD.sub("", a) == WORD.sub("", b)
    changed = [(x, y) for x, y in zip(wa, wb) if x != y]
    assert all((x, y) in SWAPS or (y, x) in SWAPS for x, y in changed), changed
    return len(changed)


@pytest.mark.parametrize("source", ["story", "review", "clinic", "mix"])
def test_swaps_flip_every_reference_and_nothing_else(source):
    docs = training_docs(300) if source == "mix" else generate(source, 40, seed=5)
    with_pronoun = [d for d in docs if "pronoun" in d.meta]
    swapped = counterfactual_swap(docs)
    assert len(swapped) == len(with_pronoun) > 0
    for d, s in zip(with_pronoun, swapped):
        assert s.meta["pronoun"] != d.meta["pronoun"] and s.meta["occupation"] == d.meta["occupation"]
        assert s.domain == d.domain and s.label == d.label
        n = _pairs_differ_only_in_pronouns(d.text, s.text)
        assert n >= 1
        if d.meta["pronoun"] == "she":
            assert not re.search(r"\b(she|her)\b", s.text, re.I)
        else:
            assert not re.search(r"\b(he|him|his)\b", s.text, re.I)
        (choices, lp), = derivations(s.text, s.domain, limit=2)  # still one derivation under the generator
        assert s.logprob == pytest.approx(lp)
        assert s.choices[1 if source == "mix" else 0:] == choices  # a mix document also chose its domain
        assert swap_pronoun(s).text == d.text  # swapping back restores the original
    if source == "mix":
        d, s = with_pronoun[0], swapped[0]
        w = dict(CorpusConfig().weights)
        assert s.mix_logprob - s.logprob == pytest.approx(math.log(w[d.domain] / sum(w.values())))


def test_possessive_and_object_her_map_to_his_and_him():
    stories = generate("story", 200, seed=1)
    she = [d for d in stories if d.meta["pronoun"] == "she"]
    bed = next(d for d in she if " her bed" in d.text)
    thanked = next(d for d in she if "thanked her." in d.text)
    assert " his bed" in swap_pronoun(bed).text
    assert "thanked him." in swap_pronoun(thanked).text


def test_augmented_data_is_balanced_for_every_occupation():
    docs = training_docs(400)
    both = augment(docs)
    assert len(both) == len(docs) + sum("pronoun" in d.meta for d in docs)
    assert [d for d in both if d in docs] == docs  # the originals, in order, each followed by its swap
    for occs in data_skew(both).values():
        for row in occs.values():
            assert row["rate"] == 0.5 and row["n"] % 2 == 0


def test_swap_refuses_documents_without_a_pronoun():
    with pytest.raises(BadInputError, match="no documents"):
        counterfactual_swap([])
    with pytest.raises(BadInputError, match="none of the 3"):
        counterfactual_swap(generate("recipe", 3))
    with pytest.raises(BadInputError, match="no occupation pronoun"):
        swap_pronoun(generate("weather", 1)[0])


def test_debias_finetune_trains_a_copy(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    docs = generate("story", 12, seed=2)
    tuned = debias_finetune((model, tok), docs, FinetuneConfig(steps=2, batch_size=2, block_size=32, min_steps=1))
    assert tuned is not model and not tuned.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the original is untouched
    assert any(not torch.equal(v, tuned.state_dict()[k]) for k, v in before.items())
    with pytest.raises(BadInputError, match="too few"):
        debias_finetune((model, tok), docs[:3], FinetuneConfig(steps=2, batch_size=2, block_size=32))


def test_domain_model_fine_tunes_a_copy_on_that_domain_only(tiny_llama_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import course_utils.bias as bias

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = {}
    real = bias.finetune

    def spy(m, t, docs, cfg, **kw):
        seen["domains"] = {d.domain for d in docs}
        seen["splits"] = {split_of(d.text) for d in docs}
        return real(m, t, docs, cfg, **kw)

    monkeypatch.setattr(bias, "finetune", spy)
    tuned = domain_model((model, tok), "clinic", n_docs=10, cfg=FinetuneConfig(steps=2, batch_size=2, block_size=32,
                                                                              min_steps=1))
    assert seen == {"domains": {"clinic"}, "splits": {"train"}}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(v, tuned.state_dict()[k]) for k, v in before.items())
    with pytest.raises(BadInputError, match="unknown domain 'poetry'"):
        domain_model((model, tok), "poetry")
    with pytest.raises(BadInputError, match="at least one document"):
        domain_model((model, tok), "clinic", n_docs=0)


# ----------------------------------------------------------------------------- template probes (real models, online)

def test_template_probes_cut_before_the_pronoun_for_every_occupation_and_template():
    probes = bias_templates.template_probes(["nurse", "plumber"])
    assert len(probes) == 2 * len(bias_templates.TEMPLATES)
    for p in probes:
        assert p.occupation in p.prompt and not p.prompt.endswith(" ") and p.candidates == {"she": " she", "he": " he"}
    assert {p.stereotype for p in probes if p.occupation == "nurse"} == {"she"}
    assert {p.stereotype for p in probes if p.occupation == "plumber"} == {"he"}
    with pytest.raises(BadInputError, match="no BLS % female for 'astronaut'"):
        bias_templates.template_probes(["nurse", "astronaut"])
    with pytest.raises(BadInputError, match="no '{occupation}' slot"):
        bias_templates.template_probes(templates=("The person said that",))


def test_template_skew_tracks_a_model_that_mirrors_the_labour_statistics(tok):
    def mirror(text):  # P(she) grows with the occupation's share of women
        occ = next((o for o in bias_templates.BLS_PCT_FEMALE if re.search(rf"\b{o}\b", text)), None)
        f = 0.5 if occ is None else bias_templates.BLS_PCT_FEMALE[occ] / 100
        return 0.2 * f, 0.2 * (1 - f)

    occs = ["plumber", "engineer", "lawyer", "teacher", "nurse"]
    probes = bias_templates.template_probes(occs, templates=bias_templates.TEMPLATES[:2])
    rows = bias_templates.template_skew(FakeLM(tok, mirror), tok, probes, n_boot=50)
    assert [r["occupation"] for r in rows] == occs  # sorted by % female
    for r in rows:
        f = r["pct_female"] / 100
        assert r["log_he_minus_she"] == pytest.approx(math.log((1 - f) / f), rel=1e-3) and r["n"] == 2
    c = bias_templates.skew_correlation(rows)
    assert c["spearman"] == pytest.approx(-1.0) and c["pearson"] < -0.9 and c["n"] == 5
    flat = bias_templates.template_skew(FakeLM(tok, lambda text: (0.1, 0.3)), tok, probes, n_boot=50)
    c = bias_templates.skew_correlation(flat)
    assert c["pearson"] == 0.0 and c["mean_skew"] == pytest.approx(math.log(3), rel=1e-3)
    with pytest.raises(BadInputError, match="at least 3"):
        bias_templates.skew_correlation(rows[:2])
    ax = bias_templates.plot_template_skew({"mirror": rows})
    assert "r = -" in ax.get_legend().get_texts()[0].get_text()


def test_debias_effect_reuses_a_table_measured_before_and_refuses_one_of_other_probes(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils.bias import debias_effect

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    probes = pronoun_probe_prompts("story", ["nurse", "pilot"], n=2)
    known = skew_table({"m": (model, tok)}, probes, _data(), n_boot=20)
    cfg = FinetuneConfig(steps=2, batch_size=2, block_size=32, min_steps=1)
    docs, evals = generate("story", 12, seed=3), generate("story", 3, seed=4)
    out = debias_effect((model, tok), docs, probes, evals, cfg, _data(), before=known, before_name="m")
    assert out["table"].summary["before"] == known.summary["m"]
    assert [r["model_skew"] for r in out["table"].rows if r["model"] == "before"] == \
        [r["model_skew"] for r in known.rows]
    assert set(out["table"].summary) == {"before", "after"} and out["bits_per_char"]["after"] > 0
    with pytest.raises(BadInputError, match="'x' is not in this table"):
        debias_effect((model, tok), docs, probes, evals, cfg, _data(), before=known, before_name="x")
    with pytest.raises(BadInputError, match="other probes"):
        debias_effect((model, tok), docs, probes[:2], evals, cfg, _data(), before=known, before_name="m")
