"""Execute notebooks and keep the outputs of `# NBVAL_CHECK_OUTPUT` cells only.

    python tools/save_checked_outputs.py notebooks/*.ipynb

nbval (--nbval-lax) compares a marked cell's output with the saved one, so a marked cell needs
its output saved; every other cell stays clean (no plots or timings in the repository).
Run offline (HF_HUB_OFFLINE=1) after changing a marked cell or the models.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def refresh(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    NotebookClient(executed, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    kept = 0
    for cell, ran in zip(nb.cells, executed.cells):
        if cell.cell_type != "code":
            continue
        if cell.source.lstrip().startswith(MARK):
            cell.outputs = [o for o in ran.outputs if o.output_type != "error"]
            cell.execution_count = ran.execution_count
            kept += 1
        else:
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return kept


def main(paths: list[str]) -> int:
    os.environ["HF_HUB_OFFLINE"] = "1"
    for p in paths:
        print(f"{p}: kept the outputs of {refresh(Path(p))} checked cell(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
