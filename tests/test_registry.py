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
