import pytest
import torch
from transformers import AutoModelForCausalLM

from course_utils import registry
from course_utils.env import GPUInfo, HubStatus, MachineInfo

REQUIRED = ["SmolLM2-135M", "SmolLM2-360M", "SmolLM2-1.7B", "SmolLM2-135M-Instruct", "SmolLM2-1.7B-Instruct",
            "Qwen2.5-0.5B", "Qwen2.5-1.5B", "Qwen2.5-7B", "Qwen2.5-7B-Instruct", "Pythia-70M", "Pythia-160M",
            "Pythia-410M", "Pythia-1B", "Pythia-1.4B", "GPT-2", "GPT-2-medium", "GPT-2-large", "GPT-2-xl",
            "course-slm", "course-llm"]


def test_catalog_has_every_required_model():
    names = set(registry.catalog()) | set(registry.course_aliases())
    assert set(REQUIRED) <= names


@pytest.mark.parametrize("spec", [s for s in registry.HUB_MODELS if not s.instruct], ids=lambda s: s.name)
def test_architecture_numbers_reproduce_the_parameter_count(spec):
    """Formula, catalog and a real transformers model built from the config agree exactly."""
    with torch.device("meta"):  # no memory: a 7B model is counted without allocating it
        model = AutoModelForCausalLM.from_config(spec.to_config())
    n_torch = sum(p.numel() for p in model.parameters())
    assert spec.formula_params() == n_torch == spec.params


def test_every_score_has_a_source_and_entries_are_safe():
    for spec in registry.HUB_MODELS:
        assert spec.hub_id and spec.license and spec.checkpoint_dtype in ("float32", "bfloat16", "float16")
        assert not spec.gated
        for score in spec.scores.values():
            assert score.source
    assert registry.get_spec("SmolLM2-360M").scores["HellaSwag"].value == 54.5


def test_lookup_by_any_case_and_hub_id():
    assert registry.get_spec("smollm2-135m").name == "SmolLM2-135M"
    assert registry.get_spec("Qwen/Qwen2.5-0.5B-Instruct").name == "Qwen2.5-0.5B-Instruct"


def test_unknown_model_lists_valid_names_and_suggests():
    with pytest.raises(registry.UnknownModelError) as err:
        registry.get_spec("SmolLM3")
    msg = str(err.value)
    assert "Valid names" in msg and "Qwen2.5-1.5B" in msg and "Did you mean" in msg and "SmolLM2" in msg


def _machine(ram_gb=16, gpu_gb=None, bf16=True, online=True):
    gpu = GPUInfo("test GPU", int(gpu_gb * 1e9), int(gpu_gb * 1e9), bf16) if gpu_gb else None
    return MachineInfo("local", 2, int(ram_gb * 1e9), int(ram_gb * 0.9e9), gpu, HubStatus(online, "test"))


@pytest.mark.parametrize("machine, tier", [
    (_machine(online=False), "offline"),
    (_machine(ram_gb=2), "binder"),
    (_machine(ram_gb=16), "laptop-cpu"),
    (_machine(gpu_gb=15, bf16=False), "small-gpu"),
    (_machine(gpu_gb=80), "large-gpu"),
])
def test_tiers_pick_a_pair_that_fits(machine, tier):
    pair = registry.pick_pair(machine)
    assert pair.tier.name == tier
    assert pair.small != pair.large
    if tier == "offline":
        assert (pair.small, pair.large) == (registry.course_aliases().get("course-slm", "course-slm"),
                                            registry.course_aliases().get("course-llm", "course-llm"))
        return
    assert pair.needed_bytes <= pair.budget_bytes
    small, large = registry.get_spec(pair.small), registry.get_spec(pair.large)
    assert small.params < large.params
    assert not small.gated and not large.gated


