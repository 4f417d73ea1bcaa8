"""course_utils.quantize_libraries (torchao int8, bitsandbytes NF4 against the from-scratch quantizers) and
course_utils._quiet_logs (torchao's harmless warnings)."""

import copy
import logging
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from course_utils import MODELS_DIR, REPO_ROOT
from course_utils import quantize_libraries as ql
from course_utils._quiet_logs import KnownHarmlessWarnings
from course_utils.errors import BadInputError, MissingLibraryError, UnknownModelError
from course_utils.quantize import quantize_nf4

pytestmark = pytest.mark.usefixtures("one_torch_thread")

COURSE_SMALL = MODELS_DIR / "course-small"


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=300)


def _load(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


def _ids(n=12):
    return torch.arange(3, 3 + n).view(1, n) % 250


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def _fake_nf4(model):
    """A copy whose Linear weights (but the head) are replaced by the from-scratch NF4 round trip."""
    fake = copy.deepcopy(model)
    for name, m in fake.named_modules():
        if isinstance(m, nn.Linear) and not name.endswith("lm_head"):
            m.weight.data = quantize_nf4(m.weight.data).dequantize()
    return fake


# --- without the libraries --------------------------------------------------------------------------------------

def test_importing_the_module_imports_neither_library():
    result = _run("""
        import sys
        import course_utils.quantize_libraries as ql
        status = ql.library_status()
        print(sorted(status), 'torchao' in sys.modules, 'bitsandbytes' in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "['bitsandbytes', 'torchao'] False False"


@pytest.mark.parametrize("name, call", [
    ("torchao", lambda: ql.torchao_int8(nn.Sequential(nn.Linear(8, 8)))),
    ("torchao", lambda: ql.torchao_parity(nn.Linear(8, 8))),
    ("bitsandbytes", lambda: ql.bnb_nf4(COURSE_SMALL)),
    ("bitsandbytes", lambda: ql.nf4_parity(nn.Linear(8, 8), nn.Linear(8, 8))),
])
def test_a_missing_library_raises_one_line_that_says_how_to_install_it(monkeypatch, name, call):
    monkeypatch.setitem(sys.modules, name, None)  # import fails as if it were not installed
    with pytest.raises(MissingLibraryError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{name} is not installed")
    assert f"pip install {name}=={ql.LIBRARY_VERSIONS[name]}" in message
    assert "course_utils.quantize works without it" in message
    assert ql.library_status()[name] is None


# --- torchao -----------------------------------------------------------------------------------------------------

def test_torchao_int8_quantizes_a_copy_but_the_tied_head_and_loses_little(tiny_llama_dir):
    pytest.importorskip("torchao")
    model = _load(tiny_llama_dir)
    ids = _ids()
    q = ql.torchao_int8(model)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    kinds = {n: type(q.get_submodule(n).weight).__name__ for n in linears}
    assert kinds.pop("lm_head") == "Parameter" and set(kinds.values()) == {"Int8Tensor"}
    assert q.lm_head.weight is q.model.embed_tokens.weight  # the tie survives
    assert all(type(model.get_submodule(n).weight).__name__ == "Parameter" for n in linears)  # original untouched
    base, quantized = _logits(model, ids), _logits(q, ids)
    assert 0 < (quantized - base).abs().max() < 0.02 * base.abs().max()
    same = ql.torchao_int8(model, inplace=True)  # for a model too large to hold twice
    assert same is model and type(model.model.layers[0].mlp.up_proj.weight).__name__ == "Int8Tensor"
    assert torch.equal(_logits(same, ids), quantized)


def test_torchao_quantizing_the_tied_head_too_breaks_the_tie_and_costs_more(tiny_llama_dir):
    pytest.importorskip("torchao")
    model = _load(tiny_llama_dir)
    skipped, everything = ql.torchao_int8(model), ql.torchao_int8(model, skip=())
    assert type(everything.lm_head.weight).__name__ == "Int8Tensor"
    assert everything.model.embed_tokens.weight.dtype == torch.float32
    assert everything.config.tie_word_embeddings is False and model.config.tie_word_embeddings is True
    head = model.lm_head.weight
    # int8 codes, and per row a float32 scale and an int8 zero point (always 0: the format is symmetric)
    assert ql.held_bytes(everything) - ql.held_bytes(skipped) == head.numel() + head.shape[0] * 5


def test_torchao_parity_same_format_different_divisor():
    pytest.importorskip("torchao")
    linear = nn.Linear(256, 96)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(96, 256, generator=torch.Generator().manual_seed(0)) * 0.02)
    before = linear.weight.clone()
    report = ql.torchao_parity(linear)
    assert torch.equal(linear.weight, before)
    assert report["scale_ratio"] == pytest.approx(127 / 127.5, abs=1e-6)
    assert 0.5 < report["codes_identical"] < 0.99  # the divisors differ, so some codes move by one
    assert report["codes_identical_same_scale"] == 1.0  # with torchao's scale, our rounding is torchao's
    assert report["code_range"] == (-128, 127)
    assert 0.5 < report["max_difference_steps"] <= 1.0 + 1e-6
    assert report["error_ours"] < 0.01 and report["error_torchao"] == pytest.approx(report["error_ours"], rel=0.05)


def test_torchao_int8_saves_as_safetensors_and_reads_back_the_same(tiny_llama_dir, tmp_path):
    pytest.importorskip("torchao")
    from transformers import AutoModelForCausalLM

    model = _load(tiny_llama_dir)
    q = ql.torchao_int8(model)
    q.save_pretrained(tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.suffix in (".safetensors", ".bin", ".pt")) == \
        [".safetensors"]
    back = AutoModelForCausalLM.from_pretrained(tmp_path, device_map="cpu")
    assert type(back.model.layers[0].mlp.up_proj.weight).__name__ == "Int8Tensor"
    assert torch.equal(_logits(back, _ids()), _logits(q, _ids()))


def test_get_memory_footprint_counts_torchao_int8_as_float32(tiny_llama_dir):
    pytest.importorskip("torchao")
    model = _load(tiny_llama_dir)
    q = ql.torchao_int8(model)
    full, report = ql.footprint_report(model), ql.footprint_report(q)
    assert full["get_memory_footprint"] == full["held_bytes"]  # right for plain tensors
    assert report["get_memory_footprint"] == full["get_memory_footprint"]  # no saving shown at all
    linears = [m for n, m in model.named_modules() if isinstance(m, nn.Linear) and n != "lm_head"]
    saved = sum(m.weight.numel() * 3 - m.out_features * 5 for m in linears)  # 4 -> 1 byte a weight; scale, zero
    assert report["held_bytes"] == full["held_bytes"] - saved
    for r in (full, report):
        assert r["held_bytes"] <= r["serialized_bytes"] < r["held_bytes"] + 64_000  # + the safetensors header


def test_a_hand_quantized_torchao_model_is_refused_rather_than_pickled(tiny_llama_dir):
    torchao = pytest.importorskip("torchao")
    from torchao.quantization import Int8WeightOnlyConfig

    model = _load(tiny_llama_dir)
    torchao.quantization.quantize_(model, Int8WeightOnlyConfig(set_inductor_config=False))
    with pytest.raises(BadInputError, match="no transformers quantizer.*torchao_int8"):
        ql.serialized_bytes(model)


# --- bitsandbytes --------------------------------------------------------------------------------------------------

def _linear4bit_layers(model):
    from bitsandbytes.nn import Linear4bit

    return [(n, m) for n, m in model.named_modules() if isinstance(m, Linear4bit)]


def _expected_paths(model, fast_cpu_kernel=True):
    from bitsandbytes.functional import has_avx512bf16

    paths = {"avx512_bf16": 0, "portable": 0, "course_dequantize": 0}
    for _, m in _linear4bit_layers(model):
        whole = m.in_features % 64 == 0
        if not whole and ql._bnb_cpu_dequantize_needs_whole_blocks():
            paths["course_dequantize"] += 1
        elif fast_cpu_kernel and has_avx512bf16() and whole and m.out_features % 32 == 0:
            paths["avx512_bf16"] += 1
        else:
            paths["portable"] += 1
    return paths


def test_bnb_nf4_off_the_fast_kernel_computes_exactly_the_from_scratch_nf4():
    pytest.importorskip("bitsandbytes")
    model = _load(COURSE_SMALL)
    nf4 = ql.bnb_nf4("course-small", fast_cpu_kernel=False)
    assert nf4.nf4_paths == _expected_paths(nf4, fast_cpu_kernel=False)
    assert nf4.nf4_paths["avx512_bf16"] == 0 and sum(nf4.nf4_paths.values()) == 28
    assert nf4.lm_head.weight is nf4.model.embed_tokens.weight and nf4.lm_head.weight.dtype == torch.float32
    ids = _ids()
    assert torch.allclose(_logits(nf4, ids), _logits(_fake_nf4(model), ids), atol=1e-5)


def test_bnb_nf4_generates_on_course_large_whose_mlp_the_fast_kernel_cannot_take():
    pytest.importorskip("bitsandbytes")
    nf4 = ql.bnb_nf4("course-large")
    assert nf4.nf4_paths == _expected_paths(nf4)
    assert nf4.config.intermediate_size % ql.BNB_CPU_KERNEL_ROWS  # 688: the case that failed in bitsandbytes
    ids = _ids(6)
    with torch.no_grad():
        out = nf4.generate(ids, max_new_tokens=5, do_sample=False)
    assert out.shape == (1, 11) and torch.equal(out[:, :6], ids)


def test_the_fast_kernel_stays_within_bfloat16_rounding_of_the_exact_nf4_product(tiny_llama_dir):
    pytest.importorskip("bitsandbytes")
    nf4 = ql.bnb_nf4(tiny_llama_dir)
    model = _load(tiny_llama_dir)
    if nf4.nf4_paths["avx512_bf16"] == 0:
        pytest.skip("this CPU has no AVX512-BF16: every layer takes the portable path")
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(0))
    for name, layer in _linear4bit_layers(nf4):
        if layer.in_features == 64:
            exact = x @ quantize_nf4(model.get_submodule(name).weight).dequantize().T
            with torch.no_grad():
                fast = layer(x)
            assert layer.weight.quant_state.packing_format_for_cpu  # it did take the fast kernel
            assert 0 < float((fast - exact).norm() / exact.norm()) < 0.01  # bfloat16: about 3 significant digits


def test_nf4_parity_is_exact_before_a_forward_and_keeps_the_codes_after():
    pytest.importorskip("bitsandbytes")
    model = _load(COURSE_SMALL)
    nf4 = ql.bnb_nf4("course-small")
    before = ql.nf4_parity(nf4, model)
    assert before["layers"] == 28 and before["repacked_layers"] == 0 and before["levels_identical"]
    assert before["codes_identical"] == 1.0 and before["max_abs_difference"] == 0.0
    assert before["max_error_bnb"] == before["max_error_ours"] < 0.15
    if not ql._bnb_cpu_dequantize_needs_whole_blocks():
        assert before["dequantize_4bit_max_abs_difference"] == 0.0
    _logits(nf4, _ids())
    after = ql.nf4_parity(nf4, model)
    assert after["repacked_layers"] == nf4.nf4_paths["avx512_bf16"] and after["codes_identical"] == 1.0
    largest = max(float(m.weight.detach().abs().max()) for m in model.modules() if isinstance(m, nn.Linear))
    assert after["max_abs_difference"] <= largest * 2 ** -8  # the kernel's bfloat16 absmax, nothing more
    assert (after["max_abs_difference"] > 0) == (after["repacked_layers"] > 0)


def test_nf4_parity_with_bnb_dequantize_is_exact_where_rows_hold_whole_blocks(tiny_llama_dir):
    pytest.importorskip("bitsandbytes")
    report = ql.nf4_parity(ql.bnb_nf4(tiny_llama_dir), _load(tiny_llama_dir))
    assert report["dequantize_4bit_max_abs_difference"] == 0.0 and report["codes_identical"] == 1.0


def test_saving_after_the_fast_kernel_ran_writes_a_checkpoint_that_reads_back_right(tmp_path):
    pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM

    nf4 = ql.bnb_nf4("course-small")
    size_before = ql.serialized_bytes(nf4)
    ids = _ids()
    first = _logits(nf4, ids)  # repacks the layers that fit the fast kernel
    assert ql.serialized_bytes(nf4) == size_before
    assert torch.equal(_logits(nf4, ids), first)  # saving left the model as it was
    nf4.save_pretrained(tmp_path)
    back = AutoModelForCausalLM.from_pretrained(tmp_path, device_map="cpu")
    for (name, layer), (_, again) in zip(_linear4bit_layers(nf4), _linear4bit_layers(back)):
        ours, theirs = ql._nf4_of(layer), ql._nf4_of(again)
        assert torch.equal(ours.codes, theirs.codes) and torch.equal(ours.absmax, theirs.absmax), name


def test_get_memory_footprint_leaves_out_the_nf4_absmax():
    pytest.importorskip("bitsandbytes")
    nf4 = ql.bnb_nf4("course-small")
    report = ql.footprint_report(nf4)
    states = [m.weight.quant_state for _, m in _linear4bit_layers(nf4)]
    beside = sum(s.absmax.numel() * s.absmax.element_size() + s.code.numel() * s.code.element_size() for s in states)
    assert report["held_bytes"] - report["get_memory_footprint"] == beside
    assert report["held_bytes"] <= report["serialized_bytes"] < report["held_bytes"] + 64_000


def test_bnb_nf4_takes_a_model_or_a_folder_and_refuses_what_it_cannot_load(tiny_llama_dir, tmp_path):
    pytest.importorskip("bitsandbytes")
    model = _load(tiny_llama_dir)
    from_model, from_folder = ql.bnb_nf4(model), ql.bnb_nf4(tiny_llama_dir)
    assert torch.equal(_logits(from_model, _ids()), _logits(from_folder, _ids()))
    with pytest.raises(BadInputError, match="already quantized"):
        ql.bnb_nf4(from_model)
    (tmp_path / "config.json").write_text((tiny_llama_dir / "config.json").read_text())
    with pytest.raises(BadInputError, match="no .safetensors"):
        ql.bnb_nf4(tmp_path)
    with pytest.raises(UnknownModelError):
        ql.bnb_nf4("course-smal")
    with pytest.raises(BadInputError, match="no bitsandbytes 4-bit layer"):
        ql.nf4_parity(model, model)


# --- quiet logs ---------------------------------------------------------------------------------------------------

def _record(name, msg, *args):
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_the_filter_drops_exactly_the_known_messages():
    import enum

    class Local(enum.Enum):
        A = 1

    class KernelPreference(enum.Enum):  # stands in for torchao's enum of that name
        AUTO = "auto"

    KernelPreference.__module__ = "torchao.quantization.quantize_.common"
    note = ("%s is an Enum subclass and is now natively supported by torch.compile as an opaque value type. Calling "
            "register_constant() on Enum subclasses is deprecated and will be an error in a future release.")
    site = "/usr/lib/python3.11/site-packages/torchao"
    keep = KnownHarmlessWarnings().filter
    assert not keep(_record("torchao", f"Failed to load {site}/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not"))
    assert not keep(_record("torchao", f"Failed to load {site}/_C_cutlass_90a.abi3.so: Could not load this library"))
    assert not keep(_record("torch.utils._pytree", note, KernelPreference))
    assert keep(_record("torchao", f"Failed to load {site}/_C.abi3.so: Could not load this library"))  # CPU kernels
    assert keep(_record("torchao", "Skipping import of cpp extensions due to incompatible torch version"))
    assert keep(_record("torch.utils._pytree", note, Local))
    assert keep(_record("transformers", f"Failed to load {site}/_C_mxfp8.so: x"))


def test_installed_the_known_torchao_lines_are_gone_and_other_warnings_still_show():
    pytest.importorskip("torchao")
    load = f"""
        import logging
        import course_utils
        {{install}}
        from transformers import AutoModelForCausalLM
        AutoModelForCausalLM.from_pretrained({str(COURSE_SMALL)!r})
        logging.getLogger("torchao").warning("an unrelated torchao warning")
    """
    known = ("Failed to load", "_C_mxfp8", "_C_cutlass_90a", "is an Enum subclass")
    quiet = _run(load.format(install="from course_utils import _quiet_logs; _quiet_logs.install(); "
                                     "_quiet_logs.install()"))
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if any(k in line for k in known)], quiet.stderr
    assert "an unrelated torchao warning" in quiet.stderr
    plain = _run(load.format(install="pass"))
    if not any(k in plain.stderr for k in known):
        pytest.skip("torchao logs none of the known warnings here, so there was nothing to drop")
    assert "an unrelated torchao warning" in plain.stderr
