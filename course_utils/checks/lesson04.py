"""Checks for the lesson 04 exercises (a tiny GPT), against course_utils.nn and course_utils.training."""

from __future__ import annotations

import copy

import torch

from course_utils.checks import CheckFailed, expect_close, expect_equal, run_check
from course_utils.nn import GPT, MLP, Block, GPTConfig, RMSNorm, rope_cos_sin
from course_utils.training import TrainConfig, lm_loss, lr_at, make_optimizer, train

# configs that catch the usual slips: tied vs untied embeddings, grouped-query heads, explicit head_dim
CONFIGS = [
    GPTConfig(),
    GPTConfig(vocab_size=1024, n_layer=4, n_head=4, n_kv_head=4, n_embd=128, intermediate_size=352),
    GPTConfig(vocab_size=500, n_layer=3, n_head=6, n_kv_head=2, n_embd=96, intermediate_size=200),
    GPTConfig(vocab_size=300, n_layer=2, n_head=4, n_kv_head=2, n_embd=64, head_dim=32, intermediate_size=128,
              tie_embeddings=False),
]


def true_parameter_count(config: GPTConfig) -> int:
    """Count by building the model on the meta device (no memory is allocated)."""
    with torch.device("meta"):
        model = GPT(config)
    return sum(p.numel() for p in model.parameters())  # a tied matrix is counted once


def check_count_params(count_fn) -> None:
    """count_fn(config: GPTConfig) -> int, the number of parameters of GPT(config)."""

    def test():
        for config in CONFIGS:
            found = count_fn(config)
            expected = true_parameter_count(config)
            if found == expected:
                continue
            V, C = config.vocab_size, config.n_embd
            hint = ("per layer: q and o are C x (n_head * head_dim), k and v are C x (n_kv_head * head_dim), "
                    "3 MLP matrices C x intermediate_size, 2 norm vectors of C; plus the embedding V x C "
                    "and the final norm")
            if config.tie_embeddings and found == expected + V * C:
                hint = "the output layer is tied to the embedding: the same V x C matrix, count it once"
            elif not config.tie_embeddings and found == expected - V * C:
                hint = "with tie_embeddings=False the output layer is a second V x C matrix"
            elif config.n_kv_head != config.n_head and found > expected:
                hint = "k_proj and v_proj have n_kv_head heads, not n_head (grouped-query attention)"
            raise CheckFailed(f"parameter count of {config}", expected, found, hint)

    run_check("count a config's parameters", test)


def check_rms_norm(rms_norm_fn) -> None:
    """rms_norm_fn(x, weight, eps=1e-6) -> x / sqrt(mean(x^2) + eps) * weight, over the last dimension."""

    def test():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(2, 5, 16, generator=g) * 3 + 1  # (B, T, C), a non-zero mean on purpose
        weight = torch.rand(16, generator=g) + 0.5
        norm = RMSNorm(16, eps=1e-6)
        with torch.no_grad():
            norm.weight.copy_(weight)
            expected = norm(x)
        found = rms_norm_fn(x, weight, 1e-6)
        if isinstance(found, torch.Tensor) and found.shape == expected.shape:
            layer_norm = torch.nn.functional.layer_norm(x, (16,), weight, eps=1e-6)
            if torch.allclose(found, layer_norm, atol=1e-4):
                raise CheckFailed("this is LayerNorm: RMSNorm does not subtract the mean", expected, found,
                                  "divide by sqrt(mean(x**2) + eps), without centring x first")
            if torch.allclose(found, norm(x) / weight, atol=1e-4):
                raise CheckFailed("the learned weight is not applied", expected, found, "multiply by weight at the end")
        expect_close(found, expected, "rms_norm(x, weight)",
                     "divide x by the root of the mean of its squares over the last dimension (eps inside the "
                     "root), then multiply by weight", atol=1e-5)
        tiny = torch.zeros(1, 1, 16)
        expect_close(rms_norm_fn(tiny, weight, 1e-6), tiny, "rms_norm of a zero vector (eps avoids 0 / 0)",
                     "add eps inside the square root")

    run_check("RMSNorm", test)


