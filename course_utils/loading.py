"""Load a model safely: catalog name or local folder in, (model, tokenizer, info) out.

- Safe by default: ``trust_remote_code`` is never enabled, only safetensors weights are
  accepted, the catalog's revision is passed, and the dtype is chosen for the device.
- A memory guard estimates the need before loading and refuses, naming a model that fits,
  instead of letting the kernel die.
- Offline (no hub, or ``HF_HUB_OFFLINE=1``), or the hub too slow to answer: cached hub models
  still load; otherwise the course's own model of the same role stands in, and one line says so.
- A gated repository, or one with only pickle weights, is refused with a message saying what to do.
- With a ``models.lock`` (``course_utils.model_lock``), hub models load at the locked commit.
- Loaded models are cached per process: re-running a cell does not load again.
- ``from_config=True`` builds the real architecture with random weights, so speed and memory
  lessons show true scale offline (the text it writes is noise).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from course_utils import MODELS_DIR
from course_utils.env import check_hub, hub_address, human_bytes, machine_info
from course_utils.errors import (BadInputError, CourseModelsMissingError, DeviceError, GatedModelError,
                                 ModelTooLargeError, OfflineError, UnsafeWeightsError)
from course_utils.measure import count_parameters, dtype_bytes, model_memory_bytes
from course_utils.catalog import ModelSpec, catalog, course_aliases, get_spec
from course_utils.model_lock import locked_revision
from course_utils.sizing import default_dtype, estimate_memory_bytes
from course_utils.tiers import PairChoice, models_that_fit

RANDOM_WEIGHTS_LABEL = "random weights: speed and memory are real, the text is not"
DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
SMALL_ROLE_MAX_PARAMS = 500_000_000  # offline, hub models below this stand in as course-slm


@dataclass
class ModelInfo:
    name: str
    source: str  # "hub", "hub cache", "local path", "course model", "offline fallback", "from config"
    location: str  # hub id or folder
    params: int
    dtype: str
    device: str
    memory_bytes: int
    load_seconds: float
    instruct: bool = False
    random_weights: bool = False
    context: int = 0
    note: str = ""

    def summary(self) -> str:
        label = f" [{RANDOM_WEIGHTS_LABEL}]" if self.random_weights else ""
        return (f"{self.name}: {self.params / 1e6:,.1f}M parameters, {self.dtype} on {self.device}, "
                f"{human_bytes(self.memory_bytes)}, from {self.source} ({self.location}), "
                f"loaded in {self.load_seconds:.2f} s{label}")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object | None
    info: ModelInfo
    spec: ModelSpec | None = None

    def __repr__(self) -> str:
        return f"LoadedModel({self.info.summary()})"


# ----------------------------------------------------------------------------- the per-process cache

_CACHE: dict[tuple, LoadedModel] = {}
_TOKENIZER_CACHES: list[weakref.WeakKeyDictionary] = []


def _cached(key: tuple, load: Callable[[], LoadedModel | None]) -> LoadedModel | None:
    """The model cached under ``key``, or ``load()`` timed (``info.load_seconds``) and cached
    (a ``load`` that finds nothing returns None, and nothing is cached)."""
    if key not in _CACHE:
        start = time.perf_counter()
        lm = load()
        if lm is None:
            return None
        lm.info.load_seconds = time.perf_counter() - start
        _CACHE[key] = lm
    return _CACHE[key]


def per_tokenizer_cache() -> weakref.WeakKeyDictionary:
    """A cache keyed by tokenizer (e.g. its decoded vocabulary) that ``clear_cache`` empties too.

    Keys are held weakly: a tokenizer nobody uses any more leaves the cache by itself.
    """
    cache = weakref.WeakKeyDictionary()
    _TOKENIZER_CACHES.append(cache)
    return cache


def clear_cache() -> None:
    """Forget every loaded model and every per-tokenizer cache (frees their memory once unused)."""
    _CACHE.clear()
    for cache in _TOKENIZER_CACHES:
        cache.clear()


def release(lm: LoadedModel) -> None:
    """Forget one loaded model (its memory is freed once nothing else holds it), e.g. a large one measured once."""
    for key in [k for k, v in _CACHE.items() if v is lm]:
        del _CACHE[key]


def cached_models() -> list[str]:
    """Names of the models loaded in this process, each once."""
    return [lm.info.name for lm in _CACHE.values()]


# ----------------------------------------------------------------------------- validation

def resolve_device(device: str | None) -> str:
    """'cpu', 'cuda' (or 'cuda:N') or 'mps', checked against what this machine has."""
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    possible = ["cpu"] + (["cuda"] if has_cuda else []) + (["mps"] if has_mps else [])
    if device in (None, "auto"):
        return "cuda" if has_cuda else "cpu"
    kind = str(device).split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"Unknown device {device!r}. Possible here: {', '.join(possible)}.")
    if kind not in possible:
        raise DeviceError(f"Device {device!r} is not available on this machine "
                          f"(no {'CUDA GPU' if kind == 'cuda' else 'Apple GPU'} visible to torch). "
                          f"Possible here: {', '.join(possible)}.")
    return str(device)


def resolve_dtype(dtype, device: str, spec: ModelSpec | None = None) -> torch.dtype:
    """An explicit dtype for the device; refuses combinations that are slow or unsupported."""
    if dtype in (None, "auto"):
        bf16 = True
        if device.startswith("cuda"):
            bf16 = torch.cuda.get_device_capability(device)[0] >= 8
        if spec is None:
            name = "float32" if device == "cpu" else ("bfloat16" if bf16 else "float16")
        else:
            name = default_dtype(spec, "cpu" if device == "cpu" else "gpu", bf16)
        return DTYPES[name]
    if isinstance(dtype, torch.dtype):
        name = str(dtype).replace("torch.", "")
    else:
        name = str(dtype).lower().replace("torch.", "")
    if name not in DTYPES:
        raise BadInputError(f"Unknown dtype {dtype!r}. Choose one of: float32, bfloat16, float16 "
                            "(quantized int8/int4 loading is covered in lesson 09).")
    torch_dtype = DTYPES[name]
    if device == "cpu" and torch_dtype == torch.float16:
        raise DeviceError("float16 on the CPU is slow and some operations are missing. "
                          "Possible here: float32 (exact) or bfloat16 (half the memory).")
    if device.startswith("cuda") and torch_dtype == torch.bfloat16 \
            and torch.cuda.get_device_capability(device)[0] < 8:
        raise DeviceError(f"{torch.cuda.get_device_name(device)} has no native bfloat16. "
                          "Use float16 (or float32) on this GPU.")
    return torch_dtype


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def memory_guard(spec: ModelSpec, dtype: torch.dtype, device: str, context: int = 1024,
                 available_bytes: int | None = None) -> int:
    """Refuse (ModelTooLargeError) if ``spec`` will not fit; return the estimated bytes."""
    need = estimate_memory_bytes(spec, _dtype_name(dtype), context)
    if available_bytes is None:
        available_bytes = machine_info(check_hub_now=False).accelerator_bytes
    budget = int(available_bytes * 0.9)
    if need <= budget:
        return need
    where = "GPU memory" if device.startswith("cuda") else "free RAM"
    fits = [s for s in models_that_fit(budget, "cpu" if device == "cpu" else "gpu", context)
            if not s.is_course_model or s.available_offline]
    same_family = [s for s in fits if s.family == spec.family]
    suggestion = (same_family or fits)[:1]
    advice = (f" Try {suggestion[0].name} ({suggestion[0].params / 1e6:,.0f}M parameters)"
              if suggestion else " Try a course model, e.g. course-slm")
    if dtype == torch.float32:
        advice += ", or dtype='bfloat16' to halve the weights"
    raise ModelTooLargeError(
        f"{spec.name} needs about {human_bytes(need)} ({_dtype_name(dtype)}, {context}-token context) "
        f"but this machine has {human_bytes(available_bytes)} of {where} available.{advice}.")


# ----------------------------------------------------------------------------- loading

def _from_pretrained(location: str, dtype: torch.dtype, device: str, revision: str | None = None,
                     local_files_only: bool = False):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(revision=revision, trust_remote_code=False, local_files_only=local_files_only)
    model = AutoModelForCausalLM.from_pretrained(location, dtype=dtype, use_safetensors=True, **kwargs)
    model.to(device).eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    except (OSError, ValueError):
        tokenizer = None
    return model, tokenizer


def course_tokenizer():
    """The course's own BPE tokenizer (models/tokenizer), or None before the zoo is built."""
    from transformers import AutoTokenizer

    path = MODELS_DIR / "tokenizer"
    return AutoTokenizer.from_pretrained(path) if (path / "tokenizer.json").exists() else None


