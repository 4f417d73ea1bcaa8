"""Measure a model: parameters, memory, KV cache, FLOPs, generation timing, perplexity.

The formulas here are the ones the lessons teach; tests check each against a real model
(the parameter count torch reports, the KV cache a real ``generate`` call allocates).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import psutil
import torch

from course_utils.streaming import NewTokenStreamer

DTYPE_BYTES = {
    torch.float32: 4, torch.float16: 2, torch.bfloat16: 2, torch.int8: 1,
    "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "int4": 0.5,
}


# --------------------------------------------------------------------------- parameters

def _component(name: str) -> str:
    n = name.lower()
    if "lm_head" in n or "embed_out" in n:
        return "lm_head"
    if "embed" in n or n.startswith(("transformer.wte", "transformer.wpe")) or ".wte." in n or ".wpe." in n:
        return "embedding"
    if "norm" in n or ".ln_" in n or "layernorm" in n:
        return "norm"
    if "attn" in n or "attention" in n:
        return "attention"
    if "mlp" in n:
        return "mlp"
    return "other"


def count_parameters(model: torch.nn.Module) -> dict:
    """Total, embedding, non-embedding and per-component parameter counts.

    Tied weights (input embedding shared with the output head) are counted once, as torch
    does in ``model.parameters()``.
    """
    by_component: dict[str, int] = {}
    for name, p in model.named_parameters():  # named_parameters() skips shared tensors
        comp = _component(name)
        by_component[comp] = by_component.get(comp, 0) + p.numel()
    total = sum(by_component.values())
    embedding = by_component.get("embedding", 0) + by_component.get("lm_head", 0)
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding,
            "by_component": by_component}


def params_from_architecture(*, arch: str, n_layers: int, hidden: int, heads: int, kv_heads: int,
                             head_dim: int, mlp: int, vocab: int, tied_embeddings: bool,
                             context: int = 0) -> int:
    """Parameter count from the architecture numbers alone (what a config.json says).

    llama (SmolLM2, the course models): no biases, SwiGLU MLP (3 matrices), RMSNorm.
    qwen2: like llama plus biases on q, k, v. gpt2 / gpt_neox: biases everywhere, 2-matrix
    GELU MLP, LayerNorm with bias; GPT-2 also learns position embeddings.
    """
    q, kv = heads * head_dim, kv_heads * head_dim
    emb = vocab * hidden
    head = 0 if tied_embeddings else vocab * hidden
    if arch in ("llama", "qwen2"):
        attn = hidden * q + 2 * hidden * kv + q * hidden
        if arch == "qwen2":
            attn += q + 2 * kv
        per_layer = attn + 3 * hidden * mlp + 2 * hidden  # 2 RMSNorm weights
        return emb + head + n_layers * per_layer + hidden  # + final norm
    if arch in ("gpt2", "gpt_neox"):
        attn = hidden * (q + 2 * kv) + (q + 2 * kv) + q * hidden + hidden
        mlp_p = 2 * hidden * mlp + mlp + hidden
        per_layer = attn + mlp_p + 4 * hidden  # 2 LayerNorms, weight + bias
        positions = context * hidden if arch == "gpt2" else 0
        return emb + positions + head + n_layers * per_layer + 2 * hidden
    raise ValueError(f"unknown architecture {arch!r}; known: llama, qwen2, gpt2, gpt_neox")


# --------------------------------------------------------------------------- memory

def dtype_bytes(dtype) -> float:
    key = dtype if isinstance(dtype, torch.dtype) else str(dtype).replace("torch.", "")
    if key not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: float32, bfloat16, float16, int8, int4")
    return DTYPE_BYTES[key]


def weights_bytes(n_params: int, dtype) -> int:
    return int(n_params * dtype_bytes(dtype))


def model_memory_bytes(model: torch.nn.Module) -> int:
    """Bytes held by the model's parameters and buffers (shared tensors counted once)."""
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        if t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total


def kv_cache_bytes(*, n_layers: int, kv_heads: int, head_dim: int, seq_len: int, batch: int = 1,
                   bytes_per_value: float = 2) -> int:
    """2 (keys and values) · layers · kv_heads · head_dim · sequence length · batch · bytes.

    The bare formula: ``seq_len`` is not clamped. For a catalog model use
    ``sizing.kv_cache_bytes_for``, which stops at the model's context window."""
    return int(2 * n_layers * kv_heads * head_dim * seq_len * batch * bytes_per_value)


def cache_tensor_bytes(past_key_values) -> int:
    """Bytes actually held by a transformers cache object (or legacy tuple of tuples)."""
    total = 0
    layers = getattr(past_key_values, "layers", None)
    if layers is not None:
        for layer in layers:
            for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size()
        return total
    for layer in past_key_values:
        for t in layer:
            total += t.numel() * t.element_size()
    return total


# --------------------------------------------------------------------------- FLOPs

