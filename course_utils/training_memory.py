"""What fine-tuning a catalog model needs in memory: weights + gradients + optimizer states + activations,
for full fine-tuning, LoRA and QLoRA.

The accounting (sources in shared/reference/part3_facts.md, "Fine-tuning cost"):

- full, float32 AdamW: 4 (weight) + 4 (gradient) + 8 (two Adam moments) = 16 bytes per parameter.
- full, bfloat16 mixed precision (ZeRO paper's accounting): 2 (bf16 weight) + 2 (bf16 gradient)
  + 12 (fp32 master copy and the two moments) = 16 bytes per parameter. Hugging Face's "model memory
  anatomy" keeps fp32 gradients too: 18.
- LoRA: the frozen base weights only (N · weight bytes) + 16 bytes per LoRA parameter (adapters are kept
  in fp32, as peft does for a 16-bit base).
- QLoRA (Dettmers et al. 2023): the base's Linear layers in 4-bit NF4 with double-quantized block
  scales, 0.5 + 1/64 + 4/(64·256) ≈ 0.516 bytes per parameter; embeddings and norms stay 16-bit.
- Activations per transformer layer ≈ s·b·h·(34 + 5·a·s/h) bytes at 16-bit (Korthikanti et al. 2022,
  eq. 1; s sequence, b batch, h hidden, a heads). The 5·a·s/h part is the attention scores; kernels
  that never store them (flash / SDPA attention, the paper's "selective recomputation") drop it:
  ``flash_attention=True``. In float32 every saved value takes 4 bytes instead of 2, so the term doubles
  (the paper's 1-byte dropout masks double too; Llama-style models have no dropout, a small
  overcount). LoRA does not shrink the activations.
- Logits: b·s·V·4 bytes for the fp32 logits (the loss is computed in fp32 at any dtype) and as much
  again for their gradient, 8·b·s·V bytes: at a 49k vocabulary this is as big as several layers.

The estimate counts tensors. The process itself (Python, torch, transformers: a few hundred MB) is
extra; ``machines_that_fit`` keeps room for it on CPU machines. tests/test_training_memory.py checks the
estimate against the peak memory of real training steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_utils.catalog import ModelSpec, get_spec
from course_utils.env import human_bytes
from course_utils.errors import BadInputError
from course_utils.sizing import machines_that_fit as sizing_fit

METHODS = ("full", "lora", "qlora")
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "bf16-mixed": "bfloat16"}  # bfloat16 means mixed precision: fp32 master weights and Adam states
FULL_BYTES_PER_PARAM = {  # (weight, gradient, optimizer) bytes per trainable parameter, AdamW
    "float32": (4, 4, 8),
    "bfloat16": (2, 2, 12),  # the optimizer's 12: fp32 master weight + two fp32 moments
}
LORA_BYTES_PER_PARAM = (4, 4, 8)  # adapters in fp32 whatever the base: 16 bytes each
NF4_BYTES_PER_PARAM = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4 bits + an 8-bit scale per 64 + an fp32 one per 256 blocks
KORTHIKANTI_SBH = 34  # bytes per value of s·b·h per layer at 16-bit
KORTHIKANTI_SCORES = 5  # × a·s/h: attention scores, softmax and dropout



@dataclass(frozen=True, kw_only=True)
class TrainingMemory:
    """Bytes of each term of one training step's peak; ``total`` is their sum."""
    model: str
    method: str  # "full", "lora", "qlora"
    dtype: str  # "float32" or "bfloat16" (mixed precision)
    batch: int
    seq_len: int
    params: int  # the base model's parameters
    trainable: int  # parameters the optimizer updates
    weights: int  # the model's weights (for LoRA/QLoRA: the frozen base + the adapters)
    gradients: int
    optimizer: int  # AdamW's two moments (and the fp32 master weights in mixed precision)
    activations: int  # what the transformer layers keep for the backward pass
    logits: int  # fp32 logits and their gradient

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits

    def terms(self) -> dict[str, int]:
        return {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                "activations": self.activations, "logits": self.logits, "total": self.total}

    def summary(self) -> str:
        parts = ", ".join(f"{k} {human_bytes(v)}" for k, v in self.terms().items() if k != "total")
        return (f"{self.model}, {self.method} ({self.dtype}, batch {self.batch} × {self.seq_len} tokens, "
                f"{self.trainable:,} trainable): {human_bytes(self.total)} = {parts}")


