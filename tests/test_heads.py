"""Head census: each score is 1 on a head that does exactly that, low on a uniform head."""

import pytest
import torch

from course_utils import heads
from course_utils.loading import load_model
from course_utils.nn import GPT

P = 6
T = 1 + 2 * P


def _pattern(target_of) -> torch.Tensor:
    """A (1, 1, T, T) attention pattern where position t attends fully to target_of(t)."""
    a = torch.zeros(1, 1, T, T)
    for t in range(T):
        a[0, 0, t, target_of(t)] = 1.0
    return a


def _uniform() -> torch.Tensor:
    mask = torch.tril(torch.ones(T, T))
    return (mask / mask.sum(-1, keepdim=True))[None, None]


def test_scores_on_hand_made_patterns():
    prev = _pattern(lambda t: max(t - 1, 0))
    ind = _pattern(lambda t: t - P + 1 if t > P else max(t - 1, 0))
    sink = _pattern(lambda t: 0)
    assert heads.previous_token_score(prev).item() == 1.0
    assert heads.induction_score(ind, P).item() == 1.0
    assert heads.first_token_score(sink).item() == 1.0
    assert heads.induction_score(prev, P).item() == 0.0 and heads.previous_token_score(sink).item() == 0.0
    u = _uniform()
    for score in (heads.previous_token_score(u), heads.induction_score(u, P), heads.first_token_score(u)):
        assert score.item() < 0.3


def test_repeated_random_tokens_repeat_and_avoid_special_ids():
    ids = heads.repeated_random_tokens(300, period=10, batch=3, bos=1, seed=4)
    assert ids.shape == (3, 21) and torch.all(ids[:, 0] == 1)
    assert torch.equal(ids[:, 1:11], ids[:, 11:]) and ids[:, 1:].min() >= 3
    assert torch.equal(ids, heads.repeated_random_tokens(300, period=10, batch=3, bos=1, seed=4))


def test_head_scores_and_census_on_a_real_model(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    before = lm.model.config._attn_implementation
    ids = heads.repeated_random_tokens(lm.model.config.vocab_size, period=P, batch=2, bos=0)
    patterns = heads.attention_patterns(lm.model, ids)
    assert lm.model.config._attn_implementation == before  # restored after the eager call
    cfg = lm.model.config
    assert len(patterns) == cfg.num_hidden_layers
    assert patterns[0].shape == (2, cfg.num_attention_heads, T, T)
    torch.testing.assert_close(patterns[0].sum(-1), torch.ones(2, cfg.num_attention_heads, T))
    s = heads.head_scores(lm.model, ids, P, name="tiny")
    assert s.previous_token.shape == s.induction.shape == (cfg.num_hidden_layers, cfg.num_attention_heads)
    row = heads.census(s)
    assert row["heads"] == cfg.num_hidden_layers * cfg.num_attention_heads
    assert all(0 <= row[k] <= row["heads"] for k in heads.THRESHOLDS)
    forced = heads.census(s, {k: 0.0 for k in heads.THRESHOLDS})
    assert all(forced[k] == row["heads"] for k in heads.THRESHOLDS)
    first, second = heads.repeat_loss(lm.model, ids, P)
    assert first > 0 and second > 0
    assert heads.plot_census([row, row]).axes[0].get_ylabel() == "fraction of heads"
    assert len(heads.plot_head_scores([s]).axes) >= 3


def test_repeat_loss_sees_copying():
    class Copier(torch.nn.Module):  # predicts the token after the previous occurrence: a perfect inductor
        def forward(self, input_ids):
            B, T = input_ids.shape
            logits = torch.zeros(B, T, 50)
            for t in range(T):
                for s in range(t - 1, -1, -1):
                    if input_ids[0, s] == input_ids[0, t] and s + 1 <= t:
                        logits[:, t, input_ids[0, s + 1]] = 20.0
                        break
            return type("Out", (), {"logits": logits})()

    ids = heads.repeated_random_tokens(50, period=P, batch=1, bos=1, seed=0)
    assert len(set(ids[0, 1:P + 1].tolist())) == P  # no token repeats inside the first copy
    first, second = heads.repeat_loss(Copier(), ids, P)
    assert second < 0.01 < first


def test_repeated_segments_and_the_uniform_baseline():
    ids = heads.repeated_segments([[5, 6, 7, 8], [9, 10], [3, 4, 5]], period=3, bos=1)
    assert ids.tolist() == [[1, 5, 6, 7, 5, 6, 7], [1, 3, 4, 5, 3, 4, 5]]
    with pytest.raises(ValueError, match="shorter period"):
        heads.repeated_segments([[1, 2]], period=5, bos=1)
    base = heads.uniform_scores(P)
    u = _uniform()
    assert base["induction"] == pytest.approx(heads.induction_score(u, P).item())
    assert all(0 < v < min(heads.THRESHOLDS.values()) for v in base.values())


def test_the_census_finds_the_induction_head_of_the_positive_control():
    """A model trained on a pure copy task must copy, and the census must see the head that does it;
    the same census on the untrained model finds none (so it is not a threshold that anything passes)."""
    from transformers import LlamaForCausalLM

    model, hist = heads.induction_control(steps=400)
    probe = heads.repeated_random_tokens(64, period=16, batch=16, bos=1, seed=99)  # fresh tokens
    trained = heads.census(heads.head_scores(model, probe, 16))
    first, second = heads.repeat_loss(model, probe, 16)
    assert trained["induction"] >= 1 and second < 0.1 * first
    torch.manual_seed(0)
    untrained = heads.census(heads.head_scores(LlamaForCausalLM(model.config).eval(), probe, 16))
    assert untrained["induction"] == 0


def test_attention_patterns_equal_the_from_scratch_model_and_sdpa_is_restored(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The weather today is sunny", return_tensors="pt")["input_ids"]
    impl = lm.model.config._attn_implementation
    hf = heads.attention_patterns(lm.model, ids)
    assert lm.model.config._attn_implementation == impl  # switched back after the call
    _, ours = GPT.from_hf(lm.model)(ids, return_attention=True)
    assert len(hf) == len(ours) == 2
    for a, b in zip(hf, ours):
        assert (a - b).abs().max() <= 1e-5
    with heads.eager_attention(lm.model):
        assert lm.model.config._attn_implementation == "eager"
