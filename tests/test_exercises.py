import ast
import json
import re
from pathlib import Path

import pytest
import torch

from course_utils import REPO_ROOT, exercises
from course_utils.checks import expect_close, expect_equal, run_check
from course_utils.hints import Hints, HintError, load_hints

SOLUTIONS, EXERCISES = REPO_ROOT / "solutions", REPO_ROOT / "exercises"
LESSONS = sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
STUB_LINE = f'raise NotImplementedError("{exercises.STUB_MESSAGE}")'

SOLUTION_CELL = '''def softmax(x):
    """Softmax over the last dimension."""
    ### BEGIN SOLUTION
    ### HINT 1: make the numbers positive, then make them sum to 1
    ### HINT 2: exponentiate; subtracting the largest value first
    ###         keeps exp from overflowing
    ### HINT 3: divide by the sum over the last dimension (keepdim=True)
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)
    ### END SOLUTION'''


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _code_cells(nb: dict) -> list[str]:
    return [_text(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


# ---- the generator ---------------------------------------------------------------------------------

def test_stub_keeps_the_signature_and_raises_a_neutral_message():
    stub = exercises.stub_source(SOLUTION_CELL)
    assert stub.startswith("def softmax(x):") and '"""Softmax over the last dimension."""' in stub
    assert "z.exp()" not in stub and "BEGIN SOLUTION" not in stub and "HINT" not in stub
    assert "positive" not in stub and "overflowing" not in stub  # no hint text in the stub
    assert f"    {STUB_LINE}" in stub
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match=r"stuck\? run hint\(1\)"):
        namespace["softmax"](torch.zeros(3))


def test_hints_are_extracted_in_order_with_continuation_lines_and_named_after_the_function():
    _, [block] = exercises.parse_cell(SOLUTION_CELL)
    assert block.name == "softmax"
    assert block.hints == ["make the numbers positive, then make them sum to 1",
                           "exponentiate; subtracting the largest value first keeps exp from overflowing",
                           "divide by the sum over the last dimension (keepdim=True)"]
    assert [line.strip() for line in block.code] == ["z = x - x.max(dim=-1, keepdim=True).values",
                                                     "return z.exp() / z.exp().sum(dim=-1, keepdim=True)"]


@pytest.mark.parametrize("bad, message", [
    ("### BEGIN SOLUTION\nx = 1", "without END"),
    ("x = 1\n### END SOLUTION", "without BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
    ("### BEGIN SOLUTION\n### HINT: old style\nx = 1\n### END SOLUTION", "number the hint"),
    ("### BEGIN SOLUTION\n### HINT 1: a\n### HINT 3: c\nx = 1\n### END SOLUTION", "should be hint 2"),
    ("### BEGIN SOLUTION\n### HINT 1:\nx = 1\n### END SOLUTION", "empty"),
    ("### HINT 1: outside\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "outside a solution block"),
])
def test_malformed_markers_are_reported(bad, message):
    with pytest.raises(ValueError, match=message):
        exercises.stub_source(bad)


def _notebook(*sources: str) -> dict:
    return {"cells": [{"cell_type": "code", "source": s, "outputs": [{"output_type": "stream", "name": "stdout",
                       "text": "secret"}], "execution_count": 3, "metadata": {"execution": {"t": 1}}, "id": f"c{i}"}
                      for i, s in enumerate(sources)] + [{"cell_type": "markdown", "source": "Explain",
                                                         "metadata": {}, "id": "m"}],
            "metadata": {"widgets": {"state": {}}}, "nbformat": 4, "nbformat_minor": 5}


def test_build_writes_student_notebooks_and_hint_files(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "exercises"
    src.mkdir()
    (src / "01_demo.ipynb").write_text(json.dumps(_notebook(SOLUTION_CELL)))
    hints_file = dst / "hints" / "01_demo.json"
    assert exercises.build(src, dst) == [dst / "01_demo.ipynb", hints_file]
    out = json.loads((dst / "01_demo.ipynb").read_text())
    cell = out["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None and "execution" not in cell["metadata"]
    assert "widgets" not in out["metadata"] and cell["id"] == "c0"
    assert not exercises.has_solution_markers(_text(cell["source"]))
    doc = json.loads(hints_file.read_text())
    hints = exercises.parse_cell(SOLUTION_CELL)[1][0].hints
    assert doc["exercises"] == [{"number": 1, "name": "softmax", "hints": hints}]
    assert exercises.build(src, dst, check_only=True) == []  # in sync now
    hints_file.write_text("{}")
    assert exercises.build(src, dst, check_only=True) == [hints_file]  # a hand-edited hint file is out of date


ONE_HINT = '''def double(x):
    ### BEGIN SOLUTION
    ### HINT 1: multiply
    return x * 2 + 0 * x.sum()
    ### END SOLUTION'''
LEAKY_HINT = '''def double(x):
    ### BEGIN SOLUTION
    ### HINT 1: multiply
    ### HINT 2: x * 2 + 0 * x.sum() is all it takes
    return x * 2 + 0 * x.sum()
    ### END SOLUTION'''
LEAKY_STUB = '''def double(x):
    """Hint: return x * 2 + 0 * x.sum()"""
    ### BEGIN SOLUTION
    ### HINT 1: multiply
    ### HINT 2: by two
    return x * 2 + 0 * x.sum()
    ### END SOLUTION'''


@pytest.mark.parametrize("source, message", [(ONE_HINT, "1 hint"), (LEAKY_HINT, "hint 2 gives the answer away"),
                                             (LEAKY_STUB, "code cells contain a line of the answer")])
def test_build_refuses_missing_hints_and_answers_in_hints_or_stubs_and_writes_nothing(tmp_path, source, message):
    src, dst = tmp_path / "solutions", tmp_path / "exercises"
    src.mkdir()
    (src / "01_good.ipynb").write_text(json.dumps(_notebook(SOLUTION_CELL)))
    (src / "02_bad.ipynb").write_text(json.dumps(_notebook(source)))
    with pytest.raises(ValueError, match=f"02_bad.ipynb.*{message}"):
        exercises.build(src, dst)
    assert not dst.exists()  # every notebook is checked before any is written


def test_leak_detector_sees_through_return_assignments_spacing_quotes_and_prefixes():
    code = ["    kth = torch.topk(logits, k).values[-1]  # the k-th largest",
            "    return logits.masked_fill(logits < kth, float('-inf'))",
            "    attention = C * hs * (2 * config.n_head + 2 * config.n_kv_head)",
            "    i += 1", "    else:", "    return out", "    )", "    # a comment that is long enough", ""]
    frags = exercises.answer_fragments(code)
    assert 'torch.topk(logits,k).values[-1]' in frags  # the right-hand side of an assignment counts
    assert 'logits.masked_fill(logits<kth,float("-inf"))' in frags  # `return` and the quote style do not
    assert not any(f in ("i+=1", "else:", "out", ")") or f.startswith("#") for f in frags)  # trivial lines
    assert exercises.leaked_lines(code, "use `logits.masked_fill(logits < kth, float(\"-inf\"))`")
    assert exercises.leaked_lines(code, "per layer: C*hs*(2*n_head + 2*n_kv_head)")  # config. prefix dropped
    assert exercises.leaked_lines(code, "torch.topk(logits, k).values[-1] is the threshold")
    assert not exercises.leaked_lines(code, "torch.topk gives the k largest values; the last is the k-th")


# ---- the committed exercises: nothing gives the answer away ------------------------------------------

def test_committed_exercises_are_in_sync_with_solutions():
    stale = exercises.build(check_only=True)
    assert stale == [], "run `python -m course_utils exercises build`"


def _lesson(path: Path):
    solution = json.loads(path.read_text())
    student = json.loads((EXERCISES / path.name).read_text())
    doc = json.loads((EXERCISES / "hints" / f"{path.stem}.json").read_text())
    return solution, student, doc


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_exercise_notebooks_and_hints_never_contain_the_answer(path):
    """No line of an answer (see exercises.answer_fragments) in the exercise's code cells or any hint level;
    no hint text in a stub; no outputs. Reads the committed files, not a fresh build."""
    solution, student, doc = _lesson(path)
    blocks = exercises.solution_blocks(solution)
    assert [e["name"] for e in doc["exercises"]] == [b.name for b in blocks]
    code_cells = _code_cells(student)
    all_code = "\n".join(code_cells)
    assert "### HINT" not in json.dumps(student) and "BEGIN SOLUTION" not in all_code
    assert all(c.get("outputs", []) == [] for c in student["cells"] if c["cell_type"] == "code")
    for block, entry in zip(blocks, doc["exercises"]):
        who = f"{path.name} exercise {entry['number']} ({block.name})"
        assert exercises.answer_fragments(block.code), f"{who}: nothing to hide?"
        assert exercises.leaked_lines(block.code, all_code) == [], f"{who}: the answer is in a code cell"
        hints = entry["hints"]
        assert len(hints) >= 2, f"{who}: needs at least 2 hint levels"
        assert exercises.leaked_lines(block.code, hints[0]) == [], f"{who}: hint 1 is the answer"
        for level, text in enumerate(hints, start=1):
            assert exercises.leaked_lines(block.code, text) == [], f"{who}: hint {level} is the answer"
            assert exercises._squash(text) not in exercises._squash(all_code), f"{who}: hint {level} is visible"
        [stub] = [c for c in code_cells if re.search(rf"^def {block.name}\(", c, re.M)]
        assert STUB_LINE in stub, f"{who}: the stub should only say {STUB_LINE}"
        for text in hints:
            assert exercises._squash(text) not in exercises._squash(stub)


def test_every_lesson_has_at_least_three_exercises_numbered_like_its_headings():
    counts = {}
    for path in LESSONS:
        solution, _, doc = _lesson(path)
        headings = [int(m) for c in solution["cells"] if c["cell_type"] == "markdown"
                    for m in re.findall(r"^## Exercise (\d+)", _text(c["source"]), re.M)]
        assert headings == [e["number"] for e in doc["exercises"]], path.name
        counts[path.name[:2]] = len(doc["exercises"])
    assert counts and all(n >= 3 for n in counts.values()), counts


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_each_exercise_notebook_loads_its_lessons_hints(path):
    _, student, _ = _lesson(path)
    lesson = path.name[:2]
    assert any(re.search(rf'^hint = load_hints\("{lesson}"\)', c, re.M) for c in _code_cells(student)), path.name
    hints = load_hints(lesson)
    assert not hints.missing and len(hints.exercises) >= 3


def test_check_feedback_does_not_print_the_answer():
    """A check's messages (shown after a wrong answer) hold no answer line beyond what the exercise shows."""
    for path in LESSONS:
        solution = json.loads(path.read_text())
        statement = exercises._squash("\n".join(_text(c["source"]) for c in solution["cells"]
                                                if c["cell_type"] == "markdown"))
        module = REPO_ROOT / "course_utils" / "checks" / f"lesson{path.name[:2]}.py"
        strings = [n.value for n in ast.walk(ast.parse(module.read_text()))
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        for block in exercises.solution_blocks(solution):
            for s in strings:
                leaks = [f for f in exercises.leaked_lines(block.code, s)
                         if f not in statement and exercises._canonical(f) not in exercises._canonical(statement)]
                assert leaks == [], f"{module.name} tells the answer of {block.name}: {s!r}"


# ---- revealing hints in a notebook ------------------------------------------------------------------

@pytest.fixture
def demo_hints(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "exercises"
    src.mkdir()
    second = SOLUTION_CELL.replace("def softmax", "def normalise")
    (src / "09_demo.ipynb").write_text(json.dumps(_notebook(SOLUTION_CELL, second)))
    exercises.build(src, dst)
    return load_hints("09", directory=dst / "hints")


def test_hint_reveals_levels_of_the_exercise_checked_last(demo_hints, capsys):
    def softmax(x):  # the learner's function, as the check receives it
        raise NotImplementedError(exercises.STUB_MESSAGE)

    def check_softmax(fn):
        def test():
            fn(torch.zeros(2))

        run_check("softmax", test)

    demo_hints(1)  # nothing checked yet: which exercise?
    out = capsys.readouterr().out
    assert "which exercise?" in out and "1 softmax" in out and "2 normalise" in out and "positive" not in out
    check_softmax(softmax)
    assert "⏳ softmax: not implemented yet (write your code here; stuck? run hint(1))" in capsys.readouterr().out
    demo_hints(1)
    out = capsys.readouterr().out
    assert "hint 1 of 3" in out and "make the numbers positive" in out and "hint(2)" in out
    assert "overflowing" not in out  # only the level asked for
    demo_hints()  # the next level not seen yet
    assert "hint 2 of 3" in capsys.readouterr().out
    demo_hints.show(3)
    out = capsys.readouterr().out
    assert "keepdim=True" in out and "last hint" in out


def test_hint_beyond_the_last_level_says_how_many_there_are(demo_hints, capsys):
    demo_hints(4, "softmax")
    out = capsys.readouterr().out
    assert "softmax has 3 hints: hint(1) … hint(3)" in out and "Traceback" not in out
    with pytest.raises(HintError, match="has 3 hints"):
        demo_hints.text(0, "softmax")


def test_an_unknown_exercise_says_which_exist(demo_hints, capsys):
    demo_hints(1, "sofmax")
    out = capsys.readouterr().out
    assert "no exercise 'sofmax'" in out and "1 softmax, 2 normalise" in out
    with pytest.raises(HintError, match="1 softmax, 2 normalise"):
        demo_hints.text(1, 3)


def test_exercises_are_found_by_number_name_or_function(demo_hints):
    def normalise(x):
        pass

    assert demo_hints.text(2, 2) == demo_hints.text(2, "normalise") == demo_hints.text(2, normalise)
    assert "exponentiate" in demo_hints.text(2, 1)


def test_the_hints_object_lists_exercises_but_never_shows_hint_text(demo_hints, capsys):
    shown = repr(demo_hints)
    assert "exercise 1 · softmax: 3 hints" in shown and "positive" not in shown
    demo_hints()  # nothing current, no level: the overview
    out = capsys.readouterr().out
    assert "exercise 2 · normalise" in out and "positive" not in out


def test_missing_hint_files_do_not_break_the_notebook(tmp_path, capsys):
    hints = load_hints(3, directory=tmp_path)
    assert isinstance(hints, Hints) and hints.lesson == "03"
    hints(1, "anything")
    assert "no hints found for lesson 03" in capsys.readouterr().out


# ---- checks --------------------------------------------------------------------------------------

def _right():
    expect_close(torch.tensor([0.5, 0.5]), torch.tensor([0.5, 0.5]), "probabilities")


def test_check_passes_a_right_answer(capsys):
    assert run_check("softmax", _right).passed
    assert "✅ softmax: passed" in capsys.readouterr().out


def test_check_reports_a_stub_without_a_traceback(capsys):
    def stub():
        raise NotImplementedError(exercises.STUB_MESSAGE)

    result = run_check("softmax", stub)
    out = capsys.readouterr().out
    assert not result.passed and "not implemented yet" in out and "hint(1)" in out
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
