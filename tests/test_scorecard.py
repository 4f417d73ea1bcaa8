"""The scorecard's rules, case by case: each verdict follows its numbers and flips when they cross a threshold."""

import pytest

from course_utils import scorecard
from course_utils.errors import BadInputError
from course_utils.scorecard import CONDITIONAL, FAILS, HOLDS, UNMEASURED, Evidence, Thresholds, judge
from evidence_samples import L, S, write_sample


def _ev(tmp_path, changes=None, lessons=None):
    write_sample(tmp_path / "own", changes, lessons)
    return Evidence(folder=tmp_path / "own", reference=tmp_path / "no-reference")


def test_every_claim_has_a_rule_and_the_sample_gives_a_verdict_for_each(tmp_path):
    rows = scorecard.scorecard(_ev(tmp_path))
    assert [r.claim.id for r in rows] == list(scorecard.CLAIM_IDS) == list(scorecard.JUDGES)
    assert len([c for c in scorecard.CLAIMS if not c.qualifies]) == 8
    assert all(r.verdict in (HOLDS, CONDITIONAL, FAILS) for r in rows)
    assert all(r.numbers and r.sources == "yours" for r in rows)
    assert all(r.condition for r in rows if r.verdict == CONDITIONAL)


@pytest.mark.parametrize("claim, changes, verdict", [
    ("size", {}, CONDITIONAL),
    ("size", {(8, "best_finetuned_accuracy"): {S: 0.25, L: 0.6}}, FAILS),  # within the margin of the untrained 0.24
    ("size", {(7, "facts"): {"n": 40, S: 30, L: 30}}, HOLDS),  # as good as shipped
    ("finetune", {}, HOLDS),
    ("finetune", {(8, "large_vs_small_finetune"): {"params": 7, "time": 6.0, "flops": 7, "memory": 1.2}}, CONDITIONAL),
    ("finetune", {(8, "large_vs_small_finetune"): {"params": 7, "time": 1.2, "flops": 7, "memory": 1.2}}, FAILS),
    ("bias", {}, CONDITIONAL),
    ("bias", {(10, "general_abs_gap"): {S: 0.2, L: 0.185}}, HOLDS),  # more skewed and not more faithful
    ("bias", {(10, "general_skew"): {S: 0.6, L: 0.62}}, FAILS),
    ("hardware", {}, CONDITIONAL),
    ("hardware", {(9, "decode_tokens_per_s"): {S: 400.0, L: 3.0}}, FAILS),
    ("hardware", {(9, "bandwidth_bytes_per_s"): 1e12}, FAILS),  # a machine where even 7B is fast is not modest
    ("cost", {}, CONDITIONAL),  # batched large (2,500) out-runs the lone small (400)
    ("cost", {(9, "batch_tokens_per_s"): {S: {"1": 400.0, "32": 4000.0}, L: {"1": 150.0, "32": 300.0}}}, HOLDS),
    ("cost", {(9, "batch_tokens_per_s"): {S: {"1": 160.0, "32": 4000.0}, L: {"1": 150.0, "32": 300.0}}}, FAILS),
    ("domain", {}, CONDITIONAL),
    ("domain", {(8, "best_finetuned_accuracy"): {S: 0.62, L: 0.62},
                (10, "helpdesk_accuracy"): {S: 0.68, L: 0.68}}, HOLDS),
    ("domain", {(8, "best_finetuned_accuracy"): {S: 0.2, L: 0.62}}, FAILS),
    ("customise", {}, CONDITIONAL),  # cheaper per run but needs more documents (250 vs 100)
    ("customise", {(8, "docs_to_beat_untrained"): {S: 100, L: 250}}, HOLDS),
    ("customise", {(8, "docs_to_beat_untrained"): {S: 100, L: None}}, HOLDS),  # large never got there
    ("privacy", {}, CONDITIONAL),
    ("privacy", {(11, "grid_exposure_16"): {f"{S}, as is": 2.0, f"{L}, as is": 12.0}}, HOLDS),
    ("bigger_better", {}, CONDITIONAL),
    ("bigger_better", {(5, "val_bpc"): {"course-tiny": 0.30, S: 0.22, "course-medium": 0.25, L: 0.17}}, FAILS),
    ("lora", {}, CONDITIONAL),
    ("lora", {(8, "live_lora_vs_full"): {"time": 0.5, "memory": 0.4, "accuracy": {}}}, HOLDS),
    ("quantization", {}, CONDITIONAL),
    ("quantization", {(9, "quantized_bpc_change"): {S: {"8": 0.05}, L: {"8": 0.001}}}, FAILS),
    ("quantization", {(9, "quantized_bpc_change"): {S: {"8": 0.001, "4": 0.01}, L: {"8": 0.0, "4": 0.0}}}, HOLDS),
    ("local_private", {}, CONDITIONAL),
    ("local_private", {(11, "local_connections"): 2}, FAILS),
])
def test_each_rule_follows_its_numbers(tmp_path, claim, changes, verdict):
    v = judge(claim, _ev(tmp_path, changes))
    assert v.verdict == verdict, v.reasoning


