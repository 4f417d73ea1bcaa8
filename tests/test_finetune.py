"""Lesson 08's fine-tuning: clear refusals, the course's LoRA run equals peft's, the grid file and its reading."""

import json

import pytest
import torch

from course_utils import finetune_results as grid
from course_utils.errors import BadInputError
from course_utils.finetune import (MIN_DOCS, EvalSet, FinetuneConfig, adaptable_copy, few_shot_prefix, finetune,
                                   measure_contender)
from course_utils.loading import load_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    return EvalSet.make(n_test=40, n_general=20)


@pytest.fixture(scope="module")
def tiny():
    return load_model("course-tiny")


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="qlora"), "Unknown fine-tuning method"),
    (dict(n_docs=MIN_DOCS - 1), "too few"),
    (dict(lr=0.0), "learning rate"),
    (dict(lr=5.0), "learning rate"),
])
def test_absurd_settings_are_refused_with_what_to_do(kwargs, message):
    with pytest.raises(BadInputError, match=message):
        FinetuneConfig(**kwargs)


def test_run_length_follows_the_data_within_bounds():
    cfg = FinetuneConfig(epochs=2.0, batch_size=16, block_size=128, min_steps=40, max_steps=400)
    assert cfg.steps_for(2048 * 100) == 200  # two passes over 100 batches' worth of tokens
    assert cfg.steps_for(2048) == 40 and cfg.steps_for(2048 * 10_000) == 400
    assert FinetuneConfig(steps=7).steps_for(10**9) == 7


def test_full_fine_tuning_learns_the_domain_and_leaves_the_shipped_model_alone(tiny, data):
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    base = measure_contender("base", "course-tiny", tiny.model, tiny.tokenizer, data, method="as shipped")
    model, hist = finetune(adaptable_copy(tiny.model), tiny.tokenizer, data.train,
                           FinetuneConfig(n_docs=200, steps=30, lr=1e-3), progress=False)
    tuned = measure_contender("tuned", "course-tiny", model, tiny.tokenizer, data, method="full", hist=hist)
    assert tuned.domain_bpc < 0.7 * base.domain_bpc  # it learned the new domain's text
    assert tuned.trainable == tuned.total and base.trainable == 0
    assert tuned.train_flops == 6 * tuned.total * hist.tokens
    assert all(torch.equal(before[k], v) for k, v in tiny.model.state_dict().items())


def test_the_course_lora_and_peft_train_to_the_same_model_without_touching_the_global_rng(tiny, data):
    cfg = dict(n_docs=100, steps=8, lr=3e-3, precision="float32")
    state = torch.random.get_rng_state()
    ours, _ = finetune(adaptable_copy(tiny.model), tiny.tokenizer, data.train, FinetuneConfig(method="lora", **cfg),
                       progress=False)
    theirs, _ = finetune(adaptable_copy(tiny.model), tiny.tokenizer, data.train, FinetuneConfig(method="peft", **cfg),
                         progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    ids = tiny.tokenizer(data.domain_test[0].text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        a, b, base = ours(ids).logits, theirs(ids).logits, tiny.model(ids).logits
    assert (a - base).abs().max() > 1e-2  # training changed something …
    assert (a - b).abs().max() < 1e-4  # … and the same thing in both libraries


def test_a_diverging_run_stops_and_says_to_lower_the_rate(tiny, data):
    model = adaptable_copy(tiny.model)
    calls = []
    model.lm_head.register_forward_hook(lambda m, i, out: out * float("nan") if len(calls.append(1) or calls) > 2
                                        else out)
    with pytest.raises(BadInputError, match="diverged.*smaller"):
        finetune(model, tiny.tokenizer, data.train, FinetuneConfig(n_docs=50, steps=20), progress=False)


def test_few_shot_examples_fit_the_token_budget(tiny, data):
    prefix, k = few_shot_prefix(data.train[:20], tiny.tokenizer, budget_tokens=120)
    assert k >= 1 and len(tiny.tokenizer(prefix)["input_ids"]) <= 120
    assert prefix.count("\nIntent: ") == k and "Resolution" not in prefix  # each example stops at its label
    assert few_shot_prefix(data.train[:20], tiny.tokenizer, budget_tokens=5) == ("", 0)


def test_the_grid_writes_a_results_file_the_lesson_can_read(tmp_path, data, capsys):
    results = grid.run_grid(models=("course-tiny",), sizes=(MIN_DOCS, 40), out=tmp_path, progress=False, data=data)
    on_disk = grid.load_results(tmp_path / "results.json")
    assert on_disk == json.loads(json.dumps(results))
    methods = sorted({c["method"] for c in on_disk["contenders"]})
    assert methods == ["as shipped", "few-shot", "full", "lora", "peft"]
    ours = next(c for c in on_disk["contenders"] if c["method"] == "lora" and c["n_docs"] == 40)
    theirs = next(c for c in on_disk["contenders"] if c["method"] == "peft")
    assert ours["accuracy"] == theirs["accuracy"] and abs(ours["domain_bpc"] - theirs["domain_bpc"]) < 1e-4
    (adapter,) = on_disk["adapters"].values()
    assert (tmp_path / adapter["path"] / "adapter.safetensors").stat().st_size == adapter["bytes"]
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))
    assert len(grid.sweep(on_disk["contenders"], "course-tiny", "full")) == 2


