"""The same quantization with maintained libraries: torchao int8 weight-only, bitsandbytes NF4 (the QLoRA format).

``course_utils.quantize`` builds both formats from scratch. Here the libraries do it, and the ``*_parity``
functions compare them value by value with the from-scratch version:

- ``torchao_int8``: int8 codes and one scale per output row, the format of ``quantize_weight(w, 8,
  group_size=in_features)``. torchao divides the row's absmax by 127.5 where we divide by 127, so about one
  code in eight differs by one; with torchao's scale every code is the same (``torchao_parity``).
- ``bnb_nf4``: bitsandbytes' NF4, loaded through transformers as QLoRA does. Its codes and absmax are exactly
  those of ``quantize_nf4`` (``nf4_parity``). On a CPU, bitsandbytes 0.50.2 needs three workarounds here: its
  fast kernel refuses some layer shapes, its dequantize misreads rows that do not hold whole blocks, and saving
  after the fast kernel ran writes a wrong checkpoint (``bnb_nf4``, ``serialized_bytes``).

Memory is where the libraries and transformers disagree: ``footprint_report`` sets ``get_memory_footprint()``
beside the bytes the tensors really hold and the bytes ``save_pretrained`` writes.

Neither library is imported until a function needs it, and a missing one raises ``MissingLibraryError``: the
from-scratch module works without them.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.metadata
import importlib.util
import tempfile
import types
from pathlib import Path

import torch
from torch import nn

from course_utils.errors import BadInputError, MissingLibraryError
from course_utils.quantize import NF4_LEVELS, NF4Weight, quantize_nf4, quantize_weight, relative_error

# the versions the course is tested with
LIBRARY_VERSIONS = {"torchao": "0.18.0", "bitsandbytes": "0.50.2"}
# bitsandbytes' AVX512-BF16 CPU kernel repacks weights in tiles of 32 output rows and keeps one absmax per
# (row, block) of inputs; layers of other shapes fail inside bitsandbytes (bitsandbytes/functional.py,
# _convert_weight_packed_for_cpu).
BNB_CPU_KERNEL_ROWS = 32


def _require(name: str, module: str | None = None):
    """Import ``module`` (default: ``name``) or raise MissingLibraryError with the one line that fixes it."""
    try:
        importlib.import_module(name)  # first, so a missing top level is reported even if a submodule is cached
        return importlib.import_module(module or name)
    except ImportError as e:
        missing = isinstance(e, ModuleNotFoundError) and (e.name or name).partition(".")[0] == name
        problem = "is not installed" if missing else f"failed to import ({e})"
        raise MissingLibraryError(
            f"{name} {problem}: pip install {name}=={LIBRARY_VERSIONS[name]} (the from-scratch "
            "course_utils.quantize works without it).") from e


def library_status() -> dict[str, str | None]:
    """Each library's installed version, or None where it is missing (nothing is imported)."""
    status = {}
    for name in LIBRARY_VERSIONS:
        try:
            found = importlib.util.find_spec(name) is not None
        except ValueError:  # in sys.modules without a spec
            found = False
        status[name] = importlib.metadata.version(name) if found else None
    return status


def _check_module(model, what: str) -> None:
    if not isinstance(model, nn.Module):
        raise BadInputError(f"{what} takes a torch model (nn.Module), got {type(model).__name__}; for a "
                            "LoadedModel pass lm.model.")


# --- torchao: int8 weight-only ----------------------------------------------------------------------------------

