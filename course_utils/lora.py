"""LoRA from scratch (Hu et al. 2021, arXiv 2106.09685): train a low-rank update, freeze the rest.

A frozen ``nn.Linear`` with weight W (out, in) gets two small trainable matrices, A (r, in) and
B (out, r), and computes  y = x W^T + (alpha / r) · x A^T B^T.  B starts at zero, so the wrapped
model is exactly the base model until the first step; afterwards W + (alpha / r)·B·A can be
merged back into one plain Linear (no extra cost at inference). Initialisation and scaling
follow peft's defaults, so the two give the same numbers (tests/test_lora.py checks it).

    model = apply_lora(model, LoRAConfig(r=8, alpha=16))   # in place; only A and B train
    save_adapter(model, "my_adapter")                      # a few MB of safetensors
    model = merge_lora(model)                              # back to plain Linears
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from course_utils.errors import BadInputError

# Attention and MLP projections of Llama-style models (SmolLM2, the course models, course_utils.nn.gpt).
# Never lm_head: with tied embeddings it *is* the input embedding, so a LoRA there changes both
# (peft issue #2018).
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
FORMAT = "course_utils.lora/1"


@dataclass(kw_only=True)
class LoRAConfig:
    r: int = 8  # rank of the update B·A
    alpha: float = 16.0  # the update is scaled by alpha / r
    dropout: float = 0.0  # dropout on the LoRA branch's input (training only)
    target_modules: tuple[str, ...] = DEFAULT_TARGETS  # names of the Linears to wrap (last part of the path)
    seed: int | None = None  # seed for A's initialisation; None: torch's global generator, like nn.Linear

    def __post_init__(self):
        if isinstance(self.target_modules, str):
            self.target_modules = (self.target_modules,)
        self.target_modules = tuple(self.target_modules)
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise BadInputError(f"LoRA rank r must be a positive whole number (e.g. 4, 8, 16), got {self.r!r}.")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
            raise BadInputError(f"LoRA alpha must be positive (the update is scaled by alpha / r; "
                                f"alpha = 2·r is common), got {self.alpha!r}.")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0 <= self.dropout < 1:
            raise BadInputError(f"LoRA dropout is a probability in [0, 1) (0 switches it off), got {self.dropout!r}.")
        if not self.target_modules:
            raise BadInputError("target_modules is empty: name the Linear layers to adapt, e.g. "
                                f"{', '.join(DEFAULT_TARGETS)}.")

    @property
    def scaling(self) -> float:
        return self.alpha / self.r


def _check_rank(r: int, base: nn.Linear, name: str) -> None:
    if r > min(base.in_features, base.out_features):
        raise BadInputError(
            f"LoRA rank r={r} is larger than {name} allows: its weight is {base.out_features}×"
            f"{base.in_features}, so the rank of any update is at most "
            f"{min(base.in_features, base.out_features)}. Choose a smaller r.")


class LoRALinear(nn.Module):
    """A frozen ``base`` Linear plus the trainable low-rank update (alpha / r)·B·A."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0,
                 generator: torch.Generator | None = None, name: str = "this layer"):
        super().__init__()
        _check_rank(r, base, name)
        self.base = base.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=w.dtype, device=w.device))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=w.dtype, device=w.device))  # (out, r)
        # as peft (and nn.Linear): uniform in ±1/sqrt(in); B = 0 makes the update zero at the start
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):  # (..., in)
        y = self.base(x)  # (..., out), frozen
        h = self.dropout(x) @ self.lora_A.T  # (..., r): down to the rank
        return y + (h @ self.lora_B.T) * self.scaling  # (..., out): back up, scaled

    def merged_weight(self) -> torch.Tensor:
        """W + (alpha / r)·B·A: the one matrix that computes what base + update compute."""
        return self.base.weight + self.scaling * (self.lora_B @ self.lora_A)  # (out, in)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A plain Linear with the merged weight (and the base's bias), frozen like the base."""
        base = self.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                           device=base.weight.device, dtype=base.weight.dtype)
        merged.weight.copy_(self.merged_weight())
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        return merged.requires_grad_(False)

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}"


# ----------------------------------------------------------------------------- a whole model

