"""Where the course runs online: the repository, the Open-in-Colab and Binder badges, and the cell that installs the
course on Colab. One source for all three: every notebook's badge line and first code cell are written from here.

    python -m course_utils launch sync      # rewrite them in notebooks/, solutions/ and exercises/
    python -m course_utils launch check     # are they in sync? (the tests ask the same)

On Colab the cell clones the repository and installs the course with every package Colab already has pinned at its
version (a constraints file written by ``pip list``): Colab's own torch, transformers and ipywidgets are never
upgraded, only what is missing is added. Everywhere else the cell does nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from course_utils import REPO_ROOT

REPOSITORY = "small-vs-large-llms/course"  # GitHub owner/name: the one place the course's address is set
BRANCH = "main"
BOOTSTRAP_FIRST_LINE = "# On Colab the course is fetched and installed first; everywhere else this cell does nothing."
BADGES_CELL_ID = "launch-badges"
FOLDERS = ("notebooks", "solutions", "exercises")


def repository_url() -> str:
    return f"https://github.com/{REPOSITORY}"


def colab_url(path: str) -> str:
    """Open ``path`` (relative to the repository root) in Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{path}"


def binder_url(path: str) -> str:
    """Open ``path`` in JupyterLab on mybinder.org."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?labpath={path}"


def badges(path: str) -> str:
    """The Markdown line of both badges for the notebook at ``path``."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)}) "
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(path)})")


def bootstrap_source() -> str:
    """The first code cell of every notebook."""
    return "\n".join([
        BOOTSTRAP_FIRST_LINE,
        "import importlib.util, sys",
        'if importlib.util.find_spec("course_utils") is None and "google.colab" in sys.modules:',
        f"    !git clone -q --depth 1 {repository_url()} /content/course",
        "    # keep Colab's own torch, transformers and ipywidgets: every package already there stays at its version",
        "    !pip list --format=freeze > /content/colab-constraints.txt",
        "    !pip install -q -e /content/course -c /content/colab-constraints.txt",
        '    sys.path.insert(0, "/content/course")',
    ])


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def has_bootstrap(nb: dict) -> bool:
    return any(c["cell_type"] == "code" and "".join(c["source"]).startswith(BOOTSTRAP_FIRST_LINE) for c in nb["cells"])


def apply(nb: dict, path: str) -> dict:
    """``nb`` with its bootstrap cell set to ``bootstrap_source()`` and, just before it, the badges cell for
    ``path``; in place, and returned. The bootstrap cell is the code cell that starts with ``BOOTSTRAP_FIRST_LINE``;
    a notebook without one gets one after its title cell."""
    cells = nb["cells"]
    old = next((c for c in cells if c.get("id") == BADGES_CELL_ID), {})
    cells[:] = [c for c in cells if c.get("id") != BADGES_CELL_ID]
    marked = [i for i, c in enumerate(cells)
              if c["cell_type"] == "code" and "".join(c["source"]).startswith(BOOTSTRAP_FIRST_LINE)]
    if marked:
        i = marked[0]
    else:
        i = 1 if cells and cells[0]["cell_type"] == "markdown" else 0
        cells.insert(i, {"cell_type": "code", "id": "launch-bootstrap", "metadata": {}})
    cells[i].update(source=_lines(bootstrap_source()), outputs=[], execution_count=None)
    cells.insert(i, {"cell_type": "markdown", "id": BADGES_CELL_ID, "metadata": old.get("metadata", {}),
                     "source": _lines(badges(path))})  # its metadata (slide type) is kept
    return nb


def sync(root: Path | None = None, check_only: bool = False) -> list[Path]:
    """Apply the launch cells to every lesson notebook under ``root``; returns the files that were (or, with
    ``check_only``, would be) changed. Notebooks keep their JSON layout: one-space indent, a final newline."""
    root = Path(root or REPO_ROOT)
    changed = []
    for folder in FOLDERS:
        for path in sorted((root / folder).glob("[0-9][0-9]_*.ipynb")):
            text = path.read_text()
            nb = apply(json.loads(text), path.relative_to(root).as_posix())
            new = json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"  # as nbformat writes
            if new != text:
                changed.append(path)
                if not check_only:
                    path.write_text(new)
    return changed


def main(argv: list[str]) -> int:
    if argv not in (["sync"], ["check"]):
        print("usage: python -m course_utils launch sync|check")
        return 2
    changed = sync(check_only=argv == ["check"])
    for path in changed:
        print(("out of date: " if argv == ["check"] else "wrote ") + path.relative_to(REPO_ROOT).as_posix())
    if argv == ["check"] and changed:
        print("run `python -m course_utils launch sync`")
        return 1
    print(f"{'all in sync' if not changed else f'{len(changed)} notebook(s) updated'}")
    return 0
