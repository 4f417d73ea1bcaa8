"""Lesson 07 checks: accept the reference, report a stub and wrong answers with a message."""

from functools import partial

import pytest
import torch

from check_verdicts import assert_verdicts
from course_utils import heads
from course_utils.checks import lesson07 as L


def prev(pattern):
    t = torch.arange(2, pattern.shape[-1])
    return pattern[:, t, t - 1].mean(-1)


def lens(hidden, norm, head):
    return torch.log_softmax(head(norm(hidden)), -1)


def induction(pattern, period):
    return heads.induction_score(pattern, period)


def lens_by_layer(model, input_ids, target_id, position=-1, norm_last_again=False, final_norm=True,
                  embeddings=True, log=True):
    """The logit lens from output_hidden_states; the keyword arguments make the usual slips."""
    with torch.no_grad():
        out = model(input_ids=input_ids, output_hidden_states=True)
    states = out.hidden_states if norm_last_again else out.hidden_states[:-1]
    stream = torch.stack([h[0, position] for h in states])  # (L or L+1, d)
    logits = model.lm_head(model.model.norm(stream) if final_norm else stream)
    if not norm_last_again:
        logits = torch.cat([logits, out.logits[0, position][None]])
    logp = torch.log_softmax(logits.float(), -1)[:, target_id]
    logp = logp if embeddings else logp[1:]
    return logp if log else logp.exp()


def duplicate(pattern, period):
    t = torch.arange(period + 1, 2 * period + 1)
    return pattern[:, t, t - period].mean(-1)


CASES = [
    (L.check_previous_token_score, prev, lambda a: a.diagonal(dim1=-2, dim2=-1)[:, 2:].mean(-1), "itself"),
    (L.check_previous_token_score, prev, lambda a: heads.previous_token_score(a).mean(), "wrong shape"),
    (L.check_previous_token_score, prev, lambda a: heads.previous_token_score(a, start=1), "<s>"),
    (L.check_previous_token_score, prev, lambda a: heads.previous_token_score(a, start=3), "t = 2"),
    (L.check_logit_lens, lens, lambda h, n, w: torch.log_softmax(w(h), -1), "final norm"),
    (L.check_logit_lens, lens, lambda h, n, w: torch.softmax(w(n(h)), -1), "not probabilities"),
    (L.check_logit_lens, lens, lambda h, n, w: w(n(h)), "log_softmax"),
    (L.check_logit_lens_by_layer, lens_by_layer, partial(lens_by_layer, norm_last_again=True), "norm twice"),
    (L.check_logit_lens_by_layer, lens_by_layer, partial(lens_by_layer, norm_last_again=True, final_norm=False),
     "skip the final norm"),
    (L.check_logit_lens_by_layer, lens_by_layer, partial(lens_by_layer, embeddings=False), "embeddings alone"),
    (L.check_logit_lens_by_layer, lens_by_layer, partial(lens_by_layer, log=False), "not log-probabilities"),
    (L.check_logit_lens_by_layer, lens_by_layer, partial(lens_by_layer, position=0), "first position"),
    (L.check_logit_lens_by_layer, lens_by_layer, lambda m, ids, t: lens_by_layer(m, ids, t)[:, None].expand(-1, 5),
     "pick the column"),
    (L.check_logit_lens_by_layer, lens_by_layer, lambda m, ids, t: lens_by_layer(m, ids, (t + 1) % L.LENS_VOCAB),
     "log p(target)"),  # another token's log-probability
    (L.check_induction_score, induction, duplicate, "duplicate-token"),
    (L.check_induction_score, induction, lambda a, p: a[:, torch.arange(p, 2 * p + 1), torch.arange(1, p + 2)].mean(-1),
     "t-period+1"),
    (L.check_induction_score, induction, lambda a, p: [0.1, 0.2, 0.3], "not a tensor"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_a_crash_in_the_learners_code_is_one_line(capsys):
    L.check_induction_score(lambda a, p: a[:, 100, 0])
    out = capsys.readouterr().out
    assert out.startswith("❌ induction score: your code raised") and "Traceback" not in out


def test_the_lens_models_last_hidden_state_is_normed_so_norming_it_again_shows():
    """The slip the lens check diagnoses exists: transformers returns the last hidden state after the final norm,
    and the tiny model's norm gains are not ones, so a second norm changes it."""
    model = L._tiny_llama()
    ids = torch.arange(3, 12)[None]
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        last = out.hidden_states[-1]
        assert torch.allclose(model.lm_head(last), out.logits, atol=1e-5)
        assert not torch.allclose(model.model.norm(last), last, atol=1e-3)
