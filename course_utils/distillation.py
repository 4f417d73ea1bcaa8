"""Distillation: a small student learns from a large teacher's next-token distributions instead of (or as well as)
from the one token the data shows.

    loss = DistillationLoss(teacher, temperature=2.0, alpha=0.5)    # alpha: the share of the loss that is KL
    history = train(student, stream, val, cfg, loss_fn=loss)      # the course's one training loop
    runs = distill_vs_data(teacher, "course-small", stream, val, cfg)   # the same student, tokens and steps, twice

The KL term is KL(teacher ‖ student) at temperature T, multiplied by T² so its gradients keep their size as T
changes (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", section 2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from course_utils.errors import BadInputError


def _check(temperature: float, alpha: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature <= 100:
        raise BadInputError(f"temperature={temperature!r}: use a number above 0 (1 = the teacher's own "
                            "distribution; 2-4 softens it), at most 100.")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise BadInputError(f"alpha={alpha!r}: the KL share of the loss lies in [0, 1] (1: the teacher only, 0: the "
                            "data only).")


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
            temperature: float = 1.0, alpha: float = 1.0) -> torch.Tensor:
    """alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − alpha) · cross-entropy(student, targets),
    each averaged over the positions whose target is not -100. Logits (B, T, V), targets (B, T)."""
    _check(temperature, alpha)
    if student_logits.shape != teacher_logits.shape:
        raise BadInputError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                            f"{tuple(teacher_logits.shape)} differ: distillation needs one vocabulary (the same "
                            "tokenizer) for both models.")
    s, t = student_logits.flatten(0, 1).float(), teacher_logits.flatten(0, 1).float()  # (B·T, V)
    y = targets.flatten()
    keep = y != -100
    loss = torch.zeros((), device=s.device)
    if alpha > 0:
        log_p_s = F.log_softmax(s[keep] / temperature, -1)
        log_p_t = F.log_softmax(t[keep] / temperature, -1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()  # nats per token
        loss = loss + alpha * temperature ** 2 * kl
    if alpha < 1:
        loss = loss + (1 - alpha) * F.cross_entropy(s, y, ignore_index=-100)
    return loss


class DistillationLoss:
    """A ``loss_fn`` for :func:`course_utils.training.train`: the teacher's logits (no gradient) against the
    student's, through :func:`kd_loss`. Counts the teacher's forward tokens for the FLOP bill."""

    def __init__(self, teacher, temperature: float = 2.0, alpha: float = 0.5):
        _check(temperature, alpha)
        self.teacher, self.temperature, self.alpha = teacher, temperature, alpha
        self.teacher_tokens = 0
        teacher.eval()

    def __call__(self, model, x, y, autocast_dtype=None) -> torch.Tensor:
        with torch.autocast(x.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
            with torch.no_grad():
                t = self.teacher(x)
            s = model(x)
        self.teacher_tokens += x.numel()
        return kd_loss(getattr(s, "logits", s), getattr(t, "logits", t), y, self.temperature, self.alpha)


def fresh_student(name: str, seed: int = 0):
    """A randomly initialised model with the architecture of course model ``name`` (its config, no weights),
    drawn from its own generator: the learner's global random state is left alone."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from course_utils.catalog import get_spec

    spec = get_spec(name)
    if not spec.is_course_model or spec.path is None:
        raise BadInputError(f"{name!r}: a student is built from a course model's architecture (course-tiny, "
                            "course-small, course-medium); hub models are too large to train here.")
    config = AutoConfig.from_pretrained(spec.path)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config)


def run_flops(student_params: int, tokens: int, teacher_params: int = 0) -> float:
    """Training compute: 6·N·D for the student; a distilled run adds the teacher's forward passes, 2·N·D."""
    from course_utils.measure import training_flops

    return training_flops(student_params, tokens) + 2 * teacher_params * tokens


@dataclass
class DistillRuns:
    distilled: object  # History of the student trained on the teacher
    control: object  # History of the same student trained on the data alone
    student_params: int
    teacher_params: int
    tokens: int  # training tokens, the same for both

    def flops(self, which: str) -> float:
        return run_flops(self.student_params, self.tokens, self.teacher_params if which == "distilled" else 0)


def distill_vs_data(teacher, student_name: str, train_stream, val_stream, cfg, *, temperature: float = 2.0,
                    alpha: float = 0.5, seed: int = 0, progress: bool = False) -> tuple[DistillRuns, dict]:
    """Train two identical fresh students with the same config (so the same batches, step by step): one on the
    teacher's distributions (``DistillationLoss``), one on the data alone. Returns the runs and the two students."""
    from course_utils.training import train

    _check(temperature, alpha)
    students = {"distilled": fresh_student(student_name, seed)}
    students["control"] = copy.deepcopy(students["distilled"])
    loss = DistillationLoss(teacher, temperature, alpha)
    hist = {"distilled": train(students["distilled"], train_stream, val_stream, cfg, progress=progress, loss_fn=loss),
            "control": train(students["control"], train_stream, val_stream, cfg, progress=progress)}
    n_s = sum(p.numel() for p in students["control"].parameters())
    n_t = sum(p.numel() for p in teacher.parameters())
    return DistillRuns(hist["distilled"], hist["control"], n_s, n_t, hist["control"].tokens), students


def bits_per_char_on(models: dict, tokenizer, docs) -> dict[str, float]:
    """Bits/char of each model ({name: model}) on ``docs``, and under ``"floor"`` the generator's own entropy on the
    same documents: the numbers a student, its control and the teacher are compared by."""
    from course_utils.corpus import floor_of
    from course_utils.zoo.evaluate import bits_per_char

    if not docs:
        raise BadInputError("no documents to measure on: pass e.g. make_splits({'test': 100})['test'].")
    return {**{name: bits_per_char(m, tokenizer, docs) for name, m in models.items()},
            "floor": floor_of(docs).bits_per_char}


def gap_closed(control_bpc: float, distilled_bpc: float, teacher_bpc: float) -> float:
    """The share of the student–teacher gap that distillation closed: 0 = no better than the data alone, 1 = as
    good as the teacher."""
    gap = control_bpc - teacher_bpc
    if gap <= 0:
        raise BadInputError(f"the control student ({control_bpc:.4f} bits/char) is already as good as the teacher "
                            f"({teacher_bpc:.4f}): there is no gap to close.")
    return (control_bpc - distilled_bpc) / gap
