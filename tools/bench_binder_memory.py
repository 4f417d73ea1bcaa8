"""Every lesson under Binder's memory: each notebook runs under nbval (offline, fresh kernel) inside a memory cgroup
of 2 GB, and the table gives its wall time and the group's peak memory (page cache included, which the kernel
reclaims before it kills anything).

    python tools/bench_binder_memory.py                     # all lessons, 2 GB
    python tools/bench_binder_memory.py --limit-gb 1.5 notebooks/06_arena.ipynb

Needs root and a writable memory cgroup (v1 or v2); says so and stops otherwise. Each lesson's figures are also
written to docs/lesson_memory.json (merged by lesson), which the room check (`doctor --class`) reads.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "docs" / "lesson_memory.json"
sys.path.insert(0, str(ROOT / "tests"))

from memory_limit import run_limited  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--limit-gb", type=float, default=2.0, help="the cgroup's memory limit (GiB; Binder: 2)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    limit = int(args.limit_gb * (1 << 30))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE",
           "MPLBACKEND": "Agg"}
    print(f"| lesson | wall (s) | peak (MB) | of {args.limit_gb:g} GiB | result |\n|---|---|---|---|---|")
    failed = 0
    for nb in notebooks:
        start = time.perf_counter()
        try:
            run = run_limited([sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q",
                               "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with",
                               "tests/nbval_sanitize.cfg", "--nbval-cell-timeout=600", str(nb)],
                              limit, timeout=1200, env=env, cwd=ROOT)
        except BaseException as exc:  # pytest.skip (no cgroup) is a BaseException
            print(f"cannot run under a memory limit here: {exc}")
            return 2
        wall = time.perf_counter() - start
        killed = run.returncode == -9
        result = "passed" if run.returncode == 0 else "OOM-killed" if killed else f"failed (rc {run.returncode})"
        failed += run.returncode != 0
        peak = run.peak_bytes or 0
        print(f"| {Path(nb).stem} | {wall:.0f} | {peak / 1e6:,.0f} | {peak / limit:.0%} | {result} |", flush=True)
        if run.returncode and not killed:
            print(run.stdout[-2000:], file=sys.stderr)
        record = json.loads(RECORD.read_text()) if RECORD.exists() else {"lessons": {}}
        record["command"] = "python tools/bench_binder_memory.py"
        record["lessons"][Path(nb).stem] = {"peak_bytes": peak, "wall_s": round(wall, 1), "limit_bytes": limit,
                                            "result": result, "date": datetime.date.today().isoformat(),
                                            "cpu_cores": os.cpu_count()}
        RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