def check_swiglu(swiglu_fn) -> None:
    """swiglu_fn(x, w_gate, w_up, w_down) -> down(silu(gate(x)) * up(x)), weights as nn.Linear stores them."""

    def test():
        torch.manual_seed(0)
        mlp = MLP(GPTConfig(n_embd=16, intermediate_size=40))
        x = torch.randn(2, 5, 16)
        with torch.no_grad():
            expected = mlp(x)
            found = swiglu_fn(x, mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj.weight)
        if isinstance(found, torch.Tensor) and found.shape == expected.shape:
            swapped = mlp.down_proj(torch.nn.functional.silu(mlp.up_proj(x)) * mlp.gate_proj(x))
            if torch.allclose(found, swapped, atol=1e-5):
                raise CheckFailed("gate and up are swapped", expected, found, "silu goes on the gate: silu(x @ w_gate.T)")
            relu = mlp.down_proj(torch.relu(mlp.gate_proj(x)) * mlp.up_proj(x))
            if torch.allclose(found, relu, atol=1e-5):
                raise CheckFailed("ReLU instead of SiLU", expected, found, "torch.nn.functional.silu(z) = z * sigmoid(z)")
        expect_close(found, expected, "SwiGLU MLP output",
                     "down(silu(gate(x)) * up(x)): SiLU on the gate projection only, an element-wise product "
                     "with the up projection, then the down projection")

    run_check("SwiGLU MLP", test)


def check_block_forward(block_fn) -> None:
    """block_fn(block, x, cos, sin) -> (B, T, C): what course_utils.nn.Block computes, attention written out."""

    def test():
        torch.manual_seed(0)
        config = GPTConfig(n_embd=32, n_head=4, n_kv_head=2, intermediate_size=64)
        block = Block(config).eval()
        for p in (block.attn_norm.weight, block.mlp_norm.weight):
            torch.nn.init.uniform_(p, 0.5, 1.5)  # not all ones, so a skipped norm shows
        x = torch.randn(2, 7, 32)
        cos, sin = rope_cos_sin(7, config.head_dim)
        with torch.no_grad():
            expected, _ = block(x, cos, sin)
            a = block.attn(block.attn_norm(x), cos, sin)[0]
            no_first_residual = a + block.mlp(block.mlp_norm(a))
            h = x + block.attn(x, cos, sin)[0]
            no_norms = h + block.mlp(h)

            def refuse(*args, **kwargs):
                raise CheckFailed("block.attn(...) was called", "attention written from q_proj, k_proj, v_proj, "
                                  "o_proj", "a call to block.attn", "that is the part to write yourself")

            block.attn.forward = refuse
            found = block_fn(block, x, cos, sin)
        if isinstance(found, tuple):
            raise CheckFailed("return the new x only, not a tuple", "a tensor (B, T, C)", found)
        if isinstance(found, torch.Tensor) and found.shape == expected.shape:
            if torch.allclose(found, no_first_residual, atol=1e-5):
                raise CheckFailed("the first residual connection is missing", expected, found,
                                  "x = x + attention(attn_norm(x)), then x = x + mlp(mlp_norm(x))")
            if torch.allclose(found, no_norms, atol=1e-5):
                raise CheckFailed("the norms are skipped", expected, found,
                                  "pre-norm: attention and MLP read attn_norm(x) and mlp_norm(x), not x")
        expect_equal(tuple(found.shape) if isinstance(found, torch.Tensor) else found, tuple(expected.shape),
                     "shape of the block's output")
        expect_close(found, expected, "block output",
                     "pre-norm: x + attn(attn_norm(x)), then + mlp(mlp_norm(x)); RoPE on q and k; repeat_kv for "
                     "grouped-query heads; causal attention", atol=1e-5)

    run_check("one transformer block", test)


