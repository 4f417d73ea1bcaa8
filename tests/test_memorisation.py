"""Canary exposure (lesson 11): exact scoring of the whole space, the exposure arithmetic, a tiny fine-tune."""

import json
import math

import pytest
import torch

from course_utils.corpus import CANARY_PREFIX, canary_space, insert_canaries, make_splits
from course_utils.errors import BadInputError
from course_utils.memorisation import (MAX_DIGITS, MemorisationConfig, canary_log_perplexities, deduplicate,
                                       digit_token_ids, expected_random_exposure, exposure, exposure_table,
                                       extraction, greedy_completion, load_results, log_perplexities_of, main,
                                       max_exposure, mitigated, plot_exposure, rank_of, results_markdown,
                                       run_memorisation, training_set)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    from course_utils.loading import load_model

    return load_model("course-tiny")


# ----------------------------------------------------------------------------- scoring the space

def test_trie_scoring_is_exact_against_scoring_each_candidate(tiny):
    space = list(canary_space(3))
    picks = ["000", "009", "090", "123", "500", "987", "999"]
    brute = log_perplexities_of(tiny.model, tiny.tokenizer, picks)
    for kv_cache in (True, False):  # one token per trie node with the KV cache, one sequence per path without
        lp = canary_log_perplexities(tiny.model, tiny.tokenizer, 3, kv_cache=kv_cache, batch_size=40)
        assert lp.shape == (1000,) and lp.dtype == torch.float64
        torch.testing.assert_close(lp[[space.index(s) for s in picks]], brute, atol=1e-4, rtol=0)
    # probabilities of disjoint events: the space's total is P(three digits follow), at most 1
    assert 0 < float((2.0 ** -lp).sum()) <= 1 + 1e-6
    # a different prefix changes the scores: the prefix is really the context
    other = canary_log_perplexities(tiny.model, tiny.tokenizer, 3, prefix="Recipe: mix ")
    assert not torch.allclose(other, lp)
    one = [canary_log_perplexities(tiny.model, tiny.tokenizer, 1, kv_cache=c) for c in (True, False)]
    torch.testing.assert_close(one[0], one[1], atol=1e-4, rtol=0)
    torch.testing.assert_close(one[0], log_perplexities_of(tiny.model, tiny.tokenizer, list("0123456789")),
                               atol=1e-4, rtol=0)


def test_scores_sum_over_the_last_digit_to_the_shorter_space(tiny):
    two = canary_log_perplexities(tiny.model, tiny.tokenizer, 2)
    three = canary_log_perplexities(tiny.model, tiny.tokenizer, 3)
    # P(d1 d2) >= sum over d3 of P(d1 d2 d3): the rest of the mass goes to non-digit tokens
    assert torch.all(2.0 ** -three.view(100, 10) <= (2.0 ** -two)[:, None] + 1e-9)
    ratio = (2.0 ** -three.view(100, 10)).sum(1) / 2.0 ** -two  # P(a third digit | d1 d2): in (0, 1]
    assert torch.all((ratio > 0) & (ratio <= 1 + 1e-6))


def test_bad_inputs_are_refused_with_a_reason(tiny):
    for n in (0, MAX_DIGITS + 1, "4", True):
        with pytest.raises(BadInputError, match=f"1 to {MAX_DIGITS} digits"):
            canary_log_perplexities(tiny.model, tiny.tokenizer, n)
    lp = torch.arange(100, dtype=torch.float64)
    for secret in ("123", "1", "1a", 12):
        with pytest.raises(BadInputError, match="is not a string of 2 digits"):
            exposure(lp, secret)
    with pytest.raises(BadInputError, match="whole canary space"):
        rank_of(torch.zeros(99), "12")
    with pytest.raises(BadInputError, match="is not a string of 3 digits"):
        log_perplexities_of(tiny.model, tiny.tokenizer, ["123", "45"])
    with pytest.raises(BadInputError, match="is not a string"):
        extraction(tiny.model, tiny.tokenizer, "12x")
    with pytest.raises(BadInputError, match="repetitions"):
        MemorisationConfig(repetitions=(1, 0))
    with pytest.raises(BadInputError, match="do not fit in the space"):
        MemorisationConfig(n_digits=1, n_canaries=4, repetitions=(1, 4, 16))
    with pytest.raises(BadInputError, match="Unknown mitigation"):
        mitigated(MemorisationConfig(), "differential privacy")


