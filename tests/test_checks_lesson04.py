"""Lesson 04 checks: accept a right answer, reject a stub and typical wrong answers with a message."""

import pytest
import torch
from check_verdicts import assert_verdicts
import torch.nn as nn
import torch.nn.functional as F

from course_utils.checks import lesson04 as c
from course_utils.nn import apply_rope, repeat_kv, scaled_dot_product_attention


def right_count(cfg):
    C, hs, V = cfg.n_embd, cfg.head_dim, cfg.vocab_size
    attn = C * hs * (2 * cfg.n_head + 2 * cfg.n_kv_head)
    mlp = 3 * C * cfg.intermediate_size
    per_layer = attn + mlp + 2 * C
    return V * C + cfg.n_layer * per_layer + C + (0 if cfg.tie_embeddings else V * C)


def right_rms_norm(x, weight, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def right_swiglu(x, w_gate, w_up, w_down):
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T


def attention_from_projections(a, h, cos, sin):
    B, T, C = h.shape
    q = (h @ a.q_proj.weight.T).view(B, T, a.n_head, a.head_dim).transpose(1, 2)
    k = (h @ a.k_proj.weight.T).view(B, T, a.n_kv_head, a.head_dim).transpose(1, 2)
    v = (h @ a.v_proj.weight.T).view(B, T, a.n_kv_head, a.head_dim).transpose(1, 2)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    n_rep = a.n_head // a.n_kv_head
    y = scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), is_causal=True)
    return a.o_proj(y.transpose(1, 2).reshape(B, T, -1))


def block_variant(first_residual=True, norms=True):
    def block_fn(block, x, cos, sin):
        n1, n2 = (block.attn_norm, block.mlp_norm) if norms else (nn.Identity(), nn.Identity())
        a = attention_from_projections(block.attn, n1(x), cos, sin)
        h = x + a if first_residual else a
        return h + block.mlp(n2(h))
    return block_fn


right_block = block_variant()


def right_loss(model, idx):
    logits = model(idx)  # (B, T, V)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), idx[:, 1:].reshape(-1))


def loss_variant(shift=1, reduction="mean", flatten_transposed=False):
    """shift 1: right; 0: predict the token itself; -1: predict the previous token."""
    def loss_fn(model, idx):
        logits = model(idx)
        V = logits.size(-1)
        if shift == 1:
            logits, targets = logits[:, :-1], idx[:, 1:]
        elif shift == -1:
            logits, targets = logits[:, 1:], idx[:, :-1]
        else:
            targets = idx
        if flatten_transposed:
            logits = logits.transpose(0, 1)  # (T, B, V) flattened against (B, T) targets
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction=reduction)
    return loss_fn


def adamw_variant(bias_correction=True, decay="decoupled", fixed_lr=None, fixed_wd=None):
    def adamw_step(p, grad, m, v, t, lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1):
        lr = fixed_lr if fixed_lr is not None else lr
        weight_decay = fixed_wd if fixed_wd is not None else weight_decay
        b1, b2 = betas
        if decay == "l2":
            grad = grad + weight_decay * p
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
        if decay == "decoupled":
            p = p * (1 - lr * weight_decay)
        elif decay == "no lr":
            p = p * (1 - weight_decay)
        return p - lr * m_hat / (v_hat.sqrt() + eps), m, v
    return adamw_step


right_adamw = adamw_variant()


