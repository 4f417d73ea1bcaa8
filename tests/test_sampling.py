"""Sampling transforms: hand-checked cases and parity with the transformers logits warpers."""

import math

import pytest
import torch
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

from course_utils.errors import BadInputError
from course_utils.loading import load_model
from course_utils.measure import perplexity
from course_utils.sampling import (apply_temperature, entropy_bits, next_token_logits, sample_continuation,
                                   show_token, token_logprobs, top_k_filter, top_p_filter, transform)

PROBS = torch.tensor([0.5, 0.3, 0.15, 0.05])
LOGITS = PROBS.log()


def kept(logits):
    return torch.isfinite(logits).tolist()


def test_temperature_divides_and_zero_is_greedy():
    assert torch.allclose(apply_temperature(LOGITS, 2.0), LOGITS / 2)
    greedy = apply_temperature(LOGITS, 0.0)
    assert kept(greedy) == [True, False, False, False] and greedy.softmax(-1)[0] == 1
    sharper = apply_temperature(LOGITS, 0.5).softmax(-1)
    assert sharper[0] > PROBS[0] and entropy_bits(sharper) < entropy_bits(PROBS)
    with pytest.raises(ValueError, match="0 or more"):
        apply_temperature(LOGITS, -1)


def test_top_k_keeps_the_k_most_likely():
    assert kept(top_k_filter(LOGITS, 2)) == [True, True, False, False]
    assert torch.equal(top_k_filter(LOGITS, 0), LOGITS) and torch.equal(top_k_filter(LOGITS, 10), LOGITS)
    with pytest.raises(ValueError):
        top_k_filter(LOGITS, -1)


@pytest.mark.parametrize("p, expected", [(0.05, 1), (0.5, 1), (0.75, 2), (0.85, 3), (0.99, 4), (1.0, 4)])
def test_top_p_keeps_the_smallest_set_reaching_p(p, expected):
    assert sum(kept(top_p_filter(LOGITS, p))) == expected


def test_top_p_rejects_bad_values():
    for p in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="top_p"):
            top_p_filter(LOGITS, p)


def test_transforms_match_the_transformers_warpers():
    torch.manual_seed(0)
    scores = torch.randn(64, 500) * 3  # (B, V)
    ids = torch.zeros(64, 1, dtype=torch.long)
    for t in (0.3, 1.0, 1.7):
        assert torch.allclose(apply_temperature(scores, t), TemperatureLogitsWarper(t)(ids, scores))
    for k in (1, 5, 50):
        assert torch.equal(top_k_filter(scores, k), TopKLogitsWarper(k)(ids, scores))
    mismatched = 0
    for p in (0.1, 0.5, 0.9, 0.95):
        ours, theirs = top_p_filter(scores, p), TopPLogitsWarper(p)(ids, scores)
        mismatched += (torch.isfinite(ours) != torch.isfinite(theirs)).sum().item()
    assert mismatched == 0


def test_entropy_in_bits():
    assert math.isclose(float(entropy_bits(torch.full((8,), 1 / 8))), 3.0, rel_tol=1e-6)
    assert float(entropy_bits(torch.tensor([1.0, 0.0, 0.0]))) == 0.0


def test_transform_keeps_every_stage():
    s = transform(LOGITS, temperature=1.0, top_k=3, top_p=0.75)
    assert s.n_kept == 2 and math.isclose(s.mass_kept, 0.8, rel_tol=1e-5)
    assert math.isclose(float(s.final.sum()), 1.0, rel_tol=1e-6)
    assert torch.allclose(s.final, torch.tensor([0.625, 0.375, 0, 0]))
    assert s.entropy_after < s.entropy_before
    assert transform(LOGITS, temperature=0).n_kept == 1


def test_token_logprobs_agree_with_measure_perplexity(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    text = "The printer on floor two is jammed again."
    pairs = token_logprobs(lm, text)
    assert "".join(t for t, _ in pairs) == text
    r = perplexity(lm.model, lm.tokenizer, text)
    assert r["n_tokens"] == len(pairs)
    assert math.isclose(-sum(lp for _, lp in pairs), r["nll_per_token"] * r["n_tokens"], rel_tol=1e-4)


def test_next_token_logits_and_greedy_sampling_match_generate(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    prompt = "The weather today"
    logits = next_token_logits(lm, prompt)
    assert logits.shape == (lm.model.config.vocab_size,)
    ids = sample_continuation(lm, prompt, max_new_tokens=8, temperature=0)
    start = lm.tokenizer(prompt, return_tensors="pt").input_ids
    ref = lm.model.generate(start, max_new_tokens=8, do_sample=False, pad_token_id=0)[0, start.shape[1]:]
    assert ids == ref.tolist()[:len(ids)] and ids[0] == int(logits.argmax())


def test_sampling_is_reproducible_with_a_generator(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    a = sample_continuation(lm, "Mix the", 10, 1.0, generator=torch.Generator().manual_seed(3))
    b = sample_continuation(lm, "Mix the", 10, 1.0, generator=torch.Generator().manual_seed(3))
    assert a == b
    with pytest.raises(BadInputError, match="empty"):
        next_token_logits(lm, "  ")


def test_show_token_makes_whitespace_visible():
    assert show_token(" the\n") == "␣the⏎" and show_token("") == "∅"


def test_show_token_escapes_control_characters():
    assert show_token("a\x1c") == "a\\x1c"
