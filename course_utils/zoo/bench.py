"""This machine's dense matmul throughput, the yardstick for achieved training FLOP/s."""

from __future__ import annotations

import time

import torch

from course_utils.hardware import matmul_rate


def matmul_flops(n: int = 2048, seconds: float = 3.0, threads: int | None = None) -> float:
    """FLOP/s of float32 (n x n) @ (n x n) products, the fastest of as many runs as fit in about ``seconds``
    (``hardware.matmul_rate``), on ``threads`` torch threads (default: torch's current setting)."""
    first = matmul_rate("float32", n, n, n, repeats=1, threads=threads)
    repeats = max(1, min(1000, int(seconds * first.median / (2 * n ** 3))))
    return max(first.high, matmul_rate("float32", n, n, n, repeats=repeats, threads=threads).high)


def layer_matmul_flops(rows: int, hidden: int, mlp: int, vocab: int, dtype: torch.dtype = torch.float32,
                       threads: int | None = None, repeats: int = 3, device: str = "cpu") -> float:
    """FLOP/s of the matmuls one training step makes, at their real shapes: ``rows`` = batch × context
    activations through q, k, v, o (hidden × hidden), gate and up (hidden × mlp), down (mlp × hidden)
    and the output head (hidden × vocab); best of ``repeats``. The yardstick a training run is held to."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    shapes = [(hidden, hidden)] * 4 + [(hidden, mlp)] * 2 + [(mlp, hidden), (hidden, vocab)]
    xs = {k: torch.randn(rows, k, dtype=dtype, device=device) for k in {hidden, mlp}}
    ws = [torch.randn(k, n, dtype=dtype, device=device) for k, n in shapes]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    flops = sum(2 * rows * k * n for k, n in shapes)
    try:
        for w in ws:
            xs[w.shape[0]] @ w  # warm up
        sync()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            for w in ws:
                xs[w.shape[0]] @ w
            sync()
            best = min(best, time.perf_counter() - t)
    finally:
        torch.set_num_threads(before)
    return flops / best
