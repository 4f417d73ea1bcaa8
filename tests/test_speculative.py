"""Greedy speculative decoding: exactly the target's greedy output, fewer target passes, clear messages."""

import pytest
import torch

from course_utils import speculative as sp
from course_utils.corpus import generate
from course_utils.errors import BadInputError
from course_utils.loading import load_model


@pytest.fixture(scope="module")
def pair():
    torch.set_num_threads(1)
    return load_model("course-tiny"), load_model("course-slm")  # draft, target: one tokenizer


def _prompts(tok, n=6):
    return [tok(d.text[:70], return_tensors="pt")["input_ids"] for d in generate("mix", n, seed=5)]


@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_output_is_exactly_the_targets_greedy_output(pair, k):
    draft, target = pair
    for ids in _prompts(target.tokenizer):
        ref = sp.greedy_reference(target.model, ids, 30)
        out = sp.speculative_greedy(target.model, draft.model, ids, 30, k)
        assert out.tokens == ref
        assert 1 <= out.tokens_per_target_forward <= k + 1 and 0 <= out.acceptance_rate <= 1
        assert out.draft_forwards == k * out.target_forwards  # k guesses per verification


def test_transformers_assisted_generation_gives_the_same_text(pair):
    draft, target = pair
    for ids in _prompts(target.tokenizer, 3):
        assert sp.assisted_greedy(target.model, draft.model, ids, 30) == sp.greedy_reference(target.model, ids, 30)


def test_a_perfect_draft_is_always_accepted(pair):
    _, target = pair
    ids = _prompts(target.tokenizer, 1)[0]
    out = sp.speculative_greedy(target.model, target.model, ids, 24, 4)
    assert out.acceptance_rate == 1.0  # the target agrees with itself
    assert out.target_forwards == -(-len(out.tokens) // 5)  # k + 1 = 5 tokens per target pass


def test_a_one_token_prompt_works(pair):
    draft, target = pair
    ids = torch.tensor([[target.tokenizer.bos_token_id or 1]])
    assert sp.speculative_greedy(target.model, draft.model, ids, 10, 3).tokens == \
        sp.greedy_reference(target.model, ids, 10)


@pytest.mark.parametrize("kwargs, match", [({"k": 0}, "k ≥ 1"), ({"k": -2}, "k ≥ 1"), ({"k": 2.5}, "k ≥ 1"),
                                           ({"max_new_tokens": 0}, "at least 1"),
                                           ({"max_new_tokens": 100_000}, "exceed the context")])
def test_bad_settings_get_a_clear_message(pair, kwargs, match):
    draft, target = pair
    ids = _prompts(target.tokenizer, 1)[0]
    with pytest.raises(BadInputError, match=match):
        sp.speculative_greedy(target.model, draft.model, ids, **{"max_new_tokens": 10, "k": 3, **kwargs})
    with pytest.raises(BadInputError, match="one non-empty prompt"):
        sp.speculative_greedy(target.model, draft.model, torch.zeros((1, 0), dtype=torch.long), 5, 2)


def test_a_draft_with_another_tokenizer_is_refused(pair):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"[UNK]": 0, "the": 1, "printer": 2}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    other = PreTrainedTokenizerFast(tokenizer_object=words)
    _, target = pair
    sp.check_pair(target.tokenizer, target.tokenizer)  # the same vocabulary: fine
    with pytest.raises(BadInputError, match="different tokenizers"):
        sp.check_pair(target.tokenizer, other)


def test_sweep_reports_acceptance_and_speedup_per_k(pair):
    draft, target = pair
    rows = sp.speedup_sweep(target.model, draft.model, _prompts(target.tokenizer, 2), ks=(1, 3), max_new_tokens=16)
    assert [r["k"] for r in rows] == [1, 3]
    assert all(r["speedup"] > 0 and r["target alone (s)"] > 0 and 0 <= r["acceptance"] <= 1 for r in rows)
    assert all(r["tokens per target forward"] >= 1 for r in rows)
    with pytest.raises(BadInputError):
        sp.speedup_sweep(target.model, draft.model, [], ks=(1,))


def test_predicted_speedup_follows_the_pass_accounting():
    assert sp.predicted_speedup(5.0, 4, 0.0001) == pytest.approx(5.0, rel=1e-3)  # a free draft: tokens per pass
    assert sp.predicted_speedup(1.0, 4, 0.5) == pytest.approx(1 / 3)  # every guess rejected: a slowdown
    assert sp.predicted_speedup(3.62, 4, 0.1) == pytest.approx(3.62 / 1.4)
    for bad in ({"tokens_per_target_forward": 6.0}, {"k": 0}, {"cost_ratio": 0}):
        with pytest.raises(BadInputError):
            sp.predicted_speedup(**{"tokens_per_target_forward": 3.0, "k": 4, "cost_ratio": 0.2, **bad})


def test_show_steps_marks_the_targets_own_token_of_each_step(pair):
    draft, target = pair
    ids = _prompts(target.tokenizer, 1)[0]
    r = sp.speculative_greedy(target.model, draft.model, ids, 20, k=3)
    shown = sp.show_steps(r, target.tokenizer)
    ends = [sum(n + 1 for n in r.accepted[:i + 1]) for i in range(len(r.accepted))]
    # one target token per verification step, except where the last step ran past max_new_tokens
    assert shown.count("⟨") == sum(e <= len(r.tokens) for e in ends) >= len(r.accepted) - 1
    assert shown.replace("⟨", "").replace("⟩", "") == target.tokenizer.decode(r.tokens).replace("\n", "⏎")


def test_plot_sweep_draws_each_domain_against_k():
    rows = [{"k": 1, "acceptance": 0.8, "tokens per target forward": 1.8, "speedup": 1.2},
            {"k": 4, "acceptance": 0.6, "tokens per target forward": 3.4, "speedup": 1.4}]
    fig = sp.plot_sweep({"weather": rows, "story": rows})
    assert len(fig.axes) == 3 and all(len(ax.lines) >= 2 for ax in fig.axes)
    assert list(fig.axes[2].lines[0].get_ydata()) == [1.2, 1.4]


def test_assisted_generation_prints_no_deprecation_notice_of_its_own(pair, caplog):
    import logging

    draft, target = pair
    ids = _prompts(target.tokenizer, 1)[0]
    with caplog.at_level(logging.WARNING, logger="transformers"):
        sp.assisted_greedy(target.model, draft.model, ids, 8)
    assert not [r for r in caplog.records if "generation_config" in r.getMessage()]
    # the filter is gone afterwards: a learner's own mistake still shows
    assert not logging.getLogger("transformers.generation.utils").filters


def test_from_config_speeds_measures_each_model_and_releases_it():
    from course_utils import loading

    speeds = sp.from_config_speeds(("course-tiny",), torch.tensor([[1, 42, 382]]), n_new=4, repeats=1,
                                   dtype="float32")
    assert list(speeds) == ["course-tiny"] and speeds["course-tiny"] > 0
    assert not any(getattr(v.info, "random_weights", False) for v in loading._CACHE.values())