def _course_spec(spec: ModelSpec) -> ModelSpec:
    if not spec.available_offline:
        raise CourseModelsMissingError(
            f"The course model {spec.name!r} is not in {MODELS_DIR}. It ships with the course; "
            "rebuild it with `python -m course_utils zoo build`.")
    return spec


def _why_not_online() -> str:
    hub = check_hub()
    return f"Offline ({hub.reason})" if not hub.reachable else f"The hub did not answer within {_hub_timeout():g} s"


def _offline_stand_in(spec: ModelSpec, dtype: torch.dtype, device: str) -> LoadedModel:
    """The course model of ``spec``'s role, cached under its own name (so it is never loaded twice).

    What is returned is a view of that cached model whose info says it stands in, and why.
    """
    alias = "course-slm" if spec.params < SMALL_ROLE_MAX_PARAMS else "course-llm"
    stand_in = _course_spec(get_spec(course_aliases().get(alias, alias)))
    note = (f"{_why_not_online()}: {spec.name} is not cached here, so the course model "
            f"{stand_in.name} stands in for it.")
    print(note)
    lm = _load_course_model(stand_in, dtype if dtype != torch.float16 else torch.float32, device)
    info = replace(lm.info, source="offline fallback", note=note)
    return LoadedModel(lm.model, lm.tokenizer, info, stand_in)


