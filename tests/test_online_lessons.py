"""The online branch of every lesson that has one, run for real under nbval in a fresh kernel against the local hub
(tests/hub_repos.py's random-weight repositories under the catalog's hub ids; the loaders say "random weights").

Lessons 00, 03 and 06 run in full (in 06 the whole arena is the online branch); the others are cut to their setup
cells, the cells an online cell needs, and the online cells: their offline cells already run in the suite.
After each online cell the test inserts a cell that asserts it really went online (a hub model, not a stand-in).
"""

import json
import subprocess
import sys

import pytest
from hub_repos import online_env

from course_utils import REPO_ROOT

FROM_HUB = "lm.info.source in ('hub', 'hub cache') and lm.info.random_weights"

# lesson -> (the cells to keep, or None for all; [(after this cell, assert this)])
ONLINE = {
    "00_start_here": (None, [
        ("df424ef6", "assert report.machine.hub.reachable and pair.tier.name != 'offline', pair"),
    ]),
    "02_tokenization": (["3b865542", "4e21840a", "77058095", "0b6afea6", "2b3bf6db"], [
        ("0b6afea6", "assert len(real) == 2 and all('from the hub' in label for label in real), (real, note)"),
    ]),
    "03_self_attention": (None, [
        ("2661df5d", "assert 'SmolLM2-135M' in choices, choices"),
    ]),
    "06_arena": (None, [
        ("c04", f"assert pair.tier.name != 'offline' and all({FROM_HUB} for lm in (small, large)), pair"),
    ]),
    "07_inside_the_models": (["l07-02", "l07-03", "l07-09", "l07-15", "l07-17", "l07-19"], [
        ("l07-15", f"lm = real; assert {FROM_HUB}, real.info"),
        ("l07-19", "assert len(a) > 0 and len(b) > 0"),
    ]),
    "08_fine_tuning": (["l08-02", "l08-04", "l08-22"], [
        ("l08-22", f"lm = real; assert {FROM_HUB} and 0 < real_trainable < real_total, real.info"),
    ]),
    "10_bias_and_evaluation": (["l10-02", "l10-14"], [
        ("l10-14", f"assert all({FROM_HUB} for lm in real.values()) and len(results) == 2, list(results)"),
    ]),
    "11_privacy_and_security": (["l11-02", "l11-10", "l11-14"], [
        ("l11-14", f"lm = chat; assert {FROM_HUB} and chat.info.instruct, chat.info"),
    ]),
    "13_small_and_large_together": (["l13-02", "l13-12", "l13-25", "l13-32"], [
        ("l13-12", f"assert all({FROM_HUB} for lm in (real_small, real_large))"),
        ("l13-32", f"assert all({FROM_HUB} for lm in readers_online.values())"),
    ]),
}


def online_notebook(name: str) -> dict:
    """Lesson ``name`` cut to what its online cells need, with a check after each online cell."""
    nb = json.loads((REPO_ROOT / "notebooks" / f"{name}.ipynb").read_text())
    keep, checks = ONLINE[name]
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    ids = {c.get("id") for c in nb["cells"]}
    missing = [cid for cid in (keep or []) + [after for after, _ in checks] if cid not in ids]
    assert not missing, f"{name}: cells {missing} are gone; update ONLINE in this test"
    cells = []
    for cell in nb["cells"]:
        if keep is None or cell is code[0] or cell.get("id") in keep:  # the first code cell: Colab's bootstrap
            cells.append(cell)
        for after, check in checks:
            if cell.get("id") == after:
                cells.append({"cell_type": "code", "id": f"{after}-online-check", "metadata": {}, "outputs": [],
                              "execution_count": None, "source": [check]})
    return {**nb, "cells": cells}


@pytest.mark.parametrize("name", sorted(ONLINE))
def test_the_online_branch_runs_for_real_against_the_local_hub(local_hub, tmp_path, name):
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(online_notebook(name)))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # this folder is the root: the suite's offline conftest stays out
    env = {**online_env(local_hub.url, tmp_path), "COURSE_EVIDENCE_DIR": str(tmp_path / "evidence")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-current-env", "--nbval-sanitize-with", str(REPO_ROOT / "tests" / "nbval_sanitize.cfg"),
                          "--nbval-cell-timeout=300", str(path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-6000:]  # every cell ran, the checks after the online cells included