def test_a_tokenizer_that_merges_digits_is_refused(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator([CANARY_PREFIX + "4821 4821 4821 1234 1234 9876."] * 50,
                            trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe)
    with pytest.raises(BadInputError, match="one token per digit"):
        digit_token_ids(tok)


def test_the_course_tokenizer_splits_digits(tiny):
    ids = digit_token_ids(tiny.tokenizer)
    assert len(set(ids)) == 10
    assert tiny.tokenizer.decode(ids) == "0123456789"


# ----------------------------------------------------------------------------- exposure arithmetic

def test_exposure_ranks_count_ties_as_in_the_paper():
    lp = torch.arange(100, dtype=torch.float64)  # "00" most likely ... "99" least
    assert rank_of(lp, "00") == 1 and exposure(lp, "00") == pytest.approx(math.log2(100)) == max_exposure(2)
    assert rank_of(lp, "99") == 100 and exposure(lp, "99") == pytest.approx(0.0)
    assert exposure(lp, "07") == pytest.approx(math.log2(100) - math.log2(8))
    lp[:3] = 0.5  # three candidates tie at the top: each has rank 3, none is "first"
    assert [rank_of(lp, s) for s in ("00", "01", "02", "03")] == [3, 3, 3, 4]
    assert exposure(lp, "01") == pytest.approx(math.log2(100 / 3))
    assert exposure(torch.zeros(10), "4") == pytest.approx(0.0)  # a model that cannot tell them apart


def test_expected_exposure_of_a_never_seen_secret():
    for n in (1, 10, 100, 1000):
        mean = sum(math.log2(n) - math.log2(r) for r in range(1, n + 1)) / n  # every rank equally likely
        assert expected_random_exposure(n) == pytest.approx(mean)
    assert expected_random_exposure(10 ** 6) == pytest.approx(1 / math.log(2), abs=1e-4)


# ----------------------------------------------------------------------------- the experiment

def test_groups_get_different_secrets_and_deduplication_keeps_one_copy():
    general = make_splits({"train": 30})["train"]
    cfg = MemorisationConfig(n_docs=30, repetitions=(1, 4, 16), n_canaries=3, n_controls=5, n_digits=2)
    docs, groups, controls = training_set(cfg, general)
    secrets = [c.secret for g in groups.values() for c in g]
    assert len(set(secrets)) == 9 and not set(controls) & set(secrets) and len(set(controls)) == 5
    count = {s: sum(d.meta.get("secret") == s for d in docs) for s in secrets}
    assert [count[c.secret] for r in (1, 4, 16) for c in groups[r]] == [1] * 3 + [4] * 3 + [16] * 3
    deduped, _, _ = training_set(replace_cfg(cfg, dedup=True), general)
    assert sorted(d.meta["secret"] for d in deduped if d.domain == "canary") == sorted(secrets)
    assert deduplicate(docs + docs) == deduplicate(docs)
    out, canaries = insert_canaries(general, 2, 1, n_digits=1, exclude=set("01234567"))
    assert {c.secret for c in canaries} == {"8", "9"}
    with pytest.raises(BadInputError, match="only 2 of"):
        insert_canaries(general, 3, 1, n_digits=1, exclude=set("01234567"))


def replace_cfg(cfg, **kw):
    from dataclasses import replace

    return replace(cfg, **kw)


@pytest.fixture(scope="module")
def tiny_run():
    cfg = MemorisationConfig(model="course-tiny", repetitions=(1, 16), n_canaries=2, n_controls=12, n_digits=3,
                             n_docs=20, epochs=12, lr=3e-3, batch_size=8, block_size=64, n_eval_docs=10, threads=1)
    return run_memorisation(cfg, progress=False)


def test_a_canary_seen_16_times_is_exposed_far_more_than_never_seen_secrets(tiny_run):
    r = tiny_run
    by = {g["repetitions"]: g for g in r["groups"]}
    assert [c["copies_trained"] for c in r["canaries"]] == [1, 1, 16, 16]
    assert by[16]["mean_exposure"] > r["control_mean_exposure"] + 3  # bits; a never-seen secret averages ~1.4
    assert by[16]["mean_exposure"] > by[1]["mean_exposure"]
    assert r["max_exposure"] == pytest.approx(3 * math.log2(10))
    for row in r["canaries"] + r["controls"]:  # greedy decoding writes one string: only that secret is extracted
        assert row["extracted"] == (row["secret"] == r["greedy_completion"])
        assert 1 <= row["rank"] <= 1000
    assert r["train"]["precision"] == "float32" and r["wall_s"]["total"] > 0


def test_extraction_is_greedy_decoding_of_the_digits(tiny):
    completion = tiny.tokenizer.decode(greedy_completion(tiny.model, tiny.tokenizer, 3))
    for s in ("000", "123", "999"):
        assert extraction(tiny.model, tiny.tokenizer, s) == (s == completion)
    if completion.isdigit() and len(completion) == 3:
        assert extraction(tiny.model, tiny.tokenizer, completion)


# ----------------------------------------------------------------------------- results file and plots

def test_the_command_writes_results_that_load_back(tmp_path, capsys):
    assert main(["--models", "course-tiny", "--mitigations", "as is", "deduplicated", "--digits", "2", "--docs", "20",
                 "--epochs", "1", "--threads", "1", "--out", str(tmp_path)]) == 0
    results = load_results(tmp_path / "results.json")
    assert results["command"] == "python -m course_utils memorisation" and results["machine"]["torch"]
    assert [r["mitigation"] for r in results["runs"]] == ["as is", "deduplicated"]
    assert {c["copies_trained"] for c in results["runs"][1]["canaries"]} == {1}
    assert len(exposure_table(results)) == 6
    assert "course-tiny | deduplicated" in results_markdown(results)


def test_load_results_explains_a_missing_corrupt_or_foreign_file(tmp_path, capsys):
    assert load_results(tmp_path / "nope.json") is None
    assert "python -m course_utils memorisation" in capsys.readouterr().out
    bad = tmp_path / "results.json"
    bad.write_text('{"format": 1, "runs": [')
    assert load_results(bad) is None
    assert "corrupt" in capsys.readouterr().out
    bad.write_text(json.dumps({"format": 99, "runs": []}))
    assert load_results(bad) is None
    assert "format 99" in capsys.readouterr().out


def _fake_run(model, mitigation, exposures, controls=1.4):
    return {"model": model, "mitigation": mitigation, "max_exposure": 13.29, "space_size": 10_000,
            "control_mean_exposure": controls, "general_bpc_before": 0.3, "general_bpc_after": 0.31,
            "wall_s": {"total": 1.0},
            "groups": [{"repetitions": k, "mean_exposure": e, "extracted": 0, "n": 4}
                       for k, e in zip((1, 4, 16), exposures)]}


def test_plot_exposure_draws_a_line_per_model_with_the_maximum_and_controls():
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    results = {"runs": [_fake_run("course-small", "as is", (2, 4, 10)), _fake_run("course-large", "as is", (3, 6, 12)),
                        _fake_run("course-small", "deduplicated", (2, 2, 2))]}
    ax = plot_exposure(results)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["course-large"].get_ydata()) == [3, 6, 12]
    assert "course-small, deduplicated" not in lines
    assert any("log2 |R|" in k for k in lines) and sum("controls" in k for k in lines) == 2
    assert len([k for k in plot_exposure(results, mitigation=None).get_lines() if "," in k.get_label()]) == 3
    with pytest.raises(BadInputError, match="No runs with mitigation"):
        plot_exposure(results, mitigation="fewer epochs")
    plt.close("all")
