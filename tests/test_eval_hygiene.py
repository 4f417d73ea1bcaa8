"""Evaluation hygiene (lesson 10): intervals on known cases, significance, calibration, exact label scoring, the
replay of training windows."""

import math

import numpy as np
import pytest
import torch

from course_utils.corpus import HELPDESK, helpdesk_task, label_posterior
from course_utils.errors import BadInputError
from course_utils.eval_hygiene import (accuracy_interval, accuracy_over_sets, bayes_reliability,
                                       contamination_gap, correctness, difference_is_real, exposure_of,
                                       label_probabilities, paired_difference, plot_accuracy_over_sets,
                                       plot_reliability, reliability, reliability_from, reliability_from_probs,
                                       target_counts, training_exposure)
from course_utils.intervals import bootstrap_interval, wilson_interval

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_llama(tiny_llama_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval(), AutoTokenizer.from_pretrained(tiny_llama_dir)


# ----------------------------------------------------------------------------- intervals

def test_wilson_interval_on_known_cases():
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    lo, hi = wilson_interval(0, 10)  # a Wald interval would be [0, 0]: Wilson still allows up to ~28%
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    for k in (0, 3, 10):  # symmetric under right <-> wrong
        lo, hi = wilson_interval(k, 10)
        mirror = wilson_interval(10 - k, 10)
        assert 1 - hi == pytest.approx(mirror[0]) and 1 - lo == pytest.approx(mirror[1])
    wide, narrow = wilson_interval(35, 50), wilson_interval(700, 1000)  # same accuracy, 20x the items
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 3
    assert wilson_interval(5, 10, 0.99)[0] < wilson_interval(5, 10)[0]  # more confidence, a wider interval
    for k, n in ((1, 0), (-1, 5), (6, 5)):
        with pytest.raises(BadInputError, match="n >= 1"):
            wilson_interval(k, n)
    with pytest.raises(BadInputError, match="level"):
        wilson_interval(1, 2, level=95)


def test_bootstrap_interval_on_known_cases():
    assert bootstrap_interval([0.7] * 20) == (pytest.approx(0.7), pytest.approx(0.7))
    x = [1.0] * 300 + [0.0] * 700
    lo, hi = bootstrap_interval(x, n_boot=4000, seed=1)
    half = 1.96 * math.sqrt(0.3 * 0.7 / 1000)  # the normal approximation of a proportion's interval
    assert lo == pytest.approx(0.3 - half, abs=0.005) and hi == pytest.approx(0.3 + half, abs=0.005)
    assert bootstrap_interval(x, seed=2) == bootstrap_interval(x, seed=2)  # its own generator: reproducible
    with pytest.raises(BadInputError, match="no values"):
        bootstrap_interval([])
    with pytest.raises(BadInputError, match="n_boot"):
        bootstrap_interval([1.0], n_boot=0)


def test_accuracy_over_disjoint_sets():
    correct = [True, True, False] * 3 + [False]  # 10 answers
    sets = accuracy_over_sets(correct, 3)
    assert len(sets) == 3 and [s["set"] for s in sets] == [0, 1, 2]  # the tenth answer is left over
    assert all(s["accuracy"] == pytest.approx(2 / 3) and s["n"] == 3 for s in sets)
    assert (sets[0]["low"], sets[0]["high"]) == wilson_interval(2, 3)
    assert accuracy_interval(correct)["correct"] == 6
    with pytest.raises(BadInputError, match="cannot fill one set of 11"):
        accuracy_over_sets(correct, 11)
    with pytest.raises(BadInputError, match="at least one item"):
        accuracy_over_sets(correct, 0)
    with pytest.raises(BadInputError, match="no answers"):
        accuracy_interval([])


def test_difference_is_real_is_a_two_proportion_z_test():
    small = difference_is_real(0.6, 0.5, 100)
    z = 0.1 / math.sqrt(0.55 * 0.45 * 2 / 100)  # pooled standard error
    assert small.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-6)
    assert not small.real and small.low < 0 < small.high
    big = difference_is_real(0.6, 0.5, 1000)
    assert big.real and big.p_value < 1e-4 and 0 < big.low < 0.1 < big.high
    assert big.test == "two-proportion z-test" and "a real difference" in str(big)
    same = difference_is_real(0.7, 0.7, 50)
    assert same.p_value == pytest.approx(1.0) and not same.real
    assert difference_is_real(1.0, 1.0, 10).p_value == 1.0  # no variance at all: nothing to detect
    for args in ((1.2, 0.5, 10), (0.5, 0.5, 0), (0.5, -0.1, 10)):
        with pytest.raises(BadInputError):
            difference_is_real(*args)