# ----------------------------------------------------------------------------- the formulas

def _spec(model) -> ModelSpec:
    spec = model if isinstance(model, ModelSpec) else get_spec(model)
    if not spec.n_layers:
        raise BadInputError(f"{spec.name} has no architecture numbers yet ({spec.notes or 'placeholder'}).")
    return spec


def linear_layers(spec: ModelSpec) -> list[tuple[str, int, int]]:
    """(name, in, out) of the Linear layers of one transformer block (attention, then MLP)."""
    h, m = spec.hidden, spec.mlp
    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    if spec.arch in ("llama", "qwen2"):
        return [("q_proj", h, q), ("k_proj", h, kv), ("v_proj", h, kv), ("o_proj", q, h),
                ("gate_proj", h, m), ("up_proj", h, m), ("down_proj", m, h)]
    if spec.arch == "gpt2":  # Conv1D layers; "c_proj" is both the attention's and the MLP's output
        return [("c_attn", h, q + 2 * kv), ("c_proj", q, h), ("c_fc", h, m), ("c_proj", m, h)]
    if spec.arch == "gpt_neox":
        return [("query_key_value", h, q + 2 * kv), ("dense", q, h),
                ("dense_h_to_4h", h, m), ("dense_4h_to_h", m, h)]
    raise BadInputError(f"no Linear layout for architecture {spec.arch!r}; known: llama, qwen2, gpt2, gpt_neox")


def default_targets(spec: ModelSpec) -> tuple[str, ...]:
    """Every attention and MLP Linear of the architecture (never the output head)."""
    return tuple(dict.fromkeys(name for name, _, _ in linear_layers(spec)))


def lora_parameters(spec, r: int = 8, targets=None) -> int:
    """LoRA parameters by formula: layers · Σ over targets of r·(in + out)."""
    spec = _spec(spec)
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise BadInputError(f"LoRA rank r must be a positive whole number, got {r!r}.")
    targets = default_targets(spec) if targets is None else ((targets,) if isinstance(targets, str) else targets)
    layers = linear_layers(spec)
    unknown = [t for t in targets if t not in {name for name, _, _ in layers}]
    if unknown or not targets:
        raise BadInputError(f"{spec.name} has no Linear layer named {', '.join(unknown) or '(none given)'}. "
                            f"Its attention and MLP layers are: {', '.join(default_targets(spec))}.")
    for name, fan_in, fan_out in layers:
        if name in targets and r > min(fan_in, fan_out):
            raise BadInputError(f"LoRA rank r={r} is larger than {name} allows ({fan_out}×{fan_in}, rank at "
                                f"most {min(fan_in, fan_out)}). Choose a smaller r.")
    return spec.n_layers * sum(r * (fan_in + fan_out) for name, fan_in, fan_out in layers if name in targets)


def activation_bytes(spec, batch: int, seq_len: int, bytes_per_value: int = 2,
                     flash_attention: bool = False) -> int:
    """Korthikanti et al. 2022: L · s·b·h·(34 + 5·a·s/h) bytes at 16-bit, scaled by bytes_per_value / 2.

    ``flash_attention``: the attention scores are never stored (the 5·a·s/h term drops out).
    """
    spec = _spec(spec)
    s, b, h, a = seq_len, batch, spec.hidden, spec.heads
    per_layer = s * b * h * KORTHIKANTI_SBH + (0 if flash_attention else KORTHIKANTI_SCORES * a * s * s * b)
    return int(spec.n_layers * per_layer * bytes_per_value / 2)


def logits_bytes(spec, batch: int, seq_len: int) -> int:
    """The fp32 logits (b, s, V) and their gradient: 2 · b·s·V · 4 bytes."""
    return 2 * batch * seq_len * _spec(spec).vocab * 4


