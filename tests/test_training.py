"""course_utils.training: batches, schedule, optimizer groups, and a loop that actually learns."""

import math

import pytest
import torch

from course_utils.nn import GPT, GPTConfig
from course_utils.training import (History, TrainConfig, encode_texts, estimate_loss, get_batch, lm_loss, lr_at,
                                   make_optimizer, train)


def test_encode_texts_joins_documents_with_end_of_text(tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    stream = encode_texts(tok, ["The printer", "is jammed"])
    a, b = tok("The printer")["input_ids"], tok("is jammed")["input_ids"]
    assert stream.tolist() == a + [tok.eos_token_id] + b + [tok.eos_token_id]
    assert stream.dtype == torch.long
    with pytest.raises(ValueError, match="at least one"):
        encode_texts(tok, [])


def test_get_batch_targets_are_inputs_shifted_by_one():
    stream = torch.arange(100)
    x, y = get_batch(stream, 4, 8, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    x2, _ = get_batch(stream, 4, 8, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)  # same generator seed, same batch
    with pytest.raises(ValueError, match="shorter than one window"):
        get_batch(torch.arange(5), 2, 8)


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_lr_warms_up_then_decays_to_the_floor(schedule):
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1, schedule=schedule)
    lrs = [lr_at(s, cfg) for s in range(cfg.steps)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a <= b + 1e-12 for a, b in zip(lrs[:10], lrs[1:10]))  # warmup rises
    if schedule == "constant":
        assert lrs[-1] == pytest.approx(1e-3)
    else:
        assert lrs[-1] == pytest.approx(1e-4)  # reaches lr * min_lr_ratio at the last step
        assert all(a >= b - 1e-12 for a, b in zip(lrs[10:], lrs[11:]))  # then falls monotonically
        t = 44 / 89  # step 54: 44 of the 89 decay steps done
        decay = 1 - t if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * t))
        assert lr_at(54, cfg) == pytest.approx(1e-4 + 0.9e-3 * decay)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="exponential")
    with pytest.raises(ValueError):
        TrainConfig(steps=0)


def test_weight_decay_skips_norm_gains():
    model = GPT(GPTConfig())
    opt = make_optimizer(model, TrainConfig(weight_decay=0.1))
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    assert opt.param_groups[0]["weight_decay"] == 0.1 and opt.param_groups[1]["weight_decay"] == 0.0
    assert id(model.norm.weight) not in decayed and id(model.tok_emb.weight) in decayed


def test_lm_loss_works_for_our_gpt_and_transformers_models(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    ours = GPT.from_hf(hf)
    x = torch.randint(0, hf.config.vocab_size, (2, 10))
    y = torch.randint(0, hf.config.vocab_size, (2, 10))
    y[0, :5] = -100  # ignored positions
    with torch.no_grad():
        a, b = lm_loss(hf, x, y), lm_loss(ours, x, y)
        _, ref = ours(x, y)
    assert abs(a - b) <= 1e-4 and abs(b - ref) <= 1e-6


def test_training_lowers_the_loss_and_calls_back():
    torch.manual_seed(0)
    pattern = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
    stream = pattern.repeat(200)  # a perfectly predictable stream
    model = GPT(GPTConfig(vocab_size=16, n_layer=1, n_head=2, n_kv_head=2, n_embd=32, intermediate_size=64,
                          max_seq_len=16))
    cfg = TrainConfig(steps=60, batch_size=8, block_size=16, lr=1e-2, warmup_steps=5, eval_every=20, eval_batches=2)
    seen = []
    start = estimate_loss(model, stream, cfg)
    hist = train(model, stream, stream, cfg, callback=lambda h: seen.append(len(h.steps)), progress=False)
    assert isinstance(hist, History) and hist.steps == list(range(1, 61))
    assert seen == [0, 20, 40, 60]  # before training, every eval_every steps
    assert hist.val_steps == [0, 20, 40, 60] and hist.val_loss[0] == pytest.approx(start)
    assert hist.val_loss[-1] < 0.3 * start  # it learned the pattern
    assert hist.tokens == 60 * 8 * 16 and hist.tokens_per_s > 0 and not model.training
    assert "60 steps" in hist.summary()


def test_time_limit_stops_early_with_a_final_evaluation():
    stream = torch.arange(50).repeat(10)
    model = GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=2, n_embd=16, intermediate_size=32))
    cfg = TrainConfig(steps=1000, batch_size=2, block_size=8, eval_every=500, eval_batches=1, time_limit_s=0.0)
    hist = train(model, stream, stream, cfg, progress=False)
    assert hist.stopped_early and len(hist.steps) == 1 and hist.val_steps == [0, 1]
    assert "stopped early" in hist.summary()


def test_a_diverging_run_stops_at_the_first_non_finite_loss_and_says_so():
    stream = torch.arange(50).repeat(10)
    model = GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=2, n_embd=16, intermediate_size=32))
    steps_seen = []

    def poison_after_two_steps(module, inputs, output):  # as a too-high learning rate does, sooner or later
        steps_seen.append(1)
        return output * float("nan") if len(steps_seen) > 2 else output

    model.lm_head.register_forward_hook(poison_after_two_steps)
    cfg = TrainConfig(steps=50, batch_size=2, block_size=8, eval_every=100, warmup_steps=1)
    hist = train(model, stream, None, cfg, progress=False)
    assert hist.diverged and hist.stopped_early and len(hist.steps) == 3
    assert math.isnan(hist.train_loss[-1]) and all(math.isfinite(x) for x in hist.train_loss[:-1])
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the nan step was not applied
    assert "diverged" in hist.summary()


