"""The decision guide's rules, case by case, with made-up evidence; contradictory needs are named, not hidden."""

import pytest

from course_utils import decision_guide as guide
from course_utils.decision_guide import Needs, recommend
from course_utils.errors import BadInputError
from course_utils.scorecard import CLAIM_IDS, Evidence
from evidence_samples import write_sample


@pytest.fixture
def ev(tmp_path):
    write_sample(tmp_path / "own")
    return Evidence(folder=tmp_path / "own", reference=tmp_path / "none")


def _rec(ev, **needs):
    return recommend(Needs(**needs), ev)


def test_narrow_task_with_enough_data_gets_a_fine_tuned_small_model(ev):
    rec = _rec(ev, breadth="one narrow task", domain_examples=2000, hardware="laptop (16 GB RAM)")
    assert rec.size_class == "small" and not rec.conflicts
    assert rec.models and all(guide._size_class(s) == "small" for s in rec.candidates)
    assert any("Fine-tune the small model" in f.text for f in rec.of("try"))
    assert any("250" in f.text for f in rec.of("size"))  # lesson 08's documents-to-beat figure, quoted


def test_too_little_data_means_prompting_first(ev):
    rec = _rec(ev, breadth="a few related tasks", domain_examples=30)
    assert rec.size_class == "medium"
    assert any("prompting" in f.text for f in rec.of("try"))
    assert not any("Fine-tune" in f.text for f in rec.of("try"))


def test_open_ended_on_a_gpu_gets_a_large_model_that_fits(ev):
    rec = _rec(ev, breadth="open-ended", hardware="H100 (80 GB GPU)", data_may_leave=False)
    assert rec.size_class == "large" and rec.deployment == "local" and not rec.conflicts
    assert rec.models[0] == "Qwen2.5-7B" or rec.models[0].startswith("Qwen2.5-7B")


def test_open_ended_private_and_binder_is_a_named_conflict(ev):
    rec = _rec(ev, breadth="open-ended", hardware="Binder (2 GB RAM)", data_may_leave=False)
    assert rec.conflicts, rec.text()
    text = rec.conflicts[0].text
    assert "must stay" in text and "Binder" in text and "narrower task" in text
    assert set(rec.conflicts[0].cites) <= set(CLAIM_IDS)


def test_the_same_but_data_may_leave_goes_to_an_endpoint_instead(ev):
    rec = _rec(ev, breadth="open-ended", hardware="Binder (2 GB RAM)", data_may_leave=True)
    assert not rec.conflicts and rec.deployment == "endpoint"
    assert rec.monthly_usd["endpoint"] > 0


def test_a_speed_the_hardware_cannot_give_is_quantized_or_named(ev):
    # laptop bandwidth 10 GB/s × share 0.4: SmolLM2-1.7B in bf16 (3.4 GB) ≈ 1.2 tokens/s, at 4 bits ≈ 4.7
    slow = _rec(ev, breadth="a few related tasks", min_tokens_per_s=60, data_may_leave=False)
    assert any("bandwidth" in f.text for f in slow.conflicts), slow.text()
    ok = _rec(ev, breadth="a few related tasks", min_tokens_per_s=5, data_may_leave=False)
    assert not ok.conflicts
    assert all(ok.tokens_per_s[n] >= 5 for n in ok.models)


def test_speed_estimates_follow_the_measured_bandwidth(tmp_path):
    write_sample(tmp_path / "a")
    write_sample(tmp_path / "b", {(9, "bandwidth_bytes_per_s"): 20e9})
    spec = guide._hub_models()[0]
    a = guide.estimated_tokens_per_s(spec, "laptop (16 GB RAM)", Evidence(folder=tmp_path / "a", reference=tmp_path))
    b = guide.estimated_tokens_per_s(spec, "laptop (16 GB RAM)", Evidence(folder=tmp_path / "b", reference=tmp_path))
    assert b == pytest.approx(2 * a)
    t4 = guide.estimated_tokens_per_s(spec, "Colab T4 (16 GB GPU)", Evidence(folder=tmp_path / "a", reference=tmp_path))
    assert t4 > a  # 320 GB/s published, against 10 GB/s measured


def test_volume_beyond_one_machine_is_named(ev):
    rec = _rec(ev, breadth="one narrow task", domain_examples=2000, tokens_per_month=1e11, data_may_leave=False)
    assert any("needs" in f.text and "of them" in f.text for f in rec.conflicts), rec.text()
    assert rec.monthly_usd["local"] > 0 and rec.monthly_usd["endpoint"] > 0


def test_low_volume_with_data_allowed_out_picks_the_cheaper_side(ev):
    rec = _rec(ev, breadth="one narrow task", domain_examples=2000, tokens_per_month=1e5, data_may_leave=True)
    cheaper = min(rec.monthly_usd, key=rec.monthly_usd.get)
    assert rec.deployment == cheaper


def test_private_fine_tuning_asks_for_an_exposure_check(ev):
    rec = _rec(ev, domain_examples=2000, data_may_leave=False)
    assert any("exposure" in f.text and "local_private" in f.cites for f in rec.of("measure"))


def test_without_lesson_evidence_the_guide_says_what_is_missing(tmp_path):
    rec = recommend(Needs(domain_examples=2000), Evidence(folder=tmp_path / "x", reference=tmp_path / "y"))
    notes = " ".join(f.text for f in rec.of("note"))
    assert "run lesson 08" in notes and "run lesson 09" in notes


def test_every_reason_cites_real_scorecard_rows(ev):
    for breadth in guide.BREADTHS:
        for hw in guide.HARDWARE:
            rec = _rec(ev, breadth=breadth, hardware=hw, domain_examples=300, data_may_leave=False)
            assert all(set(f.cites) <= set(CLAIM_IDS) for f in rec.findings)
            assert rec.text()