def test_paired_difference_uses_the_pairing():
    a = [True] * 30 + [False] * 70
    assert paired_difference(a, a).diff == 0.0 and not paired_difference(a, a).real
    better = paired_difference([True] * 40, [False] * 40)
    assert better.diff == 1.0 and better.real and better.test == "paired bootstrap"
    # b is right on a's items and on 5 more: the pairing sees a consistent edge an unpaired test misses
    b = [True] * 35 + [False] * 65
    paired, unpaired = paired_difference(b, a, n_boot=4000), difference_is_real(0.35, 0.30, 100)
    assert paired.real and not unpaired.real
    with pytest.raises(BadInputError, match="same items"):
        paired_difference([True], [True, False])


# ----------------------------------------------------------------------------- calibration

def test_ece_of_hand_made_probabilities():
    calibrated = reliability_from([0.8] * 10 + [0.3] * 10, [True] * 8 + [False] * 2 + [True] * 3 + [False] * 7)
    assert calibrated.ece == pytest.approx(0.0, abs=1e-12)
    assert calibrated.accuracy == pytest.approx(0.55) and calibrated.n == 20
    filled = [b for b in calibrated.bins if b["n"]]
    assert [(b["lo"], b["n"]) for b in filled] == [(pytest.approx(0.3), 10), (pytest.approx(0.8), 10)]
    over = reliability_from([0.9] * 10, [True] * 5 + [False] * 5)
    assert over.ece == pytest.approx(0.4)  # says 90%, is right half the time
    mixed = reliability_from([0.9] * 10 + [0.55] * 10, [True] * 5 + [False] * 5 + [True] * 10)
    assert mixed.ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.45)
    edge = reliability_from([1.0, 0.0], [True, False], bins=2)  # 1.0 falls in the last bin
    assert [b["n"] for b in edge.bins] == [1, 1] and edge.ece == 0.0
    assert "confidence" in calibrated.text()


def test_calibration_bad_input():
    for bins in (1, 0, 2.5, True):
        with pytest.raises(BadInputError, match="at least 2 bins"):
            reliability_from([0.5], [True], bins=bins)
    with pytest.raises(BadInputError, match="one of each"):
        reliability_from([], [])
    with pytest.raises(BadInputError, match="one of each"):
        reliability_from([0.5, 0.5], [True])
    with pytest.raises(BadInputError, match="probabilities in"):
        reliability_from([1.5], [True])
    with pytest.raises(BadInputError, match="at least 2 bins"):
        reliability(None, None, [], bins=1)  # refused before any scoring
    with pytest.raises(BadInputError, match="no documents"):
        bayes_reliability([])


def test_the_bayes_posterior_is_calibrated():
    tickets = helpdesk_task({"test": 1500})["test"]
    bayes = bayes_reliability(tickets)
    assert bayes.ece < 0.04  # calibrated by construction: what is left is sampling noise
    # a posterior pushed towards certainty is not
    sharp = []
    for d in tickets:
        p = label_posterior(d)
        z = sum(v ** 4 for v in p.values())
        sharp.append({k: v ** 4 / z for k, v in p.items()})
    assert reliability_from_probs(sharp, tickets).ece > bayes.ece + 0.05
    ax = plot_reliability({"Bayes": bayes})
    assert ax.get_lines()[-1].get_linestyle() == "--"


