"""The model catalog as data, and the hardware tiers that pick a (small, large) pair.

Facts come from the models' config.json files and model cards (see
``shared/reference/model_facts.md``); every benchmark score carries its source. Scores are
comparable *within* a family only: families use different harnesses and shot counts.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from course_utils import MODELS_DIR
from course_utils.measure import dtype_bytes, kv_cache_bytes, params_from_architecture


@dataclass(frozen=True)
class Score:
    value: float
    source: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    hub_id: str | None  # None for the course's own models
    family: str
    arch: str  # transformers model_type: llama, qwen2, gpt2, gpt_neox
    params: int
    n_layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    mlp: int
    vocab: int
    context: int
    tied_embeddings: bool
    license: str
    checkpoint_dtype: str
    instruct: bool = False
    gated: bool = False
    revision: str = "main"
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    scores: dict = field(default_factory=dict, compare=False)
    local_path: str | None = None  # folder for course models (relative to models/)
    trained_tokens: str = ""
    notes: str = ""

    @property
    def is_course_model(self) -> bool:
        return self.hub_id is None

    @property
    def path(self) -> Path | None:
        return MODELS_DIR / self.local_path if self.local_path else None

    @property
    def available_offline(self) -> bool:
        return self.path is not None and (self.path / "config.json").exists()

    def formula_params(self) -> int:
        """Parameters computed from the architecture numbers (checked against ``params``)."""
        return params_from_architecture(
            arch=self.arch, n_layers=self.n_layers, hidden=self.hidden, heads=self.heads,
            kv_heads=self.kv_heads, head_dim=self.head_dim, mlp=self.mlp, vocab=self.vocab,
            tied_embeddings=self.tied_embeddings, context=self.context)

    def to_config(self):
        """A transformers config with this architecture (for "from config" mode)."""
        from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, Qwen2Config

        if self.arch in ("llama", "qwen2"):
            cls = LlamaConfig if self.arch == "llama" else Qwen2Config
            return cls(vocab_size=self.vocab, hidden_size=self.hidden, intermediate_size=self.mlp,
                       num_hidden_layers=self.n_layers, num_attention_heads=self.heads,
                       num_key_value_heads=self.kv_heads, head_dim=self.head_dim,
                       max_position_embeddings=self.context, tie_word_embeddings=self.tied_embeddings,
                       rope_theta=self.rope_theta, rms_norm_eps=self.norm_eps)
        if self.arch == "gpt2":
            return GPT2Config(vocab_size=self.vocab, n_positions=self.context, n_embd=self.hidden,
                              n_layer=self.n_layers, n_head=self.heads, n_inner=self.mlp,
                              tie_word_embeddings=True)
        if self.arch == "gpt_neox":
            return GPTNeoXConfig(vocab_size=self.vocab, hidden_size=self.hidden,
                                 num_hidden_layers=self.n_layers, num_attention_heads=self.heads,
                                 intermediate_size=self.mlp, max_position_embeddings=self.context,
                                 rotary_pct=0.25, use_parallel_residual=True,
                                 tie_word_embeddings=False)
        raise ValueError(f"no config builder for architecture {self.arch!r}")


# ----------------------------------------------------------------------------- the catalog

_SMOL_SRC = "SmolLM2 model card, base models, zero-shot"
_SMOL_INSTR_SRC = "SmolLM2 model card, instruct models"
_QWEN_SRC = "Qwen2.5 blog, base models (MMLU 5-shot, HellaSwag 10-shot, ARC-C 25-shot, GSM8K 4-shot)"
_PYTHIA_SRC = "EleutherAI/pythia evals, zero-shot, step143000"
_GPT2_SRC = "Radford et al. 2019, Table 3, zero-shot"


def _scores(source: str, **values: float) -> dict:
    names = {"hellaswag": "HellaSwag", "arc": "ARC (avg)", "arc_c": "ARC-Challenge", "piqa": "PIQA",
             "mmlu": "MMLU", "gsm8k": "GSM8K", "lambada": "LAMBADA acc", "ifeval": "IFEval",
             "mt_bench": "MT-Bench", "wikitext_ppl": "WikiText-103 perplexity"}
    return {names[k]: Score(v, source) for k, v in values.items()}


def _smol(size, params, layers, hidden, heads, kv, mlp, rope, scores, instr_scores, tokens):
    base = ModelSpec(f"SmolLM2-{size}", f"HuggingFaceTB/SmolLM2-{size}", "SmolLM2", "llama", params,
                     layers, hidden, heads, kv, 64, mlp, 49152, 8192, True, "Apache-2.0", "bfloat16",
                     rope_theta=rope, scores=scores, trained_tokens=tokens)
    instruct = replace(base, name=base.name + "-Instruct", hub_id=base.hub_id + "-Instruct",
                       instruct=True, scores={**scores, **instr_scores})
    return [base, instruct]


def _qwen(size, params, layers, hidden, heads, kv, hd, mlp, vocab, context, tied, scores):
    base = ModelSpec(f"Qwen2.5-{size}", f"Qwen/Qwen2.5-{size}", "Qwen2.5", "qwen2", params, layers,
                     hidden, heads, kv, hd, mlp, vocab, context, tied, "Apache-2.0", "bfloat16",
                     rope_theta=1_000_000.0, norm_eps=1e-6, scores=scores, trained_tokens="up to 18T")
    instruct = replace(base, name=base.name + "-Instruct", hub_id=base.hub_id + "-Instruct",
                       instruct=True, context=min(context, 32768))
    return [base, instruct]


def _pythia(size, params, layers, hidden, heads, hd, lambada, piqa):
    return ModelSpec(f"Pythia-{size}", f"EleutherAI/pythia-{size.lower()}", "Pythia", "gpt_neox", params,
                     layers, hidden, heads, heads, hd, 4 * hidden, 50304, 2048, False, "Apache-2.0",
                     "float16", scores=_scores(_PYTHIA_SRC, lambada=lambada, piqa=piqa),
                     trained_tokens="300B (same data, same order at every size)")


def _gpt2(name, hub, params, layers, hidden, heads, lambada, ppl):
    return ModelSpec(name, hub, "GPT-2", "gpt2", params, layers, hidden, heads, heads, 64, 4 * hidden,
                     50257, 1024, True, "MIT", "float32",
                     scores=_scores(_GPT2_SRC, lambada=lambada, wikitext_ppl=ppl), trained_tokens="WebText")


HUB_MODELS: list[ModelSpec] = [
    *_smol("135M", 134_515_008, 30, 576, 9, 3, 1536, 100_000.0,
           _scores(_SMOL_SRC, hellaswag=42.1, arc=43.9, piqa=68.4),
           _scores(_SMOL_INSTR_SRC, ifeval=29.9, mt_bench=1.98), "2T"),
    *_smol("360M", 361_821_120, 32, 960, 15, 5, 2560, 100_000.0,
           _scores(_SMOL_SRC, hellaswag=54.5, arc=53.0, piqa=71.7),
           _scores(_SMOL_INSTR_SRC, ifeval=41.0, mt_bench=3.66), "4T"),
    *_smol("1.7B", 1_711_376_384, 24, 2048, 32, 32, 8192, 130_000.0,
           _scores(_SMOL_SRC, hellaswag=68.7, arc=60.5, piqa=77.6),
           _scores(_SMOL_INSTR_SRC, ifeval=56.7, mt_bench=6.13), "11T"),
    *_qwen("0.5B", 494_032_768, 24, 896, 14, 2, 64, 4864, 151936, 32768, True,
           _scores(_QWEN_SRC, mmlu=47.5, hellaswag=52.1, arc_c=35.6, gsm8k=41.6)),
    *_qwen("1.5B", 1_543_714_304, 28, 1536, 12, 2, 128, 8960, 151936, 32768, True,
           _scores(_QWEN_SRC, mmlu=60.9, hellaswag=67.9, arc_c=54.7, gsm8k=68.5)),
    *_qwen("7B", 7_615_616_512, 28, 3584, 28, 4, 128, 18944, 152064, 131072, False,
           _scores(_QWEN_SRC, mmlu=74.2, hellaswag=80.2, arc_c=63.7, gsm8k=85.4)),
    _pythia("70M", 70_426_624, 6, 512, 8, 64, 18.5, 59.5),
    _pythia("160M", 162_322_944, 12, 768, 12, 64, 32.8, 62.7),
    _pythia("410M", 405_334_016, 24, 1024, 16, 64, 51.6, 66.8),
    _pythia("1B", 1_011_781_632, 16, 2048, 8, 256, 56.2, 70.7),
    _pythia("1.4B", 1_414_647_808, 24, 2048, 16, 128, 61.6, 70.9),
    _gpt2("GPT-2", "openai-community/gpt2", 124_439_808, 12, 768, 12, 45.99, 37.50),
    _gpt2("GPT-2-medium", "openai-community/gpt2-medium", 354_823_168, 24, 1024, 16, 55.48, 26.37),
    _gpt2("GPT-2-large", "openai-community/gpt2-large", 774_030_080, 36, 1280, 20, 60.12, 22.05),
    _gpt2("GPT-2-xl", "openai-community/gpt2-xl", 1_557_611_200, 48, 1600, 25, 63.24, 17.48),
]

# Gated models need a login and a licence click: listed so learners know of them, never defaults.
GATED_HUB_IDS = ("google/gemma-3-270m", "google/gemma-3-1b-it", "meta-llama/Llama-3.2-1B-Instruct")

MANIFEST = MODELS_DIR / "manifest.json"


def _read_manifest(path: Path | None = None) -> dict | None:
    try:
        return json.loads((path or MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def course_models(manifest_path: Path | None = None) -> list[ModelSpec]:
    """The course's own models from models/manifest.json (placeholders until they are built)."""
    manifest = _read_manifest(manifest_path)
    if not manifest or not manifest.get("models"):
        return [
            ModelSpec(name, None, "course", "llama", 0, 0, 0, 0, 0, 0, 0, 0, 0, True, "Apache-2.0",
                      "float32", local_path=name,
                      notes="placeholder: build with `python -m course_utils zoo build`")
            for name in ("course-slm", "course-llm")
        ]
    specs = []
    for m in manifest["models"]:
        a = m["architecture"]
        metrics = m.get("metrics", {})
        scores = {}
        if "val_bits_per_char" in metrics:
            scores["validation bits/char (course corpus)"] = Score(
                metrics["val_bits_per_char"]["mix"], "measured by `zoo build`, models/manifest.json")
        if "helpdesk_accuracy" in metrics:
            scores["helpdesk category accuracy"] = Score(
                metrics["helpdesk_accuracy"], "measured by `zoo build`, models/manifest.json")
        specs.append(ModelSpec(
            m["name"], None, "course", "llama", m["params"], a["n_layers"], a["hidden"], a["heads"],
            a["kv_heads"], a["head_dim"], a["mlp"], a["vocab"], a["context"], a["tied_embeddings"],
            "Apache-2.0", m.get("dtype", "float32"), rope_theta=a.get("rope_theta", 10000.0),
            scores=scores, local_path=m["path"],
            trained_tokens=str(m.get("training", {}).get("tokens", "")),
            notes="trained by the course on its generated corpus"))
    return specs