def test_a_learner_rule_can_be_added(ev):
    def rule_no_gpu_no_large(need, rec, ev):
        if rec.size_class == "large" and not guide.HARDWARE[need.hardware][1]:
            rec.add("mine", "conflict", "large models on a CPU: not for me", "hardware")

    rec = recommend(Needs(breadth="open-ended", hardware="laptop (16 GB RAM)"), ev,
                    rules=guide.RULES + [rule_no_gpu_no_large])
    assert any(f.rule == "mine" for f in rec.conflicts)


@pytest.mark.parametrize("bad, match", [({"breadth": "everything"}, "breadth"), ({"hardware": "a toaster"}, "hardware"),
                                        ({"domain_examples": -5}, "domain_examples"),
                                        ({"tokens_per_month": float("nan")}, "tokens_per_month"),
                                        ({"min_tokens_per_s": "fast"}, "min_tokens_per_s")])
def test_bad_needs_get_a_clear_message(bad, match):
    with pytest.raises(BadInputError, match=match):
        Needs(**bad)


# ----------------------------------------------------------------------------- the widget

def test_widget_recommends_again_after_each_change(ev):
    from course_utils.widgets.decision_guide import DecisionGuide

    g = DecisionGuide(ev)
    assert g.recommendation.size_class == "small" and not g.recommendation.conflicts
    g.breadth.value = "open-ended"
    g.hardware.value = "Binder (2 GB RAM)"
    g.privacy.value = "must stay on the machine"
    assert g.recommendation.size_class == "large" and g.recommendation.conflicts
    assert "color:#b00" in g.answer.value and "Conflicts" in g.answer.value
    g.privacy.value = "may leave the machine"
    assert not g.recommendation.conflicts and g.recommendation.deployment == "endpoint"
    g.breadth.value = "one narrow task"
    g.data.value = "thousands (2,000)"
    assert g.needs().domain_examples == 2000 and "Fine-tune" in g.answer.value
    assert "Retrieval" not in g.answer.value
    g.documents.value = True  # the answers are in documents: the guide adds retrieval, quoting lesson 13
    assert g.needs().answers_in_documents and "Use both" in g.answer.value and "Retrieval" in g.answer.value


def test_widget_starts_from_given_needs_and_escapes_its_text(ev):
    from course_utils.widgets.decision_guide import DecisionGuide, recommendation_html

    g = DecisionGuide(ev, needs=Needs(breadth="a few related tasks", hardware="H100 (80 GB GPU)", min_tokens_per_s=20,
                                      data_may_leave=False))
    assert g.breadth.value == "a few related tasks" and g.speed.value.startswith("fast chat")
    rec = g.recommendation
    rec.add("test", "note", "<script>alert(1)</script>")
    assert "<script>" not in recommendation_html(rec)


def test_a_fine_tune_that_does_not_fit_turns_to_lora_or_elsewhere(ev):
    small_box = _rec(ev, breadth="one narrow task", domain_examples=2000, hardware="Binder (2 GB RAM)",
                     data_may_leave=False)
    advice = [f for f in small_box.findings if f.rule == "fine-tune memory"]
    assert len(advice) == 1 and "lora" in advice[0].cites, small_box.text()
    assert "LoRA" in advice[0].text or "rented hardware" in advice[0].text
    big_box = _rec(ev, breadth="one narrow task", domain_examples=2000, hardware="H100 (80 GB GPU)",
                   data_may_leave=False)
    assert not [f for f in big_box.findings if f.rule == "fine-tune memory"]  # all weights fit: nothing to add


def test_use_both_quotes_lesson_13_where_it_applies(ev):
    chat = _rec(ev, breadth="a few related tasks", min_tokens_per_s=5, hardware="H100 (80 GB GPU)", data_may_leave=False)
    both = [f.text for f in chat.of("both")]
    assert any("Speculative decoding" in t and "1.50×" in t and "3.6 tokens" in t for t in both), chat.text()
    # the bandwidth-bound draft (c = 0.08) at the best row's 3.6 tokens per pass, k = 4: 3.6 / (4 · 0.08 + 1)
    assert any(f"{3.6 / (4 * 0.08 + 1):.1f}×" in t for t in both)
    assert "Use both" in chat.text()

    batch = _rec(ev, breadth="one narrow task", domain_examples=2000, min_tokens_per_s=0, tokens_per_month=5e8)
    texts = [f.text for f in batch.of("both")]
    assert any("cascade" in t and "0.83×" in t and "course-medium" in t for t in texts), batch.text()
    assert not any("Speculative" in t for t in texts)  # no one waits: nothing to speed up

    docs = _rec(ev, breadth="one narrow task", domain_examples=30, answers_in_documents=True)
    texts = [f.text for f in docs.of("both")]
    assert any("Retrieval" in t and "92%" in t and "copies" in t for t in texts), docs.text()
    assert any("Distillation" in t and "13%" in t and "beat the data alone" in t and "0.2723" in t for t in texts)
    assert all(set(f.cites) <= set(CLAIM_IDS) for f in docs.of("both"))

    plain = _rec(ev, breadth="one narrow task", domain_examples=2000)
    assert not plain.of("both")  # small, fine-tuned, at low volume: nothing to combine


def test_use_both_without_lesson_13_says_to_run_it(tmp_path):
    write_sample(tmp_path / "own", lessons=range(5, 12))
    ev = Evidence(folder=tmp_path / "own", reference=tmp_path / "none")
    rec = recommend(Needs(breadth="one narrow task", domain_examples=30, answers_in_documents=True,
                          tokens_per_month=5e8), ev)
    texts = [f.text for f in rec.of("both")]
    assert texts and all("run lesson 13" in t.lower() for t in texts), rec.text()
