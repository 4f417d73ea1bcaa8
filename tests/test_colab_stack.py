"""Colab's stack: ipywidgets 7.7.1 and transformers 5.15 in an environment of their own (tools/test_envs.py, made
once per machine from the package registry). The widget tests, three widget lessons and the local-hub tests run
there, so the course is known to work with the widgets Colab's frontend supports and the oldest transformers it
is tested with (and the huggingface_hub 1.x that comes with it)."""

import os
import subprocess
import sys

import pytest

from course_utils import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools"))
from test_envs import COLAB  # noqa: E402

WIDGET_TESTS = ["tests/test_widgets.py", "tests/test_widgets_lesson01_02.py", "tests/test_widgets_lesson03_04.py",
                "tests/test_cost_calculator.py", "tests/test_memory_calculator.py", "tests/test_decision_guide.py",
                "tests/test_arena.py"]
WIDGET_LESSONS = ["notebooks/00_start_here.ipynb", "notebooks/01_next_token_prediction.ipynb",
                  "notebooks/03_self_attention.ipynb"]


@pytest.fixture(scope="module")
def colab_python():
    return COLAB.create_or_skip()


def _pytest(python, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([str(python), "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q",
                           "--timeout", "600", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=900)


def test_the_environment_has_colabs_widgets_and_this_course(colab_python):
    out = subprocess.run([str(colab_python), "-c", "import ipywidgets, course_utils, torch, transformers, "
                          "huggingface_hub; print(ipywidgets.__version__, transformers.__version__, "
                          "huggingface_hub.__version__, course_utils.__file__)"],
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, check=True)
    widgets, transformers, hub, where = out.stdout.split()
    assert (widgets, transformers) == ("7.7.1", "5.15.0") and where.startswith(str(REPO_ROOT))
    assert hub.startswith("1."), hub  # transformers 5.15 needs huggingface_hub < 2: the older client is tested too


def test_the_widget_tests_pass_with_ipywidgets_7(colab_python):
    run = _pytest(colab_python, *WIDGET_TESTS)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_the_widget_lessons_run_with_ipywidgets_7(colab_python):
    run = _pytest(colab_python, "--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with",
                  "tests/nbval_sanitize.cfg", *WIDGET_LESSONS)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def test_the_online_paths_work_with_colabs_transformers_and_huggingface_hub_1(colab_python):
    # the client side with huggingface_hub 1.x: downloads, the refusals and the slow hub (the families, the lock and
    # the server-side tests go through the same calls, and run once, in this environment's huggingface_hub 2.x)
    run = _pytest(colab_python, "tests/test_local_hub.py", "-k",
                  "huggingface_hub_downloads or pickle_only or gated or slow_hub")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