def flops_per_token(n_params_non_embedding: int, *, n_layers: int, context: int, attn_dim: int,
                    head_params: int = 0) -> int:
    """Forward FLOPs to produce one token: 2·N for the matmuls of the N non-embedding parameters,
    2·layers·context·d_attn for attending over ``context`` earlier tokens, and 2·``head_params``
    for the output head.

    Conventions differ on the head. Kaplan et al. 2020 (Table 1) list its 2·vocab·hidden FLOPs
    ("de-embed") but leave them out of C_forward ≈ 2N + 2·n_layer·n_ctx·d_attn: that is the default,
    ``head_params=0``. The dense count (nanoGPT's transformer_sizing notebook, and what a FLOP
    counter measures) includes the head's matmul, run for every token even when its weights are
    tied to the input embedding (the embedding itself is a lookup, 0 FLOPs): pass
    ``head_params=vocab * hidden``. For a small model the head is a big share: for SmolLM2-135M at
    context 256 it is 57 of 278 MFLOPs.
    """
    return int(2 * n_params_non_embedding + 2 * n_layers * context * attn_dim + 2 * head_params)


def training_flops(n_params: int, n_tokens: int) -> int:
    """≈ 6·N·D: forward (2ND) plus backward (4ND)."""
    return int(6 * n_params * n_tokens)


# --------------------------------------------------------------------------- timing

@dataclass
class GenerationTiming:
    n_prompt_tokens: int
    n_new_tokens: int
    time_to_first_token_s: float
    total_s: float
    arrivals_s: list[float] = field(default_factory=list)  # when each new token arrived, from the call's start

    @property
    def tokens_per_s(self) -> float:
        """Decode speed: tokens after the first, per second after the first arrived."""
        decode_s = self.total_s - self.time_to_first_token_s
        if self.n_new_tokens <= 1 or decode_s <= 0:
            return self.n_new_tokens / self.total_s if self.total_s > 0 else float("nan")
        return (self.n_new_tokens - 1) / decode_s


class _TimingStreamer(NewTokenStreamer):
    """A streamer that only records when each new token arrives."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_new_tokens(self, ids: torch.Tensor) -> None:
        self.times.append(time.perf_counter())


@torch.no_grad()
def time_generation(model, input_ids: torch.Tensor, max_new_tokens: int = 32, **generate_kwargs):
    """Run ``model.generate`` and return (output_ids, GenerationTiming)."""
    streamer = _TimingStreamer()
    start = time.perf_counter()
    out = model.generate(input_ids, max_new_tokens=max_new_tokens, streamer=streamer, **generate_kwargs)
    end = time.perf_counter()
    n_new = out.shape[1] - input_ids.shape[1]
    ttft = (streamer.times[0] - start) if streamer.times else end - start
    return out, GenerationTiming(input_ids.shape[1], n_new, ttft, end - start, [t - start for t in streamer.times])


def _reset_linux_peak_rss() -> bool:
    """Linux keeps the peak resident memory (VmHWM); writing 5 to clear_refs resets it to now."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _linux_peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM")


def peak_memory(fn, *args, interval_s: float = 0.002, **kwargs):
    """Run ``fn`` and return (result, peak extra bytes): the GPU allocator's peak on CUDA; on
    Linux the kernel's exact peak resident memory (VmHWM, reset first); elsewhere resident
    memory sampled every ``interval_s``."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        result = fn(*args, **kwargs)
        torch.cuda.synchronize()
        return result, torch.cuda.max_memory_allocated() - base
    proc = psutil.Process()
    base = proc.memory_info().rss
    if _reset_linux_peak_rss():
        result = fn(*args, **kwargs)
        return result, max(0, _linux_peak_rss() - base)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = fn(*args, **kwargs)
    finally:
        stop.set()
        sampler.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return result, peak[0] - base


# --------------------------------------------------------------------------- perplexity

@torch.no_grad()
def perplexity(model, tokenizer, text: str, *, max_length: int | None = None, stride: int | None = None) -> dict:
    """Cross-entropy of ``text`` under the model, as perplexity and bits per character.

    Texts longer than the context are scored with a sliding window so every token is
    predicted once, each with up to ``max_length`` tokens of context.
    """
    if not text:
        raise ValueError("perplexity needs a non-empty text")
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
    bos = tokenizer.bos_token_id
    if bos is not None:
        ids = torch.cat([torch.tensor([[bos]]), ids], dim=1)  # so the first token is predicted too
    max_length = max_length or getattr(model.config, "max_position_embeddings", 1024)
    stride = min(stride or max_length - 1, max_length - 1)  # windows overlap by >= 1 token: no gaps
    device = next(model.parameters()).device
    nll_sum, n_predicted, prev_end = 0.0, 0, 0
    T = ids.shape[1]
    for begin in range(0, T - 1, stride):
        end = min(begin + max_length, T)
        window = ids[:, begin:end].to(device)
        logits = model(window).logits.float()  # (1, t, V)
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = window[:, 1:]
        token_nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)[0]  # (t-1,)
        new = end - max(prev_end, begin + 1)  # tokens not scored by an earlier window
        nll_sum += token_nll[-new:].sum().item()
        n_predicted += new
        prev_end = end
        if end == T:
            break
    nll = nll_sum / n_predicted
    return {"n_tokens": n_predicted, "n_chars": len(text), "nll_per_token": nll,
            "perplexity": math.exp(nll), "bits_per_char": nll_sum / math.log(2) / len(text)}
