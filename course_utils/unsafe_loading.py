"""Loading is running code: a pickle checkpoint (``pytorch_model.bin``) can call any function while it loads.

The payload here is harmless and course-made: it only writes a marker file inside the folder it was made in
(no shell, no network). Old code loaded checkpoints with ``torch.load(path)`` when that meant
``weights_only=False``, and ran whatever the file asked for; torch >= 2.6 defaults to ``weights_only=True``,
which refuses it. safetensors files hold a JSON header and raw tensor bytes, nothing that runs.

    make_payload_checkpoint(folder)      folder/pytorch_model.bin whose unpickling writes folder/MARKER_NAME
    pickle_imports(path)                 what a pickle would import when loaded (read, not run)
    load_unsafely(path) / load_safely(path) / course_loader_refuses(folder)
    safetensors_cannot_carry_code(folder)
"""

from __future__ import annotations

import json
import os
import pickletools
import re
import struct
import zipfile
from pathlib import Path

import torch

from course_utils.errors import BadInputError, CourseError

OWASP_RISK = "LLM03 Supply Chain"  # OWASP Top 10 for LLM Applications 2025 (see injection.OWASP_SOURCE_URL)
MARKER_NAME = "PAYLOAD_RAN.txt"
CHECKPOINT_NAME = "pytorch_model.bin"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # torch's message bolds a phrase for terminals


def write_marker(folder: str) -> str:
    """The payload: write MARKER_NAME into ``folder`` if it is an existing folder, nothing else. Returns the
    marker's path, which becomes the loaded value (the checkpoint still loads as a dict)."""
    folder = Path(folder)
    if not folder.is_dir():
        return ""
    marker = folder / MARKER_NAME
    marker.write_text("A checkpoint ran this course function while it was being loaded.\n")
    return str(marker)


class _Payload:
    """Pickled as "call write_marker(folder)": ``__reduce__`` says how to rebuild an object, and pickle obeys."""

    def __init__(self, folder: Path):
        self.folder = str(folder)

    def __reduce__(self):
        return write_marker, (self.folder,)


def _folder(folder) -> Path:
    folder = Path(folder).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"{folder} is a file; give a folder (e.g. a fresh temporary one).")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_payload_checkpoint(folder) -> Path:
    """Write ``folder/pytorch_model.bin``: real-looking weights plus an object whose unpickling writes
    ``folder/MARKER_NAME``. Returns the checkpoint's path."""
    folder = _folder(folder)
    path = folder / CHECKPOINT_NAME
    state = {"weight": torch.zeros(4, 4), "bias": torch.zeros(4), "extra": _Payload(folder)}
    torch.save(state, path)
    return path


def _marker_of(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"No checkpoint at {path}; make one with make_payload_checkpoint(folder).")
    return path.parent / MARKER_NAME


def pickle_imports(path) -> list[str]:
    """'module.name' of every global a pickle (or a torch.save zip) would import when loaded, read with
    pickletools without running anything: what ``weights_only=True`` checks against its allowlist."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    else:
        data = path.read_bytes()
    found, pushed, memo = [], [], {}  # pushed: what each opcode put on the stack (strings; None otherwise)
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            found.append(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL" and len(pushed) >= 2:
            found.append(f"{pushed[-2]}.{pushed[-1]}")
        if op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif op.name not in ("PROTO", "FRAME"):
            pushed.append(arg if isinstance(arg, str) and ("UNICODE" in op.name or "STRING" in op.name) else None)
    return list(dict.fromkeys(found))


def load_unsafely(path) -> bool:
    """What old code did: ``torch.load(path, weights_only=False)``, i.e. full unpickling, which runs any
    function the file names. Returns whether the payload's marker appeared (it is removed first)."""
    marker = _marker_of(path)
    marker.unlink(missing_ok=True)
    torch.load(path, weights_only=False)
    return marker.exists()


def _default_is_weights_only() -> bool:
    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    forced_off = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0").lower() in ("1", "true", "yes")
    return (major, minor) >= (2, 6) and not forced_off


def load_safely(path) -> dict:
    """``torch.load(path)`` with its default, ``weights_only=True`` since torch 2.6 (on older torch, or with
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD set, it is passed explicitly): an allowlisted unpickler that refuses
    the payload. Returns the call, whether it refused, the exception type, the first line of its message and
    the line naming the refused global (``reason``)."""
    marker = _marker_of(path)
    marker.unlink(missing_ok=True)
    default = _default_is_weights_only()
    call = "torch.load(path)" if default else "torch.load(path, weights_only=True)"
    try:
        torch.load(path) if default else torch.load(path, weights_only=True)
        refused, error, message, reason = False, None, "", ""
    except Exception as exc:  # torch raises pickle.UnpicklingError; the type is part of what we show
        refused, error = True, type(exc).__name__
        lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
        message = lines[0] if lines else ""
        reason = next((line for line in lines if "Unsupported global" in line), "")
    return {"call": call, "refused": refused, "error": error, "message": message,
            "reason": reason.split(". Please use")[0], "marker_written": marker.exists()}


def course_loader_refuses(folder) -> dict:
    """Put a config.json next to the payload checkpoint (a model folder with only a .bin) and ask the course
    loader for it: it refuses before reading the weights. Returns the error type and message."""
    from course_utils.loading import load_model

    folder = _folder(folder)
    path = folder / CHECKPOINT_NAME
    if not path.exists():
        make_payload_checkpoint(folder)
    marker = folder / MARKER_NAME
    marker.unlink(missing_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    try:
        load_model(str(folder))
        refused, error, message = False, None, ""
    except CourseError as exc:
        refused, error, message = True, type(exc).__name__, str(exc)
    return {"refused": refused, "error": error, "message": message, "marker_written": marker.exists()}


def read_safetensors_header(path) -> tuple[int, dict]:
    """(header length, header) of a safetensors file: 8 bytes little-endian length, then that much JSON."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return n, json.loads(f.read(n))


def safetensors_cannot_carry_code(folder, show: bool = True) -> dict:
    """Save a small tensor dict with safetensors and read the file back by hand: a JSON header (names,
    dtypes, shapes, byte offsets) and raw bytes; every byte is accounted for, so nothing else is in it."""
    from safetensors.torch import load_file, save_file

    folder = _folder(folder)
    path = folder / "model.safetensors"
    tensors = {"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4), "bias": torch.ones(3)}
    save_file(tensors, str(path), metadata={"format": "pt"})
    n, header = read_safetensors_header(path)
    data_bytes = path.stat().st_size - 8 - n
    tensor_bytes = sum(t.numel() * t.element_size() for t in tensors.values())
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    contiguous = spans[0][0] == 0 and spans[-1][1] == data_bytes and \
        all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    loaded = load_file(str(path))
    if show:
        print(f"{path.name}: {path.stat().st_size} bytes = 8 (header length) + {n} (JSON header) "
              f"+ {data_bytes} (raw tensor bytes)")
        print(json.dumps(header, indent=2))
    return {"path": path, "file_bytes": path.stat().st_size, "header_bytes": n, "header": header,
            "data_bytes": data_bytes, "tensor_bytes": tensor_bytes, "contiguous": contiguous,
            "round_trip": all(torch.equal(loaded[k], tensors[k]) for k in tensors)}
