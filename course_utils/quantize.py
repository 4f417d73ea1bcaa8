"""Weight quantization from scratch: symmetric, group-wise, 2 to 8 bits (lesson 09).

Each row of a weight matrix is cut into groups of ``group_size`` consecutive weights. A group keeps one scale,
its largest magnitude divided by the largest code, and each weight becomes a whole number (its *code*) in
[-qmax, qmax], with qmax = 2^(bits-1) - 1:

    scale = max|w_group| / qmax        code = clamp(round(w / scale), -qmax, qmax)        w ≈ code · scale

The codes take ``bits`` bits each once packed, and the scales one 16-bit number per group. So the cost is
``bits + 16 / group_size`` bits per weight (``bits_per_weight``). Here codes are held in int8 tensors, which is
simple to read; ``packed_bytes`` counts what a packed file would hold.

NF4 (``quantize_nf4``), the 4-bit format of QLoRA, keeps the per-block scale but places its 16 levels where
normally distributed weights are dense instead of evenly. Maintained libraries (torchao int8 weight-only,
bitsandbytes NF4) store the same formats with faster kernels: ``course_utils.quantize_libraries`` compares them
with this module value by value.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from course_utils.errors import BadInputError

SUPPORTED_BITS = range(2, 9)
SCALE_BITS = 16  # one fp16/bf16 scale per group in a packed file


def _check(bits: int, group_size: int, in_features: int | None = None) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in SUPPORTED_BITS:
        raise BadInputError(f"bits={bits!r} is not supported by this symmetric quantizer: use a whole number from "
                            f"{SUPPORTED_BITS.start} to {SUPPORTED_BITS.stop - 1} (8 and 4 are the common ones; "
                            "16-bit is a dtype, not quantization).")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise BadInputError(f"group_size must be a whole number of at least 1, got {group_size!r} (32–128 is usual).")
    if in_features is not None and in_features % group_size:
        raise BadInputError(f"group_size={group_size} does not divide the layer's {in_features} inputs; choose a "
                            f"divisor of {in_features} (e.g. {_divisor_near(in_features, group_size)}).")


def _divisor_near(n: int, target: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - target), -d))


def bits_per_weight(bits: int, group_size: int) -> float:
    """Stored bits per weight: the code plus its share of the group's 16-bit scale."""
    _check(bits, group_size)
    return bits + SCALE_BITS / group_size


@dataclass
class QuantizedWeight:
    """Codes (out, in) as int8, one float scale per group (out, in // group_size), and how they were made."""

    codes: torch.Tensor
    scales: torch.Tensor
    bits: int
    group_size: int

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        out, n = self.codes.shape
        groups = self.codes.view(out, n // self.group_size, self.group_size).to(dtype)  # (out, G, g)
        return (groups * self.scales.to(dtype)[..., None]).view(out, n)  # (out, in)

    @property
    def packed_bytes(self) -> int:
        """Bytes in a file that packs the codes at ``bits`` each and stores 16-bit scales."""
        return (self.codes.numel() * self.bits + self.scales.numel() * SCALE_BITS + 7) // 8


@torch.no_grad()
def quantize_weight(weight: torch.Tensor, bits: int = 8, group_size: int = 64) -> QuantizedWeight:
    """Symmetric group-wise quantization of a (out, in) weight matrix."""
    if weight.dim() != 2:
        raise BadInputError(f"quantize_weight takes a (out, in) matrix, got shape {tuple(weight.shape)}.")
    out, n = weight.shape
    _check(bits, group_size, n)
    qmax = 2 ** (bits - 1) - 1
    groups = weight.float().view(out, n // group_size, group_size)  # (out, G, g)
    scales = groups.abs().amax(dim=-1) / qmax  # (out, G)
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))  # an all-zero group: any scale is exact
    codes = torch.clamp(torch.round(groups / scales[..., None]), -qmax, qmax).to(torch.int8)  # (out, G, g)
    return QuantizedWeight(codes.view(out, n), scales, bits, group_size)


def relative_error(weight: torch.Tensor, restored: torch.Tensor) -> float:
    """‖W − Ŵ‖ / ‖W‖: how far a restored (dequantized) weight is from the original, as a fraction."""
    return float((weight.float() - restored.float()).norm() / weight.float().norm())


def reconstruction_error(weight: torch.Tensor, bits: int = 8, group_size: int = 64) -> float:
    """Relative error ‖W − Ŵ‖ / ‖W‖ of quantizing then dequantizing ``weight``."""
    return relative_error(weight, quantize_weight(weight, bits, group_size).dequantize())


class QuantizedLinear(nn.Module):
    """A Linear whose weight is stored as codes and scales; each forward pass dequantizes it.

    Dequantizing on the fly is what saves memory. It is also slower than a kernel that computes on the codes,
    which is what the libraries provide.
    """

    def __init__(self, weight: QuantizedWeight, bias: torch.Tensor | None, dtype: torch.dtype):
        super().__init__()
        self.bits, self.group_size, self.compute_dtype = weight.bits, weight.group_size, dtype
        self.out_features, self.in_features = weight.codes.shape
        self.register_buffer("codes", weight.codes)
        self.register_buffer("scales", weight.scales.to(torch.float16 if dtype == torch.float16 else torch.float32))
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int = 8, group_size: int = 64) -> "QuantizedLinear":
        return cls(quantize_weight(linear.weight, bits, group_size), linear.bias, linear.weight.dtype)

    def weight_restored(self) -> torch.Tensor:
        return QuantizedWeight(self.codes, self.scales, self.bits, self.group_size).dequantize(self.compute_dtype)

    def forward(self, x):  # (..., in) -> (..., out)
        return nn.functional.linear(x, self.weight_restored(), self.bias)

    @property
    def packed_bytes(self) -> int:
        qw = QuantizedWeight(self.codes, self.scales, self.bits, self.group_size)
        return qw.packed_bytes + (0 if self.bias is None else self.bias.numel() * self.bias.element_size())

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, {self.bits}-bit, groups of {self.group_size}"