def test_reasoning_quotes_the_measured_numbers(tmp_path):
    v = judge("quantization", _ev(tmp_path))
    assert "Down to 6 bits" in v.reasoning and "+90% at 2 bits" in v.reasoning
    v = judge("bias", _ev(tmp_path))
    assert "0.665" in v.reasoning and "0.510" in v.reasoning
    v = judge("size", _ev(tmp_path, {(7, "facts_by_kind"): [{"kind": "weather", "n": 20, S: 4, L: 3}]}))
    assert "wins only on weather, 4 vs 3 of 20" in v.reasoning


def test_a_threshold_change_flips_verdicts_and_flips_names_them(tmp_path):
    ev = _ev(tmp_path)
    before = scorecard.scorecard(ev)
    after = scorecard.scorecard(ev, Thresholds(quality_tolerance=0.001, clear_ratio=7.0))
    changed = dict((c, (a, b)) for c, a, b in scorecard.flips(before, after))
    assert changed["quantization"] == (CONDITIONAL, FAILS)  # 8 bits already costs more than 0.1 %
    assert changed["finetune"] == (HOLDS, FAILS)  # 6.0× time is no longer a clear difference
    assert "bias" not in changed


@pytest.mark.parametrize("bad", [{"clear_ratio": 1.0}, {"leak_bits": 0}, {"skew_margin": -0.1},
                                 {"usable_tokens_per_s": "fast"}, {"accuracy_margin": True}])
def test_absurd_thresholds_are_refused_with_a_message(bad):
    with pytest.raises(BadInputError, match="Thresholds"):
        Thresholds(**bad)


def test_missing_evidence_says_which_lesson_to_run(tmp_path):
    ev = _ev(tmp_path, lessons=(5, 7, 8))
    v = judge("bias", ev)
    assert v.verdict == UNMEASURED and "run notebook 10" in v.reasoning
    assert judge("size", ev).verdict == CONDITIONAL
    with pytest.raises(BadInputError, match="unknown claim"):
        judge("speed", ev)


def test_own_evidence_wins_over_the_reference_and_the_verdict_says_whose(tmp_path):
    write_sample(tmp_path / "ref")
    write_sample(tmp_path / "own", {(8, "best_finetuned_accuracy"): {S: 0.2, L: 0.62}}, lessons=(8,))
    ev = Evidence(folder=tmp_path / "own", reference=tmp_path / "ref")
    size = judge("size", ev)
    assert size.verdict == FAILS  # the learner's own lesson 08 decides
    assert size.sources == "yours and reference"  # lessons 05 and 07 come from the reference
    assert ev.sources()[8] == "yours" and ev.sources()[5] == "reference"
    assert judge("bias", ev).sources == "reference"
    assert Evidence(folder=tmp_path / "own", reference=tmp_path / "ref", own_only=True).sources()[5] == "none"


def test_the_table_prints_every_claim_with_its_verdict(tmp_path):
    text = scorecard.scorecard_table(scorecard.scorecard(_ev(tmp_path)))
    for c in scorecard.CLAIMS:
        assert c.text[:40] in text
    assert "HOLDS UNDER CONDITIONS" in text and "[evidence: yours]" in text


def test_the_shipped_reference_gives_every_claim_a_verdict():
    rows = scorecard.scorecard(Evidence(folder="/nonexistent-evidence"))
    assert all(r.verdict != UNMEASURED for r in rows), [r.reasoning for r in rows if r.verdict == UNMEASURED]
    assert {r.sources for r in rows} == {"reference"}


def test_a_corrupt_own_file_falls_back_to_the_reference_with_one_line(tmp_path, capsys):
    write_sample(tmp_path / "ref")
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "lesson10.json").write_text('{"format": 1, "entries": {"general_skew": ')  # cut short
    v = judge("bias", Evidence(folder=tmp_path / "own", reference=tmp_path / "ref"))
    assert v.verdict == CONDITIONAL and v.sources == "reference"
    out = capsys.readouterr().out
    assert "cannot be read" in out and "Traceback" not in out
