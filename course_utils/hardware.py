"""What this machine's hardware does, measured: matmul throughput per dtype, memory bandwidth, and the decode speed
they allow (the roofline of lesson 09).

Generating one token reads every weight once, so decode speed is bounded by bandwidth ÷ bytes of weights
(``decode_bound``); a prompt (prefill) or a large batch reuses each weight for many tokens and is bounded by
matmul throughput instead. Each figure is a median of repeats with its spread; nothing is assumed about the CPU
or GPU: a learner elsewhere sees their own numbers.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from course_utils.errors import BadInputError, DeviceError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Measured:
    """A rate measured ``repeats`` times: its median, slowest and fastest."""

    median: float
    low: float
    high: float
    unit: str
    repeats: int

    def __str__(self) -> str:
        scale, prefix = next(((s, p) for s, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""))
                              if self.median >= s), (1, ""))
        return (f"{self.median / scale:.1f} {prefix}{self.unit} (range {self.low / scale:.1f}–{self.high / scale:.1f}, "
                f"{self.repeats} runs)")


def _rates(work: float, fn, repeats: int, sync) -> list[float]:
    fn()  # warm up: kernels chosen, memory touched
    sync()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        out.append(work / (time.perf_counter() - start))
    return out


def _measured(rates: list[float], unit: str) -> Measured:
    return Measured(statistics.median(rates), min(rates), max(rates), unit, len(rates))


def _sync(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _dtype(name) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise BadInputError(f"Unknown dtype {name!r}: choose one of {', '.join(DTYPES)}.")
    return DTYPES[name]


def matmul_rate(dtype="float32", m: int = 2048, k: int = 2048, n: int = 2048, *, repeats: int = 5,
                threads: int | None = None, device: str = "cpu") -> Measured:
    """FLOP/s of (m, k) @ (k, n) products in ``dtype`` on ``device`` (2·m·k·n FLOPs each)."""
    if min(m, k, n) < 1 or repeats < 1:
        raise BadInputError("matrix sizes and repeats must be at least 1")
    dt = _dtype(dtype)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        a = torch.randn(m, k, device=device).to(dt)
        b = torch.randn(k, n, device=device).to(dt)
        try:
            a[:2] @ b[:, :2]
        except RuntimeError as exc:
            raise DeviceError(f"{dt} matrix products do not run on {device} here ({exc}). "
                              "Use float32, or bfloat16 where supported.") from None
        return _measured(_rates(2 * m * k * n, lambda: a @ b, repeats, _sync(device)), "FLOP/s")
    finally:
        torch.set_num_threads(before)


def copy_bandwidth(megabytes: int = 256, *, repeats: int = 5, device: str = "cpu") -> Measured:
    """Bytes/s moved by copying a ``megabytes`` buffer into another (each byte read once and written once)."""
    if megabytes < 1 or repeats < 1:
        raise BadInputError("megabytes and repeats must be at least 1")
    n = megabytes * 10**6 // 4
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    return _measured(_rates(2 * 4 * n, lambda: dst.copy_(src), repeats, _sync(device)), "B/s")


def decode_bound(weight_bytes: float, bandwidth_bytes_per_s: float) -> float:
    """The most tokens/s one sequence can be decoded at: each token reads every weight once."""
    if weight_bytes <= 0 or bandwidth_bytes_per_s <= 0:
        raise BadInputError("weight bytes and bandwidth must be positive")
    return bandwidth_bytes_per_s / weight_bytes