def _parent(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    parent_path, _, child = path.rpartition(".")
    return (model.get_submodule(parent_path) if parent_path else model), child


def _linear_names(model: nn.Module) -> list[str]:
    """The distinct last names of the model's Linear layers, in order (what target_modules matches)."""
    names = [path.rpartition(".")[2] for path, m in model.named_modules() if isinstance(m, nn.Linear)]
    return list(dict.fromkeys(names))


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Path -> LoRALinear for every wrapped layer of ``model``."""
    return {path: m for path, m in model.named_modules() if isinstance(m, LoRALinear)}


def apply_lora(model: nn.Module, config: LoRAConfig) -> nn.Module:
    """Wrap the target Linears of ``model`` in LoRALinear, in place, and freeze everything else.

    Returns the same model. Only the LoRA matrices A and B are left trainable.
    """
    if lora_layers(model):
        raise BadInputError("This model already has LoRA layers. Merge them first (merge_lora), "
                            "or start again from a fresh copy of the base model.")
    targets = [(path, m) for path, m in model.named_modules()
               if isinstance(m, nn.Linear) and path.rpartition(".")[2] in config.target_modules]
    if not targets:
        raise BadInputError(
            f"No Linear layer of this model is named {', '.join(config.target_modules)}. "
            f"Its Linear layers are: {', '.join(_linear_names(model)) or 'none'}.")
    embeddings = [m.weight for m in model.modules() if isinstance(m, nn.Embedding)]
    for path, m in targets:
        if any(m.weight is e for e in embeddings):  # the same Parameter (data_ptr is 0 for every meta tensor)
            raise BadInputError(
                f"{path} shares its weight with the input embedding (tied embeddings): a LoRA there "
                "would change the embedding too (peft issue #2018). Leave it out of target_modules.")
    for path, m in targets:
        _check_rank(config.r, m, path)
    generator = None if config.seed is None else torch.Generator().manual_seed(config.seed)
    wrapped = [(path, LoRALinear(m, config.r, config.alpha, config.dropout, generator, name=path))
               for path, m in targets]  # all checks pass before the model changes
    model.requires_grad_(False)
    for path, layer in wrapped:
        parent, child = _parent(model, path)
        setattr(parent, child, layer)
        layer.lora_A.requires_grad_(True)
        layer.lora_B.requires_grad_(True)
    model.lora_config = config
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by a plain Linear holding W + (alpha / r)·B·A, in place."""
    for path, layer in lora_layers(model).items():
        parent, child = _parent(model, path)
        setattr(parent, child, layer.merge())
    if hasattr(model, "lora_config"):
        del model.lora_config
    return model


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; shared (tied) tensors are counted once."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA matrices: '<layer path>.lora_A' and '<layer path>.lora_B'."""
    state = {}
    for path, layer in lora_layers(model).items():
        state[f"{path}.lora_A"] = layer.lora_A.detach()
        state[f"{path}.lora_B"] = layer.lora_B.detach()
    return state


# ----------------------------------------------------------------------------- saving and loading

def save_adapter(model: nn.Module, path) -> Path:
    """Write the adapter to folder ``path``: adapter.safetensors (A and B only) + adapter_config.json."""
    from safetensors.torch import save_file

    state = lora_state_dict(model)
    if not state:
        raise BadInputError("This model has no LoRA layers to save: call apply_lora(model, config) first.")
    config = getattr(model, "lora_config", None)
    if config is None:  # LoRALinears put in by hand: read r and alpha off the layers
        layer = next(iter(lora_layers(model).values()))
        config = LoRAConfig(r=layer.r, alpha=layer.alpha)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / ADAPTER_WEIGHTS))
    meta = {"format": FORMAT, **asdict(config), "target_modules": list(config.target_modules),
            "layers": sorted(lora_layers(model))}
    (folder / ADAPTER_CONFIG).write_text(json.dumps(meta, indent=1) + "\n")
    return folder


def load_adapter(model: nn.Module, path) -> nn.Module:
    """Load an adapter saved by ``save_adapter`` into ``model`` (a plain base model, or one that
    already has matching LoRA layers), in place; returns the model."""
    from safetensors.torch import load_file

    folder = Path(path)
    if not (folder / ADAPTER_WEIGHTS).exists() or not (folder / ADAPTER_CONFIG).exists():
        raise BadInputError(f"{folder} is not a saved adapter: it needs {ADAPTER_WEIGHTS} and {ADAPTER_CONFIG} "
                            "(written by save_adapter).")
    meta = json.loads((folder / ADAPTER_CONFIG).read_text())
    if meta.get("format") != FORMAT:
        raise BadInputError(f"{folder / ADAPTER_CONFIG} was not written by course_utils.lora.save_adapter "
                            "(a peft adapter loads with peft's PeftModel.from_pretrained).")
    config = LoRAConfig(r=meta["r"], alpha=meta["alpha"], dropout=meta["dropout"],
                        target_modules=tuple(meta["target_modules"]))
    state = load_file(str(folder / ADAPTER_WEIGHTS))
    layers = lora_layers(model)
    if layers:  # (A, B) shapes of the layers there, else of the Linears apply_lora will wrap
        shapes = {p: (tuple(m.lora_A.shape), tuple(m.lora_B.shape)) for p, m in layers.items()}
    else:
        shapes = {p: ((config.r, m.in_features), (m.out_features, config.r)) for p, m in model.named_modules()
                  if isinstance(m, nn.Linear) and p.rpartition(".")[2] in config.target_modules}
    expected = {f"{p}.lora_{m}": shape for p, (a, b) in shapes.items() for m, shape in (("A", a), ("B", b))}
    if set(state) != set(expected):  # all checks before the model changes
        missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        raise BadInputError(f"The adapter in {folder} does not fit this model: "
                            f"missing {missing[:3] or 'nothing'}, unexpected {extra[:3] or 'nothing'}. "
                            "Was it trained on another model or with other target_modules?")
    for key, tensor in state.items():
        if tuple(tensor.shape) != expected[key]:
            raise BadInputError(f"{key} has shape {tuple(tensor.shape)} in the adapter but {expected[key]} "
                                "in this model (another rank or model size?).")
    layers = layers or lora_layers(apply_lora(model, config))
    with torch.no_grad():
        for key, tensor in state.items():
            path, _, which = key.rpartition(".")
            getattr(layers[path], which).copy_(tensor)
    for layer in layers.values():  # the saved alpha wins over the layers' own
        layer.alpha, layer.scaling = config.alpha, config.scaling
    model.lora_config = config
    return model