def course_aliases(manifest_path: Path | None = None) -> dict[str, str]:
    manifest = _read_manifest(manifest_path) or {}
    return dict(manifest.get("aliases", {}))


def catalog() -> dict[str, ModelSpec]:
    """All models by name: the hub models and the course models."""
    return {spec.name: spec for spec in HUB_MODELS + course_models()}


class UnknownModelError(ValueError):
    pass


def get_spec(name: str) -> ModelSpec:
    """Look up a model by catalog name (any case), course alias or hub id."""
    models = catalog()
    aliases = course_aliases()
    key = aliases.get(name, name)
    if key in models:
        return models[key]
    for spec in models.values():
        if key.lower() in (spec.name.lower(), (spec.hub_id or "").lower()):
            return spec
    names = sorted(models) + sorted(aliases)
    close = [n for n in names if name.lower() in n.lower()][:4] or \
        difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"Unknown model {name!r}.{hint} Valid names: {', '.join(names)}. "
        "A local folder saved with save_pretrained also works: pass its path.")


# ----------------------------------------------------------------------------- hardware tiers

RUNTIME_OVERHEAD_BYTES = 300 * 1000**2  # Python, torch and the tokenizer, measured ≈ 250-300 MB


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


@dataclass(frozen=True)
class Tier:
    name: str
    description: str
    candidates_small: tuple[str, ...]
    candidates_large: tuple[str, ...]  # in order of preference: the first that fits is chosen


