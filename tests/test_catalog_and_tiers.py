import dataclasses
import json
import os

import pytest
import torch
from transformers import AutoModelForCausalLM

from course_utils import catalog, sizing, tiers
from course_utils.env import GPUInfo, HubStatus, MachineInfo

REQUIRED = ["SmolLM2-135M", "SmolLM2-360M", "SmolLM2-1.7B", "SmolLM2-135M-Instruct", "SmolLM2-1.7B-Instruct",
            "Qwen2.5-0.5B", "Qwen2.5-1.5B", "Qwen2.5-7B", "Qwen2.5-7B-Instruct", "Pythia-70M", "Pythia-160M",
            "Pythia-410M", "Pythia-1B", "Pythia-1.4B", "GPT-2", "GPT-2-medium", "GPT-2-large", "GPT-2-xl",
            "course-slm", "course-llm"]


def test_catalog_has_every_required_model():
    names = set(catalog.catalog()) | set(catalog.course_aliases())
    assert set(REQUIRED) <= names


@pytest.mark.parametrize("spec", [s for s in catalog.HUB_MODELS if not s.instruct], ids=lambda s: s.name)
def test_architecture_numbers_reproduce_the_parameter_count(spec):
    """Formula, catalog and a real transformers model built from the config agree exactly."""
    with torch.device("meta"):  # no memory: a 7B model is counted without allocating it
        model = AutoModelForCausalLM.from_config(spec.to_config())
    n_torch = sum(p.numel() for p in model.parameters())
    assert spec.formula_params() == n_torch == spec.params


def test_every_score_has_a_source_and_entries_are_safe():
    for spec in catalog.HUB_MODELS:
        assert spec.hub_id and spec.license and spec.checkpoint_dtype in ("float32", "bfloat16", "float16")
        assert not spec.gated
        for score in spec.scores.values():
            assert score.source
    assert catalog.get_spec("SmolLM2-360M").scores["HellaSwag"].value == 54.5


def test_lookup_by_any_case_and_hub_id():
    assert catalog.get_spec("smollm2-135m").name == "SmolLM2-135M"
    assert catalog.get_spec("Qwen/Qwen2.5-0.5B-Instruct").name == "Qwen2.5-0.5B-Instruct"


def test_unknown_model_lists_valid_names_and_suggests():
    with pytest.raises(catalog.UnknownModelError) as err:
        catalog.get_spec("SmolLM3")
    msg = str(err.value)
    assert "Valid names" in msg and "Qwen2.5-1.5B" in msg and "Did you mean" in msg and "SmolLM2" in msg


def test_an_unknown_model_is_a_course_error_shown_as_one_line():
    from course_utils.errors import CourseError, show_friendly_errors

    assert issubclass(catalog.UnknownModelError, CourseError)
    handled = {}

    class FakeShell:
        def set_custom_exc(self, types, handler):
            handled["types"] = types

    assert show_friendly_errors(FakeShell())
    assert issubclass(catalog.UnknownModelError, handled["types"])


def test_model_specs_are_keyword_only():
    spec = catalog.get_spec("GPT-2")
    with pytest.raises(TypeError):
        catalog.ModelSpec(spec.name, spec.hub_id, spec.family, spec.arch, spec.params)
    assert dataclasses.replace(spec, name="x").hub_id == spec.hub_id


def test_the_manifest_is_read_once_per_version(tmp_path, monkeypatch):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"aliases": {"course-slm": "a"}}))
    reads = []
    real_read_text = type(path).read_text
    monkeypatch.setattr(type(path), "read_text", lambda self, *a, **k: reads.append(self) or real_read_text(self))
    for _ in range(3):
        assert catalog.course_aliases(path) == {"course-slm": "a"}
    assert len(reads) == 1
    path.write_text(json.dumps({"aliases": {"course-slm": "b"}}))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a newer version
    assert catalog.course_aliases(path) == {"course-slm": "b"}
    path.write_text("{ not json")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2 * 10**9))
    assert catalog.course_aliases(path) == {} and catalog.course_models(path)[0].notes.startswith("placeholder")


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
    pair = tiers.pick_pair(machine)
    assert pair.tier.name == tier
    assert pair.small != pair.large
    if tier == "offline":
        assert (pair.small, pair.large) == (catalog.course_aliases().get("course-slm", "course-slm"),
                                            catalog.course_aliases().get("course-llm", "course-llm"))
        return
    assert pair.needed_bytes <= pair.budget_bytes
    small, large = catalog.get_spec(pair.small), catalog.get_spec(pair.large)
    assert small.params < large.params
    assert not small.gated and not large.gated


