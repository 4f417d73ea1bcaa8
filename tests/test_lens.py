"""Logit lens: the last layer read through the lens is the model's own output."""

import pytest
import torch

from course_utils import lens
from course_utils.loading import load_model


@pytest.fixture
def lm(tiny_llama_dir):
    return load_model(str(tiny_llama_dir))


def test_residual_stream_has_embeddings_plus_one_state_per_layer(lm):
    ids = lm.tokenizer("the printer is jammed", return_tensors="pt").input_ids
    stream = lens.residual_stream(lm.model, ids)
    assert len(stream) == lm.model.config.num_hidden_layers + 1
    assert torch.equal(stream[0], lm.model.get_input_embeddings()(ids))
    assert all(h.shape == (1, ids.shape[1], lm.model.config.hidden_size) for h in stream)


def test_lens_at_the_last_layer_is_the_models_output_and_earlier_layers_differ(lm):
    ids = lm.tokenizer("the weather today is", return_tensors="pt").input_ids
    logp = lens.lens_logprobs(lm.model, ids)
    with torch.no_grad():
        final = torch.log_softmax(lm.model(ids).logits[0, -1], -1)
    assert logp.shape == (lm.model.config.num_hidden_layers + 1, lm.model.config.vocab_size)
    torch.testing.assert_close(logp[-1], final, atol=1e-5, rtol=1e-5)  # norm applied once, not twice
    assert not torch.allclose(logp[0], final, atol=1e-3)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(logp.shape[0]))


def test_lens_curves_depth_kl_and_answer_probability(lm):
    prompts = ["the nurse said that", "mix the flour with"]
    answers = [lm.tokenizer(" she")["input_ids"][-1], lm.tokenizer(" two")["input_ids"][-1]]
    c = lens.lens_curves(lm, prompts, answers)
    L = lm.model.config.num_hidden_layers
    torch.testing.assert_close(c.depth, torch.arange(L + 1) / L)
    assert c.p_answer.shape == c.kl_to_final.shape == c.top1_is_answer.shape == (2, L + 1)
    assert torch.all(c.kl_to_final[:, -1].abs() < 1e-4) and torch.all(c.kl_to_final >= -1e-5)
    ids = lm.tokenizer(prompts[0], return_tensors="pt").input_ids
    with torch.no_grad():
        p = lm.model(ids).logits[0, -1].softmax(-1)[answers[0]]
    assert c.p_answer[0, -1].item() == pytest.approx(p.item(), rel=1e-4)
    single = lens.lens_curves(lm, prompts[1:], answers[1:])  # batching (padding) changes nothing
    torch.testing.assert_close(single.p_answer[0], c.p_answer[1], atol=1e-5, rtol=1e-4)
    fig = lens.plot_lens([c, c])
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_xlabel().startswith("relative depth")


def test_model_parts_refuses_an_unknown_architecture():
    with pytest.raises(ValueError, match="does not know"):
        lens.model_parts(torch.nn.Linear(2, 2))


def test_top_token_by_layer(lm):
    rows = lens.top_token_by_layer(lm, "the nurse said that")
    assert [r["layer"] for r in rows] == list(range(lm.model.config.num_hidden_layers + 1))
    assert rows[-1]["depth"] == 1.0 and all(0 < r["p"] <= 1 for r in rows)
    ids = lm.tokenizer("the nurse said that", return_tensors="pt").input_ids
    with torch.no_grad():
        best = lm.model(ids).logits[0, -1].argmax().item()
    assert rows[-1]["token"] == repr(lm.tokenizer.decode([best]))