def torchao_int8(model: nn.Module, skip: tuple[str, ...] = ("lm_head",), *, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` whose Linear layers (but those named in ``skip``) torchao stores as int8, one scale
    per output row (``Int8WeightOnlyConfig``); ``model`` is unchanged. ``inplace=True`` quantizes ``model``
    itself instead, for a model too large to hold twice.

    The output head is skipped by default, as transformers' TorchAoConfig does. torchao's ``quantize_`` alone
    quantizes it too (``skip=()``): with tied embeddings the head becomes an int8 copy beside the float32
    embedding, the tie breaks (the copy's config says so) and the model holds more than with the head skipped.
    A transformers model gets the quantizer that transformers attaches when it loads with TorchAoConfig, so
    ``save_pretrained`` writes it (safetensors) and ``from_pretrained`` reads it back.
    """
    _check_module(model, "torchao_int8")
    quantization = _require("torchao", "torchao.quantization")

    def chosen(m: nn.Module, path: str) -> bool:
        return isinstance(m, nn.Linear) and path.rpartition(".")[2] not in skip

    if not any(chosen(m, path) for path, m in model.named_modules()):
        raise BadInputError("This model has no Linear layer to quantize (outside skip).")
    # set_inductor_config=False: torchao would otherwise change torch.compile's global settings
    config = quantization.Int8WeightOnlyConfig(set_inductor_config=False)
    quantized = model if inplace else copy.deepcopy(model)
    quantization.quantize_(quantized, config, filter_fn=chosen)
    if hasattr(quantized, "save_pretrained"):
        from transformers import TorchAoConfig
        from transformers.quantizers import AutoHfQuantizer

        head, embedding = quantized.get_output_embeddings(), quantized.get_input_embeddings()
        if head is not None and embedding is not None and head.weight is not embedding.weight:
            quantized.config.tie_word_embeddings = False  # else from_pretrained would tie them again
        hf_config = TorchAoConfig(config, modules_to_not_convert=list(skip) or None)
        quantized.hf_quantizer = AutoHfQuantizer.from_config(hf_config)
        quantized.config.quantization_config = hf_config
    return quantized


@torch.no_grad()
def torchao_parity(linear: nn.Linear) -> dict:
    """Quantize one Linear with torchao and with ``quantize_weight(w, 8, group_size=in_features)``; compare.

    Returns: scale_ratio (median torchao / ours: 127 / 127.5 ≈ 0.996), codes_identical (share), codes_identical_
    same_scale (ours rounding with torchao's scale; 1.0 means the format is the same and only the divisor
    differs), code_range (torchao's min, max), max_difference_steps (largest |dequantized difference| in units of
    our step), error_ours and error_torchao (relative reconstruction errors ‖W − Ŵ‖ / ‖W‖).
    """
    if not isinstance(linear, nn.Linear):
        raise BadInputError(f"torchao_parity takes one nn.Linear, got {type(linear).__name__}.")
    quantization = _require("torchao", "torchao.quantization")
    layer = copy.deepcopy(linear)
    quantization.quantize_(layer, quantization.Int8WeightOnlyConfig(set_inductor_config=False))
    theirs = layer.weight
    if not (hasattr(theirs, "qdata") and hasattr(theirs, "scale")):
        raise MissingLibraryError(
            f"torchao {library_status()['torchao']} stores int8 weights as {type(theirs).__name__}, not the "
            f"Int8Tensor (qdata, scale) this comparison reads: pip install torchao=={LIBRARY_VERSIONS['torchao']}.")
    w = linear.weight.float()
    ours = quantize_weight(w, bits=8, group_size=w.shape[1])
    their_codes, their_scale = theirs.qdata, theirs.scale.float()  # (out, in) int8, (out, 1)
    # the same rule with torchao's scale and code range; torchao multiplies by 1 / scale (dividing would flip
    # about 1 code in 2,000 that sits exactly on a rounding boundary)
    same_scale = torch.clamp(torch.round(w * (1.0 / their_scale)), -128, 127).to(torch.int8)
    restored_theirs = their_codes.float() * their_scale
    restored_ours = ours.dequantize()
    return dict(
        scale_ratio=float((their_scale.view(-1) / ours.scales.view(-1)).median()),
        codes_identical=float((their_codes == ours.codes).float().mean()),
        codes_identical_same_scale=float((their_codes == same_scale).float().mean()),
        code_range=(int(their_codes.min()), int(their_codes.max())),
        max_difference_steps=float(((restored_theirs - restored_ours).abs() / ours.scales).max()),
        error_ours=relative_error(w, restored_ours),
        error_torchao=relative_error(w, restored_theirs),
    )


# --- bitsandbytes: NF4 ------------------------------------------------------------------------------------------

def _model_folder(model_or_path, scratch: str) -> str:
    """The folder to load: a course model's, the given one, or ``scratch`` after saving a model there."""
    if isinstance(model_or_path, nn.Module):
        if getattr(model_or_path, "hf_quantizer", None) is not None:
            raise BadInputError("This model is already quantized; pass the full-precision model or its folder.")
        if not hasattr(model_or_path, "save_pretrained"):
            raise BadInputError("bnb_nf4 takes a transformers model, a course model name or a save_pretrained "
                                f"folder; {type(model_or_path).__name__} has no save_pretrained.")
        model_or_path.save_pretrained(scratch)
        return scratch
    path = Path(str(model_or_path)).expanduser()
    if not (path / "config.json").exists():
        from course_utils.catalog import get_spec

        spec = get_spec(str(model_or_path))  # UnknownModelError lists close names
        if not spec.is_course_model:
            raise BadInputError(f"bnb_nf4 loads local folders; {spec.name} is a hub model. Load it, then pass "
                                "the model, or pass a save_pretrained folder.")
        path = spec.path
    if not any(path.glob("*.safetensors")):
        raise BadInputError(f"{path} has no .safetensors weights. The course loads safetensors only "
                            "(pickle-based .bin files can run code when loaded); convert with "
                            "model.save_pretrained(path).")
    return str(path)


def bnb_nf4(model_or_path, compute_dtype: torch.dtype = torch.float32, fast_cpu_kernel: bool = True) -> nn.Module:
    """Load a model with bitsandbytes NF4 weights (QLoRA's format: blocks of 64, no double quantization).

    ``model_or_path``: a course model name ("course-small"), a save_pretrained folder (safetensors), or a
    transformers model (saved to a temporary folder, then loaded). The output head and embeddings stay as they
    are. ``compute_dtype`` is what the matmuls run in. ``model.nf4_paths`` counts the layers per CPU path:

    - "avx512_bf16": on a CPU with AVX512-BF16, bitsandbytes repacks a layer for a faster kernel on its first
      forward pass. The kernel rounds the absmax to bfloat16, so outputs differ slightly from the other paths,
      and it takes only layers with a multiple of 32 outputs and whole blocks per row; others fail inside
      bitsandbytes (course-large's MLP, 688 wide), so they are set to the portable path here.
      ``fast_cpu_kernel=False`` keeps every layer off it (the same numbers on every machine).
    - "portable": bitsandbytes dequantizes the weight, then multiplies.
    - "course_dequantize": layers whose rows do not hold whole blocks (course-small's MLP output, 352 inputs),
      where bitsandbytes 0.50.2's CPU dequantize reads the wrong absmax (it assumes whole blocks per row); they
      are dequantized with ``course_utils.quantize``'s NF4 from bitsandbytes' own codes and absmax. Used only
      where a check at load time finds that bug.
    """
    _require("bitsandbytes")
    Linear4bit = _require("bitsandbytes", "bitsandbytes.nn").Linear4bit
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype)
    with tempfile.TemporaryDirectory() as scratch:
        folder = _model_folder(model_or_path, scratch)
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=config, device_map="cpu",
                                                     use_safetensors=True)
    paths = {"avx512_bf16": 0, "portable": 0, "course_dequantize": 0}
    for layer in model.modules():
        if not isinstance(layer, Linear4bit):
            continue
        whole_blocks = layer.in_features % layer.weight.quant_state.blocksize == 0
        fits_kernel = layer.out_features % BNB_CPU_KERNEL_ROWS == 0 and whole_blocks
        if not (fast_cpu_kernel and fits_kernel):
            layer.support_avx512bf16_for_cpu = False
        if not whole_blocks and _bnb_cpu_dequantize_needs_whole_blocks():
            layer.forward = types.MethodType(_course_dequantize_forward, layer)
            paths["course_dequantize"] += 1
        else:
            paths["avx512_bf16" if layer.support_avx512bf16_for_cpu else "portable"] += 1
    model.nf4_paths = paths
    return model


@functools.cache
def _bnb_cpu_dequantize_needs_whole_blocks() -> bool:
    """True where bitsandbytes' CPU dequantize gets a weight wrong whose rows straddle absmax blocks."""
    functional = _require("bitsandbytes", "bitsandbytes.functional")
    weight = torch.arange(1.0, 193.0).view(2, 96)  # blocks of 64 with absmax 64, 128, 192; the second straddles
    packed, state = functional.quantize_4bit(weight, blocksize=64, quant_type="nf4")
    return not torch.equal(functional.dequantize_4bit(packed, state), quantize_nf4(weight).dequantize())


def _nf4_weight(data: torch.Tensor, state) -> NF4Weight:
    """bitsandbytes' packed codes and quant state (portable layout) as the course's NF4Weight."""
    if state.nested:
        raise BadInputError("This layer uses double quantization (a quantized absmax); load with bnb_nf4(...), "
                            "which keeps it off.")
    return NF4Weight(_unpack_nibbles(data, state.shape.numel()), state.absmax.float(), tuple(state.shape),
                     state.blocksize)


def _nf4_of(layer) -> NF4Weight:
    """A Linear4bit's weight as the course's NF4Weight, from copies in the portable layout."""
    return _nf4_weight(*_portable_layout(layer))


def _course_dequantize_forward(self, x: torch.Tensor) -> torch.Tensor:  # bound to a Linear4bit as its forward
    dtype = self.compute_dtype or x.dtype
    weight = _nf4_weight(self.weight.data, self.weight.quant_state).dequantize(dtype)  # (out, in)
    bias = None if self.bias is None else self.bias.to(dtype)
    return nn.functional.linear(x.to(dtype), weight, bias).to(x.dtype)


def _portable_layout(layer) -> tuple[torch.Tensor, object]:
    """A Linear4bit's packed codes and quant state in bitsandbytes' portable layout, as copies.

    After the AVX512-BF16 kernel's repack, bitsandbytes' inverse restores the codes but leaves the absmax as
    the kernel holds it, (blocks per row, out) in bfloat16; it is put back to (blocks,) here. The bfloat16
    rounding itself cannot be undone.
    """
    data, state = layer.weight.data, layer.weight.quant_state
    if not getattr(state, "packing_format_for_cpu", False):
        return data.clone(), copy.deepcopy(state)
    functional = _require("bitsandbytes", "bitsandbytes.functional")
    data, state = functional._convert_weight_packed_for_cpu_inverse(data.clone(), copy.deepcopy(state))
    if state.absmax.dim() == 2:
        state.absmax = state.absmax.T.reshape(-1).float()
    return data, state


def _restore_portable_layout(model: nn.Module) -> int:
    """Put every repacked Linear4bit of ``model`` back in the portable layout (the next forward repacks it).

    bitsandbytes 0.50.2 saves a repacked layer with its absmax transposed, which writes a wrong checkpoint and
    leaves the layer wrong in memory; this runs before saving. Returns how many layers it restored.
    """
    Linear4bit = _require("bitsandbytes", "bitsandbytes.nn").Linear4bit
    restored = 0
    for layer in model.modules():
        if isinstance(layer, Linear4bit) and getattr(layer.weight.quant_state, "packing_format_for_cpu", False):
            layer.weight.data, layer.weight.quant_state = _portable_layout(layer)
            restored += 1
    return restored


def _unpack_nibbles(packed: torch.Tensor, numel: int) -> torch.Tensor:
    """bitsandbytes packs two codes per byte, the first in the high nibble: (bytes,) -> (numel,) codes 0..15."""
    packed = packed.view(torch.uint8).view(-1)
    return torch.stack([packed >> 4, packed & 0xF], dim=1).view(-1)[:numel]


@torch.no_grad()
def nf4_parity(model_nf4: nn.Module, model_fp32: nn.Module) -> dict:
    """Compare each bitsandbytes NF4 layer of ``model_nf4`` with ``quantize_nf4`` of the same fp32 weight.

    Returns:
    - layers, and repacked_layers: those bitsandbytes' AVX512-BF16 kernel has repacked (after a forward pass);
    - levels_identical: bitsandbytes' 16 levels are ``NF4_LEVELS``;
    - codes_identical: share of the 4-bit codes that are the same;
    - max_abs_difference: largest |Ŵ_bnb − Ŵ_ours|, both restored from their codes and absmax (0.0 before any
      repack; after one, the bfloat16 rounding the kernel applied to the absmax);
    - dequantize_4bit_max_abs_difference: the same with ``bitsandbytes.functional.dequantize_4bit`` restoring
      Ŵ_bnb (nonzero where its CPU bug bites, see ``bnb_nf4``);
    - max_error_ours, max_error_bnb: the largest relative error ‖W − Ŵ‖ / ‖W‖ over the layers.

    Reads copies: ``model_nf4`` is unchanged.
    """
    _check_module(model_nf4, "nf4_parity")
    _check_module(model_fp32, "nf4_parity")
    Linear4bit = _require("bitsandbytes", "bitsandbytes.nn").Linear4bit
    dequantize_4bit = _require("bitsandbytes", "bitsandbytes.functional").dequantize_4bit
    layers = [(path, m) for path, m in model_nf4.named_modules() if isinstance(m, Linear4bit)]
    if not layers:
        raise BadInputError("model_nf4 has no bitsandbytes 4-bit layer; load it with bnb_nf4(...).")
    levels = torch.tensor(NF4_LEVELS)
    same = total = repacked = 0
    levels_identical, diff, diff_dequantize, error_ours, error_bnb = True, 0.0, 0.0, 0.0, 0.0
    for path, layer in layers:
        try:
            weight = model_fp32.get_submodule(path).weight.float()
        except AttributeError:
            raise BadInputError(f"model_fp32 has no layer {path}; pass the full-precision model that model_nf4 "
                                "was quantized from.") from None
        repacked += bool(getattr(layer.weight.quant_state, "packing_format_for_cpu", False))
        data, state = _portable_layout(layer)
        if state.quant_type != "nf4":
            raise BadInputError(f"{path} is {state.quant_type}, not NF4; load with bnb_nf4(...).")
        levels_identical &= torch.equal(state.code.float().cpu(), levels)
        theirs, ours = _nf4_weight(data, state), quantize_nf4(weight, block_size=state.blocksize)
        restored_bnb, restored_ours = theirs.dequantize(), ours.dequantize()
        same += int((theirs.codes == ours.codes).sum())
        total += weight.numel()
        diff = max(diff, float((restored_bnb - restored_ours).abs().max()))
        restored_by_dequantize = dequantize_4bit(data, state).float()
        diff_dequantize = max(diff_dequantize, float((restored_by_dequantize - restored_ours).abs().max()))
        error_ours = max(error_ours, relative_error(weight, restored_ours))
        error_bnb = max(error_bnb, relative_error(weight, restored_bnb))
    return dict(layers=len(layers), repacked_layers=repacked, levels_identical=levels_identical,
                codes_identical=same / total, max_abs_difference=diff,
                dequantize_4bit_max_abs_difference=diff_dequantize, max_error_ours=error_ours,
                max_error_bnb=error_bnb)


# --- what a quantized model takes -------------------------------------------------------------------------------

def _is_torchao_tensor(t: torch.Tensor) -> bool:
    return type(t).__module__.startswith("torchao")


def _tensor_bytes(t: torch.Tensor) -> int:
    if hasattr(t, "__tensor_flatten__"):  # a tensor subclass (torchao): the tensors it holds inside
        inner, _ = t.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(t, name)) for name in inner)
    total = t.numel() * t.element_size()
    state = getattr(t, "quant_state", None)  # bitsandbytes: the absmax (and code table) kept beside the codes
    if state is not None:
        total += sum(v.numel() * v.element_size() for v in state.as_dict().values() if isinstance(v, torch.Tensor))
    return total


def held_bytes(model: nn.Module) -> int:
    """Bytes the model's tensors really hold: int8 codes, scales and zero points for torchao, packed 4-bit
    codes, absmax and level table for bitsandbytes, every other tensor at its own size; tied tensors once."""
    _check_module(model, "held_bytes")
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += _tensor_bytes(t)
    return total


def serialized_bytes(model: nn.Module) -> int:
    """Bytes of the weights ``save_pretrained`` writes (its .safetensors files; config files excluded).

    Layers bitsandbytes has repacked for its CPU kernel are put back in the portable layout first (see
    ``_restore_portable_layout``). Never pickles: a model that cannot be written as safetensors is refused.
    """
    _check_module(model, "serialized_bytes")
    if not hasattr(model, "save_pretrained"):
        raise BadInputError(f"serialized_bytes needs a transformers model; {type(model).__name__} has no "
                            "save_pretrained.")
    if getattr(model, "hf_quantizer", None) is None and any(_is_torchao_tensor(p) for p in model.parameters()):
        raise BadInputError("This model holds torchao tensors but no transformers quantizer, so save_pretrained "
                            "cannot write it as safetensors: quantize with torchao_int8(model), which attaches "
                            "one, or load with TorchAoConfig.")
    if any(type(m).__module__.startswith("bitsandbytes") for m in model.modules()):
        _restore_portable_layout(model)
    with tempfile.TemporaryDirectory() as folder:
        try:
            model.save_pretrained(folder)
        except Exception as e:
            raise BadInputError(f"save_pretrained could not write this model as safetensors ({type(e).__name__}: "
                                f"{e}).") from e
        files = list(Path(folder).iterdir())
        if not any(f.suffix == ".safetensors" for f in files) or any(f.suffix in (".bin", ".pt") for f in files):
            raise BadInputError("save_pretrained did not write this model as safetensors alone: "
                                f"{sorted(f.name for f in files)}.")
        return sum(f.stat().st_size for f in files if f.suffix == ".safetensors")


def footprint_report(model: nn.Module) -> dict[str, int]:
    """Three answers to "how big is this model": transformers' ``get_memory_footprint()`` (parameters times
    their element size, as the wrapper tensors report it), ``held_bytes`` (what the tensors really hold) and
    ``serialized_bytes`` (what save_pretrained writes)."""
    _check_module(model, "footprint_report")
    return dict(get_memory_footprint=int(model.get_memory_footprint()), held_bytes=held_bytes(model),
                serialized_bytes=serialized_bytes(model))
