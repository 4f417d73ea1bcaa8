"""Checks for lesson 13's exercises: the speculative accept/reject loop, a cascade threshold picked on validation
data, and the distillation loss with a temperature.

Each ``check_*`` compares the learner's function with the course's own (``course_utils.speculative``,
``course_utils.cascade``, ``course_utils.distillation``) on cases chosen so that the usual wrong answers show: a
draft that is always wrong and one that is always right, a threshold tuned on the test data, ties at the
large model's accuracy, a missing T², and padding targets (-100) counted in the average.
"""

from __future__ import annotations

import torch

from course_utils.cascade import CascadeData, at_threshold, cascade_curve, cheapest_matching
from course_utils.checks import CheckFailed, expect_close, expect_equal, run_check
from course_utils.distillation import kd_loss

SPECULATIVE_HINT = ("draft k tokens greedily with the draft model, run the target once on the sequence plus all k "
                    "guesses, keep the guesses up to the first one the target disagrees with, then append the "
                    "target's own token at that position")
CASCADE_HINT = ("on the validation data only: among the thresholds whose cascade accuracy reaches the large model's "
                "(>=), take the cheapest; then evaluate that threshold on the test data")
KD_HINT = ("T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over positions whose target is not -100, "
           "times alpha; plus (1 − alpha) · the cross-entropy with the targets")


class CountingModel(torch.nn.Module):
    """Wraps a causal LM; counts forward passes (how often the learner's loop calls the target)."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0
        self.config = model.config

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.model(*args, **kwargs)


@torch.no_grad()
def greedy_tokens(model, ids: list[int], n: int) -> list[int]:
    """``n`` greedy tokens after ``ids`` (no end-of-text stop): what the learner's loop must reproduce."""
    seq = list(ids)
    for _ in range(n):
        seq.append(int(model(torch.tensor([seq])).logits[0, -1].argmax()))
    return seq[len(ids):]


class _ConstantDraft(torch.nn.Module):
    """A 'draft model' that always proposes the same token: the target rejects it (almost) every time."""

    def __init__(self, like, token: int):
        super().__init__()
        self.config, self.token, self.vocab = like.config, token, like.config.vocab_size

    def forward(self, input_ids, **kwargs):
        logits = torch.zeros(*input_ids.shape, self.vocab)
        logits[..., self.token] = 1.0
        return type("Out", (), {"logits": logits})()


