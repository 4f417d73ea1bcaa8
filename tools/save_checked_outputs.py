"""Execute notebooks and keep the outputs of `# NBVAL_CHECK_OUTPUT` cells only.

    python tools/save_checked_outputs.py notebooks/*.ipynb
    python tools/save_checked_outputs.py --dump /tmp/outputs notebooks/*.ipynb   # also every cell's text output

Each run also prints the notebook's wall time and its kernel's peak memory (as tools/notebook_budget.py
measures them), so one execution refreshes the outputs and gives the budget figures.

nbval (--nbval-lax) compares a marked cell's output with the saved one, so a marked cell needs
its output saved; every other cell stays clean (no plots or timings in the repository).
Run offline (HF_HUB_OFFLINE=1) after changing a marked cell or the models.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


PEAK_CELL = "import resource; print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def refresh(path: Path, dump: Path | None = None) -> tuple[int, float, float]:
    """Execute ``path``, save the outputs of its checked cells; returns (kept, wall s, peak MB)."""
    nb = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    executed.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    start = time.perf_counter()
    NotebookClient(executed, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    wall = time.perf_counter() - start
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs)  # a busy kernel may split the line
    peak = float(printed.split("PEAK_KB", 1)[1].split()[0])
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        texts = []
        for i, c in enumerate(executed.cells[:-1]):
            if c.cell_type == "code":
                out = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in c.outputs)
                texts.append(f"--- cell {i}\n{c.source[:200]}\n>>>\n{out}")
        (dump / f"{path.parent.name}_{path.stem}.txt").write_text("\n".join(texts))
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
    return kept, wall, peak / 1024


def main(args: list[str]) -> int:
    os.environ["HF_HUB_OFFLINE"] = "1"
    dump = None
    if args[:1] == ["--dump"]:
        dump, args = Path(args[1]), args[2:]
    print("| notebook | wall time (s) | kernel peak memory (MB) | checked cells saved |")
    print("|---|---|---|---|")
    for p in args:
        kept, wall, peak = refresh(Path(p), dump)
        print(f"| {p} | {wall:.1f} | {peak:.0f} | {kept} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