def load_model(name: str, *, device: str | None = None, dtype=None, from_config: bool = False,
               fallback: bool = True, context: int = 1024,
               available_bytes: int | None = None) -> LoadedModel:
    """Load a catalog model (name, alias or hub id) or a local save_pretrained folder.

    device: 'cpu', 'cuda' or None (the best here). dtype: 'float32', 'bfloat16', 'float16' or
    None (chosen for the device). from_config: random weights, real architecture.
    fallback: offline, stand in the course model of the same role instead of failing.
    context: the tokens the lesson will use, for the memory estimate (KV cache).
    """
    device = resolve_device(device)
    path = Path(str(name)).expanduser()
    if (path / "config.json").exists() or any(path.glob("*.bin")) or any(path.glob("*.pt")):
        return _load_local_folder(path, device, dtype)  # a saved model folder; refused unless it has safetensors

    spec = get_spec(name)
    torch_dtype = resolve_dtype(dtype, device, spec)
    if spec.is_course_model and not from_config:
        return _load_course_model(spec, torch_dtype, device)

    def load():  # the memory guard runs only when something new is loaded
        memory_guard(spec, torch_dtype, device, context, available_bytes)
        return _build_from_config(spec, torch_dtype, device) if from_config else _load_hub(spec, torch_dtype, device)

    lm = _cached((spec.name, device, torch_dtype, from_config), load)
    if lm is not None:
        return lm
    if not fallback:
        raise OfflineError(f"{spec.name} is not cached on this machine and cannot be downloaded now "
                           f"({_why_not_online()}). Use a course model (course-slm, course-llm), "
                           "from_config=True for speed and memory, or connect and retry.")
    return _offline_stand_in(spec, torch_dtype, device)


def _load_course_model(spec: ModelSpec, dtype: torch.dtype, device: str) -> LoadedModel:
    _course_spec(spec)

    def load():
        model, tok = _from_pretrained(str(spec.path), dtype, device)
        return _wrap(spec.name, model, tok, "course model", str(spec.path), spec)

    return _cached((spec.name, device, dtype, False), load)


def load_pair(pair: PairChoice, *, device: str | None = None, from_config: bool = False, context: int = 1024,
              available_bytes: int | None = None) -> tuple[LoadedModel, LoadedModel]:
    """Load ``pick_pair``'s (small, large) in the dtype the pair was sized for (bfloat16 on a tight
    CPU), so the memory guard checks the same need that chose the pair.

    ``available_bytes`` (to pretend a machine) is for both: the large model gets what the small
    one leaves, by ``sizing.estimate_memory_bytes``.
    """
    kwargs = dict(device=device, dtype=pair.load_dtype, from_config=from_config, context=context)
    small = load_model(pair.small, available_bytes=available_bytes, **kwargs)
    if available_bytes is not None and small.spec is not None:
        available_bytes = max(0, available_bytes - estimate_memory_bytes(small.spec, small.info.dtype, context))
    large = load_model(pair.large, available_bytes=available_bytes, **kwargs)
    return small, large


