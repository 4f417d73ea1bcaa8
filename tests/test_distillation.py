"""Distillation: the KD loss against hand computations, the loss plugged into the one training loop, clear messages."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import distillation as ds
from course_utils.errors import BadInputError


def _logits(seed, shape=(2, 5, 11)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_kd_loss_is_ce_at_alpha_0_and_the_scaled_kl_at_alpha_1():
    s, t = _logits(0), _logits(1)
    y = torch.randint(0, 11, (2, 5), generator=torch.Generator().manual_seed(2))
    y[0, 0] = -100  # an ignored position
    ce = F.cross_entropy(s.flatten(0, 1), y.flatten(), ignore_index=-100)
    assert torch.allclose(ds.kd_loss(s, t, y, temperature=3.0, alpha=0.0), ce)
    keep = y.flatten() != -100
    for T in (1.0, 2.0):
        p_t = F.softmax(t.flatten(0, 1)[keep] / T, -1)
        kl = F.kl_div(F.log_softmax(s.flatten(0, 1)[keep] / T, -1), p_t, reduction="batchmean")
        assert torch.allclose(ds.kd_loss(s, t, y, temperature=T, alpha=1.0), T * T * kl, atol=1e-6)
    mixed = ds.kd_loss(s, t, y, 2.0, 0.25)
    assert torch.allclose(mixed, 0.25 * ds.kd_loss(s, t, y, 2.0, 1.0) + 0.75 * ce, atol=1e-6)
    assert ds.kd_loss(t, t, y, 2.0, 1.0).abs() < 1e-6  # a student equal to its teacher has nothing to learn


@pytest.mark.parametrize("kwargs, match", [({"temperature": 0}, "temperature"), ({"temperature": -1}, "temperature"),
                                           ({"alpha": 1.5}, "alpha"), ({"alpha": -0.1}, "alpha")])
def test_bad_settings_get_a_clear_message(kwargs, match):
    with pytest.raises(BadInputError, match=match):
        ds.kd_loss(_logits(0), _logits(1), torch.zeros((2, 5), dtype=torch.long), **kwargs)


def test_another_vocabulary_is_refused():
    with pytest.raises(BadInputError, match="one vocabulary"):
        ds.kd_loss(_logits(0), _logits(1, (2, 5, 12)), torch.zeros((2, 5), dtype=torch.long))


def test_distilling_through_the_training_loop_moves_the_student_towards_the_teacher():
    from course_utils.loading import load_model
    from course_utils.training import TrainConfig, encode_texts

    teacher = load_model("course-slm")
    tok = teacher.tokenizer
    from course_utils.corpus import generate

    stream = encode_texts(tok, [d.text for d in generate("mix", 200, seed=1)])
    cfg = TrainConfig(steps=12, batch_size=4, block_size=32, eval_every=12, threads=1, bos_id=tok.bos_token_id)
    runs, students = ds.distill_vs_data(teacher.model, "course-tiny", stream, stream, cfg, temperature=1.0, alpha=1.0)
    assert runs.distilled.tokens == runs.control.tokens == 12 * 4 * 32  # the same tokens and steps
    assert runs.flops("distilled") == runs.flops("control") + 2 * runs.teacher_params * runs.tokens

    x = stream[:33][None, :32]
    with torch.no_grad():
        target = F.log_softmax(teacher.model(x).logits, -1)
        kl = {k: F.kl_div(F.log_softmax(m(x).logits, -1), target, log_target=True, reduction="batchmean").item()
              for k, m in students.items()}
    assert kl["distilled"] < kl["control"]  # trained on the teacher, it is closer to the teacher
    assert math.isfinite(runs.distilled.val_loss[-1])


def test_students_come_from_course_architectures_and_leave_the_global_rng_alone():
    before = torch.random.get_rng_state()
    a, b = ds.fresh_student("course-tiny", seed=3), ds.fresh_student("course-tiny", seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(BadInputError, match="course model"):
        ds.fresh_student("SmolLM2-135M")
    assert ds.gap_closed(0.30, 0.28, 0.25) == pytest.approx(0.4)
    with pytest.raises(BadInputError, match="no gap"):
        ds.gap_closed(0.24, 0.23, 0.25)
