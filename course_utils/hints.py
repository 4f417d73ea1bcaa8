"""Layered hints for the exercise notebooks, revealed one level at a time and only when asked.

The hints are written once, in ``solutions/NN_*.ipynb`` (``### HINT 1: …`` lines inside each solution
block, see ``course_utils.exercises``); ``python -m course_utils exercises build`` writes them to
``exercises/hints/NN_*.json``. An exercise notebook loads them in its setup cell::

    hint = load_hints("01")

and a learner who is stuck asks::

    hint(1)                   # hint 1 for the exercise whose check cell ran last
    hint(2)                   # the next, more precise one; the last is nearly the answer
    hint()                    # the next hint not seen yet (or, before any check, the list of exercises)
    hint(1, "top_k_filter")   # a named exercise, or by number: hint(1, 4)
    hint.show(1)              # the same as hint(1)
    hint                      # the exercises and how many hints each has (no hint text)

Which exercise is "current" is noted by ``course_utils.checks.run_check``: a check is handed the
learner's function, and its name is the exercise's name.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from pathlib import Path

from course_utils import REPO_ROOT
from course_utils.errors import CourseError

HINTS_SUBDIR = "hints"


class HintError(CourseError, LookupError):
    """An exercise or a hint level that does not exist; the message says which do."""


@dataclass(frozen=True)
class Exercise:
    number: int
    name: str
    hints: tuple[str, ...]


_LOADED: "weakref.WeakSet[Hints]" = weakref.WeakSet()


class Hints:
    """The hints of one lesson's exercises. Call it: ``hint(level, exercise)``; see the module doc."""

    def __init__(self, lesson: str, exercises: list[Exercise], source: str = "", missing: str = ""):
        self.lesson, self.source, self.missing = lesson, source, missing
        self.exercises = list(exercises)
        self.current: Exercise | None = None
        self._seen: dict[str, int] = {}
        _LOADED.add(self)

    # -- looking things up (raise HintError) ----------------------------------------------------

    def _menu(self) -> str:
        return ", ".join(f"{e.number} {e.name}" for e in self.exercises)

    def exercise(self, which: int | str | None = None) -> Exercise:
        """The exercise by number or function name; None: the current one."""
        if self.missing:
            raise HintError(self.missing)
        if which is None:
            if self.current is not None:
                return self.current
            if len(self.exercises) == 1:
                return self.exercises[0]
            first = self.exercises[0] if self.exercises else Exercise(1, "name", ())
            raise HintError(f"which exercise? Run its check cell first, or name it: hint(1, {first.name!r}) or "
                            f"hint(1, {first.number}). Lesson {self.lesson}'s exercises: {self._menu()}")
        name = getattr(which, "__name__", which)  # the learner's function itself works too
        for e in self.exercises:
            if name == e.name or (isinstance(name, int) and not isinstance(name, bool) and name == e.number):
                return e
        raise HintError(f"lesson {self.lesson} has no exercise {which!r}; its exercises: {self._menu()}")

    def text(self, level: int, exercise: int | str | None = None) -> str:
        """Hint ``level`` (1 = the first) of an exercise, without printing it."""
        e = self.exercise(exercise)
        n = len(e.hints)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= n:
            raise HintError(f"{e.name} has {n} hint{'s' if n != 1 else ''}: "
                            + (" … ".join(f"hint({i})" for i in sorted({1, n})) if n else "none")
                            + (f" (you asked for hint({level!r}))" if level is not None else ""))
        return e.hints[level - 1]

    # -- what a learner calls -------------------------------------------------------------------

    def show(self, level: int | None = None, exercise: int | str | None = None) -> None:
        """Print hint ``level`` (None: the next one not seen yet); a mistake is one readable line."""
        try:
            if level is None and exercise is None and self.current is None and len(self.exercises) != 1:
                print(self._overview() if not self.missing else f"⚠ {self.missing}")
                return
            e = self.exercise(exercise)
            if level is None:
                level = min(self._seen.get(e.name, 0) + 1, len(e.hints))
            body = self.text(level, e.name)
        except HintError as exc:
            print(f"⚠ {exc}")
            return
        self.current = e
        self._seen[e.name] = max(self._seen.get(e.name, 0), level)
        more = (f"  (stuck still? hint({level + 1}))" if level < len(e.hints)
                else "  (that is the last hint: the rest is yours)")
        print(f"💡 exercise {e.number} · {e.name} · hint {level} of {len(e.hints)}: {body}\n{more}")

    __call__ = show

    def _overview(self) -> str:
        lines = [f"Hints for lesson {self.lesson}: run an exercise's check cell, then hint(1), hint(2), … "
                 "— or name the exercise: hint(1, 'name') / hint(1, number)."]
        lines += [f"  exercise {e.number} · {e.name}: {len(e.hints)} hints" for e in self.exercises]
        return "\n".join(lines)

    def __repr__(self) -> str:  # shows what exists, never the hint text
        return self.missing or self._overview()

    def note(self, function) -> bool:
        """Make the exercise named like ``function`` (a learner's function) the current one."""
        name = getattr(function, "__name__", None)
        for e in self.exercises:
            if e.name == name:
                self.current = e
                return True
        return False


def note_check(test) -> None:
    """Called by ``run_check``: the learner's function is in the check's closure; make it current."""
    functions = []
    for cell in getattr(test, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(value):
            functions.append(value)
    for hints in list(_LOADED):
        for f in functions:
            if hints.note(f):
                break


def _candidates(lesson: str, directory: Path | None) -> list[Path]:
    dirs = [directory] if directory is not None else [
        Path.cwd() / HINTS_SUBDIR, Path.cwd() / "exercises" / HINTS_SUBDIR, REPO_ROOT / "exercises" / HINTS_SUBDIR]
    found = []
    for d in dirs:
        found += sorted(Path(d).glob(f"{lesson}_*.json"))
    return found


def load_hints(lesson: int | str, directory: str | Path | None = None) -> Hints:
    """The hints of lesson ``lesson`` ("01" or 1), from exercises/hints/ (generated from solutions/).

    Never fails in a notebook: if the file is missing, the returned object says so when called.
    """
    lesson = f"{int(lesson):02d}"
    paths = _candidates(lesson, Path(directory) if directory is not None else None)
    if not paths:
        return Hints(lesson, [], missing=f"no hints found for lesson {lesson} (they live in exercises/hints/; "
                                         "regenerate them with `python -m course_utils exercises build`)")
    doc = json.loads(paths[0].read_text())
    exercises = [Exercise(int(e["number"]), str(e["name"]), tuple(e["hints"])) for e in doc["exercises"]]
    return Hints(lesson, exercises, source=str(paths[0]))
