"""The course under a real memory limit (a cgroup, as on Binder): it reads the limit, picks Binder's tier, loads
what fits, and refuses what does not with a message instead of being killed."""

import os
import sys

from memory_limit import run_limited

from course_utils import REPO_ROOT

GB = 1 << 30
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def _python(code: str, limit: int):
    return run_limited([sys.executable, "-c", code], limit, env=ENV, cwd=REPO_ROOT)


def test_under_binders_2_gb_the_course_reads_the_limit_and_picks_the_binder_tier():
    run = _python("from course_utils.env import machine_info, ram_bytes\n"
                  "from course_utils.tiers import tier_for\n"
                  "m = machine_info(check_hub_now=False)\n"
                  "print(ram_bytes()[0], m.ram_total_bytes, tier_for(m).name)", 2 * GB)
    assert run.returncode == 0, run.stderr[-2000:]
    total, machine_total, tier = run.stdout.split()
    assert int(total) == int(machine_total) == 2 * GB
    assert tier == "binder"


def test_what_fits_loads_and_what_does_not_is_refused_with_a_message_not_killed():
    code = ("from course_utils.errors import CourseError\n"
            "from course_utils.loading import load_model\n"
            "lm = load_model('course-llm')\n"
            "print('LOADED', lm.info.name)\n"
            "try:\n"
            "    load_model('SmolLM2-1.7B', from_config=True, dtype='bfloat16')\n"
            "except CourseError as exc:\n"
            "    print('REFUSED', exc)\n")
    run = _python(code, 1 * GB)
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])  # -9 would be the OOM killer
    assert "LOADED course-large" in run.stdout
    refused = run.stdout.split("REFUSED", 1)[1]
    assert "SmolLM2-1.7B needs about" in refused and "Try " in refused, run.stdout


def test_the_first_lesson_runs_to_the_end_inside_binders_2_gb():
    run = run_limited([sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q",
                       "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
                       "notebooks/00_start_here.ipynb"], 2 * GB, env=ENV, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stdout[-3000:]
    assert run.peak_bytes is None or run.peak_bytes <= 2 * GB
    print(f"lesson 00 under 2 GB: peak {run.peak_bytes / 1e6:.0f} MB (page cache included)")
