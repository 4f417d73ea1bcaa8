"""Checks for lesson 07's exercises: previous-token score, the logit lens for one layer and for every
layer of a model, induction score.

Each ``check_*`` takes the learner's function, compares it with ``course_utils.heads`` and
``course_utils.lens`` (the references) on small cases, and prints one verdict (✅ / ❌ / ⏳).
"""

from __future__ import annotations

import torch

from course_utils import heads, lens
from course_utils.checks import CheckFailed, expect_close, run_check

H, P = 3, 5
T = 1 + 2 * P


def _patterns(seed: int = 0) -> torch.Tensor:
    """(H, T, T) random causal attention patterns."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(H, T, T, generator=g) * 2
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(-1)


def _lens_parts(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    d, V = 16, 20
    norm = torch.nn.RMSNorm(d, eps=1e-6)
    head = torch.nn.Linear(d, V, bias=False)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(d, generator=g) + 0.5)
        head.weight.copy_(torch.randn(V, d, generator=g))
    hidden = torch.randn(4, d, generator=g) * 3
    return hidden, norm, head


def _tiny_llama(seed: int = 0):
    """A 3-layer transformers Llama (the course models' architecture) with weights from a seeded generator;
    its norm gains are not all ones, so a final norm applied twice, or skipped, shows."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=LENS_VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3, generator=g)
            else:
                p.uniform_(0.5, 1.5, generator=g)
    return model


LENS_VOCAB = 50


def check_previous_token_score(previous_token_score) -> None:
    def test():
        a = _patterns()
        expected = heads.previous_token_score(a)  # the head census's definition: t = 2 … T-1
        found = previous_token_score(a.clone())
        if isinstance(found, torch.Tensor) and found.shape == expected.shape:
            if torch.allclose(found, a.diagonal(dim1=-2, dim2=-1)[:, 2:].mean(-1), atol=1e-6):
                raise CheckFailed("previous-token score", expected, found,
                                  "pattern[h, t, t] is attention to the token itself; the previous one is t-1")
            if torch.allclose(found, heads.previous_token_score(a, start=1), atol=1e-6):
                raise CheckFailed("previous-token score starts at t = 1", expected, found,
                                  "start at t = 2: position 1's previous token is <s>, where resting heads look "
                                  "anyway, so it would count them as previous-token heads")
        expect_close(found, expected, "previous-token score of 3 heads",
                     hint="for t = 2 … T-1 take pattern[:, t, t-1], then average over t: one number per head")

    run_check("previous-token score", test)


def check_logit_lens(lens_logprobs) -> None:
    def test():
        hidden, norm, head = _lens_parts()
        with torch.no_grad():
            expected = torch.log_softmax(head(norm(hidden)), -1)
            found = lens_logprobs(hidden.clone(), norm, head)
            if isinstance(found, torch.Tensor) and found.shape == expected.shape:
                if torch.allclose(found, torch.log_softmax(head(hidden), -1), atol=1e-5):
                    raise CheckFailed("log-probabilities through the lens", expected, found,
                                      "apply the model's final norm before the output head")
                if torch.allclose(found, expected.exp(), atol=1e-5):
                    raise CheckFailed("log-probabilities through the lens", expected, found,
                                      "return log-probabilities (log_softmax), not probabilities")
        expect_close(found, expected, "log-probabilities through the lens", atol=1e-4,
                     hint="the final norm first, then the output head, then log_softmax over the vocabulary "
                          "(the last dimension)")

    run_check("logit lens for one layer", test)


def check_induction_score(induction_score) -> None:
    def test():
        a = _patterns(1)
        expected = heads.induction_score(a, P)
        found = induction_score(a.clone(), P)
        if isinstance(found, torch.Tensor) and found.shape == expected.shape:
            t = torch.arange(P + 1, 2 * P + 1)
            if torch.allclose(found, a[:, t, t - P].mean(-1), atol=1e-6):
                raise CheckFailed("induction score", expected, found,
                                  "t - period is the earlier copy of the current token (a duplicate-token "
                                  "head); an induction head looks one further, at t - period + 1")
        expect_close(found, expected, "induction score of 3 heads (period 5)",
                     hint="for t = period+1 … 2·period take pattern[:, t, t-period+1] and average over t")

    run_check("induction score", test)


def check_logit_lens_by_layer(logit_lens) -> None:
    """logit_lens(model, input_ids (1, T), target_id) -> (n_layers + 1,) log-probabilities of target_id as the
    next token after the last position, read after the embeddings and after each layer."""

    def test():
        model = _tiny_llama()
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(3, LENS_VOCAB, (1, 9), generator=g)  # (1, T)
        target = int(ids[0, 4])  # a token of the prompt, as a copied answer would be
        L = model.config.num_hidden_layers
        expected = lens.lens_logprobs(model, ids)[:, target]  # (L+1,), read with hooks
        with torch.no_grad():
            found = logit_lens(model, ids.clone(), target)
            out = model(input_ids=ids, output_hidden_states=True)
            stream = torch.stack([h[0, -1] for h in out.hidden_states])  # (L+1, d), the last one already normed
            normed_twice = torch.log_softmax(model.lm_head(model.model.norm(stream)), -1)[:, target]
            no_norm = torch.log_softmax(model.lm_head(stream), -1)[:, target]
            first_position = lens.lens_logprobs(model, ids, position=0)[:, target]
        if not isinstance(found, torch.Tensor):
            raise CheckFailed("logit_lens should return a tensor", f"a tensor of shape ({L + 1},)", found)
        found = found.detach().float()
        if found.shape == (L,):
            raise CheckFailed(f"one value per layer: the model has {L} layers", (L + 1,), tuple(found.shape),
                              "n_layers + 1 values: layer 0 is the embeddings alone, then the output of each layer")
        if found.dim() == 2 and found.shape[0] == L + 1:
            raise CheckFailed("a distribution per layer, not the target's log-probability", (L + 1,),
                              tuple(found.shape), "pick the column target_id")
        if found.shape == expected.shape:
            if torch.allclose(found, normed_twice, atol=1e-4):
                raise CheckFailed("the last layer is read through the final norm twice", expected, found,
                                  "transformers returns the last hidden state after the final norm already: "
                                  "for the last layer, use the model's own logits")
            if torch.allclose(found, no_norm, atol=1e-4):
                raise CheckFailed("the hidden states skip the final norm", expected, found,
                                  "read each layer as the model reads its last one: final norm, then lm_head")
            if torch.allclose(found, expected.exp(), atol=1e-4):
                raise CheckFailed("probabilities, not log-probabilities", expected, found, "use log_softmax")
            if torch.allclose(found, first_position, atol=1e-4):
                raise CheckFailed("read at the first position", expected, found,
                                  "the next token after the prompt is predicted at its last position, index -1")
        expect_close(found, expected, f"log p(target) after the embeddings and each of the {L} layers",
                     hint="per layer: the last position's hidden state -> final norm -> lm_head -> log_softmax, "
                          "then the target's entry; the last layer is the model's own output", atol=1e-4)

    run_check("logit lens, layer by layer", test)
