"""Slides from the lessons: each lesson's slide metadata (for RISE in JupyterLab, ``jupyterlab_rise``) and an export to
reveal.js HTML that works with no network.

The slide types follow from the lesson's structure, so they are written by one rule, never by hand:

- a ``#`` or ``##`` heading starts a slide, ``###`` a sub-slide;
- a "Predict" question starts a sub-slide, and the code cell after it is a fragment: the room answers first;
- the Colab bootstrap cell, the badges and the evidence cell are skipped;
- every other cell continues the slide it is on.

    python -m course_utils slides sync            # write the slide metadata into every lesson
    python -m course_utils slides check           # are they in sync? (a test runs this)
    python -m course_utils slides export 03 [--out DIR]   # DIR/03_self_attention.slides.html + DIR/assets/
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from course_utils import REPO_ROOT
from course_utils.errors import BadInputError

NOTEBOOKS = REPO_ROOT / "notebooks"
DATA = Path(__file__).resolve().parent / "data" / "slides"
ASSETS = "assets"  # the folder next to the exported HTML


def slide_type(cell: dict, previous: dict | None, first_code: bool) -> str:
    """The reveal.js slide type of ``cell`` ("slide", "subslide", "fragment", "skip" or "-")."""
    text = "".join(cell["source"]).lstrip()
    if cell["cell_type"] == "code":
        if first_code or str(cell.get("id", "")).endswith("-evidence"):
            return "skip"  # the Colab bootstrap does nothing elsewhere; the evidence cell is bookkeeping
        if previous is not None and previous["cell_type"] == "markdown" and "**Predict" in "".join(previous["source"]):
            return "fragment"
        return "-"
    if cell.get("id") == "launch-badges":
        return "skip"
    if text.startswith(("# ", "## ")):
        return "slide"
    if text.startswith("### ") or "**Predict" in text:
        return "subslide"
    return "-"


def with_slide_metadata(nb: dict) -> dict:
    """``nb`` with every cell's ``metadata.slideshow.slide_type`` set by the rule (other metadata kept)."""
    cells, previous, seen_code = [], None, False
    for cell in nb["cells"]:
        kind = slide_type(cell, previous, first_code=cell["cell_type"] == "code" and not seen_code)
        seen_code = seen_code or cell["cell_type"] == "code"
        cells.append({**cell, "metadata": {**cell.get("metadata", {}), "slideshow": {"slide_type": kind}}})
        previous = cell
    return {**nb, "cells": cells}


def _lessons() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def sync(check_only: bool = False) -> list[Path]:
    """Write the slide metadata into every lesson; returns the lessons that were (or, checking, would be) changed."""
    changed = []
    for path in _lessons():
        text = path.read_text()
        new = _dump(with_slide_metadata(json.loads(text)))
        if new != text:
            changed.append(path)
            if not check_only:
                path.write_text(new)
    return changed


def find_lesson(lesson: str) -> Path:
    """The lesson notebook named by its number ("3", "03") or its file name."""
    matches = [p for p in _lessons() if p.name.split("_")[0] == f"{int(lesson):02d}"] if str(lesson).isdigit() \
        else [p for p in _lessons() if p.stem == Path(lesson).stem]
    if not matches:
        raise BadInputError(f"No lesson {lesson!r}. Lessons: {', '.join(p.stem for p in _lessons())}.")
    return matches[0]


def export(lesson: str, out: Path) -> Path:
    """The lesson as reveal.js slides in ``out``, with the assets it loads copied beside it (no CDN)."""
    from nbconvert import SlidesExporter
    import nbformat

    path = find_lesson(lesson)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nb = nbformat.reads(_dump(with_slide_metadata(json.loads(path.read_text()))), as_version=4)
    nb.metadata.pop("widgets", None)  # saved widget state would load the widget manager from a CDN
    exporter = SlidesExporter(template_name="template", extra_template_basedirs=[str(DATA)],
                              reveal_url_prefix=f"{ASSETS}/reveal.js", reveal_theme="white")
    body, _ = exporter.from_notebook_node(nb, resources={"course_assets": ASSETS,
                                                         "metadata": {"name": path.stem}})
    target = out / f"{path.stem}.slides.html"
    target.write_text(body)
    shutil.copytree(DATA / ASSETS, out / ASSETS, dirs_exist_ok=True)
    return target


def main(argv: list[str]) -> int:
    if argv[:1] in (["sync"], ["check"]):
        changed = sync(check_only=argv[0] == "check")
        if argv[0] == "check":
            print("slide metadata in sync" if not changed else
                  f"out of date: {', '.join(p.name for p in changed)} (run `python -m course_utils slides sync`)")
            return 1 if changed else 0
        print(f"wrote slide metadata into {len(changed)} lesson(s)")
        return 0
    if argv[:1] == ["export"] and len(argv) >= 2:
        out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else REPO_ROOT / "slides"
        lessons = [a for a in argv[1:] if a != "--out" and a != str(out)]
        for lesson in lessons:
            print(f"wrote {export(lesson, out)} (open it in a browser; arrows move, S opens the speaker notes)")
        return 0
    print(__doc__)
    return 2
