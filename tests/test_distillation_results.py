"""Lesson 13's full distillation run: the command writes a results file the lesson reads, a table and a plot."""

import json

import pytest

from course_utils import distillation_results as dr


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("distill")
    return dr.run_sweep(steps=10, settings=({"temperature": 2.0, "alpha": 0.5},), n_train=150, n_test=8, threads=1,
                        out=out, progress=False), out


def test_a_short_run_writes_every_run_with_its_flops(results):
    res, out = results
    saved = json.loads((out / "results.json").read_text())
    assert saved == json.loads(json.dumps(res))
    assert saved["command"] == dr.COMMAND and saved["machine"]["cpu_count"] >= 1
    names = [r["run"] for r in saved["runs"]]
    assert names == ["data alone", "distilled, T = 2, alpha = 0.5", "data alone, a distilled run's FLOPs"]
    control, distilled, matched = saved["runs"]
    assert control["tokens"] == distilled["tokens"] == 10 * 16 * 64  # the same batches and steps
    assert distilled["flops"] > control["flops"]  # the teacher's forward passes are counted
    assert matched["steps"] > 10 and matched["flops"] == pytest.approx(distilled["flops"], rel=0.05)
    assert all(0 < r["bits_per_char"] < 10 for r in saved["runs"])
    assert saved["floor_bits_per_char"] < saved["teacher"]["bits_per_char"]
    assert dr.load_results(out / "results.json") == saved


def test_table_and_plot_read_the_results(results):
    res, _ = results
    table = dr.results_table(res)
    assert [r["run"] for r in table] == [r["run"] for r in res["runs"]]
    assert table[0]["gap closed"] == "0%" and table[0]["FLOPs ÷ control"] == "1.00"
    ax = dr.plot_results(res)
    assert len(ax.lines) == len(res["runs"]) + 2  # a point per run, the teacher and the floor


def test_missing_or_foreign_results_are_ignored_with_a_reason(tmp_path, capsys):
    assert dr.load_results(tmp_path / "none.json") is None
    assert "python -m course_utils distill" in capsys.readouterr().out
    (tmp_path / "old.json").write_text(json.dumps({"format": 0, "runs": []}))
    assert dr.load_results(tmp_path / "old.json") is None


def test_the_command_refuses_absurd_steps(capsys):
    from course_utils.__main__ import main

    assert main(["distill", "--steps", "2"]) == 2
    assert "at least 10" in capsys.readouterr().out