CASES = {
    "count": (c.check_count_params, right_count, [
        (lambda cfg: right_count(cfg) + (cfg.vocab_size * cfg.n_embd if cfg.tie_embeddings else 0), "count it once"),
        (lambda cfg: right_count(cfg) - (0 if cfg.tie_embeddings else cfg.vocab_size * cfg.n_embd), "second V x C"),
        (lambda cfg: right_count(cfg) + 2 * cfg.n_layer * cfg.n_embd * cfg.head_dim * (cfg.n_head - cfg.n_kv_head),
         "n_kv_head heads"),
        (lambda cfg: right_count(cfg) - cfg.n_embd, "per layer"),
    ]),
    "rms_norm": (c.check_rms_norm, right_rms_norm, [
        (lambda x, w, eps=1e-6: F.layer_norm(x, x.shape[-1:], w, eps=eps), "LayerNorm"),
        (lambda x, w, eps=1e-6: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps), "weight is not applied"),
        (lambda x, w, eps=1e-6: x / x.pow(2).mean(-1, keepdim=True).sqrt() * w, "zero vector"),
        (lambda x, w, eps=1e-6: x / x.norm(dim=-1, keepdim=True) * w, "rms_norm(x, weight)"),
    ]),
    "swiglu": (c.check_swiglu, right_swiglu, [
        (lambda x, g, u, d: right_swiglu(x, u, g, d), "swapped"),
        (lambda x, g, u, d: (torch.relu(x @ g.T) * (x @ u.T)) @ d.T, "ReLU"),
        (lambda x, g, u, d: (F.silu(x @ g.T) * (x @ u.T)), "wrong shape"),  # (B, T, I): no down projection
    ]),
    "block": (c.check_block_forward, right_block, [
        (lambda block, x, cos, sin: x + block.attn(block.attn_norm(x), cos, sin)[0], "block.attn(...) was called"),
        (block_variant(first_residual=False), "first residual"),
        (block_variant(norms=False), "norms are skipped"),
        (lambda block, x, cos, sin: (right_block(block, x, cos, sin), None), "not a tuple"),
        (lambda block, x, cos, sin: right_block(block, x, cos * 0 + 1, sin * 0), "block output"),  # no RoPE
    ]),
    "loss": (c.check_next_token_loss, right_loss, [
        (loss_variant(shift=0), "the input tokens themselves"),
        (loss_variant(shift=-1), "the wrong way"),
        (loss_variant(reduction="sum"), "a sum over positions"),
        (lambda model, idx: F.cross_entropy(model(idx)[:, -2], idx[:, -1]), "only the last position"),
        (loss_variant(flatten_transposed=True), "right for one row"),
        (lambda model, idx: model(idx[:, :-1], idx[:, 1:])[1], "computes the loss for you"),
        (lambda model, idx: right_loss(model, idx).item(), "not a Python number"),
        (loss_variant(reduction="none"), "one number"),
        (lambda model, idx: F.cross_entropy(model(idx)[:, :-1].softmax(-1).flatten(0, 1), idx[:, 1:].flatten()),
         "the targets are idx shifted"),  # a softmax too many
    ]),
    "adamw": (c.check_adamw_step, right_adamw, [
        (adamw_variant(bias_correction=False), "no bias correction"),
        (adamw_variant(decay="l2"), "Adam with L2"),
        (adamw_variant(decay="no lr"), "ignores the learning rate"),
        (adamw_variant(decay="none"), "no weight decay"),
        (adamw_variant(fixed_wd=0.1), "decayed although weight_decay is 0"),  # the norm gains too
        (lambda p, g, m, v, t, lr, betas, eps, wd: right_adamw(p, g, m, v, t, lr, betas[::-1], eps, wd),
         "compared with torch.optim.AdamW"),  # beta1 and beta2 swapped
        (adamw_variant(fixed_lr=1e-2), "after one training step, compared with course_utils.training.train"),
        (lambda *args: right_adamw(*args)[0], "should return the new (p, m, v)"),
    ]),
}


@pytest.mark.parametrize("name, i", [(n, i) for n in CASES for i in range(len(CASES[n][2]))])
def test_accepts_right_waits_for_stub_rejects_wrong_with_message(name, i, capsys):
    check, right, wrongs = CASES[name]
    wrong, message = wrongs[i]
    assert_verdicts(check, right, wrong, message, capsys)


def test_the_true_count_matches_the_model_and_shares_the_tied_matrix():
    from course_utils.nn import GPT, GPTConfig

    cfg = GPTConfig()
    assert c.true_parameter_count(cfg) == sum(p.numel() for p in GPT(cfg).parameters()) == right_count(cfg)


def test_the_training_step_uses_the_learners_loss_only_when_it_is_right(capsys):
    c.check_adamw_step(right_adamw, right_loss)
    out = capsys.readouterr().out
    assert out.startswith("✅") and "course's loss" not in out
    c.check_adamw_step(right_adamw, loss_variant(shift=0))
    out = capsys.readouterr().out
    assert out.startswith("✅") and "finish exercise 5" in out


def test_a_causal_model_gives_the_same_loss_on_the_full_window_or_its_inputs():
    """Both ways of writing the loss are right: model(idx)[:, :-1] equals model(idx[:, :-1])."""
    model = c._small_gpt()
    idx = torch.randint(0, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        inputs_only = F.cross_entropy(model(idx[:, :-1]).transpose(1, 2), idx[:, 1:])
        assert torch.allclose(right_loss(model, idx), inputs_only, atol=1e-6)


def test_hint_follows_the_adamw_exercise_not_the_loss_it_also_receives():
    from course_utils.hints import Exercise, Hints

    hints = Hints("04", [Exercise(5, "next_token_loss", ("a", "b")), Exercise(6, "adamw_step", ("c", "d"))])

    def adamw_step(*args):
        return right_adamw(*args)

    def next_token_loss(model, idx):
        return right_loss(model, idx)

    c.check_adamw_step(adamw_step, next_token_loss)
    assert hints.current.name == "adamw_step"
