"""The character n-gram model: smoothing by hand, proper distributions, learning, sampling."""

import math

import pytest

from course_utils.ngram import END, UNK, NGramModel, perplexity_from_bits

TEXTS = ["the cat sat on the mat.", "the dog sat on the log.", "a cat and a dog."] * 5


def test_unigram_witten_bell_by_hand():
    m = NGramModel(1).fit(["ab"])
    assert set(m.vocab) == {"a", "b", END, UNK}
    # counts a, b, END once each: N = 3, T = 3, uniform 1/4 underneath
    assert math.isclose(m.prob("a", ""), (1 + 3 * 0.25) / 6)
    assert math.isclose(m.prob("z", ""), (0 + 3 * 0.25) / 6)  # unseen -> <unk>


@pytest.mark.parametrize("order", [1, 2, 4])
@pytest.mark.parametrize("history", ["", "the c", "zzz", "a dog"])
def test_distributions_sum_to_one(order, history):
    m = NGramModel(4).fit(TEXTS)
    assert math.isclose(sum(m.distribution(history, order).values()), 1.0, rel_tol=1e-9)


def test_more_context_fits_better_and_unseen_text_stays_finite():
    m = NGramModel(5).fit(TEXTS)
    bits = [m.bits_per_char(TEXTS, k) for k in range(1, 6)]
    assert all(a > b for a, b in zip(bits, bits[1:]))
    assert math.isfinite(m.bits_per_char(["Zebras éat?"]))


def test_text_bits_charge_the_end_of_the_text():
    m = NGramModel(3).fit(TEXTS)
    by_hand = -sum(math.log2(m.prob(c, "the"[:i])) for i, c in enumerate("the" + END))
    assert math.isclose(m.text_bits("the"), by_hand)


def test_greedy_sampling_recalls_training_text():
    m = NGramModel(6).fit(["hello world"] * 3)
    assert m.sample("hello", temperature=0) == " world"
    a, b = m.sample("", 30, seed=1), m.sample("", 30, seed=1)
    assert a == b and set(a) <= set(m.vocab)


def test_bad_order_and_perplexity():
    with pytest.raises(ValueError):
        NGramModel(0)
    assert perplexity_from_bits(3.0) == 8.0
