"""Lesson 13 checks: accept right answers, report a stub and each typical wrong answer with its own message."""

import pytest
import torch
import torch.nn.functional as F

from check_verdicts import assert_verdicts
from course_utils import cascade
from course_utils.checks import lesson13 as L
from course_utils.loading import load_model


@pytest.fixture(scope="module")
def models():
    torch.set_num_threads(1)
    return load_model("course-slm").model, load_model("course-tiny").model  # target, draft: one tokenizer


# ---- right answers (written differently from the solution notebook's)

@torch.no_grad()
def speculative(target, draft, ids, n, k):
    out = list(ids)
    while len(out) < len(ids) + n:
        ctx = list(out)
        for _ in range(k):
            ctx.append(int(draft(torch.tensor([ctx])).logits[0, -1].argmax()))
        logits = target(torch.tensor([ctx])).logits[0]
        for i in range(len(out), len(ctx) + 1):
            want = int(logits[i - 1].argmax())
            if i == len(ctx) or ctx[i] != want:
                out = ctx[:i] + [want]
                break
    return out[len(ids):len(ids) + n]


def cascade_pick(val, test, cs, cl):
    ok = [(cascade.at_threshold(val, t, cs, cl).cost, t) for t in [0.0, 1.0, *val.small_confidence]
          if cascade.at_threshold(val, t, cs, cl).accuracy >= val.large_accuracy]
    t = min(ok)[1]
    p = cascade.at_threshold(test, t, cs, cl)
    return t, p.accuracy, p.cost


def kd(s, t, y, T, alpha):
    mask = (y != -100).reshape(-1)
    ps, pt = (F.log_softmax(x.reshape(-1, x.shape[-1])[mask] / T, -1) for x in (s, t))
    kl = F.kl_div(ps, pt, log_target=True, reduction="batchmean")
    return alpha * T * T * kl + (1 - alpha) * F.cross_entropy(s.reshape(-1, s.shape[-1]), y.reshape(-1),
                                                              ignore_index=-100)


# ---- wrong answers

@torch.no_grad()
def one_pass_per_guess(target, draft, ids, n, k):
    out = list(ids)
    while len(out) < len(ids) + n:
        guesses = []
        for _ in range(k):
            guesses.append(int(draft(torch.tensor([out + guesses])).logits[0, -1].argmax()))
        for g in guesses:
            want = int(target(torch.tensor([out])).logits[0, -1].argmax())
            out.append(want)
            if want != g:
                break
    return out[len(ids):len(ids) + n]


@torch.no_grad()
def no_bonus_token(target, draft, ids, n, k):
    out = list(ids)
    while len(out) < len(ids) + n:
        guesses = []
        for _ in range(k):
            guesses.append(int(draft(torch.tensor([out + guesses])).logits[0, -1].argmax()))
        wants = target(torch.tensor([out + guesses])).logits[0, len(out) - 1:].argmax(-1).tolist()
        m = 0
        while m < k and guesses[m] == wants[m]:
            m += 1
        out += guesses[:m] + ([wants[m]] if m < k else [])  # all k right: the target's next token is dropped
    return out[len(ids):len(ids) + n]


@torch.no_grad()
def off_by_one(target, draft, ids, n, k):
    out = list(ids)
    while len(out) < len(ids) + n:
        guesses = [int(draft(torch.tensor([out])).logits[0, -1].argmax())]
        wants = target(torch.tensor([out + guesses])).logits[0, len(out):].argmax(-1).tolist()
        out += [wants[0]]
    return out[len(ids):len(ids) + n]


def with_prompt(target, draft, ids, n, k):
    return list(ids) + speculative(target, draft, ids, n, k)


def tuned_on_test(val, test, cs, cl):
    return cascade_pick(test, test, cs, cl)


def validation_accuracy(val, test, cs, cl):
    t, _, cost = cascade_pick(val, test, cs, cl)
    return t, cascade.at_threshold(val, t, cs, cl).accuracy, cost


def most_accurate(val, test, cs, cl):
    best = max([0.0, 1.0, *val.small_confidence], key=lambda t: (cascade.at_threshold(val, t, cs, cl).accuracy, -t))
    p = cascade.at_threshold(test, best, cs, cl)
    return best, p.accuracy, p.cost


def no_t_squared(s, t, y, T, alpha):
    return kd(s, t, y, T, alpha) - alpha * (T * T - 1) * kd(s, t, y, T, 1.0) / (T * T)


def reversed_kl(s, t, y, T, alpha):
    return kd(t, s, y, T, alpha) if alpha == 1 else kd(s, t, y, T, alpha) + alpha * (kd(t, s, y, T, 1) -
                                                                                   kd(s, t, y, T, 1))


def padding_counted(s, t, y, T, alpha):
    return kd(s, t, torch.where(y == -100, torch.zeros_like(y), y), T, alpha)


def detached(s, t, y, T, alpha):
    return kd(s.detach(), t, y, T, alpha)


SPEC_CASES = [
    (one_pass_per_guess, "ONE forward pass"),
    (no_bonus_token, "k + 1 tokens"),
    (off_by_one, "greedy output token for token"),
    (with_prompt, "without the prompt"),
]


@pytest.mark.parametrize("wrong, message", SPEC_CASES)
def test_each_speculative_mistake_gets_its_own_message(models, wrong, message, capsys):
    target, draft = models
    assert_verdicts(lambda f: L.check_speculative(f, target=target, draft=draft), speculative, wrong, message, capsys)


CASCADE_CASES = [
    (tuned_on_test, "tuned on the test data"),
    (validation_accuracy, "test accuracy at your threshold"),
    (most_accurate, "take the cheapest"),
]


@pytest.mark.parametrize("wrong, message", CASCADE_CASES)
def test_each_cascade_mistake_gets_its_own_message(wrong, message, capsys):
    assert_verdicts(L.check_cascade, cascade_pick, wrong, message, capsys)


KD_CASES = [
    (no_t_squared, "multiply the KL by T²"),
    (reversed_kl, "KL(teacher ‖ student)"),
    (padding_counted, "-100 do not count"),
    (detached, "a gradient reaches"),
]


@pytest.mark.parametrize("wrong, message", KD_CASES)
def test_each_distillation_loss_mistake_gets_its_own_message(wrong, message, capsys):
    assert_verdicts(L.check_kd_loss, kd, wrong, message, capsys)
