"""Exercises have one source: ``solutions/NN_*.ipynb``. This module generates ``exercises/`` from it.

In a solution notebook, code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is the answer, and
the hints for it are numbered comment lines inside the block, from a nudge to a near-answer::

    def top_k_filter(logits, k):
        ### BEGIN SOLUTION
        ### HINT 1: find the threshold first: the k-th largest logit
        ### HINT 2: torch.topk returns the k largest values, largest first,
        ###         so the last of them is the k-th largest
        ...the answer...
        ### END SOLUTION

A ``###`` line right after a hint continues it. Every block needs at least ``MIN_HINT_LEVELS`` hints,
numbered 1, 2, … without gaps. The student version keeps everything else (so signatures stay) and
replaces the block with ``raise NotImplementedError(STUB_MESSAGE)``: no hint text in the notebook. The
hints go to ``exercises/hints/NN_*.json``, which ``course_utils.hints.load_hints("NN")`` reads, so that a
learner reveals them one level at a time with ``hint(1)``, ``hint(2)``, … Each block's exercise is
named after the function it sits in and numbered in notebook order (exercise 1, 2, …).

The generator refuses a hint or a stub that contains a line of the answer (``leaked_lines``).
Outputs are cleared. ``python -m course_utils exercises build`` writes the files; ``exercises check``
says whether they are in sync.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from course_utils import REPO_ROOT, launch

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HINT_RE = re.compile(r"###\s*HINT\b\s*(\d*)\s*:?\s?(.*)$")
STUB_MESSAGE = "write your code here; stuck? run hint(1)"
MIN_HINT_LEVELS = 2
HINTS_DIR = "hints"  # under exercises/
MIN_LEAK_CHARS = 12  # shorter answer lines (``i += 1``, ``else:``) give nothing away


@dataclass
class SolutionBlock:
    """One exercise: the answer between the markers and its hints, level 1 first."""

    name: str  # the function the block sits in ("" outside a function)
    hints: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)  # the answer's lines, hints left out


def _enclosing_function(lines: list[str], indent: str) -> str:
    for line in reversed(lines):
        m = re.match(r"(\s*)(?:async\s+)?def\s+(\w+)\s*\(", line)
        if m and len(m.group(1)) < len(indent):
            return m.group(2)
    return ""


def parse_cell(source: str) -> tuple[str, list[SolutionBlock]]:
    """(the student version of one cell's source, the solution blocks it had)."""
    out, blocks, block, indent, last_was_hint = [], [], None, "", False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if block is not None:
                raise ValueError("nested ### BEGIN SOLUTION")
            indent = line[: len(line) - len(line.lstrip())]
            block, last_was_hint = SolutionBlock(_enclosing_function(out, indent)), False
            continue
        if stripped.startswith(END):
            if block is None:
                raise ValueError("### END SOLUTION without BEGIN")
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("{STUB_MESSAGE}")')
            blocks.append(block)
            block = None
            continue
        if block is None:
            if HINT_RE.match(stripped):
                raise ValueError(f"a ### HINT line outside a solution block: {stripped!r}")
            out.append(line)
            continue
        hint = HINT_RE.match(stripped)
        if hint:
            level, text = hint.groups()
            where = f"in {block.name or 'a solution block'}"
            if not level:
                raise ValueError(f"number the hint {where}: '### HINT 1: …', '### HINT 2: …' ({stripped!r})")
            if int(level) != len(block.hints) + 1:
                raise ValueError(f"hint {level} {where} should be hint {len(block.hints) + 1}: number them 1, 2, …")
            if not text.strip():
                raise ValueError(f"hint {level} {where} is empty")
            block.hints.append(text.strip())
            last_was_hint = True
        elif last_was_hint and stripped.startswith("###") and stripped[3:].strip():
            block.hints[-1] += " " + stripped[3:].strip()  # a continuation line
        else:
            block.code.append(line)
            last_was_hint = False
    if block is not None:
        raise ValueError("### BEGIN SOLUTION without END")
    return "\n".join(out), blocks


def stub_source(source: str) -> str:
    """The student version of one cell's source."""
    return parse_cell(source)[0]


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


# ---- does a text give the answer away? ---------------------------------------------------------

def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote and line[i - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _squash(text: str) -> str:
    """Whitespace, backticks and the kind of quotes do not matter when comparing code."""
    return re.sub(r"[\s`]+", "", text).replace("'", '"')


def _canonical(squashed: str) -> str:
    """Also drop ``name.`` prefixes: ``config.n_head`` ~ ``n_head``, ``x @ w_q.T`` ~ ``x@T``."""
    return re.sub(r"\b[A-Za-z_]\w*\.(?=[A-Za-z_])", "", squashed)


def _right_hand_side(line: str) -> str | None:
    depth = 0
    for i, ch in enumerate(line):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "=" and depth == 0 and line[i - 1:i] not in ("=", "!", "<", ">") and line[i + 1:i + 2] != "=":
            target = line[:i].rstrip("+-*/%@&|^ ")
            if re.fullmatch(r"[\w\s,.]+", target):
                return line[i + 1:]
            return None
    return None


def answer_fragments(code_lines: list[str]) -> list[str]:
    """The lines of an answer worth hiding (and the right-hand sides of its assignments), squashed.

    Trivial lines are skipped: blank lines, comments, ``pass``, a bare ``return``, lone brackets, and
    anything shorter than MIN_LEAK_CHARS once whitespace is gone. ``return x`` counts as ``x``.
    """
    fragments = []
    for raw in code_lines:
        line = _strip_comment(raw).strip()
        line = re.sub(r"^(return|yield)\s+", "", line)
        candidates = [line]
        rhs = _right_hand_side(line)
        if rhs is not None:
            candidates.append(rhs)
        for c in candidates:
            squashed = _squash(c)
            if len(squashed) >= MIN_LEAK_CHARS and squashed not in fragments:
                fragments.append(squashed)
    return fragments


def leaked_lines(code_lines: list[str], text: str) -> list[str]:
    """The answer fragments (see ``answer_fragments``) that ``text`` contains, exactly or up to prefixes."""
    hay = _squash(text)
    hay_canon = _canonical(hay)
    found = []
    for frag in answer_fragments(code_lines):
        canon = _canonical(frag)
        if frag in hay or (len(canon) >= MIN_LEAK_CHARS and canon in hay_canon):
            found.append(frag)
    return found


# ---- notebooks -----------------------------------------------------------------------------------

def solution_blocks(solution: dict) -> list[SolutionBlock]:
    """Every solution block of a notebook, in order (exercise 1 first)."""
    blocks = []
    for cell in solution["cells"]:
        if cell["cell_type"] == "code":
            blocks += parse_cell(_text(cell["source"]))[1]
    return blocks


def student_notebook(solution: dict) -> dict:
    nb = copy.deepcopy(solution)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        cell["source"] = _lines(stub_source(_text(cell["source"])))
        cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def hints_document(solution: dict, notebook_name: str) -> dict:
    """What exercises/hints/NN_*.json holds: each exercise's number, name and hints (level 1 first)."""
    exercises = []
    for number, block in enumerate(solution_blocks(solution), start=1):
        exercises.append({"number": number, "name": block.name or f"exercise {number}", "hints": block.hints})
    return {"generated_from": f"solutions/{notebook_name}", "lesson": notebook_name[:2],
            "notebook": notebook_name, "exercises": exercises}


def validate(solution: dict, name: str = "notebook") -> None:
    """Raise ValueError if an exercise has too few hints, or a hint or the stub gives the answer away."""
    student = student_notebook(solution)
    stub_code = "\n".join(_text(c["source"]) for c in student["cells"] if c["cell_type"] == "code")
    names = set()
    for number, block in enumerate(solution_blocks(solution), start=1):
        who = f"{name}, exercise {number} ({block.name or 'not in a function'})"
        if block.name and block.name in names:
            raise ValueError(f"{who}: two exercises in one notebook named {block.name!r}")
        names.add(block.name)
        if len(block.hints) < MIN_HINT_LEVELS:
            raise ValueError(f"{who}: {len(block.hints)} hint(s); write at least {MIN_HINT_LEVELS} "
                             "('### HINT 1: …' a nudge, … the last a near-answer)")
        for level, text in enumerate(block.hints, start=1):
            leaks = leaked_lines(block.code, text)
            if leaks:
                raise ValueError(f"{who}: hint {level} gives the answer away: {leaks[0]!r}")
        leaks = leaked_lines(block.code, stub_code)
        if leaks:
            raise ValueError(f"{who}: the exercise's code cells contain a line of the answer: {leaks[0]!r}")


def _dump(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def build(src: Path | None = None, dst: Path | None = None, check_only: bool = False) -> list[Path]:
    """Write (or, with ``check_only``, compare) exercises/NN_*.ipynb and exercises/hints/NN_*.json;
    returns the files out of date."""
    src = src or REPO_ROOT / "solutions"
    dst = dst or REPO_ROOT / "exercises"
    outputs = {}
    for path in sorted(src.glob("[0-9][0-9]_*.ipynb")):  # every notebook is checked before any is written
        solution = json.loads(path.read_text())
        try:
            validate(solution, path.name)
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}" if path.name not in str(exc) else str(exc)) from None
        student = student_notebook(solution)
        if launch.has_bootstrap(student):  # a lesson's exercises: the badges open the exercises, not the solutions
            launch.apply(student, f"{dst.name}/{path.name}")
        outputs[dst / path.name] = _dump(student)
        if solution_blocks(solution):
            outputs[dst / HINTS_DIR / f"{path.stem}.json"] = _dump(hints_document(solution, path.name))
    stale = []
    for target, text in outputs.items():
        if not target.exists() or target.read_text() != text:
            stale.append(target)
            if not check_only:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    return stale


def _shown(p: Path) -> str:
    try:
        return str(p.relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "check"):
        print("usage: python -m course_utils exercises {build|check}")
        return 2
    try:
        stale = build(check_only=argv[0] == "check")
    except ValueError as exc:
        print(f"error: {exc}")
        return 1
    if argv[0] == "check":
        for p in stale:
            print(f"out of date: {_shown(p)} (run python -m course_utils exercises build)")
        return 1 if stale else 0
    print(f"wrote {len(stale)} file(s)" + "".join(f"\n  {_shown(p)}" for p in stale))
    return 0


def has_solution_markers(source: str) -> bool:
    return bool(re.search(r"###\s*(BEGIN|END) SOLUTION", source))
