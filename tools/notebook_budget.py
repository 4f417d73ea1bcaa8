"""Measure each notebook against the course budget (<= 3 min, <= 1.5 GB peak) in a fresh kernel.

    python tools/notebook_budget.py notebooks/*.ipynb solutions/*.ipynb

Runs each notebook offline (HF_HUB_OFFLINE=1) with nbclient, the way nbval does, and prints a
markdown table: wall time and the kernel's peak resident memory (ru_maxrss, read in an extra
last cell). Figures, not pass/fail: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BUDGET_S, BUDGET_MB = 180, 1500
PEAK_CELL = "import resource; print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def measure(path: Path) -> tuple[float, float, str]:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - start
    errors = [o.get("ename", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    peak_kb = 0.0
    for out in nb.cells[-1].get("outputs", []):
        if "PEAK_KB" in out.get("text", ""):
            peak_kb = float(out["text"].split()[1])
    return wall, peak_kb / 1024, ", ".join(errors) or "none"


def main(paths: list[str]) -> int:
    os.environ["HF_HUB_OFFLINE"] = "1"
    print("| notebook | wall time (s) | peak memory (MB) | within budget | errors |")
    print("|---|---|---|---|---|")
    worst = 0
    for p in paths:
        wall, peak_mb, errors = measure(Path(p))
        ok = wall <= BUDGET_S and peak_mb <= BUDGET_MB and errors == "none"
        worst |= not ok
        print(f"| {p} | {wall:.1f} | {peak_mb:.0f} | {'yes' if ok else 'NO'} | {errors} |", flush=True)
    return int(worst)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
