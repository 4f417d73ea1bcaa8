"""Friendly feedback for exercises: passed, or what was expected, what was found, and a hint.

A check never shows a raw traceback for a wrong answer or an unfinished stub. Lesson-specific
checks live in ``course_utils.checks.lessonNN`` and are built from ``run_check`` and the
``expect_*`` helpers below.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

import torch


class CheckFailed(Exception):
    """Raised inside a check when the learner's answer is wrong."""

    def __init__(self, what: str, expected, found, hint: str = ""):
        super().__init__(what)
        self.what, self.expected, self.found, self.hint = what, expected, found, hint


@dataclass
class CheckResult:
    title: str
    passed: bool
    message: str

    def __repr__(self) -> str:  # the notebook shows the printed message; keep the repr quiet
        return f"CheckResult({self.title!r}, passed={self.passed})"


def _short(value, limit: int = 200) -> str:
    if isinstance(value, torch.Tensor):
        text = f"tensor of shape {tuple(value.shape)}" + (f": {value.tolist()}" if value.numel() <= 8 else "")
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def run_check(title: str, test, hint: str = "") -> CheckResult:
    """Run ``test()`` (which raises CheckFailed on a wrong answer) and print one verdict.

    The learner's function (in ``test``'s closure) becomes the current exercise for ``hint(n)``.
    """
    from course_utils.hints import note_check

    note_check(test)
    try:
        test()
    except NotImplementedError as exc:  # a stub: its message says how to get a hint
        message = f"⏳ {title}: not implemented yet" + (f" ({exc})" if str(exc) else ".")
        passed = False
    except CheckFailed as exc:
        message = (f"❌ {title}: {exc.what}\n   expected: {_short(exc.expected)}\n   found:    "
                   f"{_short(exc.found)}" + (f"\n   hint: {exc.hint or hint}" if (exc.hint or hint) else ""))
        passed = False
    except Exception as exc:  # the learner's code crashed: say where, briefly
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        message = (f"❌ {title}: your code raised {type(exc).__name__}: {exc} "
                   f"(line {frame.lineno}: {(frame.line or '').strip()})" + (f"\n   hint: {hint}" if hint else ""))
        passed = False
    else:
        message, passed = f"✅ {title}: passed", True
    print(message)
    return CheckResult(title, passed, message)


def expect_equal(found, expected, what: str, hint: str = "") -> None:
    if found != expected:
        raise CheckFailed(what, expected, found, hint)


def expect_close(found, expected, what: str, hint: str = "", atol: float = 1e-5, rtol: float = 1e-4) -> None:
    if isinstance(expected, torch.Tensor) or isinstance(found, torch.Tensor):
        if not isinstance(found, torch.Tensor):
            raise CheckFailed(what + " (not a tensor)", expected, found, hint)
        expected = torch.as_tensor(expected, dtype=found.dtype)
        if found.shape != expected.shape:
            raise CheckFailed(what + " (wrong shape)", tuple(expected.shape), tuple(found.shape), hint)
        if not torch.allclose(found, expected, atol=atol, rtol=rtol):
            err = (found - expected).abs().max().item()
            raise CheckFailed(f"{what} (max abs error {err:.2e})", expected, found, hint)
        return
    if found is None or abs(float(found) - float(expected)) > atol + rtol * abs(float(expected)):
        raise CheckFailed(what, expected, found, hint)