TIERS = {
    "offline": Tier("offline", "no model hub: the course's own trained models",
                    ("course-slm",), ("course-llm",)),
    "binder": Tier("binder", "Binder-class container, about 2 GB RAM, CPU",
                   ("SmolLM2-135M-Instruct",), ("SmolLM2-360M-Instruct", "Qwen2.5-0.5B-Instruct")),
    "laptop-cpu": Tier("laptop-cpu", "a laptop or workstation CPU, 8 GB RAM or more",
                       ("SmolLM2-135M-Instruct",),
                       ("SmolLM2-1.7B-Instruct", "Qwen2.5-1.5B-Instruct", "SmolLM2-360M-Instruct")),
    "small-gpu": Tier("small-gpu", "a GPU with up to 24 GB, e.g. the Colab T4 (16 GB, no native bf16)",
                      ("SmolLM2-135M-Instruct",),
                      ("Qwen2.5-7B-Instruct", "SmolLM2-1.7B-Instruct", "Qwen2.5-1.5B-Instruct")),
    "large-gpu": Tier("large-gpu", "a large GPU (A100/H100 class, 40 GB or more)",
                      ("SmolLM2-360M-Instruct",), ("Qwen2.5-7B-Instruct", "SmolLM2-1.7B-Instruct")),
}


