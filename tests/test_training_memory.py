"""course_utils.training_memory: the formulas by hand, the LoRA count against course_utils.lora, the activation
term against what autograd saves, and the total against the peak memory of real training steps."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch

from course_utils.catalog import ModelSpec, get_spec
from course_utils.errors import BadInputError
from course_utils.lora import LoRAConfig, apply_lora, trainable_parameters
from course_utils.sizing import MACHINES
from course_utils.training_memory import (NF4_BYTES_PER_PARAM, activation_bytes, compare_methods,
                                          lora_parameters, logits_bytes, machines_that_fit, training_memory)

transformers = pytest.importorskip("transformers")

TINY = ModelSpec(name="tiny", hub_id=None, family="test", arch="llama", params=0, n_layers=2, hidden=64, heads=4,
                 kv_heads=2, head_dim=16, mlp=96, vocab=128, context=256, tied_embeddings=True, license="-",
                 checkpoint_dtype="float32")
# by hand: embedding 128·64 = 8192; per layer q 64·64 + k, v 2·64·32 + o 64·64 = 12288, MLP 3·64·96 = 18432,
# 2 norms 128 -> 30848; 2 layers + final norm 64: 8192 + 61696 + 64
TINY_PARAMS = 69_952
TINY_LINEAR_PARAMS = 2 * (12288 + 18432)
# LoRA r=4 on all seven: 4·(in + out) for q 128, k 96, v 96, o 128, gate 160, up 160, down 160 -> 3712 a layer
TINY_LORA_R4 = 2 * 3712


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_formula_terms_by_hand():
    assert TINY.formula_params() == TINY_PARAMS
    # activations, b=2, s=8 at 16-bit: s·b·h·34 + 5·a·s²·b = 34816 + 2560 a layer; float32 doubles it
    assert activation_bytes(TINY, 2, 8) == 2 * (34816 + 2560)
    assert activation_bytes(TINY, 2, 8, bytes_per_value=4) == 4 * (34816 + 2560)
    assert activation_bytes(TINY, 2, 8, flash_attention=True) == 2 * 34816
    assert logits_bytes(TINY, 2, 8) == 2 * 2 * 8 * 128 * 4 == 16384  # logits and their gradient, fp32

    full = training_memory(TINY, method="full", dtype="float32", batch=2, seq_len=8)
    assert (full.weights, full.gradients, full.optimizer) == (4 * TINY_PARAMS, 4 * TINY_PARAMS, 8 * TINY_PARAMS)
    assert full.activations == 4 * (34816 + 2560) and full.logits == 16384 and full.trainable == TINY_PARAMS
    assert full.total == 16 * TINY_PARAMS + 4 * (34816 + 2560) + 16384 == sum(
        v for k, v in full.terms().items() if k != "total")

    mixed = training_memory(TINY, method="full", dtype="bfloat16", batch=2, seq_len=8)
    assert (mixed.weights, mixed.gradients, mixed.optimizer) == (2 * TINY_PARAMS, 2 * TINY_PARAMS, 12 * TINY_PARAMS)
    assert mixed.activations == 2 * (34816 + 2560) and mixed.logits == 16384  # logits stay fp32

    lora = training_memory(TINY, method="lora", dtype="float32", batch=2, seq_len=8, r=4)
    assert lora.trainable == TINY_LORA_R4
    assert (lora.weights, lora.gradients, lora.optimizer) == (4 * TINY_PARAMS + 4 * TINY_LORA_R4,
                                                              4 * TINY_LORA_R4, 8 * TINY_LORA_R4)
    assert lora.activations == full.activations  # LoRA does not shrink them

    qlora = training_memory(TINY, method="qlora", dtype="bfloat16", batch=2, seq_len=8, r=4)
    base = TINY_LINEAR_PARAMS * (0.5 + 1 / 64 + 4 / (64 * 256)) + (TINY_PARAMS - TINY_LINEAR_PARAMS) * 2
    assert qlora.weights == int(base + 4 * TINY_LORA_R4) and NF4_BYTES_PER_PARAM == pytest.approx(0.5159, abs=1e-4)
    assert qlora.activations == mixed.activations

    qv = training_memory(TINY, method="lora", r=4, targets=("q_proj", "v_proj"), batch=2, seq_len=8)
    assert qv.trainable == 2 * 4 * (128 + 96)


def test_catalog_models_and_machines():
    smol = get_spec("SmolLM2-135M")
    methods = compare_methods("SmolLM2-135M", dtype="bfloat16", batch=4, seq_len=512)
    assert [m.method for m in methods] == ["full", "lora", "qlora"]
    assert methods[0].total > methods[1].total > methods[2].total
    assert methods[0].weights + methods[0].gradients + methods[0].optimizer == 16 * smol.params
    big = compare_methods("Qwen2.5-7B", dtype="bfloat16", batch=1, seq_len=512)
    assert set(machines_that_fit(big[0])) == set(MACHINES)
    full, lora, qlora = (machines_that_fit(m) for m in big)
    assert not full["H100 (80 GB GPU)"]  # > 120 GB of weights, gradients and Adam states
    assert lora["H100 (80 GB GPU)"] and not lora["Colab T4 (16 GB GPU)"]
    assert qlora["Colab T4 (16 GB GPU)"] and not qlora["Binder (2 GB RAM)"]
    assert big[2].weights < big[1].weights / 2.5  # 4-bit blocks, 16-bit embeddings
    assert "trainable" in big[1].summary() and "activations" in big[1].summary()


def test_lora_parameters_match_course_utils_lora_on_a_real_model():
    spec = dataclasses.replace(get_spec("SmolLM2-135M"), name="small SmolLM2", params=0, n_layers=2, hidden=96,
                               heads=6, kv_heads=2, head_dim=16, mlp=160, vocab=256)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(spec.to_config())
    assert sum(p.numel() for p in model.parameters()) == spec.formula_params()
    for r, targets in ((8, None), (4, ("q_proj", "v_proj")), (16, ("down_proj",))):
        kwargs = {} if targets is None else {"target_modules": targets}
        lora_model = apply_lora(type(model)(spec.to_config()), LoRAConfig(r=r, **kwargs))
        assert trainable_parameters(lora_model)[0] == lora_parameters(spec, r, targets)
    course = get_spec("course-small")
    if course.available_offline:
        from course_utils.loading import load_model
        import copy
        lm = apply_lora(copy.deepcopy(load_model("course-small", device="cpu").model), LoRAConfig(r=8))
        assert trainable_parameters(lm)[0] == lora_parameters(course, 8)


def _saved_activation_bytes(model, ids) -> int:
    """Bytes of the tensors autograd keeps for the backward pass (parameters excluded, each storage once)."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    return sum(n for ptr, n in storages.items() if ptr not in params)