def test_bigger_machines_get_bigger_large_models():
    sizes = [registry.get_spec(registry.pick_pair(m).large).params
             for m in (_machine(ram_gb=2), _machine(ram_gb=16), _machine(gpu_gb=80))]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # A T4 cannot hold Qwen2.5-7B in fp16 next to the small model; an H100 can.
    assert registry.pick_pair(_machine(gpu_gb=15, bf16=False)).large != "Qwen2.5-7B-Instruct"
    assert registry.pick_pair(_machine(gpu_gb=80)).large == "Qwen2.5-7B-Instruct"


def test_default_dtypes_follow_the_device():
    small, big = registry.get_spec("SmolLM2-135M"), registry.get_spec("Qwen2.5-1.5B")
    assert registry.default_dtype(small, "cpu") == "float32"
    assert registry.default_dtype(big, "cpu") == "bfloat16"
    assert registry.default_dtype(small, "cuda", bf16_native=False) == "float16"
    assert registry.default_dtype(small, "cuda", bf16_native=True) == "bfloat16"


def _tight(tier_machine, available):
    """The same machine with only ``available`` bytes free (RAM, or the GPU's)."""
    from dataclasses import replace

    if tier_machine.gpu:
        return replace(tier_machine, gpu=replace(tier_machine.gpu, free_bytes=int(available)))
    return replace(tier_machine, ram_available_bytes=int(available))


def test_when_nothing_fits_the_fallback_is_the_smallest_pair_not_the_last_listed():
    binder = _tight(_machine(ram_gb=2), 0.5e9)  # a Binder with most of its 2 GB already used
    pair = registry.pick_pair(binder)
    assert pair.tier.name == "binder" and pair.needed_bytes > pair.budget_bytes
    # Qwen2.5-0.5B-Instruct is listed last but is the bigger one
    assert pair.large == "SmolLM2-360M-Instruct" and pair.dtype == "bfloat16"
    assert "smallest" in pair.reason


@pytest.mark.parametrize("machine", [_machine(ram_gb=2), _machine(ram_gb=16), _machine(gpu_gb=15, bf16=False),
                                     _machine(gpu_gb=80)], ids=["binder", "laptop", "t4", "h100"])
def test_the_fallback_large_model_needs_the_least_memory_of_the_tier(machine):
    pair = registry.pick_pair(_tight(machine, 0.1e9))

    def need(name):  # in the smallest dtype pick_pair tries: bfloat16 on a CPU, the default on a GPU
        spec = registry.get_spec(name)
        dtype = registry.default_dtype(spec, "cuda", machine.gpu.bf16_native) if machine.gpu else "bfloat16"
        return registry.estimate_memory_bytes(spec, dtype)

    assert pair.needed_bytes > pair.budget_bytes
    assert need(pair.large) == min(need(name) for name in pair.tier.candidates_large)


def test_kv_cache_for_a_spec_stops_at_its_context_window():
    smol = registry.get_spec("SmolLM2-135M")
    assert smol.context == 8192
    assert registry.context_used(smol, 32768) == 8192 and registry.context_used(smol, 100) == 100
    at_8k = 2 * 30 * 3 * 64 * 8192 * 2  # K and V, layers, kv heads, head dim, tokens, bf16 bytes
    assert registry.kv_cache_bytes_for(smol, 32768) == registry.kv_cache_bytes_for(smol, 8192) == at_8k
    assert registry.kv_cache_bytes_for(smol, 32768, batch=2, dtype="float32") == 4 * at_8k
    assert registry.kv_cache_bytes_for(smol, 32768, kv_heads=smol.heads) == 3 * at_8k  # 9 heads, not 3
    estimate = registry.estimate_memory_bytes
    assert estimate(smol, "bfloat16", 32768) == estimate(smol, "bfloat16", 8192)
    qwen = registry.get_spec("Qwen2.5-7B")  # a 131k window: 32k is not clamped
    assert registry.kv_cache_bytes_for(qwen, 32768) == 2 * 28 * 4 * 128 * 32768 * 2