def _check(spec: ModelSpec, method: str, dtype: str, batch: int, seq_len: int) -> str:
    if method not in METHODS:
        raise BadInputError(f"Unknown method {method!r}. Choose one of: {', '.join(METHODS)}.")
    if dtype not in DTYPES:
        raise BadInputError(f"Unknown dtype {dtype!r}. Choose float32 or bfloat16 (mixed precision).")
    for what, value in (("batch", batch), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInputError(f"{what} must be a whole number of at least 1, got {value!r}.")
    if spec.context and seq_len > spec.context:
        raise BadInputError(f"{spec.name} reads at most {spec.context:,} tokens; seq_len={seq_len:,} is longer.")
    return DTYPES[dtype]


def training_memory(model, *, method: str = "lora", dtype: str = "float32", batch: int = 1,
                    seq_len: int = 512, r: int = 8, targets=None,
                    flash_attention: bool = False) -> TrainingMemory:
    """The memory of one AdamW training step of ``model`` (catalog name or ModelSpec), term by term.

    method: "full", "lora" or "qlora". dtype: "float32" or "bfloat16" (mixed precision; QLoRA
    computes in it). r, targets: the LoRA rank and layers (default: every attention and MLP Linear).
    """
    spec = _spec(model)
    dtype = _check(spec, method, dtype, batch, seq_len)
    n = spec.params or spec.formula_params()
    value_bytes = 4 if dtype == "float32" else 2
    activations = activation_bytes(spec, batch, seq_len, value_bytes, flash_attention)
    logits = logits_bytes(spec, batch, seq_len)
    if method == "full":
        w, g, o = FULL_BYTES_PER_PARAM[dtype]
        trainable, weights, gradients, optimizer = n, w * n, g * n, o * n
    else:
        trainable = lora_parameters(spec, r, targets)
        if method == "lora":
            base = n * value_bytes
        else:  # the blocks' Linears in NF4, the rest (embeddings, norms) in the compute dtype
            quantized = spec.n_layers * sum(fan_in * fan_out for _, fan_in, fan_out in linear_layers(spec))
            base = quantized * NF4_BYTES_PER_PARAM + (n - quantized) * value_bytes
        w, g, o = LORA_BYTES_PER_PARAM
        weights, gradients, optimizer = base + w * trainable, g * trainable, o * trainable
    return TrainingMemory(model=spec.name, method=method, dtype=dtype, batch=batch, seq_len=seq_len, params=n,
                          trainable=trainable, weights=int(weights), gradients=int(gradients),
                          optimizer=int(optimizer), activations=activations, logits=logits)


def compare_methods(model, **kwargs) -> list[TrainingMemory]:
    """``training_memory`` for full fine-tuning, LoRA and QLoRA with the same settings."""
    return [training_memory(model, method=method, **kwargs) for method in METHODS]


def machines_that_fit(memory: TrainingMemory | int) -> dict[str, bool]:
    """Machine name (``sizing.MACHINES``) -> whether the estimate fits (CPU machines keep room for Python and torch)."""
    return sizing_fit(memory.total if isinstance(memory, TrainingMemory) else int(memory))


def guard_training(model, *, available_bytes: int | None = None, **settings) -> TrainingMemory:
    """``training_memory(model, **settings)`` if it fits the memory here (or ``available_bytes``); otherwise a
    ModelTooLargeError naming the largest catalog model that would fit, and LoRA when full fine-tuning was asked."""
    from course_utils.catalog import catalog
    from course_utils.env import machine_info
    from course_utils.errors import ModelTooLargeError
    from course_utils.sizing import RUNTIME_OVERHEAD_BYTES

    need = training_memory(model, **settings)
    if available_bytes is None:
        machine = machine_info(check_hub_now=False)
        available_bytes = machine.accelerator_bytes - (0 if machine.gpu else RUNTIME_OVERHEAD_BYTES)
    budget = int(available_bytes * 0.9)
    if need.total <= budget:
        return need

    def fits(spec, **changes) -> bool:
        options = {**settings, **changes}
        options["seq_len"] = min(options.get("seq_len", 512), spec.context or options.get("seq_len", 512))
        return training_memory(spec, **options).total <= budget

    usable = [s for s in catalog().values()
              if s.n_layers and not s.gated and (not s.is_course_model or s.available_offline)]
    smaller = sorted((s for s in usable if fits(s)), key=lambda s: s.params, reverse=True)
    advice = f" {smaller[0].name} ({smaller[0].params / 1e6:,.1f}M parameters) fits" if smaller else \
        " No catalog model fits with these settings"
    if settings.get("method", "lora") == "full" and fits(_spec(model), method="lora"):
        advice += f"; or fine-tune {need.model} with method='lora'"
    raise ModelTooLargeError(
        f"Fine-tuning {need.model} ({need.method}, {need.dtype}, batch {need.batch} × {need.seq_len}) needs about "
        f"{human_bytes(need.total)}, but this machine has {human_bytes(available_bytes)} available.{advice}.")