@pytest.mark.parametrize("attention, method", [("sdpa", "lora"), ("eager", "full")])
def test_activation_term_against_what_autograd_saves(attention, method):
    """SmolLM2-135M's real layer widths, 1 and 3 layers: the difference is what two layers save.

    Measured a layer (fp32, 1 × 128): LoRA 5.15 MB with SDPA, 6.12 MB eager; full 5.71 / 6.69 MB; the
    formula says 5.01 MB without the attention scores, 6.49 MB with them."""
    spec = get_spec("SmolLM2-135M")
    ids = torch.randint(0, 1000, (1, 128), generator=torch.Generator().manual_seed(0))
    saved = {}
    for n_layers in (1, 3):
        config = dataclasses.replace(spec, n_layers=n_layers, params=0).to_config()
        config._attn_implementation = attention
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(config).train()
        if method == "lora":
            apply_lora(model, LoRAConfig(r=8))
        saved[n_layers] = _saved_activation_bytes(model, ids)
    per_layer = (saved[3] - saved[1]) / 2
    flash = attention == "sdpa"  # torch's SDPA kernels keep no (s, s) attention matrix
    formula = activation_bytes(spec, 1, 128, bytes_per_value=4, flash_attention=flash) / spec.n_layers
    assert per_layer == pytest.approx(formula, rel=0.25), (per_layer, formula)
    head = saved[1] - per_layer  # what is left with no layer: the fp32 log-softmax of the logits
    assert head == pytest.approx(logits_bytes(spec, 1, 128) / 2, rel=0.1)  # the gradient is the other half