# ----------------------------------------------------------------------------- training: loss and AdamW

def _small_gpt(seed: int = 0) -> GPT:
    """A 2-layer GPT with weights drawn from a seeded generator (no global seeding), large enough
    that its predictions differ from token to token: a wrong target shifts the loss visibly."""
    g = torch.Generator().manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=64, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, intermediate_size=64,
                          max_seq_len=64))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3, generator=g)
            else:  # norm gains, not all ones
                p.uniform_(0.5, 1.5, generator=g)
    return model.eval()


def _refuse_targets(model: GPT) -> None:
    """Make model(idx, targets) fail: the loss is the part to write."""
    forward = model.forward

    def logits_only(idx, targets=None, **kwargs):
        if targets is not None:
            raise CheckFailed("model(idx, targets) computes the loss for you", "a cross-entropy you compute "
                              "from model(idx)", "a call with targets", "call model(idx) for the logits only")
        return forward(idx, **kwargs)

    model.forward = logits_only


def _course_loss(model, idx: torch.Tensor) -> torch.Tensor:
    """The course loop's loss on a window of T+1 tokens: inputs idx[:, :-1], targets idx[:, 1:]."""
    return lm_loss(model, idx[:, :-1], idx[:, 1:])


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


def check_next_token_loss(loss_fn) -> None:
    """loss_fn(model, idx (B, T)) -> the mean cross-entropy of predicting idx[:, t+1] at every position t."""

    def test():
        model = _small_gpt()
        g = torch.Generator().manual_seed(1)
        idx = torch.randint(0, model.config.vocab_size, (3, 12), generator=g)  # (B, T)
        with torch.no_grad():
            expected = _course_loss(model, idx).item()
            logits = model(idx)  # (B, T, V)
            V = logits.shape[-1]
            ce = torch.nn.functional.cross_entropy
            wrong = {  # the typical slips, each with what it computes
                "unshifted": ce(logits.reshape(-1, V), idx.reshape(-1)).item(),
                "backwards": ce(logits[:, 1:].reshape(-1, V), idx[:, :-1].reshape(-1)).item(),
                "sum": ce(logits[:, :-1].reshape(-1, V), idx[:, 1:].reshape(-1), reduction="sum").item(),
                "last": ce(logits[:, -2], idx[:, -1]).item(),
            }
            _refuse_targets(model)
            found = loss_fn(model, idx.clone())
        if isinstance(found, float):
            raise CheckFailed("return the loss as a tensor (backward() needs it), not a Python number",
                              expected, found, "drop the .item()")
        if not isinstance(found, torch.Tensor) or found.numel() != 1:
            raise CheckFailed("the loss should be one number (a tensor of shape ())", "a scalar tensor", found,
                              "average the cross-entropy over every position of every row: flatten (B, T) "
                              "into one axis of B·T predictions")
        value = found.item()
        if _close(value, expected):
            return
        if _close(value, wrong["unshifted"]):
            raise CheckFailed("the targets are the input tokens themselves", expected, value,
                              "the logits at position t predict the NEXT token, idx[:, t+1]: drop the last "
                              "position's logits and the first token of the targets")
        if _close(value, wrong["backwards"]):
            raise CheckFailed("the shift goes the wrong way (each position predicts the previous token)",
                              expected, value, "keep the logits of positions 0 … T-2 and the targets 1 … T-1")
        if _close(value, wrong["sum"]):
            raise CheckFailed("a sum over positions, not the mean", expected, value,
                              "cross_entropy's default reduction is the mean: the loss per token")
        if _close(value, wrong["last"]):
            raise CheckFailed("only the last position is scored", expected, value,
                              "every position predicts its next token: use all T-1 of them")
        one_row = idx[:1]
        with torch.no_grad():
            found_one = loss_fn(model, one_row.clone())
            expected_one = _course_loss(model, one_row).item()
        if isinstance(found_one, torch.Tensor) and found_one.numel() == 1 and _close(found_one.item(), expected_one):
            raise CheckFailed("right for one row, wrong for a batch of 3: the flatten pairs logits with "
                              "targets of other rows or positions", expected, value,
                              "flatten the logits (B, T-1, V) to (B·(T-1), V) and the targets (B, T-1) to (B·(T-1),) "
                              "the same way: reshape(-1, V) and reshape(-1), no transpose in between")
        raise CheckFailed("next-token loss", expected, value,
                          "the logits come from model(idx); the targets are idx shifted one to the left; "
                          "cross-entropy of the flattened logits against the flattened targets")

    run_check("next-token loss", test)


