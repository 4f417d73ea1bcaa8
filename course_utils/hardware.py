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


@dataclass(frozen=True)
class DtypeSupport:
    """Whether ``dtype`` matrix products run on a device, and how fast against float32."""

    dtype: str
    runs: bool
    speed_vs_float32: float | None  # > 1: faster than float32
    note: str


def dtype_support(dtype, *, device: str = "cpu", n: int = 256) -> DtypeSupport:
    """Try a small (n × n) product in ``dtype``: refused, emulated (far slower than float32) or native.

    Small and on one thread on purpose: an emulated dtype can run 100× slower than float32, and this must stay
    quick; one thread keeps a busy machine's other work from skewing the ratio.
    """
    name = str(_dtype(dtype)).removeprefix("torch.")
    if name == "float32":
        return DtypeSupport(name, True, 1.0, "the reference: 4 bytes per number, supported everywhere.")
    try:
        rate = matmul_rate(dtype, n, n, n, repeats=3, threads=1, device=device).median
    except DeviceError as exc:
        return DtypeSupport(name, False, None, str(exc))
    ratio = rate / matmul_rate("float32", n, n, n, repeats=3, threads=1, device=device).median
    if ratio < 0.2:
        note = (f"runs, but {1 / ratio:.0f}× slower than float32 here: emulated, without hardware support on "
                f"this {device}. Use float32 (or bfloat16 if it is faster) on this machine.")
    elif ratio > 1.2:
        note = f"{ratio:.1f}× faster than float32 here: the hardware computes in {name} directly."
    else:
        note = f"about as fast as float32 here ({ratio:.2f}×): it halves memory, not compute time."
    return DtypeSupport(name, True, ratio, note)


def plot_roofline(points: list[dict], bandwidth_bytes_per_s: float, ax=None):
    """Decode tokens/s against bytes of weights (log–log): the bandwidth bound as a line, each measured model as a
    point. ``points``: dicts with ``label``, ``weight_bytes`` and ``tokens_per_s``."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 4.5))[1]
    sizes = [p["weight_bytes"] for p in points]
    lo, hi = min(sizes) / 2, max(sizes) * 2
    xs = [lo * (hi / lo) ** (i / 50) for i in range(51)]
    ax.plot(xs, [decode_bound(x, bandwidth_bytes_per_s) for x in xs], "k--",
            label=f"bound: {bandwidth_bytes_per_s / 1e9:.0f} GB/s ÷ weight bytes")
    for p in points:
        ax.scatter(p["weight_bytes"], p["tokens_per_s"], s=40, label=p["label"], marker=p.get("marker", "o"))
    ax.set(xscale="log", yscale="log", xlabel="bytes of weights read per token", ylabel="decode tokens/s",
           title="Decode speed against the memory-bandwidth bound")
    ax.legend(fontsize=8)
    return ax


def plot_matmul_rates(rates: dict[tuple[str, str, int], Measured], ax=None):
    """Bars of median GFLOP/s per shape, one bar per (dtype, threads); ``rates`` keyed (shape, dtype, threads)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(8, 3.5))[1]
    shapes = list(dict.fromkeys(k[0] for k in rates))
    series = list(dict.fromkeys(k[1:] for k in rates))
    width = 0.8 / len(series)
    for i, (dtype, threads) in enumerate(series):
        ax.bar([j + i * width for j in range(len(shapes))],
               [rates[(s, dtype, threads)].median / 1e9 for s in shapes], width, label=f"{dtype}, {threads} thread(s)")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(shapes))], shapes, fontsize=8)
    ax.set(ylabel="GFLOP/s", title="Matrix throughput on this machine")
    ax.legend(fontsize=8)
    return ax
