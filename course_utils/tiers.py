"""Hardware tiers: which (small, large) pair of catalog models a machine runs side by side.

A tier is chosen from the machine (``course_utils.env.MachineInfo``: hub reachable, GPU, RAM);
within it, ``pick_pair`` takes the largest candidate that fits the memory budget by
``course_utils.sizing``'s estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from course_utils.catalog import ModelSpec, catalog, course_aliases, get_spec
from course_utils.sizing import RUNTIME_OVERHEAD_BYTES, default_dtype, estimate_memory_bytes


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