def tier_for(machine) -> Tier:
    """The hardware tier of a ``course_utils.env.MachineInfo``."""
    if machine.hub is not None and not machine.hub.reachable:
        return TIERS["offline"]
    if machine.gpu:
        return TIERS["large-gpu" if machine.gpu.total_bytes >= 40e9 else "small-gpu"]
    return TIERS["binder" if machine.ram_total_bytes < 6e9 else "laptop-cpu"]


@dataclass(frozen=True)
class PairChoice:
    tier: Tier
    small: str
    large: str
    budget_bytes: int
    needed_bytes: int
    reason: str
    dtype: str = "default"  # "default" (per model, see default_dtype) or "bfloat16" when memory is tight

    @property
    def load_dtype(self) -> str | None:
        """The dtype to pass to ``load_model`` (None: each model's default), as the pair was sized."""
        return None if self.dtype == "default" else self.dtype


def pick_pair(machine, context: int = 1024) -> PairChoice:
    """The (small, large) pair this machine runs side by side: the biggest large model that fits
    next to the small one in the memory budget (both are loaded at once in the arena). On a CPU
    short of memory, bfloat16 is tried before settling for a smaller model."""
    tier = tier_for(machine)
    aliases = course_aliases()
    if tier.name == "offline":
        small, large = aliases.get("course-slm", "course-slm"), aliases.get("course-llm", "course-llm")
        return PairChoice(tier, small, large, machine.accelerator_bytes, 0,
                          "offline: the course's own models, shipped in models/")
    device = machine.device
    bf16 = machine.gpu.bf16_native if machine.gpu else True
    budget = machine.accelerator_bytes - (0 if machine.gpu else RUNTIME_OVERHEAD_BYTES)
    budget = int(budget * 0.8)  # keep a margin: the notebook and the OS need memory too

    def need(name, dtype):
        spec = get_spec(name)
        return estimate_memory_bytes(spec, dtype if dtype != "default" else
                                     default_dtype(spec, device, bf16), context)

    dtypes = ("default",) if machine.gpu else ("default", "bfloat16")
    small = tier.candidates_small[0]
    for large in tier.candidates_large:
        for dtype in dtypes:
            total = need(small, dtype) + need(large, dtype)
            if total <= budget:
                return PairChoice(tier, small, large, budget, total, "the largest candidate that fits",
                                  dtype)
    dtype = dtypes[-1]  # the smallest dtype tried
    large = min(tier.candidates_large, key=lambda name: need(name, dtype))
    return PairChoice(tier, small, large, budget, need(small, dtype) + need(large, dtype),
                      "nothing fits the budget: the smallest candidate pair; expect to be tight on memory",
                      dtype)


def models_that_fit(budget_bytes: int, device: str = "cpu", context: int = 1024,
                    bf16_native: bool = True) -> list[ModelSpec]:
    """Catalog models (ungated) that fit ``budget_bytes``, largest first."""
    fits = []
    for spec in catalog().values():
        if spec.gated or (spec.is_course_model and not spec.available_offline):
            continue
        if estimate_memory_bytes(spec, default_dtype(spec, device, bf16_native), context) <= budget_bytes:
            fits.append(spec)
    return sorted(fits, key=lambda s: s.params, reverse=True)
