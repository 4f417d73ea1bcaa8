"""What a catalog model needs in memory: its default dtype here, the context it uses, its KV cache,
and the estimate the memory guard and the tiers compare with a machine's budget."""

from __future__ import annotations

from course_utils.catalog import ModelSpec
from course_utils.measure import dtype_bytes, kv_cache_bytes

RUNTIME_OVERHEAD_BYTES = 300 * 1000**2  # Python, torch and the tokenizer, measured ≈ 250-300 MB

# Machines the lessons size models against: name -> (bytes available, is it a CPU machine, where Python and
# torch take RUNTIME_OVERHEAD_BYTES of it). A T4 has no native bf16: its 16-bit is float16, the same bytes.
MACHINES = {
    "Binder (2 GB RAM)": (2e9, True),
    "phone (~8 GB, ~4 GB usable)": (4e9, True),
    "laptop (16 GB RAM)": (16e9, True),
    "Colab T4 (16 GB GPU)": (16e9, False),
    "H100 (80 GB GPU)": (80e9, False),
}


def machines_that_fit(need_bytes: int) -> dict[str, bool]:
    """Machine name -> whether ``need_bytes`` fits (CPU machines keep room for Python and torch)."""
    return {name: need_bytes + (RUNTIME_OVERHEAD_BYTES if cpu else 0) <= capacity
            for name, (capacity, cpu) in MACHINES.items()}


def default_dtype(spec: ModelSpec, device: str = "cpu", bf16_native: bool = True) -> str:
    """fp32 on CPU for small models (exact, fast enough), bf16 on CPU above 1B parameters
    (half the memory); fp16 on GPUs without native bf16 (T4), bf16 on Ampere and newer."""
    if device == "cpu":
        return "float32" if spec.params < 1_000_000_000 else "bfloat16"
    return "bfloat16" if bf16_native else "float16"


def context_used(spec: ModelSpec, seq_len: int) -> int:
    """``seq_len`` clamped to the model's context window: a model never reads, nor caches, more."""
    return min(seq_len, spec.context) if spec.context else seq_len


def kv_cache_bytes_for(spec: ModelSpec, seq_len: int, *, batch: int = 1, dtype: str = "bfloat16",
                       kv_heads: int | None = None) -> int:
    """The KV cache of ``spec`` for ``seq_len`` tokens, clamped to its context (``context_used``).

    ``kv_heads`` overrides the model's, e.g. ``spec.heads`` for the cache without grouped-query attention.
    """
    return kv_cache_bytes(n_layers=spec.n_layers, kv_heads=kv_heads or spec.kv_heads, head_dim=spec.head_dim,
                          seq_len=context_used(spec, seq_len), batch=batch, bytes_per_value=dtype_bytes(dtype))


def estimate_memory_bytes(spec: ModelSpec, dtype: str, context: int = 1024, batch: int = 1) -> int:
    """What loading and running ``spec`` needs: weights + KV cache for ``context`` tokens (at most
    the model's own context) + activations (≈ 10 % of the weights). The process's own overhead is
    not included."""
    n = spec.params or spec.formula_params()
    weights = n * dtype_bytes(dtype)
    kv = kv_cache_bytes_for(spec, context, batch=batch, dtype=dtype)
    return int(weights * 1.10 + kv)