def _adamw_reference(p0: torch.Tensor, grads: list[torch.Tensor], lr: float, betas, eps: float,
                     weight_decay: float) -> list[torch.Tensor]:
    """The parameter after each step of torch.optim.AdamW fed the given gradients."""
    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([p], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    out = []
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
        out.append(p.detach().clone())
    return out


def _adam_variant(p0, grads, lr, betas, eps, weight_decay, bias_correction=True, decay="decoupled"):
    """The usual slips, written out: no bias correction, L2 decay added to the gradient (Adam, not
    AdamW), decay without the learning rate, no decay."""
    b1, b2 = betas
    p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
    out = []
    for t, grad in enumerate(grads, start=1):
        if decay == "l2":
            grad = grad + weight_decay * p
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad ** 2
        m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if bias_correction else (m, v)
        if decay == "decoupled":
            p = p * (1 - lr * weight_decay)
        elif decay == "no lr":
            p = p * (1 - weight_decay)
        p = p - lr * m_hat / (v_hat.sqrt() + eps)
        out.append(p)
    return out


ADAMW_SLIPS = [
    (dict(bias_correction=False), "no bias correction",
     "m and v start at zero, so early on they are too small: divide them by (1 - beta1**t) and (1 - beta2**t)"),
    (dict(decay="l2"), "the weight decay is added to the gradient (that is Adam with L2, not AdamW)",
     "AdamW decouples the decay: shrink p by (1 - lr * weight_decay) directly, and feed the raw gradient "
     "to m and v"),
    (dict(decay="no lr"), "the weight decay ignores the learning rate",
     "each step shrinks p by a factor (1 - lr * weight_decay)"),
    (dict(decay="none"), "no weight decay", "shrink p by (1 - lr * weight_decay) at every step"),
]


def check_adamw_step(adamw_fn, next_token_loss=None) -> None:
    """adamw_fn(p, grad, m, v, t, lr, betas, eps, weight_decay) -> the new (p, m, v) after step t (1, 2, ...).

    Compared with torch.optim.AdamW over several steps, with the hyperparameters of
    course_utils.training.make_optimizer; then one training step of a small GPT (with
    ``next_token_loss`` if it is right, else the course's loss) against one step of training.train.
    """
    used_course_loss = []
    learner_loss = [next_token_loss]  # in a list: the closure's only function is adamw_fn, the exercise hint() follows

    def test():
        # the course's hyperparameters, one step, no warmup; no gradient clipping, to compare the optimizer alone
        cfg = TrainConfig(steps=1, batch_size=2, block_size=16, warmup_steps=0, grad_clip=None, eval_every=1)
        model = _small_gpt(2)
        groups = make_optimizer(model, cfg).param_groups  # matrices decay, norm gains do not
        g = torch.Generator().manual_seed(3)
        p0 = torch.randn(4, 5, generator=g) * 3  # large weights, so that the decay shows
        grads = [torch.randn(4, 5, generator=g) * torch.logspace(-2, 0, 5) for _ in range(6)]  # (4, 5) each
        for group in groups:
            lr = 1e-2  # not the training step's rate below: a hard-coded rate fails one of the two
            betas, eps, wd = group["betas"], group["eps"], group["weight_decay"]
            expected = _adamw_reference(p0, grads, lr, betas, eps, wd)
            p, m, v = p0.clone(), torch.zeros_like(p0), torch.zeros_like(p0)
            for t, grad in enumerate(grads, start=1):
                found = adamw_fn(p, grad.clone(), m, v, t, lr, betas, eps, wd)
                if not (isinstance(found, tuple) and len(found) == 3):
                    raise CheckFailed("adamw_step should return the new (p, m, v)", "a tuple of 3 tensors", found)
                p, m, v = found
                what = f"p after step {t} (lr {lr}, betas {betas}, eps {eps}, weight_decay {wd})"
                if isinstance(p, torch.Tensor) and p.shape == p0.shape and not torch.allclose(
                        p, expected[t - 1], atol=1e-6, rtol=1e-5):
                    for kwargs, slip, hint in ADAMW_SLIPS:
                        if wd == 0 and "decay" in kwargs:
                            continue  # without decay these slips are the right answer
                        variant = _adam_variant(p0, grads, lr, betas, eps, wd, **kwargs)[t - 1]
                        if torch.allclose(p, variant, atol=1e-6, rtol=1e-5):
                            raise CheckFailed(f"{what}: {slip}", expected[t - 1], p, hint)
                    decayed = _adam_variant(p0, grads, lr, betas, eps, cfg.weight_decay)[t - 1]
                    if wd == 0 and torch.allclose(p, decayed, atol=1e-6, rtol=1e-5):
                        raise CheckFailed(f"{what}: decayed although weight_decay is 0", expected[t - 1], p,
                                          "use the weight_decay argument: make_optimizer gives the norm gains 0")
                expect_close(p, expected[t - 1], what + ", compared with torch.optim.AdamW",
                             "m = beta1·m + (1 - beta1)·g, v = beta2·v + (1 - beta2)·g², bias-correct both, "
                             "shrink p by (1 - lr·weight_decay), then subtract lr · m̂ / (√v̂ + eps)",
                             atol=1e-6, rtol=1e-5)

        # one step of the course loop, and the same step by hand. A stream of block_size + 2 tokens has a
        # single window, so the loop's batch is known: every row is stream[:block_size + 1].
        stream = torch.randint(0, model.config.vocab_size, (cfg.block_size + 2,), generator=g)
        theirs, ours = copy.deepcopy(model), copy.deepcopy(model)
        train(theirs, stream, None, cfg, progress=False)
        idx = stream[: cfg.block_size + 1].expand(cfg.batch_size, -1)  # (B, T+1)
        loss_fn = _course_loss
        if learner_loss[0] is not None:
            try:
                with torch.no_grad():
                    mine = learner_loss[0](ours, idx)
                if abs(float(mine) - _course_loss(ours, idx).item()) < 1e-5:
                    loss_fn = learner_loss[0]
            except Exception:  # an unfinished or wrong exercise 5: use the course's loss
                pass
        if loss_fn is _course_loss:
            used_course_loss.append(True)
        ours.train()
        loss_fn(ours, idx).backward()
        with torch.no_grad():
            for group in make_optimizer(ours, cfg).param_groups:
                for p in group["params"]:
                    new_p, _, _ = adamw_fn(p.detach().clone(), p.grad.clone(), torch.zeros_like(p),
                                           torch.zeros_like(p), 1, lr_at(0, cfg), group["betas"],
                                           group["eps"], group["weight_decay"])
                    p.copy_(new_p)
        for (name, found), expected in zip(ours.named_parameters(), theirs.parameters()):
            expect_close(found.detach(), expected.detach(), f"{name} after one training step, compared with "
                         "course_utils.training.train", "the same step as above, applied to every parameter",
                         atol=1e-6, rtol=1e-5)

    result = run_check("AdamW step", test)
    if result.passed and used_course_loss and next_token_loss is not None:
        print("   (the training step used the course's loss: finish exercise 5 to use yours)")
