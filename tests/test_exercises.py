import json

import pytest
import torch

from course_utils import exercises
from course_utils.checks import expect_close, expect_equal, run_check

SOLUTION_CELL = '''def softmax(x):
    """Softmax over the last dimension."""
    ### BEGIN SOLUTION
    ### HINT: subtract the max, exponentiate, divide by the sum
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)
    ### END SOLUTION'''


def test_stub_keeps_the_signature_and_raises_with_the_hint():
    stub = exercises.stub_source(SOLUTION_CELL)
    assert stub.startswith("def softmax(x):") and '"""Softmax over the last dimension."""' in stub
    assert "z.exp()" not in stub and "BEGIN SOLUTION" not in stub
    assert "    raise NotImplementedError('subtract the max, exponentiate, divide by the sum')" in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="subtract the max"):
        namespace["softmax"](torch.zeros(3))


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_malformed_markers_are_reported(bad):
    with pytest.raises(ValueError):
        exercises.stub_source(bad)


def test_build_writes_student_notebooks_without_solutions_or_outputs(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "exercises"
    src.mkdir()
    nb = {"cells": [{"cell_type": "code", "source": SOLUTION_CELL, "outputs": [{"output_type": "stream",
                     "name": "stdout", "text": "secret"}], "execution_count": 3, "metadata": {}},
                    {"cell_type": "markdown", "source": "Explain", "metadata": {}}],
          "metadata": {"widgets": {"state": {}}}, "nbformat": 4, "nbformat_minor": 5}
    (src / "01_demo.ipynb").write_text(json.dumps(nb))
    assert exercises.build(src, dst) == [dst / "01_demo.ipynb"]
    out = json.loads((dst / "01_demo.ipynb").read_text())
    assert out["cells"][0]["outputs"] == [] and "widgets" not in out["metadata"]
    assert not exercises.has_solution_markers(out["cells"][0]["source"])
    assert exercises.build(src, dst, check_only=True) == []  # in sync now


def test_committed_exercises_are_in_sync_with_solutions():
    stale = exercises.build(check_only=True)
    assert stale == [], "run `python -m course_utils exercises build`"


def _right():
    expect_close(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5]), "probabilities")


def test_check_passes_a_right_answer(capsys):
    assert run_check("softmax", _right).passed
    assert "✅ softmax: passed" in capsys.readouterr().out


def test_check_reports_a_stub_without_a_traceback(capsys):
    def stub():
        raise NotImplementedError("subtract the max")

    result = run_check("softmax", stub)
    out = capsys.readouterr().out
    assert not result.passed and "not implemented yet" in out and "subtract the max" in out
    assert "Traceback" not in out


def test_check_reports_expected_found_and_hint(capsys):
    def wrong():
        expect_close(torch.tensor([0.2, 0.8]), torch.tensor([0.5, 0.5]), "probabilities",
                     hint="did you divide by the sum?")

    assert not run_check("softmax", wrong).passed
    out = capsys.readouterr().out
    assert "expected:" in out and "found:" in out and "did you divide by the sum?" in out


def test_check_reports_a_crash_briefly(capsys):
    def crash():
        return [][1]

    assert not run_check("indexing", crash, hint="check the length").passed
    out = capsys.readouterr().out
    assert "IndexError" in out and "check the length" in out and "Traceback" not in out


def test_expect_helpers():
    expect_equal(3, 3, "three")
    with pytest.raises(Exception):
        expect_equal(2, 3, "three")
    with pytest.raises(Exception, match="wrong shape"):
        expect_close(torch.zeros(2), torch.zeros(3), "x")
    expect_close(1.0 + 1e-7, 1.0, "one")
