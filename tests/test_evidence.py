"""The evidence store (lesson 12's groundwork): provenance, own-then-reference lookup, and files that cannot be
read are ignored with a message, never a crash."""

import json
from types import SimpleNamespace

import pytest

from course_utils import evidence
from course_utils.errors import BadInputError

MACHINE = SimpleNamespace(cpu_cores=2, ram_total_bytes=2 * 1024**3, ram_available_bytes=1024**3, gpu=None, hub=None)


def test_evidence_lives_outside_the_package_where_the_environment_says():
    assert evidence.evidence_dir({"COURSE_EVIDENCE_DIR": "/data/ev"}) == evidence.Path("/data/ev")
    assert evidence.evidence_dir({"XDG_DATA_HOME": "/x"}) == evidence.Path("/x/small-vs-large-llms/evidence")
    assert "course_utils" not in str(evidence.evidence_dir({}))


def test_a_recorded_entry_carries_its_provenance_and_replaces_an_older_one(tmp_path):
    e = evidence.record(9, "int8_speedup", 1.10, models=["course-llm"], unit="×", folder=tmp_path, machine=MACHINE,
                        today="2026-12-02")
    assert e.models == {"course-llm": evidence.model_identity("course-large")}
    assert e.models["course-llm"].startswith("sha256:") and len(e.models["course-llm"]) == 7 + 64
    assert e.machine == {"tier": "binder", "cpu_cores": 2, "ram_bytes": 2 * 1024**3, "gpu": None}
    assert (e.date, e.setting, e.source) == ("2026-12-02", "default", "yours")
    evidence.record(9, "int8_speedup", 1.2, folder=tmp_path, machine=MACHINE, setting="full")
    evidence.record(9, "nf4_bytes_ratio", [0.35, 0.64], folder=tmp_path, machine=MACHINE)
    own = evidence.load_lesson(9, tmp_path)
    assert own["int8_speedup"].value == 1.2 and own["int8_speedup"].setting == "full"
    assert own["nf4_bytes_ratio"].value == [0.35, 0.64]
    assert "full setting" in own["int8_speedup"].provenance() and "binder tier (2 cores)" in own["int8_speedup"].provenance()
    assert [p.name for p in tmp_path.iterdir()] == ["lesson09.json"]  # no temporary file left behind


def test_lookup_prefers_the_learners_own_evidence_and_says_which_it_is(tmp_path):
    own, ref = tmp_path / "own", tmp_path / "ref"
    evidence.record(10, "ece_large", 0.036, folder=ref, machine=MACHINE)
    evidence.record(10, "skew_large", 0.665, folder=ref, machine=MACHINE)
    assert evidence.lookup(10, "ece_large", folder=own, reference=ref).source == "reference"
    evidence.record(10, "ece_large", 0.05, folder=own, machine=MACHINE)
    mine = evidence.lookup(10, "ece_large", folder=own, reference=ref)
    assert (mine.value, mine.source) == (0.05, "yours")
    assert evidence.lookup(10, "skew_large", folder=own, reference=ref).source == "reference"
    assert evidence.lookup(10, "nothing", folder=own, reference=ref) is None


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot be read"),
    ('{"format": 0, "entries": {}}', "has format 0"),
    ("[1, 2]", "has format 'list'"),
])
def test_a_corrupt_or_older_file_is_ignored_with_a_message_and_replaced_on_the_next_record(tmp_path, capsys,
                                                                                          content, message):
    (tmp_path / "lesson08.json").write_text(content)
    assert evidence.load_lesson(8, tmp_path) is None
    assert message in capsys.readouterr().out
    evidence.record(8, "lora_speedup", 1.4, folder=tmp_path, machine=MACHINE)
    assert evidence.load_lesson(8, tmp_path)["lora_speedup"].value == 1.4


