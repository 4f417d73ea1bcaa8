"""This machine's dense matmul throughput, the yardstick for achieved training FLOP/s."""

from __future__ import annotations

import time

import torch


def matmul_flops(n: int = 2048, seconds: float = 3.0, threads: int | None = None) -> float:
    """FLOP/s of float32 (n x n) @ (n x n) products, best of repeated timing runs, on ``threads``
    torch threads (default: torch's current setting)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm up
    best, end = 0.0, time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        for _ in range(3):
            a @ b
        best = max(best, 3 * 2 * n ** 3 / (time.perf_counter() - t))
    torch.set_num_threads(before)
    return best
