"""Lesson 12 end to end: the notebook with reference evidence only and with the learner's own, and the lesson
notebooks still recording every figure the scorecard reads."""

import json
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from course_utils import REPO_ROOT, evidence, scorecard

NOTEBOOK = REPO_ROOT / "notebooks" / "12_choosing_a_model.ipynb"


def _run(evidence_dir: Path, monkeypatch) -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("COURSE_EVIDENCE_DIR", str(evidence_dir))  # the kernel inherits this process's environment
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_with_no_lesson_run_every_verdict_comes_from_the_reference(tmp_path, monkeypatch):
    out = _run(tmp_path, monkeypatch)
    for lesson in evidence.REFERENCE_LESSONS:
        assert f"{lesson:02d}      reference" in out
    assert "0 verdict(s) differ from the reference run" in out
    assert "not measured" not in out
    assert (tmp_path / "course_summary.html").exists()


def test_with_own_evidence_the_lesson_reads_it_and_names_what_changed(tmp_path, monkeypatch):
    for path in sorted(evidence.REFERENCE_DIR.glob("lesson*.json")):
        shutil.copy(path, tmp_path / path.name)  # as if every lesson had been run here
    nine = json.loads((tmp_path / "lesson09.json").read_text())
    batch = nine["entries"]["batch_tokens_per_s"]["value"]
    for size in batch["course-large"]:  # a machine where batching the large model never catches the small one
        batch["course-large"][size] = batch["course-small"]["1"] / 2
    (tmp_path / "lesson09.json").write_text(json.dumps(nine))
    out = _run(tmp_path, monkeypatch)
    for lesson in evidence.REFERENCE_LESSONS:
        assert f"{lesson:02d}      yours" in out
    assert "1 verdict(s) differ from the reference run: cost: holds under conditions → holds" in out
    html = (tmp_path / "course_summary.html").read_text()
    assert "class=ref" not in html  # every figure in it is the learner's own


class _Recording(scorecard.Evidence):
    def __init__(self):
        super().__init__(reference_only=True)
        self.read = set()

    def entry(self, lesson, key):
        self.read.add((lesson, key))
        return super().entry(lesson, key)


def test_each_lesson_notebook_records_what_the_scorecard_reads():
    ev = _Recording()
    scorecard.scorecard(ev)
    from course_utils.decision_guide import Needs, recommend

    recommend(Needs(domain_examples=2000), ev)
    for need in (Needs(breadth="a few related tasks", hardware="H100 (80 GB GPU)", data_may_leave=False),
                 Needs(domain_examples=30, tokens_per_month=5e8, answers_in_documents=True)):  # lesson 13's "use both"
        recommend(need, ev)
    assert {lesson for lesson, _ in ev.read} == set(evidence.REFERENCE_LESSONS)
    for lesson in evidence.REFERENCE_LESSONS:
        path = next((REPO_ROOT / "notebooks").glob(f"{lesson:02d}_*.ipynb"))
        cells = [c.source for c in nbformat.read(path, as_version=4).cells
                 if c.cell_type == "code" and "evidence.record_many" in c.source]
        assert len(cells) == 1, path.name
        for les, key in ev.read:
            if les == lesson:
                assert f'"{key}"' in cells[0], f"{path.name} no longer records {key!r}, which lesson 12 reads"