def _wrap(name, model, tokenizer, source, location, spec, note="", random_weights=False) -> LoadedModel:
    if getattr(model.config, "course_random_weights", False) and not random_weights:  # a test repository
        random_weights, note = True, note or f"{name} from {location}: {RANDOM_WEIGHTS_LABEL} (a test repository)."
        print(note)  # wherever it is used, the output says what it is
    params = count_parameters(model)["total"]
    info = ModelInfo(name=name, source=source, location=location, params=params,
                     dtype=_dtype_name(next(model.parameters()).dtype),
                     device=str(next(model.parameters()).device), memory_bytes=model_memory_bytes(model),
                     load_seconds=0.0, instruct=bool(spec and spec.instruct),
                     random_weights=random_weights,
                     context=getattr(model.config, "max_position_embeddings", 0) or
                     getattr(model.config, "n_positions", 0), note=note)
    return LoadedModel(model, tokenizer, info, spec)


def _load_local_folder(path: Path, device: str, dtype) -> LoadedModel:
    if not any(path.glob("*.safetensors")):
        raise BadInputError(f"{path} has no .safetensors weights. The course loads safetensors only "
                            "(pickle-based .bin files can run code when loaded); convert with "
                            "model.save_pretrained(path) which writes safetensors.")
    torch_dtype = resolve_dtype(dtype, device)
    key = (str(path.resolve()), device, torch_dtype, False)
    if key in _CACHE:
        return _CACHE[key]
    weights = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    available = machine_info(check_hub_now=False).accelerator_bytes
    if weights * 2 > available * 0.9:  # weights may double when upcast from 16-bit
        raise ModelTooLargeError(f"{path} holds {human_bytes(weights)} of weights; this machine has "
                                 f"{human_bytes(available)} available. Use a smaller model.")

    def load():
        model, tok = _from_pretrained(str(path), torch_dtype, device)
        return _wrap(path.name, model, tok, "local path", str(path), None)

    return _cached(key, load)


def _cached_snapshot(hub_id: str, revision: str, weights: bool = True) -> Path | None:
    """The hub cache's folder for ``hub_id`` at ``revision`` (with weights, unless ``weights=False``), or None;
    no network."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(hub_id, revision=revision, local_files_only=True))
    except Exception:  # not cached: huggingface_hub raises one of several errors
        return None
    if weights and not any(folder.glob("*.safetensors")):
        return None
    return folder if (folder / "tokenizer_config.json").exists() or weights else None


def load_tokenizer(name: str):
    """A catalog model's tokenizer alone (a few small files, never the weights), at the revision
    ``models.lock`` pins: from the hub cache when it is there, else from the hub."""
    from transformers import AutoTokenizer

    spec = get_spec(name)
    if spec.is_course_model:
        return course_tokenizer()
    revision = locked_revision(spec)
    cached = _cached_snapshot(spec.hub_id, revision, weights=False)
    if cached is not None:
        return AutoTokenizer.from_pretrained(str(cached), trust_remote_code=False)
    hub = check_hub()
    if not hub.reachable:
        raise OfflineError(f"{spec.name}'s tokenizer is not cached here and the hub is not reachable "
                           f"({hub.reason}). The course tokenizer (course_tokenizer()) works offline.")
    return AutoTokenizer.from_pretrained(spec.hub_id, revision=revision, trust_remote_code=False)


def _hub_timeout() -> float:
    """How long one hub request may take: huggingface_hub's own metadata timeout (``HF_HUB_ETAG_TIMEOUT``)."""
    from huggingface_hub import constants

    return float(constants.HF_HUB_ETAG_TIMEOUT)