def quantize_model(model: nn.Module, bits: int = 8, group_size: int = 64,
                   skip: tuple[str, ...] = ("lm_head",)) -> nn.Module:
    """Replace every Linear of ``model`` (but those named in ``skip``) by a QuantizedLinear, in place.

    The output head is skipped by default: with tied embeddings it is the embedding matrix, which stays in full
    precision. Returns the model. Layers whose width ``group_size`` does not divide are refused before any
    change.
    """
    _check(bits, group_size)
    targets = [(path, m) for path, m in model.named_modules()
               if isinstance(m, nn.Linear) and path.rpartition(".")[2] not in skip]
    if not targets:
        raise BadInputError("This model has no Linear layer to quantize (outside skip).")
    for path, m in targets:
        if m.in_features % group_size:
            raise BadInputError(f"{path} has {m.in_features} inputs, which group_size={group_size} does not divide; "
                                f"use e.g. group_size={_divisor_near(m.in_features, group_size)}.")
    for path, m in targets:
        parent_path, _, child = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, child, QuantizedLinear.from_linear(m, bits, group_size))
    return model


def model_packed_bytes(model: nn.Module) -> int:
    """What the model would take in a file: packed codes and scales for quantized layers, every other tensor
    (embeddings, norms, unquantized layers) at its own size; tied tensors counted once."""
    total, seen = 0, set()
    for m in model.modules():
        if isinstance(m, QuantizedLinear):
            total += m.packed_bytes
            seen.update(id(t) for t in (m.codes, m.scales, m.bias) if t is not None)
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


# --- NF4: NormalFloat 4-bit -------------------------------------------------------------------------------------
# QLoRA (Dettmers, Pagnoni, Holtzman, Zettlemoyer 2023, "QLoRA: Efficient Finetuning of Quantized LLMs",
# arXiv:2305.14314, section 3 and appendix E) observes that trained weights are roughly normally distributed, so
# evenly spaced levels waste codes on the tails. Its 16 levels are quantiles of N(0, 1), rescaled to [-1, 1]:
# 7 negative, an exact zero, 8 positive (the asymmetry keeps zero exact with an even number of codes). Each level
# then stands for about the same share of the weights. These are the float32 values of the paper's appendix E,
# the table bitsandbytes uses (``bitsandbytes.functional.get_4bit_type("nf4")``).
NF4_LEVELS: tuple[float, ...] = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)
ABSMAX_BITS = 32  # NF4 keeps one float32 absmax per block (QLoRA's "double quantization" would shrink it)


@dataclass
class NF4Weight:
    """NF4 codes of a flattened weight: 0..15 as uint8 (numel,), one absmax per block (numel // block_size,)."""

    codes: torch.Tensor
    absmax: torch.Tensor
    shape: tuple[int, int]
    block_size: int

    def dequantize(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        levels = torch.tensor(NF4_LEVELS, device=self.codes.device)[self.codes.long()]
        levels = levels.view(-1, self.block_size)  # (blocks, block_size)
        return (levels * self.absmax[:, None]).view(self.shape).to(dtype)  # (out, in)

    @property
    def packed_bytes(self) -> int:
        """Bytes in a file that packs two 4-bit codes per byte and stores a float32 absmax per block."""
        return (self.codes.numel() * 4 + self.absmax.numel() * ABSMAX_BITS + 7) // 8


@torch.no_grad()
def quantize_nf4(weight: torch.Tensor, block_size: int = 64) -> NF4Weight:
    """NF4 quantization of a (out, in) weight, in blocks of ``block_size`` consecutive values of the flattened
    weight (64 is QLoRA's choice): each block is divided by its largest magnitude, then each value takes the
    nearest of the 16 ``NF4_LEVELS``."""
    if weight.dim() != 2:
        raise BadInputError(f"quantize_nf4 takes a (out, in) matrix, got shape {tuple(weight.shape)}.")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise BadInputError(f"block_size must be a whole number of at least 1, got {block_size!r} (64 is usual).")
    if weight.numel() % block_size:
        raise BadInputError(f"block_size={block_size} does not divide the weight's {weight.numel()} values; choose "
                            f"a divisor of {weight.numel()} (e.g. {_divisor_near(weight.numel(), block_size)}).")
    blocks = weight.float().reshape(-1, block_size)  # (blocks, block_size)
    absmax = blocks.abs().amax(dim=-1)  # (blocks,)
    scaled = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]  # in [-1, 1]
    levels = torch.tensor(NF4_LEVELS, device=weight.device)
    # The nearest level is the interval between midpoints that a value falls in: the same answer as
    # argmin |scaled - level|, without a (numel, 16) table of distances.
    codes = torch.bucketize(scaled, (levels[1:] + levels[:-1]) / 2).to(torch.uint8)  # (blocks, block_size)
    return NF4Weight(codes.view(-1), absmax, tuple(weight.shape), block_size)


def nf4_reconstruction_error(weight: torch.Tensor, block_size: int = 64) -> float:
    """Relative error ‖W − Ŵ‖ / ‖W‖ of NF4-quantizing then dequantizing ``weight``."""
    return relative_error(weight, quantize_nf4(weight, block_size).dequantize())
