"""The zoo build machinery: command line, the ladder's recipe, resumable training with its scaling grid."""

import json

import pytest
import torch

from course_utils.training import decay_start
from course_utils.zoo import build
from course_utils.zoo.ladder import LADDER, LadderSpec
from course_utils.zoo.train import train, train_config


def test_ladder_grows_and_budgets_are_fixed():
    assert len(LADDER) >= 4
    assert [s.hidden for s in LADDER] == sorted(s.hidden for s in LADDER)
    for s in LADDER:
        assert s.steps * s.tokens_per_step <= s.train_tokens and s.hidden % s.heads == 0
        grid = s.grid_steps()
        assert len(grid) >= 8 and grid[-1] == s.steps and grid == sorted(set(grid))
        ratios = [b / a for a, b in zip(grid, grid[1:])]
        assert max(ratios) / min(ratios) < 1.3  # log-spaced
        cfg = train_config(s, bos_id=1)
        assert cfg.schedule == "wsd" and all(decay_start(train_config(s, 1, n)) > s.warmup_steps for n in grid)


def test_the_ladder_spec_is_not_the_catalog_spec():
    from course_utils.catalog import ModelSpec

    assert LadderSpec is not ModelSpec
    with pytest.raises(TypeError):
        LadderSpec("x", 1, 16, 2, 32, 100, 1e-3)  # keyword arguments only


def test_unknown_model_name_is_refused(tmp_path, capsys):
    assert build.main(["build", "--only", "course-huge", "--out", str(tmp_path)]) == 2
    assert "course-huge" in capsys.readouterr().out


def _spec():
    return LadderSpec(name="t", n_layers=1, hidden=16, heads=2, mlp=32, train_tokens=60 * 64, lr=1e-2,
                      context=32, batch_size=2, warmup_steps=2, grid_points=3, threads=1)


def _fresh(spec):
    from transformers import LlamaForCausalLM

    from course_utils.zoo.ladder import llama_config

    torch.manual_seed(0)
    return LlamaForCausalLM(llama_config(spec, 50, 1, 2, 0))


def test_grid_points_are_models_trained_for_their_budget_and_the_last_is_the_run(tmp_path, monkeypatch):
    spec = _spec()
    monkeypatch.setattr(LadderSpec, "grid_steps", lambda self: [20, 40, 60])
    stream = (torch.randint(3, 50, (4000,)), torch.arange(0, 4000, 40))
    seen = []

    def grid_loss(model):
        seen.append([p.detach().clone() for p in model.parameters()])
        return float(len(seen))

    model = _fresh(spec)
    rec = train(model, spec, stream, tmp_path, grid_loss=grid_loss, bos_id=1, progress=False)
    assert [p["steps"] for p in rec["grid"]] == [20, 40, 60] and rec["steps"] == 60
    assert rec["grid_extra_tokens"] == sum(p["decay_steps"] for p in rec["grid"][:2]) * spec.tokens_per_step
    # the 20-step point is a separate 20-step run of the same recipe
    from course_utils import training

    short = _fresh(spec)
    training.train(short, stream[0], None, train_config(spec, 1, 20), doc_starts=stream[1], progress=False)
    for p, q in zip(seen[0], short.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
    for p, q in zip(seen[-1], model.parameters()):  # the last point is the finished model
        assert torch.equal(p, q)


def test_training_resumes_from_a_checkpoint_to_the_same_weights(tmp_path, monkeypatch):
    from course_utils import training

    spec = _spec()
    stream = (torch.randint(3, 50, (4000,)), torch.arange(0, 4000, 40))
    straight = _fresh(spec)
    train(straight, spec, stream, tmp_path / "a", progress=False)

    real = training.get_batch
    calls = {"n": 0}

    def crash_at_30(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "get_batch", crash_at_30)
    with pytest.raises(KeyboardInterrupt):
        train(_fresh(spec), spec, stream, tmp_path / "b", checkpoint_every_s=0, progress=False)
    monkeypatch.setattr(training, "get_batch", real)
    assert json.loads((tmp_path / "b" / "grid.json").read_text())["points"] == []
    resumed = _fresh(spec)
    record = train(resumed, spec, stream, tmp_path / "b", progress=False)
    assert record["steps"] == spec.steps
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