def test_threads_setting_is_restored_after_training():
    before = torch.get_num_threads()
    seen = []
    stream = torch.arange(50).repeat(10)
    model = GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=2, n_embd=16, intermediate_size=32))
    cfg = TrainConfig(steps=2, batch_size=2, block_size=8, eval_batches=1, threads=1)
    train(model, stream, None, cfg, callback=lambda h: seen.append(torch.get_num_threads()), progress=False)
    assert seen and set(seen) == {1} and torch.get_num_threads() == before


def test_windows_start_anywhere_and_take_the_bos_token_like_a_prompt():
    # documents of 10 tokens: <s>=1, then 8 body tokens, then </s>=2
    docs = [[1] + list(range(10 + 10 * d, 18 + 10 * d)) + [2] for d in range(30)]
    stream = torch.tensor([t for doc in docs for t in doc])
    starts = torch.arange(0, len(stream), 10)
    g = torch.Generator().manual_seed(0)
    x, y = get_batch(stream, 256, 6, g, bos_id=1)
    assert (x[:, 0] == 1).all()  # every window begins with <s> ...
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert (x[:, 1] != 1).any() and ((y[:, 0] != 1) & (y[:, 0] % 10 != 0)).any()  # ... most of them mid-document
    assert not ((x[:, 0] == 1) & (x[:, 1] == 1)).any()  # never <s> <s>
    x, _ = get_batch(stream, 400, 6, torch.Generator().manual_seed(1), doc_starts=starts, doc_start_fraction=0.5)
    at_start = (x[:, 0] == 1).float().mean()
    assert 0.4 < at_start < 0.65  # half start at a document's <s>, plus the random windows that land there


def test_wsd_schedule_is_constant_then_decays_and_a_short_run_is_a_fork_of_a_long_one():
    from course_utils.training import decay_start

    long, short = (TrainConfig(steps=n, lr=1e-3, warmup_steps=5, schedule="wsd", decay_fraction=0.2, min_lr_ratio=0.0)
                   for n in (100, 50))
    assert decay_start(long) == 80 and decay_start(short) == 40
    assert [lr_at(s, long) for s in range(5, 80)] == [1e-3] * 75
    assert [lr_at(s, short) for s in range(40)] == [lr_at(s, long) for s in range(40)]  # shared until the fork
    decay = [lr_at(s, long) for s in range(80, 100)]
    assert all(a > b for a, b in zip(decay, decay[1:])) and decay[-1] == pytest.approx(0.0, abs=1e-12)


def test_a_run_resumed_from_a_checkpoint_ends_with_the_same_weights(tmp_path):
    from course_utils.training import Checkpoint

    stream = torch.arange(60).repeat(8)
    cfg = TrainConfig(steps=12, batch_size=2, block_size=8, lr=1e-2, warmup_steps=2, schedule="wsd",
                      eval_every=1000, eval_batches=1)

    def fresh():
        torch.manual_seed(0)
        return GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=2, n_embd=16, intermediate_size=32))

    straight = fresh()
    train(straight, stream, None, cfg, progress=False)
    saved = []
    first = fresh()
    train(first, stream, None, cfg, progress=False, stop_at=5, on_checkpoint=saved.append)
    assert saved and saved[-1].step == 5
    saved[-1].save(tmp_path / "c.pt")
    resumed = fresh()  # a new process would start from fresh weights too
    hist = train(resumed, stream, None, cfg, progress=False, resume=Checkpoint.load(tmp_path / "c.pt"))
    assert hist.steps == list(range(1, 13)) and hist.tokens == 12 * 2 * 8
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_precision_auto_uses_bfloat16_only_where_it_is_faster(monkeypatch):
    from course_utils import training

    monkeypatch.setattr(training, "bfloat16_speedup", lambda: 0.05)  # an AVX2-only CPU
    assert training.autocast_dtype_for("auto") is None
    monkeypatch.setattr(training, "bfloat16_speedup", lambda: 3.0)  # AMX
    assert training.autocast_dtype_for("auto") == torch.bfloat16
    assert training.autocast_dtype_for("float32") is None and training.autocast_dtype_for("bfloat16") == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp8")


def test_bfloat16_autocast_keeps_float32_master_weights_and_loss():
    stream = torch.arange(40).repeat(6)
    model = GPT(GPTConfig(vocab_size=64, n_layer=1, n_head=2, n_kv_head=2, n_embd=16, intermediate_size=32))
    cfg = TrainConfig(steps=2, batch_size=2, block_size=8, eval_every=1000, eval_batches=1, precision="bfloat16")
    hist = train(model, stream, None, cfg, progress=False)
    assert hist.precision == "bfloat16" and all(p.dtype == torch.float32 for p in model.parameters())
    assert len(hist.train_loss) == 2 and all(math.isfinite(v) for v in hist.train_loss)