def check_speculative(my_speculative_greedy, target=None, draft=None) -> None:
    """``my_speculative_greedy(target, draft, ids, max_new_tokens, k) -> list[int]`` (the new tokens)."""
    from course_utils.loading import load_model

    def test():
        t = target if target is not None else load_model("course-llm").model
        d = draft if draft is not None else load_model("course-slm").model
        prompts = [[1, 481, 220, 100, 301], [1, 42, 382, 81], [1]]
        for ids in prompts:
            expected = greedy_tokens(t, ids, 12)
            for k, drafter, label in ((3, d, "course-small drafting"), (1, d, "k = 1"),
                                      (3, t, "the target drafting for itself (every guess right)"),
                                      (2, _ConstantDraft(t, 7), "a draft that is always wrong")):
                counted = CountingModel(t)
                found = my_speculative_greedy(counted, drafter, list(ids), 12, k)
                what = f"12 new tokens after {ids}, k = {k}, {label}"
                if list(found) != expected:
                    if len(found) != 12:
                        raise CheckFailed(what + ": how many tokens", 12, len(found),
                                          "return exactly max_new_tokens new tokens (cut the last step's extra ones), "
                                          "without the prompt")
                    raise CheckFailed(what, expected, list(found), SPECULATIVE_HINT + "; the output must equal the "
                                      "target's own greedy output token for token")
                if counted.calls > 12:
                    raise CheckFailed(what + ": target forward passes", "at most 12", counted.calls,
                                      "each step must cost ONE forward pass of the target, however many guesses it "
                                      "checks")
                if label.startswith("the target drafting") and counted.calls > -(-12 // (k + 1)):
                    raise CheckFailed(what + ": target forward passes", f"at most {-(-12 // (k + 1))}",
                                      counted.calls, "verify all k guesses in one forward pass: when every guess is "
                                      "right, each target pass yields k + 1 tokens (the k guesses and the target's "
                                      "own next one)")

    run_check("the speculative accept/reject loop", test, hint=SPECULATIVE_HINT)


CASCADES = [  # (validation, test, small cost, large cost, what it catches)
    (CascadeData([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 1, 0, 1, 0], [1, 1, 0, 1, 1, 1]),
     CascadeData([0.95, 0.85, 0.65, 0.55, 0.3], [1, 0, 1, 0, 0], [1, 1, 1, 1, 0]), 1.0, 5.0, "tuned on test"),
    (CascadeData([0.9, 0.9, 0.5, 0.2], [1, 1, 0, 0], [1, 1, 1, 0]),
     CascadeData([0.9, 0.4], [1, 0], [1, 1]), 1.0, 3.0, "ties"),
    (CascadeData([0.3, 0.2], [0, 0], [1, 1]), CascadeData([0.5], [0], [1]), 1.0, 2.0, "defer everything"),
]


def check_cascade(my_cascade) -> None:
    """``my_cascade(val, test, small_cost, large_cost) -> (threshold, test accuracy, test cost per example)``."""

    def test():
        for val, tst, cs, cl, catches in CASCADES:
            pick = cheapest_matching(cascade_curve(val, cs, cl), val.large_accuracy)
            at = at_threshold(tst, pick.threshold, cs, cl)
            found = my_cascade(val, tst, cs, cl)
            what = f"the cascade tuned on {len(val)} validation examples ({catches})"
            if not isinstance(found, tuple) or len(found) != 3:
                raise CheckFailed(what, "(threshold, test accuracy, test cost)", found, CASCADE_HINT)
            threshold, acc, cost = found
            on_test = cheapest_matching(cascade_curve(tst, cs, cl), tst.large_accuracy)
            if on_test is not None and abs(threshold - on_test.threshold) < 1e-9 and \
                    abs(threshold - pick.threshold) > 1e-9:
                raise CheckFailed(what + ": the threshold", pick.threshold, threshold, "that threshold was tuned on "
                                  "the test data: pick it on the validation data, then only measure on the test")
            expect_close(at_threshold(val, threshold, cs, cl).cost, pick.cost, what + ": its validation cost",
                         "of the thresholds that reach the large model's validation accuracy (>=), take the "
                         "cheapest one")
            expect_close(acc, at.accuracy, what + ": test accuracy at your threshold",
                         "at your threshold the small model answers where its confidence is >= the threshold")
            expect_close(cost, at.cost, what + ": test cost per example", "the small model runs on every example; "
                         "the large one only on the deferred share: small_cost + deferred · large_cost")

    run_check("a cascade threshold, tuned and tested", test, hint=CASCADE_HINT)


def check_kd_loss(my_kd_loss) -> None:
    """``my_kd_loss(student_logits, teacher_logits, targets, temperature, alpha) -> scalar tensor``."""

    def test():
        g = torch.Generator().manual_seed(13)
        s, t = torch.randn(2, 5, 11, generator=g), 3 * torch.randn(2, 5, 11, generator=g)
        y = torch.randint(11, (2, 5), generator=g)
        y[1, 3:] = -100
        for temperature, alpha, label in ((1.0, 1.0, "pure KL at T = 1"), (2.0, 1.0, "pure KL at T = 2"),
                                          (4.0, 0.5, "half KL at T = 4"), (1.0, 0.0, "the data alone")):
            expected = kd_loss(s, t, y, temperature, alpha)
            found = my_kd_loss(s.clone(), t.clone(), y.clone(), temperature, alpha)
            what = f"the loss, {label}"
            if not torch.is_tensor(found) or found.numel() != 1:
                raise CheckFailed(what, "a scalar tensor", type(found).__name__, KD_HINT)
            if temperature != 1 and alpha > 0:
                no_t2 = kd_loss(s, t, y, temperature, 1.0) / temperature ** 2 * alpha + \
                    (1 - alpha) * kd_loss(s, t, y, temperature, 0.0)
                if torch.isclose(found, no_t2, rtol=1e-4):
                    raise CheckFailed(what, float(expected), float(found), "multiply the KL by T²: softening both "
                                      "distributions by T shrinks its gradients by 1/T² (Hinton et al. 2015)")
            if alpha > 0 and torch.isclose(found, kd_loss(t, s, y, temperature, alpha), rtol=1e-4) and \
                    not torch.isclose(found, expected, rtol=1e-4):
                raise CheckFailed(what, float(expected), float(found), "the direction is KL(teacher ‖ student): "
                                  "weight the log-ratio log p_teacher − log p_student by the teacher's probabilities")
            expect_close(float(found), float(expected), what, KD_HINT + " (positions with target -100 do not count)",
                         atol=1e-5, rtol=1e-4)
        found = my_kd_loss(s.requires_grad_(), t, y, 2.0, 0.5)
        try:
            found.backward()
        except RuntimeError:  # nothing in the loss depends on the student's logits
            pass
        expect_equal(s.grad is not None and bool(s.grad.abs().sum() > 0), True, "a gradient reaches the student's "
                     "logits", "compute the loss with torch operations on student_logits (no .item(), no detach)")

    run_check("the distillation loss", test, hint=KD_HINT)
