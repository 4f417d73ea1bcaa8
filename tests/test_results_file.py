"""course_utils.results_file: a shipped results file is read, or ignored with one line saying why."""

import json

from course_utils.results_file import read_results

ARGS = dict(what="test", command="python -m course_utils test", fmt=2, key="runs")


def test_a_good_file_is_read_and_each_bad_one_is_named(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"format": 2, "runs": [1]}))
    assert read_results(good, **ARGS) == {"format": 2, "runs": [1]}
    cases = {"missing.json": None, "corrupt.json": "{not json", "old.json": json.dumps({"format": 1, "runs": []}),
             "list.json": "[1, 2]", "keyless.json": json.dumps({"format": 2})}
    reasons = {"missing.json": "No shipped test results", "corrupt.json": "is corrupt", "old.json": "format 1",
               "list.json": "format 'list'", "keyless.json": "format 2"}
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        assert read_results(tmp_path / name, **ARGS) is None
        out = capsys.readouterr().out
        assert reasons[name] in out and "python -m course_utils test" in out and out.count("\n") == 1