def test_a_partial_entry_is_skipped_and_the_rest_kept(tmp_path, capsys):
    evidence.record(5, "alpha", 0.34, folder=tmp_path, machine=MACHINE)
    body = json.loads((tmp_path / "lesson05.json").read_text())
    body["entries"]["broken"] = {"value": 1}
    (tmp_path / "lesson05.json").write_text(json.dumps(body))
    got = evidence.load_lesson(5, tmp_path)
    assert set(got) == {"alpha"} and "incomplete entry 'broken'" in capsys.readouterr().out


def test_bad_records_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(BadInputError, match="non-empty string"):
        evidence.record(9, " ", 1, folder=tmp_path, machine=MACHINE)
    with pytest.raises(BadInputError, match="default, full"):
        evidence.record(9, "x", 1, setting="quick", folder=tmp_path, machine=MACHINE)
    with pytest.raises(BadInputError, match="cannot be recorded"):
        evidence.record(9, "x", object(), folder=tmp_path, machine=MACHINE)
    with pytest.raises(BadInputError, match="cannot be recorded"):
        evidence.record(9, "x", float("nan"), folder=tmp_path, machine=MACHINE)
    with pytest.raises(BadInputError, match="lesson number"):
        evidence.record(123, "x", 1, folder=tmp_path, machine=MACHINE)
    assert not list(tmp_path.iterdir())
    assert evidence.model_identity("no-such-model") == "unknown"
    assert evidence.model_identity("SmolLM2-135M").startswith("HuggingFaceTB/SmolLM2-135M@")


def test_record_many_writes_once_keeps_earlier_keys_and_says_where(tmp_path, capsys):
    evidence.record(9, "earlier", 1, folder=tmp_path, machine=MACHINE)
    entries = evidence.record_many(9, {"a": 1.5, "b": {"x": [1, 2]}}, models=["course-llm"], folder=tmp_path,
                                   machine=MACHINE)
    assert [e.key for e in entries] == ["a", "b"]
    assert "recorded 2 measurements of lesson 09" in capsys.readouterr().out
    own = evidence.load_lesson(9, tmp_path)
    assert set(own) == {"earlier", "a", "b"} and own["b"].value == {"x": [1, 2]}
    assert list(tmp_path.iterdir()) == [tmp_path / "lesson09.json"]  # no temporary file left behind
    with pytest.raises(BadInputError):
        evidence.record_many(9, {}, folder=tmp_path, machine=MACHINE)
    with pytest.raises(BadInputError):
        evidence.record_many(9, {"ok": 1, "bad": float("inf")}, folder=tmp_path, machine=MACHINE)
    assert set(evidence.load_lesson(9, tmp_path)) == {"earlier", "a", "b"}  # a bad value writes nothing


def test_the_command_line_shows_whose_evidence_and_refuses_an_unknown_lesson(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_EVIDENCE_DIR", str(tmp_path))
    evidence.record_many(9, {"a": 1}, folder=tmp_path, machine=MACHINE, quiet=True)
    assert evidence.main(["show"]) == 0
    out = capsys.readouterr().out
    assert "lesson 09: yours (1 measurements)" in out and "lesson 10: reference" in out
    with pytest.raises(BadInputError, match="no lesson notebook"):
        evidence.build_reference([42], out=tmp_path / "ref")
    assert not (tmp_path / "ref").exists()


def test_figures_from_a_shipped_grid_name_the_grid_s_machine(tmp_path):
    results = {"created": "2026-12-02", "machine": {"cpu_count": 2, "torch": "2.13.0+cpu"}}
    (e,) = evidence.record_many(8, {"docs": 1000}, folder=tmp_path, setting="full",
                                machine=evidence.shipped_machine(results), quiet=True)
    assert e.setting == "full" and e.machine["tier"] == "shipped grid" and e.machine["created"] == "2026-12-02"
    assert "full setting" in e.provenance() and "the shipped grid's machine (2 cores, 2026-12-02)" in e.provenance()
