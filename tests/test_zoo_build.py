"""The zoo build machinery: command line, resumable training, reports (no shipped models needed)."""

import math

import pytest
import torch

from course_utils.zoo import build
from course_utils.zoo.ladder import LADDER, ModelSpec
from course_utils.zoo.train import lr_at, train


def test_ladder_grows_and_budgets_are_fixed():
    assert len(LADDER) >= 4
    assert [s.hidden for s in LADDER] == sorted(s.hidden for s in LADDER)
    for s in LADDER:
        assert s.steps * s.tokens_per_step <= s.train_tokens and s.hidden % s.heads == 0
        assert lr_at(s, 0) < lr_at(s, s.warmup_steps) == pytest.approx(s.lr, rel=1e-3)
        assert lr_at(s, s.steps - 1) == pytest.approx(0.1 * s.lr, rel=0.05)


def test_unknown_model_name_is_refused(tmp_path, capsys):
    assert build.main(["build", "--only", "course-huge", "--out", str(tmp_path)]) == 2
    assert "course-huge" in capsys.readouterr().out


def test_training_resumes_from_a_checkpoint_to_the_same_weights(tmp_path, monkeypatch):
    from transformers import LlamaForCausalLM

    from course_utils.zoo import train as train_mod
    from course_utils.zoo.ladder import llama_config

    spec = ModelSpec("t", n_layers=1, hidden=16, heads=2, mlp=32, train_tokens=6 * 64, lr=1e-2,
                     context=32, batch_size=2, warmup_steps=2)
    stream = (torch.randint(3, 50, (2000,)), torch.arange(0, 2000, 40))

    def fresh():
        torch.manual_seed(0)
        return LlamaForCausalLM(llama_config(spec, 50, 1, 2, 0))

    straight = fresh()
    train(straight, spec, stream, tmp_path / "a", progress=False)

    real = train_mod.get_batch

    def crash_at_4(stream, spec, step):
        if step == 4:
            raise KeyboardInterrupt
        return real(stream, spec, step)

    monkeypatch.setattr(train_mod, "get_batch", crash_at_4)
    with pytest.raises(KeyboardInterrupt):
        train(fresh(), spec, stream, tmp_path / "b", checkpoint_every_s=0, progress=False)
    monkeypatch.setattr(train_mod, "get_batch", real)
    resumed = fresh()
    record = train(resumed, spec, stream, tmp_path / "b", progress=False)
    assert record["steps"] == spec.steps
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
    assert not math.isnan(record["final_train_loss"])
