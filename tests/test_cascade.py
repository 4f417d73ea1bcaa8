"""The cascade: accuracy and cost per threshold, the cheapest point at a target accuracy, clear messages."""

import pytest

from course_utils.cascade import CascadeData, at_threshold, cascade_curve, cheapest_matching
from course_utils.errors import BadInputError

# the small model is right when sure (0.9), wrong when unsure (0.3); the large one is right on all but one
DATA = CascadeData([0.9, 0.9, 0.3, 0.3, 0.95], [True, True, False, False, True], [True, True, True, True, False])


def test_threshold_zero_is_the_small_model_and_above_every_confidence_is_the_large_one():
    lo = at_threshold(DATA, 0.0, 1.0, 10.0)
    assert lo.deferred == 0 and lo.accuracy == DATA.small_accuracy == 0.6 and lo.cost == 1.0
    hi = at_threshold(DATA, 1.0, 1.0, 10.0)
    assert hi.deferred == 1 and hi.accuracy == DATA.large_accuracy == 0.8 and hi.cost == 11.0  # both ran


def test_the_cheapest_point_at_the_large_models_accuracy_defers_only_the_unsure():
    curve = cascade_curve(DATA, 1.0, 10.0)
    pick = cheapest_matching(curve, DATA.large_accuracy)
    assert pick.threshold == pytest.approx(0.9) and pick.deferred == pytest.approx(0.4)
    assert pick.accuracy == 1.0 > DATA.large_accuracy  # each model covers the other's mistakes
    assert pick.cost == pytest.approx(5.0)  # the small model on all five, the large on two: half its cost alone
    assert [p.label for p in curve[-2:]] == ["small alone", "large alone"]
    assert cheapest_matching(curve, 1.01) is None


@pytest.mark.parametrize("t", [-0.1, 1.5, float("nan"), "high", True])
def test_a_threshold_outside_0_1_is_refused(t):
    with pytest.raises(BadInputError, match=r"\[0, 1\]"):
        at_threshold(DATA, t, 1.0, 2.0)


def test_bad_data_and_costs_are_refused():
    with pytest.raises(BadInputError, match="at least one"):
        CascadeData([], [], [])
    with pytest.raises(BadInputError, match="per example"):
        CascadeData([0.5], [True, False], [True])
    with pytest.raises(BadInputError, match="probability"):
        CascadeData([1.5], [True], [True])
    with pytest.raises(BadInputError, match="large_cost"):
        cascade_curve(DATA, 1.0, 0)


def test_scored_models_make_cascade_data_on_the_same_tickets():
    from course_utils.cascade import pair_data, score_labels
    from course_utils.corpus import helpdesk_task
    from course_utils.loading import load_model

    docs = helpdesk_task({"test": 12})["test"]
    tiny, small = (score_labels(load_model(n), docs) for n in ("course-tiny", "course-slm"))
    assert len(tiny.confidence) == 12 and all(0 < c <= 1 for c in tiny.confidence)
    assert tiny.seconds_per_example > 0
    data = pair_data(tiny, small)
    assert data.small_correct == tiny.correct and data.large_correct == small.correct
    with pytest.raises(BadInputError, match="different examples"):
        pair_data(tiny, score_labels(load_model("course-slm"), docs[:5]))


def test_tune_then_test_picks_on_validation_and_reports_the_test():
    from course_utils.cascade import tune_then_test

    test = CascadeData([0.95, 0.3, 0.92], [False, False, True], [True, True, True])
    r = tune_then_test(DATA, test, 1.0, 10.0)
    assert r.pick.threshold == pytest.approx(0.9)  # chosen on DATA, as in the test above
    assert r.on_test == at_threshold(test, 0.9, 1.0, 10.0)  # then only measured on the test data
    assert r.cost_ratio() == pytest.approx(r.on_test.cost / 10.0)
    sure_and_wrong = CascadeData([1.0, 1.0], [False, False], [True, True])
    with pytest.raises(BadInputError, match="no threshold"):
        tune_then_test(sure_and_wrong, sure_and_wrong, 1.0, 10.0)


def test_tune_then_test_scores_costs_each_model_its_validation_seconds():
    from course_utils.cascade import Scored, tune_then_test, tune_then_test_scores

    def scored(data_conf, correct, seconds):
        return Scored(tuple(data_conf), tuple(correct), seconds)

    scores = {"val": {"s": scored(DATA.small_confidence, DATA.small_correct, 1.0),
                      "l": scored(DATA.small_confidence, DATA.large_correct, 10.0)},
              "test": {"s": scored(DATA.small_confidence, DATA.small_correct, 9.0),  # test timings are not used
                       "l": scored(DATA.small_confidence, DATA.large_correct, 99.0)}}
    assert tune_then_test_scores(scores, "s", "l") == tune_then_test(DATA, DATA, 1.0, 10.0)
