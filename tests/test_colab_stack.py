"""Colab's widget stack: ipywidgets 7.7.1 in an environment of its own (tools/colab_stack.py, made once per machine
from the package registry; the only test that installs anything). The widget tests and three widget lessons run
there, so the course is known to work with the widgets Colab's frontend supports."""

import os
import subprocess
import sys

import pytest

from course_utils import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
import colab_stack  # noqa: E402

WIDGET_TESTS = ["tests/test_widgets.py", "tests/test_widgets_lesson01_02.py", "tests/test_widgets_lesson03_04.py",
                "tests/test_cost_calculator.py", "tests/test_memory_calculator.py", "tests/test_decision_guide.py",
                "tests/test_arena.py"]
WIDGET_LESSONS = ["notebooks/00_start_here.ipynb", "notebooks/01_next_token_prediction.ipynb",
                  "notebooks/03_self_attention.ipynb"]


@pytest.fixture(scope="module")
def colab_python():
    try:
        return colab_stack.create()
    except (subprocess.SubprocessError, OSError) as exc:  # no package registry here: say so, do not fail
        pytest.skip(f"could not build the Colab widget environment ({exc}); run python tools/colab_stack.py")


def _pytest(python, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([str(python), "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q",
                           "--timeout", "600", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_environment_has_colabs_widgets_and_this_course(colab_python):
    out = subprocess.run([str(colab_python), "-c", "import ipywidgets, course_utils, torch, transformers; "
                          "print(ipywidgets.__version__, course_utils.__file__)"],
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, check=True)
    version, where = out.stdout.split()
    assert version == "7.7.1" and where.startswith(str(REPO_ROOT))


def test_the_widget_tests_pass_with_ipywidgets_7(colab_python):
    run = _pytest(colab_python, *WIDGET_TESTS)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_the_widget_lessons_run_with_ipywidgets_7(colab_python):
    run = _pytest(colab_python, "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with",
                  "tests/nbval_sanitize.cfg", *WIDGET_LESSONS)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
