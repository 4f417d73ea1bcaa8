"""This machine: runtime (local, Colab, Binder, CI), CPU, RAM, GPU, and whether the model hub answers.

Everything here is fast and never hangs: the hub check has a hard timeout (2 s by default)
and honours ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HUB_HOST = "huggingface.co"
HUB_PORT = 443
HUB_TIMEOUT_S = 2.0

_TRUE = {"1", "true", "yes", "on"}


@dataclass
class GPUInfo:
    name: str
    total_bytes: int
    free_bytes: int
    bf16_native: bool  # Ampere (compute capability 8.0) and newer; a T4 (7.5) is not


@dataclass
class HubStatus:
    reachable: bool
    reason: str  # one line a learner can read
    seconds: float = 0.0


@dataclass
class MachineInfo:
    runtime: str  # "colab", "binder", "ci" or "local"
    cpu_cores: int
    ram_total_bytes: int
    ram_available_bytes: int
    gpu: GPUInfo | None = None
    hub: HubStatus | None = None
    python: str = field(default_factory=lambda: sys.version.split()[0])

    @property
    def device(self) -> str:
        return "cuda" if self.gpu else "cpu"

    @property
    def accelerator_bytes(self) -> int:
        """Memory the models live in: the GPU's if there is one, else RAM that is free now."""
        return self.gpu.free_bytes if self.gpu else self.ram_available_bytes


def detect_runtime(environ: dict | None = None) -> str:
    """Colab, Binder, CI or a plain local Jupyter."""
    env = os.environ if environ is None else environ
    if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in env or "COLAB_GPU" in env:
        return "colab"
    if "BINDER_SERVICE_HOST" in env or "BINDER_REQUEST" in env or "BINDER_LAUNCH_HOST" in env:
        return "binder"
    if env.get("CI", "").lower() in _TRUE or "GITHUB_ACTIONS" in env:
        return "ci"
    return "local"


def _cgroup_memory_limit() -> int | None:
    """A container's memory limit (Binder gives ~2 GB on a large host); None when unlimited."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return int(raw)
    return None


def ram_bytes() -> tuple[int, int]:
    """(total, available) RAM in bytes, respecting a container limit."""
    vm = psutil.virtual_memory()
    total, available = vm.total, vm.available
    limit = _cgroup_memory_limit()
    if limit is not None and limit < total:
        used_here = psutil.Process().memory_info().rss
        total, available = limit, max(0, min(available, limit - used_here))
    return total, available


def gpu_info() -> GPUInfo | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info(0)
    major, _minor = torch.cuda.get_device_capability(0)
    return GPUInfo(torch.cuda.get_device_name(0), int(total), int(free), bf16_native=major >= 8)


def hub_offline_env(environ: dict | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("HF_HUB_OFFLINE", "").lower() in _TRUE


_hub_cache: HubStatus | None = None


def check_hub(timeout: float = HUB_TIMEOUT_S, host: str = HUB_HOST, port: int = HUB_PORT,
              refresh: bool = False) -> HubStatus:
    """Is the model hub reachable? Never takes longer than ``timeout`` seconds.

    The connection (DNS included, which socket timeouts do not cover) runs in a daemon
    thread, so a black-holed network costs at most ``timeout``. The answer is cached for the
    process; ``refresh=True`` asks again.
    """
    global _hub_cache
    if hub_offline_env():
        return HubStatus(False, "HF_HUB_OFFLINE is set: offline mode by choice")
    if _hub_cache is not None and not refresh and host == HUB_HOST:
        return _hub_cache

    result: dict = {}

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    start = time.perf_counter()
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.perf_counter() - start
    if result.get("ok"):
        status = HubStatus(True, f"{host} answered in {seconds:.2f} s", seconds)
    elif "error" in result:
        status = HubStatus(False, f"{host} unreachable ({type(result['error']).__name__})", seconds)
    else:
        status = HubStatus(False, f"{host} did not answer within {timeout:g} s", seconds)
    if host == HUB_HOST:
        _hub_cache = status
    return status


def machine_info(check_hub_now: bool = True) -> MachineInfo:
    """Everything the course needs to know about this machine, in well under 3 seconds."""
    total, available = ram_bytes()
    return MachineInfo(
        runtime=detect_runtime(),
        cpu_cores=os.cpu_count() or 1,
        ram_total_bytes=total,
        ram_available_bytes=available,
        gpu=gpu_info(),
        hub=check_hub() if check_hub_now else None,
    )


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"
