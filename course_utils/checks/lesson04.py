"""Checks for the lesson 04 exercises (a tiny GPT), against course_utils.nn."""

from __future__ import annotations

import torch

from course_utils.checks import CheckFailed, expect_close, expect_equal, run_check
from course_utils.nn import GPT, MLP, Block, GPTConfig, RMSNorm, rope_cos_sin

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