def test_bigger_machines_get_bigger_large_models():
    sizes = [catalog.get_spec(tiers.pick_pair(m).large).params
             for m in (_machine(ram_gb=2), _machine(ram_gb=16), _machine(gpu_gb=80))]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # A T4 cannot hold Qwen2.5-7B in fp16 next to the small model; an H100 can.
    assert tiers.pick_pair(_machine(gpu_gb=15, bf16=False)).large != "Qwen2.5-7B-Instruct"
    assert tiers.pick_pair(_machine(gpu_gb=80)).large == "Qwen2.5-7B-Instruct"


def test_default_dtypes_follow_the_device():
    small, big = catalog.get_spec("SmolLM2-135M"), catalog.get_spec("Qwen2.5-1.5B")
    assert sizing.default_dtype(small, "cpu") == "float32"
    assert sizing.default_dtype(big, "cpu") == "bfloat16"
    assert sizing.default_dtype(small, "cuda", bf16_native=False) == "float16"
    assert sizing.default_dtype(small, "cuda", bf16_native=True) == "bfloat16"


def _tight(tier_machine, available):
    """The same machine with only ``available`` bytes free (RAM, or the GPU's)."""
    from dataclasses import replace

    if tier_machine.gpu:
        return replace(tier_machine, gpu=replace(tier_machine.gpu, free_bytes=int(available)))
    return replace(tier_machine, ram_available_bytes=int(available))


def test_when_nothing_fits_the_fallback_is_the_smallest_pair_not_the_last_listed():
    binder = _tight(_machine(ram_gb=2), 0.5e9)  # a Binder with most of its 2 GB already used
    pair = tiers.pick_pair(binder)
    assert pair.tier.name == "binder" and pair.needed_bytes > pair.budget_bytes
    # Qwen2.5-0.5B-Instruct is listed last but is the bigger one
    assert pair.large == "SmolLM2-360M-Instruct" and pair.dtype == "bfloat16"
    assert "smallest" in pair.reason


@pytest.mark.parametrize("machine", [_machine(ram_gb=2), _machine(ram_gb=16), _machine(gpu_gb=15, bf16=False),
                                     _machine(gpu_gb=80)], ids=["binder", "laptop", "t4", "h100"])
def test_the_fallback_large_model_needs_the_least_memory_of_the_tier(machine):
    pair = tiers.pick_pair(_tight(machine, 0.1e9))

    def need(name):  # in the smallest dtype pick_pair tries: bfloat16 on a CPU, the default on a GPU
        spec = catalog.get_spec(name)
        dtype = sizing.default_dtype(spec, "cuda", machine.gpu.bf16_native) if machine.gpu else "bfloat16"
        return sizing.estimate_memory_bytes(spec, dtype)

    assert pair.needed_bytes > pair.budget_bytes
    assert need(pair.large) == min(need(name) for name in pair.tier.candidates_large)


def test_kv_cache_for_a_spec_stops_at_its_context_window():
    smol = catalog.get_spec("SmolLM2-135M")
    assert smol.context == 8192
    assert sizing.context_used(smol, 32768) == 8192 and sizing.context_used(smol, 100) == 100
    at_8k = 2 * 30 * 3 * 64 * 8192 * 2  # K and V, layers, kv heads, head dim, tokens, bf16 bytes
    assert sizing.kv_cache_bytes_for(smol, 32768) == sizing.kv_cache_bytes_for(smol, 8192) == at_8k
    assert sizing.kv_cache_bytes_for(smol, 32768, batch=2, dtype="float32") == 4 * at_8k
    assert sizing.kv_cache_bytes_for(smol, 32768, kv_heads=smol.heads) == 3 * at_8k  # 9 heads, not 3
    estimate = sizing.estimate_memory_bytes
    assert estimate(smol, "bfloat16", 32768) == estimate(smol, "bfloat16", 8192)
    qwen = catalog.get_spec("Qwen2.5-7B")  # a 131k window: 32k is not clamped
    assert sizing.kv_cache_bytes_for(qwen, 32768) == 2 * 28 * 4 * 128 * 32768 * 2