def _hub_files(spec: ModelSpec, revision: str) -> dict[str, int] | None:
    """{file: bytes} of ``spec``'s repository at ``revision``; None when the hub does not answer in time.

    Asked before downloading so that a gated or pickle-only repository is refused with a message
    instead of a library traceback.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().model_info(spec.hub_id, revision=revision, files_metadata=True, timeout=_hub_timeout())
    except GatedRepoError as exc:
        raise GatedModelError(
            f"{spec.name} ({spec.hub_id}) is gated on the hub: accept its licence on its page while logged in, "
            "then log in here (`hf auth login`, or set HF_TOKEN; never paste a token into a notebook). "
            f"Or pick an ungated model, e.g. {_ungated_alternative(spec)}.") from exc
    except RevisionNotFoundError as exc:
        raise BadInputError(f"{spec.hub_id} has no revision {revision!r} on the hub. If it comes from "
                            "models.lock, the lock is out of date: run `python -m course_utils download "
                            f"--models {spec.name}` to lock the current commit.") from exc
    except RepositoryNotFoundError as exc:
        raise BadInputError(f"The hub has no repository {spec.hub_id} (for {spec.name}); "
                            "it may have been renamed or removed. Choose another catalog model.") from exc
    except _network_errors():
        return None
    return {s.rfilename: s.size or 0 for s in info.siblings or []}


def _network_errors() -> tuple[type[Exception], ...]:
    """Timeouts and connection failures of the HTTP client huggingface_hub uses (httpx, or httpx2 in 2.x)."""
    import importlib

    errors = []
    for module in ("httpx2", "httpx"):
        try:
            client = importlib.import_module(module)
        except ImportError:
            continue
        errors += [client.TimeoutException, client.TransportError]
    return tuple(errors) or (OSError,)


def _ungated_alternative(spec: ModelSpec) -> str:
    same_role = [s for s in catalog().values()
                 if s.hub_id and not s.gated and s.instruct == spec.instruct and s.name != spec.name]
    return min(same_role, key=lambda s: abs(s.params - spec.params)).name if same_role else "course-slm"


def _load_hub(spec: ModelSpec, dtype: torch.dtype, device: str) -> LoadedModel | None:
    """From the hub cache, else from the hub; None when neither has it (offline, or the hub too slow).

    The revision is the one ``models.lock`` pins when there is a lock, else the catalog's.
    """
    revision = locked_revision(spec)
    cached = _cached_snapshot(spec.hub_id, revision)
    if cached is not None:  # loaded from its folder: transformers asks the hub about a hub id even when told not to
        try:
            model, tok = _from_pretrained(str(cached), dtype, device, local_files_only=True)
            return _wrap(spec.name, model, tok, "hub cache", spec.hub_id, spec)
        except OSError:  # an incomplete download: fetch it again
            pass
    hub = check_hub()
    if not hub.reachable:
        return None
    files = _hub_files(spec, revision)
    if files is None:
        print(f"The hub ({hub_address()[0]}) did not answer within {_hub_timeout():g} s for {spec.name}.")
        return None
    if not any(f.endswith(".safetensors") for f in files):
        pickles = [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        raise UnsafeWeightsError(
            f"{spec.hub_id} has no safetensors weights on the hub"
            + (f", only pickle files ({', '.join(pickles)}), which can run code when loaded" if pickles else "")
            + ". The course loads safetensors only. Choose another model, or convert it on a machine you "
            "trust (load, then `save_pretrained`, which writes safetensors).")
    size = sum(n for f, n in files.items() if f.endswith(".safetensors")) or spec.params * dtype_bytes(spec.checkpoint_dtype)
    print(f"Downloading {spec.name} from the hub ({spec.hub_id}@{revision[:12]}, about {human_bytes(size)}); "
          "it is cached for next time.")
    model, tok = _from_pretrained(spec.hub_id, dtype, device, revision)
    return _wrap(spec.name, model, tok, "hub", spec.hub_id, spec)


@torch.no_grad()
def _fast_random_init(model: torch.nn.Module, std: float = 0.02, seed: int = 0) -> None:
    """Fill matrices with N(0, std) noise tiled from one 1M-value block, norms with 1, biases with 0.

    Drawing fresh noise for 1.5B bf16 values takes ~25 s on 2 cores; tiling takes under a second,
    and for speed and memory the values do not matter (the text is noise either way).
    """
    block = torch.randn(1 << 20, generator=torch.Generator().manual_seed(seed)) * std
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            flat = p.view(-1)
            src = block.to(p.dtype)
            for start in range(0, flat.numel(), src.numel()):
                chunk = flat[start:start + src.numel()]
                chunk.copy_(src[: chunk.numel()])
        elif "norm" in name or ".ln" in name:
            p.fill_(1.0)
        else:
            p.zero_()


def _build_from_config(spec: ModelSpec, dtype: torch.dtype, device: str) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.initialization import no_init_weights

    config = spec.to_config()
    with torch.device(device), no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.tie_weights()  # no_init_weights also skips tying: share input and output embeddings again
    _fast_random_init(model)
    model.eval()
    tokenizer = None
    if spec.hub_id:
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec.hub_id, revision=locked_revision(spec),
                                                      local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError):
            tokenizer = None
    if tokenizer is None:
        tokenizer = course_tokenizer()  # its ids are all < the model's vocabulary
    note = f"{spec.name} built from its config: {RANDOM_WEIGHTS_LABEL}."
    return _wrap(f"{spec.name} (random weights)", model, tokenizer, "from config",
                 f"{spec.arch} config", spec, note, random_weights=True)
