"""Binder: a fresh environment with nothing but binder/requirements.txt and binder/postBuild (tools/test_envs.py,
built once per machine from the package registry), as repo2docker builds it. The course imports there, and
under Binder's 2 GB (a memory cgroup) the machine gets Binder's tier, its pair loads from the local hub, and the
first lesson runs online to the end."""

import json
import os
import re
import subprocess
import sys

import pytest
from hub_repos import online_env
from memory_limit import run_limited

from course_utils import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
from test_envs import BINDER  # noqa: E402

GB = 1 << 30


@pytest.fixture(scope="module")
def binder_python():
    return BINDER.create_or_skip()


def _pins() -> dict[str, str]:
    lines = (REPO_ROOT / "binder" / "requirements.txt").read_text().splitlines()
    return dict(m.groups() for m in (re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line) for line in lines) if m)


def test_the_binder_environment_has_its_pins_and_the_course_from_this_checkout(binder_python):
    code = ("import json, re, importlib.metadata as md, torch, course_utils\n"
            "print(json.dumps({'versions': {re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version"
            " for d in md.distributions()},"
            " 'cuda': torch.version.cuda, 'course': course_utils.__file__}))")
    out = subprocess.run([str(binder_python), "-c", code], capture_output=True, text=True, cwd="/",
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout)
    pins = _pins()
    assert {"torch", "transformers", "ipywidgets", "jupyterlab"} <= set(pins)
    have = {name: found["versions"].get(re.sub(r"[-_.]+", "-", name).lower()) for name in pins}
    wrong = {name: (want, have[name]) for name, want in pins.items()
             if not (have[name] or "").startswith(want)}  # torch may say 2.13.0+cpu
    assert not wrong, wrong
    assert found["cuda"] is None  # the CPU build: Binder has no GPU, and the CUDA wheels are gigabytes
    assert found["course"].startswith(str(REPO_ROOT))  # postBuild's editable install of this checkout


def test_under_binders_2_gb_the_binder_pair_loads_from_the_hub(binder_python, local_hub, tmp_path):
    code = ("from course_utils.env import machine_info\n"
            "from course_utils.generation import generate\n"
            "from course_utils.loading import load_pair\n"
            "from course_utils.tiers import pick_pair\n"
            "m = machine_info()\n"
            "pair = pick_pair(m)\n"
            "small, large = load_pair(pair)\n"
            "generate(small, 'The weather', max_new_tokens=4)\n"
            "print('PAIR', m.ram_total_bytes, pair.tier.name, small.info.name, small.info.source, large.info.name, "
            "large.info.source)\n")
    run = run_limited([str(binder_python), "-c", code], 2 * GB, env=online_env(local_hub.url, tmp_path), cwd=REPO_ROOT)
    assert run.returncode == 0, (run.returncode, run.stderr[-3000:])
    ram, tier, small, small_source, large, large_source = run.stdout.split("PAIR", 1)[1].split()
    assert int(ram) == 2 * GB and tier == "binder"
    assert (small, large) == ("SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct")
    assert small_source == large_source == "hub"
    print(f"Binder pair online under 2 GB: peak {run.peak_bytes / 1e6:.0f} MB")


def test_the_first_lesson_runs_online_in_the_binder_environment_inside_2_gb(binder_python, local_hub, tmp_path):
    from test_online_lessons import online_notebook

    nb = online_notebook("00_start_here")
    for cell in nb["cells"]:
        if cell.get("id") == "df424ef6-online-check":
            cell["source"] = ["import sys\n",
                              f"assert sys.prefix == {str(BINDER.folder)!r}, sys.prefix  # the Binder environment's kernel\n",
                              "assert pair.tier.name == 'binder' and report.machine.ram_total_bytes == 2 ** 31, pair"]
    path = tmp_path / "00_start_here.ipynb"
    path.write_text(json.dumps(nb))
    # Binder has no pytest: the notebook runs as Jupyter runs it (nbclient, this environment's kernel), and any
    # cell's error, the check's included, fails the run
    code = ("import nbclient, nbformat, sys\n"
            f"nb = nbformat.read({str(path)!r}, as_version=4)\n"
            "nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute()\n"
            "print('RAN', sum(c.cell_type == 'code' for c in nb.cells), 'code cells')\n")
    run = run_limited([str(binder_python), "-c", code], 2 * GB, cwd=tmp_path,
                      env={**online_env(local_hub.url, tmp_path), "COURSE_EVIDENCE_DIR": str(tmp_path / "evidence")})
    assert run.returncode == 0 and "RAN" in run.stdout, run.stderr[-4000:]
    print(f"lesson 00 online in the Binder environment under 2 GB: peak {run.peak_bytes / 1e6:.0f} MB")