def test_bad_input():
    for kwargs, message in [({"method": "adapter"}, "Unknown method 'adapter'"),
                            ({"dtype": "int8"}, "Unknown dtype 'int8'"),
                            ({"batch": 0}, "batch must be a whole number"),
                            ({"seq_len": 10_000}, "reads at most 8,192 tokens"),
                            ({"r": 0}, "rank r must be a positive"),
                            ({"r": 1000}, "r=1000 is larger than q_proj allows"),
                            ({"targets": ("lm_head",)}, "no Linear layer named lm_head")]:
        with pytest.raises(BadInputError, match=message):
            training_memory("SmolLM2-135M", **kwargs)
    with pytest.raises(BadInputError, match="c_attn, c_proj, c_fc"):
        lora_parameters(get_spec("GPT-2"), 8, ("q_proj",))
    assert lora_parameters(get_spec("GPT-2"), 8) == 12 * 8 * ((768 + 2304) + (768 + 768) + (768 + 3072) + (3072 + 768))


# ----------------------------------------------------------------------------- against measured peak memory

CHILD = r"""
import dataclasses, json, sys
import torch
from transformers import AutoModelForCausalLM
from course_utils.catalog import get_spec
from course_utils.lora import LoRAConfig, apply_lora
from course_utils.measure import peak_memory

method, b, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = get_spec("SmolLM2-135M")

def train(config):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    if method == "lora":
        apply_lora(model, LoRAConfig(r=8, alpha=16, seed=0))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    ids = torch.randint(0, config.vocab_size, (b, s), generator=torch.Generator().manual_seed(0))
    for _ in range(2):  # the second step runs with the Adam states already allocated
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return sum(p.numel() for p in params)

# warm up every code path on a tiny model first, so the baseline holds the libraries, not the model
train(dataclasses.replace(spec, n_layers=1, hidden=64, heads=4, kv_heads=2, head_dim=16, mlp=64, vocab=256).to_config())
trainable, peak = peak_memory(train, spec.to_config())
print(json.dumps({"trainable": trainable, "peak_bytes": peak}))
"""
MEASURE = {"batch": 1, "seq_len": 128}
TOLERANCE = 0.35


@pytest.fixture(scope="module")
def measured():
    """Peak memory above the baseline of a full AdamW run and a LoRA run (two steps each), in two child
    processes run side by side: a process's peak resident memory only goes up, so each gets its own."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    procs = {method: subprocess.Popen([sys.executable, "-c", CHILD, method, str(MEASURE["batch"]),
                                       str(MEASURE["seq_len"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env)
             for method in ("full", "lora")}
    results = {}
    for method, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        results[method] = json.loads(out.strip().splitlines()[-1])
    return results


@pytest.mark.parametrize("method", ["full", "lora"])
def test_estimate_against_the_peak_of_real_training_steps(measured, method):
    """SmolLM2-135M from its config (random weights), float32, batch 1 × 128, AdamW.

    Measured here (peak resident memory over the warmed-up baseline): full ≈ 2.63 GB vs 2.40 GB
    estimated (−9 %), LoRA r=8 ≈ 0.97 GB vs 0.82 GB (−16 %). The estimate counts tensors; the resident
    memory also holds freed blocks the allocator keeps and short-lived temporaries (the LoRA branch's
    outputs, the optimizer's per-tensor scratch), so it is a little above. ±35 % leaves room for other
    allocators and machines, and still fails a formula that forgets a term: leaving out the Adam states
    gives −50 % for the full run; charging LoRA 16 bytes a parameter like full fine-tuning, +146 %.
    """
    estimate = training_memory("SmolLM2-135M", method=method, dtype="float32", **MEASURE)
    result = measured[method]
    assert result["trainable"] == estimate.trainable
    ratio = estimate.total / result["peak_bytes"]
    print(f"{method}: measured {result['peak_bytes'] / 1e9:.3f} GB, estimated {estimate.total / 1e9:.3f} GB "
          f"({ratio - 1:+.0%})")
    assert 1 - TOLERANCE <= ratio <= 1 + TOLERANCE, estimate.summary()
    if method == "full":
        assert result["peak_bytes"] > 2 * measured["lora"]["peak_bytes"]
