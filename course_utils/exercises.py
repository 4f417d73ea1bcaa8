"""Exercises have one source: ``solutions/NN_*.ipynb``. This module generates ``exercises/`` from it.

In a solution notebook, code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is the answer.
The student version keeps everything else (so function signatures stay) and replaces the answer
with ``raise NotImplementedError(hint)``, the hint taken from a ``### HINT: ...`` line inside the
block. Outputs are cleared. ``python -m course_utils exercises build`` writes the files;
``exercises check`` says whether they are in sync.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from course_utils import REPO_ROOT

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
DEFAULT_HINT = "replace this line with your code"


def stub_source(source: str) -> str:
    """The student version of one cell's source."""
    out, inside, hint, indent = [], False, None, ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError("nested ### BEGIN SOLUTION")
            inside, hint, indent = True, None, line[: len(line) - len(line.lstrip())]
            continue
        if stripped.startswith(END):
            if not inside:
                raise ValueError("### END SOLUTION without BEGIN")
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}raise NotImplementedError({(hint or DEFAULT_HINT)!r})")
            inside = False
            continue
        if inside:
            if stripped.startswith(HINT):
                hint = stripped[len(HINT):].strip()
            continue
        out.append(line)
    if inside:
        raise ValueError("### BEGIN SOLUTION without END")
    return "\n".join(out)


def student_notebook(solution: dict) -> dict:
    nb = copy.deepcopy(solution)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = stub_source(source)
        cell["outputs"], cell["execution_count"] = [], None
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def build(src: Path | None = None, dst: Path | None = None, check_only: bool = False) -> list[Path]:
    """Write (or, with ``check_only``, compare) exercises/NN_*.ipynb; returns the files out of date."""
    src = src or REPO_ROOT / "solutions"
    dst = dst or REPO_ROOT / "exercises"
    stale = []
    for path in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        text = _dump(student_notebook(json.loads(path.read_text())))
        target = dst / path.name
        if not target.exists() or target.read_text() != text:
            stale.append(target)
            if not check_only:
                dst.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    return stale


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "check"):
        print("usage: python -m course_utils exercises {build|check}")
        return 2
    stale = build(check_only=argv[0] == "check")
    if argv[0] == "check":
        for p in stale:
            print(f"out of date: {p.relative_to(REPO_ROOT)} (run python -m course_utils exercises build)")
        return 1 if stale else 0
    print(f"wrote {len(stale)} exercise notebook(s)" + "".join(f"\n  {p.relative_to(REPO_ROOT)}" for p in stale))
    return 0


def has_solution_markers(source: str) -> bool:
    return bool(re.search(r"###\s*(BEGIN|END) SOLUTION", source))
