"""Weight quantization from scratch: symmetric, group-wise, 2 to 8 bits (lesson 09).

Each row of a weight matrix is cut into groups of ``group_size`` consecutive weights. A group keeps one scale,
its largest magnitude divided by the largest code, and each weight becomes a whole number (its *code*) in
[-qmax, qmax], with qmax = 2^(bits-1) - 1:

    scale = max|w_group| / qmax        code = clamp(round(w / scale), -qmax, qmax)        w ≈ code · scale

The codes take ``bits`` bits each once packed, and the scales one 16-bit number per group. So the cost is
``bits + 16 / group_size`` bits per weight (``bits_per_weight``). Here codes are held in int8 tensors, which is
simple to read; ``packed_bytes`` counts what a packed file would hold. Maintained libraries (torchao int8
weight-only, bitsandbytes NF4) store the same idea with faster kernels.
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


def reconstruction_error(weight: torch.Tensor, bits: int = 8, group_size: int = 64) -> float:
    """Relative error ‖W − Ŵ‖ / ‖W‖ of quantizing then dequantizing ``weight``."""
    restored = quantize_weight(weight, bits, group_size).dequantize()
    return float((weight.float() - restored).norm() / weight.float().norm())


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