def test_label_probabilities_match_full_sequence_scoring(tiny_llama):
    from course_utils.zoo.evaluate import label_scores

    model, tok = tiny_llama
    docs = helpdesk_task({"test": 7})["test"]  # different prompt lengths: left padding must not change anything
    probs = label_probabilities(model, tok, docs, batch_size=3)
    ref = label_scores(model, tok, docs)
    for p, r in zip(probs, ref):
        z = max(r.values())
        w = {k: math.exp(v - z) for k, v in r.items()}
        assert set(p) == set(HELPDESK.labels) and sum(p.values()) == pytest.approx(1.0)
        for k in p:
            assert p[k] == pytest.approx(w[k] / sum(w.values()), abs=1e-5)
    assert correctness(probs, docs) == [max(p, key=p.get) == d.label for p, d in zip(probs, docs)]
    rel = reliability(model, tok, docs, bins=5)
    assert rel.n == 7 and len(rel.bins) == 5
    with pytest.raises(BadInputError, match="no documents"):
        label_probabilities(model, tok, [])


# ----------------------------------------------------------------------------- contamination

def test_replayed_targets_are_the_windows_training_read():
    from course_utils.training import get_batch

    bos = 1
    lengths = torch.tensor([7, 12, 5, 30, 9, 16, 4, 11])
    stream = torch.cat([torch.cat([torch.tensor([bos]), 100 + torch.arange(n - 1)]) for n in lengths.tolist()])
    starts = torch.cumsum(lengths, 0) - lengths
    position = 1000 + torch.arange(len(stream))  # tag each non-<s> token with its position
    tagged = torch.where(stream == bos, stream, position)
    counts = np.zeros(len(stream), dtype=int)
    for step in range(6):  # the real batches, with their <s> handling
        g = torch.Generator().manual_seed(3 * 1_000_003 + step)
        _, y = get_batch(tagged, 4, 8, g, bos_id=bos, doc_starts=starts, doc_start_fraction=0.5)
        for t in y.flatten().tolist():
            if t != bos:
                counts[t - 1000] += 1
    replay = target_counts(lengths, steps=6, batch_size=4, context=8, seed=3, doc_start_fraction=0.5)
    not_bos = (stream != bos).numpy()
    assert np.array_equal(replay[not_bos], counts[not_bos])
    cov, times = exposure_of(replay, lengths.numpy())
    for j, (s, n) in enumerate(zip(starts.tolist(), lengths.tolist())):
        assert cov[j] == pytest.approx((counts[s + 1:s + n] > 0).mean())
        assert times[j] == counts[s + 1:s + n].max()


def test_exposure_and_contamination_bad_input(tiny_llama):
    with pytest.raises(BadInputError, match="course-small"):
        training_exposure("course-huge")
    model, tok = tiny_llama
    with pytest.raises(BadInputError, match="at least one"):
        contamination_gap(model, tok, n_docs=0)


def test_contamination_gap_compares_train_with_test(tiny_llama):
    model, tok = tiny_llama
    r = contamination_gap(model, tok, n_docs=4, n_tickets=4, n_boot=50)
    b, a = r["bits_per_char"], r["accuracy"]
    assert b["gap"] == pytest.approx(b["train"] - b["test"]) and b["n"] == 4
    assert b["gap_ci95"][0] <= b["gap_ci95"][1]
    assert a["n"] == 4 and a["gap"] == pytest.approx(a["train"] - a["test"])
    assert 0 < a["bayes_train"] <= 1 and 0 < a["bayes_test"] <= 1


def test_the_spread_plot_has_one_column_per_model_and_one_point_per_set():
    sets = {"a": accuracy_over_sets([True, False] * 10, 5), "b": accuracy_over_sets([True] * 15, 5)}
    ax = plot_accuracy_over_sets(sets)
    counts = [len(c.get_offsets()) for c in ax.collections]
    assert counts == [4, 3] and [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_title() == "The same model, 4 test sets of 5"
    assert list(ax.collections[1].get_offsets()[:, 1]) == [1.0, 1.0, 1.0]
    with pytest.raises(BadInputError, match="nothing to plot"):
        plot_accuracy_over_sets({})