@pytest.mark.parametrize("content, message", [
    (None, "No shipped fine-tuning results"),
    ("{ not json", "corrupt"),
    (json.dumps({"format": 0, "contenders": []}), "format 0"),
])
def test_a_missing_corrupt_or_old_results_file_is_ignored_with_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    assert grid.load_results(path) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and message in out[0] and "python -m course_utils finetune" in out[0]


def test_docs_to_beat_takes_the_first_size_that_beats_the_bar_even_if_later_ones_dip():
    rows = [{"model": "m", "method": "full", "n_docs": n, "accuracy": a, "name": f"m {n}"}
            for n, a in ((2000, 0.5), (50, 0.2), (200, 0.45), (1000, 0.4))]
    rows.append({"model": "m", "method": "few-shot", "n_docs": 0, "accuracy": 0.42, "name": "general"})
    bar = grid.best_general(rows)
    assert bar["name"] == "general"
    assert grid.docs_to_beat(rows, "m", "full", bar["accuracy"]) == 200
    assert grid.docs_to_beat(rows, "m", "full", 0.9) is None
    assert [c["n_docs"] for c in grid.sweep(rows, "m", "full")] == [50, 200, 1000, 2000]


def test_the_shipped_results_match_the_shipped_models_adapters_and_docs():
    from course_utils import REPO_ROOT
    from course_utils.zoo.manifest import sha256

    results = grid.load_results()
    assert results is not None, "models/finetune/results.json ships with the course"
    for model, hashes in results["models"].items():
        assert hashes and hashes == grid.model_hashes(model), f"{model} changed since the grid ran: rerun it"
    for adapter in results["adapters"].values():
        assert sha256(grid.RESULTS_DIR / adapter["path"] / "adapter.safetensors") == adapter["sha256"]
    methods = {(c["model"], c["method"]) for c in results["contenders"]}
    assert {("course-small", "full"), ("course-large", "lora"), ("course-large", "few-shot")} <= methods
    assert grid.results_markdown(results) in (REPO_ROOT / "docs" / "fine_tuning.md").read_text()


def test_a_model_too_big_to_train_here_is_refused_naming_one_that_fits(tiny, data):
    from course_utils.errors import ModelTooLargeError
    from course_utils.training_memory import guard_training, training_memory

    lora_need = training_memory("Qwen2.5-7B", method="lora", dtype="bfloat16", batch=1, seq_len=512).total
    with pytest.raises(ModelTooLargeError, match=r"Qwen2\.5-7B.*fits; or fine-tune Qwen2\.5-7B with method='lora'"):
        guard_training("Qwen2.5-7B", method="full", dtype="bfloat16", batch=1, seq_len=512,
                       available_bytes=int(lora_need / 0.9) + 1)
    assert guard_training("course-tiny", method="full", batch=16, seq_len=128, available_bytes=2 * 10**9).total > 0
    with pytest.raises(ModelTooLargeError, match="course-tiny.*available"):  # checked before anything is copied
        from course_utils.finetune import run_contender

        run_contender(tiny, data, FinetuneConfig(n_docs=50, steps=1), progress=False, available_bytes=10**6)


def test_the_shipped_adapter_loads_into_a_copy_and_the_shipped_model_stays_as_it_was():
    from unittest import mock

    from course_utils.lora import lora_layers

    small = load_model("course-slm")
    before = {k: v.clone() for k, v in small.model.state_dict().items()}
    tuned = grid.with_shipped_adapter(small)
    assert tuned.model is not small.model and lora_layers(tuned.model) and not lora_layers(small.model)
    assert all(torch.equal(v, small.model.state_dict()[k]) for k, v in before.items())
    ids = torch.tensor([[1, 42, 382, 81]])
    with torch.no_grad():
        assert not torch.allclose(tuned.model(ids).logits, small.model(ids).logits)  # the adapter changes the model
    with pytest.raises(grid.ResultsFileError, match="no shipped adapter"):
        grid.with_shipped_adapter(load_model("course-medium"))
    with mock.patch.object(grid, "load_results", return_value=None):  # no results file: say how to make one
        with pytest.raises(grid.ResultsFileError, match="python -m course_utils finetune"):
            grid.with_shipped_adapter(small)
