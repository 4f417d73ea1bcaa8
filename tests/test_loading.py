import json
import shutil
import time

import pytest
import torch

from course_utils import catalog, loading, sizing, tiers
from course_utils.errors import (BadInputError, CourseModelsMissingError, DeviceError, ModelTooLargeError,
                                 OfflineError)

ROOMY = 64 * 10**9  # a machine where every model fits: the memory guard never decides these tests


@pytest.fixture
def course_models_at(tmp_path, monkeypatch, tiny_llama_dir, tiny_llama_large_dir):
    """A models/ folder with two course models and a manifest, as `zoo build` ships them."""
    models = tmp_path / "models"
    for name, src in (("course-a", tiny_llama_dir), ("course-b", tiny_llama_large_dir)):
        shutil.copytree(src, models / name)
    arch = dict(n_layers=2, hidden=64, heads=4, kv_heads=2, head_dim=16, mlp=128, vocab=300, context=128,
                tied_embeddings=True)
    manifest = {"format": 1, "aliases": {"course-slm": "course-a", "course-llm": "course-b"},
                "models": [{"name": "course-a", "path": "course-a", "params": 1, "architecture": arch},
                           {"name": "course-b", "path": "course-b", "params": 2, "architecture": arch}]}
    (models / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(catalog, "MODELS_DIR", models)
    monkeypatch.setattr(catalog, "MANIFEST", models / "manifest.json")
    monkeypatch.setattr(loading, "MODELS_DIR", models)
    return models


def test_local_folder_loads_through_from_pretrained(tiny_llama_dir):
    lm = loading.load_model(str(tiny_llama_dir))
    assert lm.info.source == "local path"
    assert lm.info.params == sum(p.numel() for p in lm.model.parameters())
    assert lm.info.dtype == "float32" and lm.info.device == "cpu"
    assert lm.info.memory_bytes >= 4 * lm.info.params
    assert not lm.model.training
    assert lm.tokenizer("hello").input_ids


def test_a_loaded_model_is_cached_per_process(tiny_llama_dir, monkeypatch):
    first = loading.load_model(str(tiny_llama_dir))
    monkeypatch.setattr(loading, "_from_pretrained", lambda *a, **k: pytest.fail("loaded twice"))
    assert loading.load_model(str(tiny_llama_dir)) is first


def test_pickle_weights_are_refused(tmp_path, tiny_llama_dir):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_llama_dir, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(BadInputError, match="safetensors"):
        loading.load_model(str(folder))


def test_course_model_loads_by_alias_from_the_catalog(course_models_at):
    lm = loading.load_model("course-slm")
    assert lm.info.name == "course-a" and lm.info.source == "course model"
    assert loading.load_model("course-llm").info.name == "course-b"


def test_course_models_missing_says_how_to_build(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "MODELS_DIR", tmp_path)
    monkeypatch.setattr(catalog, "MANIFEST", tmp_path / "manifest.json")
    with pytest.raises(CourseModelsMissingError, match="zoo build"):
        loading.load_model("course-slm")


def test_offline_with_nothing_cached_falls_back_with_one_line(course_models_at, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.perf_counter()
    lm = loading.load_model("SmolLM2-135M-Instruct", available_bytes=ROOMY)
    assert time.perf_counter() - start < 10
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("Offline") and "course-a" in out[0]
    assert lm.info.source == "offline fallback" and lm.info.name == "course-a"
    # a large model falls back to the large course model
    assert loading.load_model("Qwen2.5-1.5B-Instruct", available_bytes=ROOMY).info.name == "course-b"


def test_the_offline_stand_in_is_cached_under_its_own_name(course_models_at, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    stand_in = loading.load_model("SmolLM2-135M-Instruct", available_bytes=ROOMY)
    monkeypatch.setattr(loading, "_from_pretrained", lambda location, *a, **k: (
        pytest.fail(f"loaded {location} twice") if "course-a" in str(location) else loading._from_pretrained(
            location, *a, **k)))
    direct = loading.load_model("course-slm")
    assert direct.model is stand_in.model  # one copy in memory, whichever name asked first
    assert direct.info.source == "course model" and stand_in.info.source == "offline fallback"
    assert loading.cached_models() == ["course-a"]


def test_clear_cache_forgets_models_and_every_per_tokenizer_cache(tiny_llama_dir):
    lm = loading.load_model(str(tiny_llama_dir))
    texts = loading.per_tokenizer_cache()
    texts[lm.tokenizer] = ["decoded", "vocabulary"]
    loading.clear_cache()
    assert loading.cached_models() == [] and len(texts) == 0
    assert loading.load_model(str(tiny_llama_dir)) is not lm  # loaded again, freshly timed
    assert loading.load_model(str(tiny_llama_dir)).info.load_seconds > 0


def test_release_forgets_one_model_and_keeps_the_others(tiny_llama_dir):
    import gc
    import weakref

    loading.clear_cache()
    keep = loading.load_model(str(tiny_llama_dir))
    big = loading.load_model("course-tiny")
    ref = weakref.ref(big.model)
    loading.release(big)
    del big
    gc.collect()
    assert ref() is None  # nothing else held it: its memory is free
    assert loading.load_model(str(tiny_llama_dir)) is keep


def test_offline_without_fallback_explains_the_options(course_models_at, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(OfflineError, match="from_config=True"):
        loading.load_model("SmolLM2-135M", fallback=False, available_bytes=ROOMY)


def test_memory_guard_refuses_and_names_a_model_that_fits():
    with pytest.raises(ModelTooLargeError) as err:
        loading.load_model("Qwen2.5-7B-Instruct", available_bytes=3_000_000_000)
    msg = str(err.value)
    assert "Qwen2.5-7B-Instruct needs about" in msg and "Try Qwen2.5-" in msg
    suggested = msg.split("Try ")[1].split(" (")[0]
    spec = catalog.get_spec(suggested)
    assert sizing.estimate_memory_bytes(spec, "float32" if spec.params < 1e9 else "bfloat16") < 3e9


def test_memory_guard_asks_the_machine_when_not_told(monkeypatch):
    """Without available_bytes the guard reads the machine (here a fake one with 24 GB free, so the
    outcome does not depend on the RAM of the machine running the tests)."""
    from course_utils.env import HubStatus, MachineInfo

    asked = []

    def machine_info(check_hub_now=True):
        asked.append(check_hub_now)
        return MachineInfo("local", 8, int(32e9), int(24e9), None, HubStatus(False, "test"))

    monkeypatch.setattr(loading, "machine_info", machine_info)
    # Qwen2.5-7B in float32 is ~34 GB: more than this 24 GB machine has free.
    with pytest.raises(ModelTooLargeError, match="bfloat16") as err:
        loading.load_model("Qwen2.5-7B", device="cpu", dtype="float32", from_config=True)
    assert asked == [False] and "this machine has 24.00 GB of free RAM available" in str(err.value)


@pytest.mark.parametrize("name", ["Pythia-70M", "SmolLM2-135M"])  # untied and tied embeddings
def test_from_config_builds_the_real_architecture_with_an_honest_label(name):
    lm = loading.load_model(name, from_config=True, available_bytes=ROOMY)
    assert lm.info.random_weights and lm.info.source == "from config"
    assert "random weights" in lm.info.summary() and "text is not" in lm.info.summary()
    assert lm.info.params == catalog.get_spec(name).params
    spec = catalog.get_spec(name)
    assert lm.info.memory_bytes < spec.params * 4 * 1.01


@pytest.mark.parametrize("device", ["cuda", "tpu", "mps"])
def test_impossible_device_says_what_is_possible(device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="Possible here: cpu"):
        loading.load_model("SmolLM2-135M", device=device, from_config=True)


def test_wrong_dtype_says_what_is_possible():
    with pytest.raises(BadInputError, match="float32, bfloat16, float16"):
        loading.load_model("SmolLM2-135M", dtype="int3", from_config=True)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="float32 .* or bfloat16"):
            loading.load_model("SmolLM2-135M", dtype="float16")


def test_bfloat16_is_honoured(tiny_llama_dir):
    lm = loading.load_model(str(tiny_llama_dir), dtype="bf16")
    assert next(lm.model.parameters()).dtype == torch.bfloat16 and lm.info.dtype == "bfloat16"


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ValueError, match="Valid names: .*SmolLM2-135M"):
        loading.load_model("gpt-5")


def test_loader_never_enables_remote_code_and_asks_for_safetensors(tiny_llama_dir, monkeypatch):
    seen = {}
    import transformers

    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(location, **kwargs):
        seen.update(kwargs)
        return real(location, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    loading.load_model(str(tiny_llama_dir))
    assert seen["trust_remote_code"] is False and seen["use_safetensors"] is True
    assert seen["dtype"] == torch.float32


def test_download_offline_explains_instead_of_hanging(capsys):
    from course_utils.__main__ import main

    start = time.perf_counter()
    assert main(["download", "SmolLM2-135M"]) == 1
    assert time.perf_counter() - start < 5
    assert "Cannot download SmolLM2-135M" in capsys.readouterr().out
    assert main(["download", "no-such-model"]) == 2
    assert "Unknown model 'no-such-model'" in capsys.readouterr().err


def test_random_init_is_finite_and_labelled_values_do_not_matter_for_shape():
    lm = loading.load_model("GPT-2", from_config=True, available_bytes=ROOMY)
    norms = [p for n, p in lm.model.named_parameters() if "ln_" in n and n.endswith("weight")]
    assert norms and all(torch.all(p == 1) for p in norms)
    with torch.no_grad():
        logits = lm.model(torch.arange(8)[None]).logits
    assert torch.isfinite(logits).all() and logits.std() > 0


# ----------------------------------------------------------------------------- the pair

def _stub_hub(monkeypatch):
    """Replace the hub download with a stub: the memory guard still runs for real before it."""
    def stub(spec, dtype, device):
        info = loading.ModelInfo(spec.name, "stub", spec.hub_id, spec.params, loading._dtype_name(dtype), device,
                                 0, 0.0)
        return loading.LoadedModel(torch.nn.Identity(), None, info, spec)

    monkeypatch.setattr(loading, "_load_hub", stub)


def test_load_pair_uses_the_dtype_the_binder_pair_was_sized_for(monkeypatch):
    from course_utils.env import HubStatus, MachineInfo

    binder = MachineInfo("binder", 2, int(2e9), int(1.8e9), None, HubStatus(True, "test"))
    pair = tiers.pick_pair(binder)
    assert (pair.large, pair.dtype, pair.load_dtype) == ("SmolLM2-360M-Instruct", "bfloat16", "bfloat16")
    _stub_hub(monkeypatch)
    with pytest.raises(ModelTooLargeError):  # the old way: float32, refused on 2 GB
        loading.load_model(pair.large, device="cpu", available_bytes=binder.ram_available_bytes)
    small, large = loading.load_pair(pair, device="cpu", available_bytes=binder.ram_available_bytes)
    assert (small.info.name, large.info.name) == (pair.small, pair.large)
    assert small.info.dtype == large.info.dtype == "bfloat16"


def test_load_pair_leaves_the_large_model_what_the_small_one_leaves(monkeypatch):
    from course_utils.env import HubStatus, MachineInfo

    binder = MachineInfo("binder", 2, int(2e9), int(1.8e9), None, HubStatus(True, "test"))
    pair = tiers.pick_pair(binder)
    _stub_hub(monkeypatch)
    large_need = sizing.estimate_memory_bytes(catalog.get_spec(pair.large), "bfloat16")
    small_need = sizing.estimate_memory_bytes(catalog.get_spec(pair.small), "bfloat16")
    just_enough_for_one = int(large_need / 0.9) + 1  # the large model alone passes the guard here…
    loading.load_model(pair.large, device="cpu", dtype="bfloat16", available_bytes=just_enough_for_one)
    loading.clear_cache()
    with pytest.raises(ModelTooLargeError):  # …but not next to the small one
        loading.load_pair(pair, device="cpu", available_bytes=just_enough_for_one)
    loading.load_pair(pair, device="cpu", available_bytes=just_enough_for_one + small_need + 1)


def test_load_pair_keeps_each_models_default_dtype_when_memory_allows(monkeypatch):
    from course_utils.env import HubStatus, MachineInfo

    laptop = MachineInfo("local", 8, int(16e9), int(14e9), None, HubStatus(True, "test"))
    pair = tiers.pick_pair(laptop)
    assert pair.dtype == "default" and pair.load_dtype is None
    _stub_hub(monkeypatch)
    small, large = loading.load_pair(pair, device="cpu", available_bytes=laptop.ram_available_bytes)
    assert small.info.dtype == "float32" and large.info.dtype == "bfloat16"  # sizing.default_dtype


def test_load_pair_really_loads_both_in_the_pair_dtype(tiny_llama_dir, tiny_llama_large_dir):
    pair = tiers.PairChoice(tiers.TIERS["binder"], str(tiny_llama_dir), str(tiny_llama_large_dir), 0, 0,
                               "test", "bfloat16")
    small, large = loading.load_pair(pair)
    assert small.model is not large.model
    for lm in (small, large):
        assert next(lm.model.parameters()).dtype == torch.bfloat16 and lm.info.dtype == "bfloat16"


def test_a_folder_with_only_a_pickle_checkpoint_is_refused_as_such(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"not even opened")
    with pytest.raises(BadInputError, match="no .safetensors weights"):
        loading.load_model(str(tmp_path))
