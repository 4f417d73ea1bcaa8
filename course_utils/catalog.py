"""The model catalog as data: hub models with their published facts, and the course's own models.

Facts come from the models' config.json files and model cards (see
``shared/reference/model_facts.md``); every benchmark score carries its source. Scores are
comparable *within* a family only: families use different harnesses and shot counts.
Which models a machine runs is a separate question: ``course_utils.tiers``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from course_utils import MODELS_DIR
from course_utils.errors import UnknownModelError
from course_utils.measure import params_from_architecture


@dataclass(frozen=True)
class Score:
    value: float
    source: str


@dataclass(frozen=True, kw_only=True)
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


# ----------------------------------------------------------------------------- the hub models

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


def _with_instruct(base: ModelSpec, **changes) -> list[ModelSpec]:
    """The base model and its "-Instruct" sibling (same weights' shape, chat-tuned)."""
    instruct = replace(base, name=base.name + "-Instruct", hub_id=base.hub_id + "-Instruct", instruct=True,
                       **changes)
    return [base, instruct]


def _smol(size, *, params, n_layers, hidden, heads, kv_heads, mlp, rope_theta, scores, instruct_scores, tokens):
    base = ModelSpec(name=f"SmolLM2-{size}", hub_id=f"HuggingFaceTB/SmolLM2-{size}", family="SmolLM2",
                     arch="llama", params=params, n_layers=n_layers, hidden=hidden, heads=heads,
                     kv_heads=kv_heads, head_dim=64, mlp=mlp, vocab=49152, context=8192, tied_embeddings=True,
                     license="Apache-2.0", checkpoint_dtype="bfloat16", rope_theta=rope_theta, scores=scores,
                     trained_tokens=tokens)
    return _with_instruct(base, scores={**scores, **instruct_scores})


def _qwen(size, *, params, n_layers, hidden, heads, kv_heads, head_dim, mlp, vocab, context, tied, scores):
    base = ModelSpec(name=f"Qwen2.5-{size}", hub_id=f"Qwen/Qwen2.5-{size}", family="Qwen2.5", arch="qwen2",
                     params=params, n_layers=n_layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                     head_dim=head_dim, mlp=mlp, vocab=vocab, context=context, tied_embeddings=tied,
                     license="Apache-2.0", checkpoint_dtype="bfloat16", rope_theta=1_000_000.0, norm_eps=1e-6,
                     scores=scores, trained_tokens="up to 18T")
    return _with_instruct(base, context=min(context, 32768))


def _pythia(size, *, params, n_layers, hidden, heads, head_dim, lambada, piqa):
    return ModelSpec(name=f"Pythia-{size}", hub_id=f"EleutherAI/pythia-{size.lower()}", family="Pythia",
                     arch="gpt_neox", params=params, n_layers=n_layers, hidden=hidden, heads=heads,
                     kv_heads=heads, head_dim=head_dim, mlp=4 * hidden, vocab=50304, context=2048,
                     tied_embeddings=False, license="Apache-2.0", checkpoint_dtype="float16",
                     scores=_scores(_PYTHIA_SRC, lambada=lambada, piqa=piqa),
                     trained_tokens="300B (same data, same order at every size)")


def _gpt2(name, hub_id, *, params, n_layers, hidden, heads, lambada, ppl):
    return ModelSpec(name=name, hub_id=hub_id, family="GPT-2", arch="gpt2", params=params, n_layers=n_layers,
                     hidden=hidden, heads=heads, kv_heads=heads, head_dim=64, mlp=4 * hidden, vocab=50257,
                     context=1024, tied_embeddings=True, license="MIT", checkpoint_dtype="float32",
                     scores=_scores(_GPT2_SRC, lambada=lambada, wikitext_ppl=ppl), trained_tokens="WebText")


HUB_MODELS: list[ModelSpec] = [
    *_smol("135M", params=134_515_008, n_layers=30, hidden=576, heads=9, kv_heads=3, mlp=1536,
           rope_theta=100_000.0, scores=_scores(_SMOL_SRC, hellaswag=42.1, arc=43.9, piqa=68.4),
           instruct_scores=_scores(_SMOL_INSTR_SRC, ifeval=29.9, mt_bench=1.98), tokens="2T"),
    *_smol("360M", params=361_821_120, n_layers=32, hidden=960, heads=15, kv_heads=5, mlp=2560,
           rope_theta=100_000.0, scores=_scores(_SMOL_SRC, hellaswag=54.5, arc=53.0, piqa=71.7),
           instruct_scores=_scores(_SMOL_INSTR_SRC, ifeval=41.0, mt_bench=3.66), tokens="4T"),
    *_smol("1.7B", params=1_711_376_384, n_layers=24, hidden=2048, heads=32, kv_heads=32, mlp=8192,
           rope_theta=130_000.0, scores=_scores(_SMOL_SRC, hellaswag=68.7, arc=60.5, piqa=77.6),
           instruct_scores=_scores(_SMOL_INSTR_SRC, ifeval=56.7, mt_bench=6.13), tokens="11T"),
    *_qwen("0.5B", params=494_032_768, n_layers=24, hidden=896, heads=14, kv_heads=2, head_dim=64, mlp=4864,
           vocab=151936, context=32768, tied=True,
           scores=_scores(_QWEN_SRC, mmlu=47.5, hellaswag=52.1, arc_c=35.6, gsm8k=41.6)),
    *_qwen("1.5B", params=1_543_714_304, n_layers=28, hidden=1536, heads=12, kv_heads=2, head_dim=128, mlp=8960,
           vocab=151936, context=32768, tied=True,
           scores=_scores(_QWEN_SRC, mmlu=60.9, hellaswag=67.9, arc_c=54.7, gsm8k=68.5)),
    *_qwen("7B", params=7_615_616_512, n_layers=28, hidden=3584, heads=28, kv_heads=4, head_dim=128, mlp=18944,
           vocab=152064, context=131072, tied=False,
           scores=_scores(_QWEN_SRC, mmlu=74.2, hellaswag=80.2, arc_c=63.7, gsm8k=85.4)),
    _pythia("70M", params=70_426_624, n_layers=6, hidden=512, heads=8, head_dim=64, lambada=18.5, piqa=59.5),
    _pythia("160M", params=162_322_944, n_layers=12, hidden=768, heads=12, head_dim=64, lambada=32.8, piqa=62.7),
    _pythia("410M", params=405_334_016, n_layers=24, hidden=1024, heads=16, head_dim=64, lambada=51.6, piqa=66.8),
    _pythia("1B", params=1_011_781_632, n_layers=16, hidden=2048, heads=8, head_dim=256, lambada=56.2, piqa=70.7),
    _pythia("1.4B", params=1_414_647_808, n_layers=24, hidden=2048, heads=16, head_dim=128, lambada=61.6,
            piqa=70.9),
    _gpt2("GPT-2", "openai-community/gpt2", params=124_439_808, n_layers=12, hidden=768, heads=12,
          lambada=45.99, ppl=37.50),
    _gpt2("GPT-2-medium", "openai-community/gpt2-medium", params=354_823_168, n_layers=24, hidden=1024,
          heads=16, lambada=55.48, ppl=26.37),
    _gpt2("GPT-2-large", "openai-community/gpt2-large", params=774_030_080, n_layers=36, hidden=1280,
          heads=20, lambada=60.12, ppl=22.05),
    _gpt2("GPT-2-xl", "openai-community/gpt2-xl", params=1_557_611_200, n_layers=48, hidden=1600, heads=25,
          lambada=63.24, ppl=17.48),
]

# Gated models need a login and a licence click: listed so learners know of them, never defaults.
GATED_HUB_IDS = ("google/gemma-3-270m", "google/gemma-3-1b-it", "meta-llama/Llama-3.2-1B-Instruct")


# ----------------------------------------------------------------------------- the course models

MANIFEST = MODELS_DIR / "manifest.json"
_MANIFESTS: dict[tuple[str, int], dict | None] = {}  # (path, mtime): parsed, so each version is read once


def read_manifest(path: Path | None = None) -> dict | None:
    """models/manifest.json parsed (None when missing or corrupt), read once per version of the file."""
    path = Path(path or MANIFEST)
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    if key not in _MANIFESTS:
        try:
            _MANIFESTS[key] = json.loads(path.read_text())
        except (OSError, ValueError):
            _MANIFESTS[key] = None
    return _MANIFESTS[key]


def _course_spec(m: dict) -> ModelSpec:
    a, metrics = m["architecture"], m.get("metrics", {})
    scores = {}
    if "val_bits_per_char" in metrics:
        scores["validation bits/char (course corpus)"] = Score(
            metrics["val_bits_per_char"]["mix"], "measured by `zoo build`, models/manifest.json")
    if "helpdesk_accuracy" in metrics:
        scores["helpdesk category accuracy"] = Score(
            metrics["helpdesk_accuracy"], "measured by `zoo build`, models/manifest.json")
    return ModelSpec(name=m["name"], hub_id=None, family="course", arch="llama", params=m["params"],
                     n_layers=a["n_layers"], hidden=a["hidden"], heads=a["heads"], kv_heads=a["kv_heads"],
                     head_dim=a["head_dim"], mlp=a["mlp"], vocab=a["vocab"], context=a["context"],
                     tied_embeddings=a["tied_embeddings"], license="Apache-2.0",
                     checkpoint_dtype=m.get("dtype", "float32"), rope_theta=a.get("rope_theta", 10000.0),
                     scores=scores, local_path=m["path"],
                     trained_tokens=str(m.get("training", {}).get("tokens", "")),
                     notes="trained by the course on its generated corpus")


def _placeholder(name: str) -> ModelSpec:
    return ModelSpec(name=name, hub_id=None, family="course", arch="llama", params=0, n_layers=0, hidden=0,
                     heads=0, kv_heads=0, head_dim=0, mlp=0, vocab=0, context=0, tied_embeddings=True,
                     license="Apache-2.0", checkpoint_dtype="float32", local_path=name,
                     notes="placeholder: build with `python -m course_utils zoo build`")


def course_models(manifest_path: Path | None = None) -> list[ModelSpec]:
    """The course's own models from models/manifest.json (placeholders until they are built)."""
    manifest = read_manifest(manifest_path)
    if not manifest or not manifest.get("models"):
        return [_placeholder(name) for name in ("course-slm", "course-llm")]
    return [_course_spec(m) for m in manifest["models"]]


def course_aliases(manifest_path: Path | None = None) -> dict[str, str]:
    """Role names (course-slm, course-llm) to the course models that play them."""
    return dict((read_manifest(manifest_path) or {}).get("aliases", {}))


def catalog() -> dict[str, ModelSpec]:
    """All models by name: the hub models and the course models."""
    return {spec.name: spec for spec in HUB_MODELS + course_models()}


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
