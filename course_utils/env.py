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
HUB_ENDPOINT_VAR = "HF_ENDPOINT"  # huggingface_hub's own: a mirror or a local hub (course_utils.local_hub)
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


PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
_NO_LIMIT = 1 << 60  # cgroup v1 writes "no limit" as a huge number, v2 as "max"


@dataclass
class CgroupMemory:
    limit_bytes: int  # the smallest limit on the way from this process's cgroup to the root
    available_bytes: int  # the least headroom (limit - usage) on the same way
    path: Path  # the cgroup directory whose limit is the smallest


def _read_int(path: Path) -> int | None:
    try:
        raw = path.read_text().strip()
    except OSError:
        return None
    return int(raw) if raw.isdigit() else None  # "max" (v2) is no number: no limit


def _inactive_file(path: Path) -> int:
    """Page cache the kernel can drop (memory.stat), so usage minus it is what the cgroup really holds."""
    try:
        lines = (path / "memory.stat").read_text().splitlines()
    except OSError:
        return 0
    stats = dict(line.split(None, 1) for line in lines if " " in line)
    value = stats.get("total_inactive_file", stats.get("inactive_file", "0")).strip()
    return int(value) if value.isdigit() else 0


def _memory_cgroup_dirs(proc_cgroup: Path, cgroup_root: Path) -> list[tuple[Path, str, str]]:
    """(directory, limit file, usage file) for this process's memory cgroup and each parent up to the root.

    ``/proc/self/cgroup`` names the cgroup: ``0::/path`` for v2, ``N:memory:/path`` (or
    ``N:cpu,memory:/path``) for v1. Directories that do not exist under ``cgroup_root`` are
    skipped: inside a container without a cgroup namespace the path names the host's tree, and
    the container's own cgroup is mounted at the root.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    lines = lines or ["0::/", "1:memory:/"]  # nothing to read: the limits at the roots, as a container sees them
    found = []
    for line in lines:
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":  # v2: pure, or the "unified" mount of a hybrid system
            mounts, files = [cgroup_root, cgroup_root / "unified"], ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            mounts, files = [cgroup_root / "memory", cgroup_root / controllers], \
                ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        rel = Path(path.lstrip("/"))
        for mount in dict.fromkeys(mounts):
            for sub in [rel, *rel.parents]:  # the cgroup, then each parent; "." is the mount's root
                directory = mount / sub
                if (directory / files[0]).exists():
                    found.append((directory, *files))
    return found


def cgroup_memory(proc_cgroup: str | Path = PROC_SELF_CGROUP,
                  cgroup_root: str | Path = CGROUP_ROOT) -> CgroupMemory | None:
    """The memory limit on this process from its cgroup and every parent (v1 or v2); None when unlimited.

    A JupyterHub spawner may limit each user with a cgroup but no namespace (The Littlest
    JupyterHub uses systemd slices): the root's file then shows the machine, and only the
    process's own cgroup, or a parent of it, holds the user's limit.
    """
    limited = []
    for directory, limit_file, usage_file in _memory_cgroup_dirs(Path(proc_cgroup), Path(cgroup_root)):
        limit = _read_int(directory / limit_file)
        if limit is None or limit >= _NO_LIMIT:
            continue
        usage = _read_int(directory / usage_file)
        held = max(0, usage - _inactive_file(directory)) if usage is not None else 0
        limited.append((limit, max(0, limit - held), directory))
    if not limited:
        return None
    limit, _, directory = min(limited, key=lambda level: level[0])
    return CgroupMemory(limit, min(headroom for _, headroom, _ in limited), directory)


def ram_bytes(proc_cgroup: str | Path = PROC_SELF_CGROUP,
              cgroup_root: str | Path = CGROUP_ROOT) -> tuple[int, int]:
    """(total, available) RAM in bytes: the machine's, or the cgroup's where its limit is lower
    (available is then the smaller of the machine's and the cgroup's limit minus its usage)."""
    vm = psutil.virtual_memory()
    total, available = vm.total, vm.available
    limit = cgroup_memory(proc_cgroup, cgroup_root)
    if limit is not None and limit.limit_bytes < total:
        total, available = limit.limit_bytes, min(available, limit.available_bytes)
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


def hub_address(environ: dict | None = None) -> tuple[str, int]:
    """(host, port) of the hub the libraries will use: ``HF_ENDPOINT`` if set, else huggingface.co."""
    env = os.environ if environ is None else environ
    endpoint = env.get(HUB_ENDPOINT_VAR, "").strip()
    if not endpoint:
        return HUB_HOST, HUB_PORT
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
    return parts.hostname or HUB_HOST, parts.port or (80 if parts.scheme == "http" else 443)


_hub_cache: dict[tuple[str, int], HubStatus] = {}


def check_hub(timeout: float = HUB_TIMEOUT_S, host: str | None = None, port: int | None = None,
              refresh: bool = False) -> HubStatus:
    """Is the model hub reachable? Never takes longer than ``timeout`` seconds.

    The hub is the one ``HF_ENDPOINT`` names, else huggingface.co (``host``/``port`` override).
    The connection (DNS included, which socket timeouts do not cover) runs in a daemon
    thread, so a black-holed network costs at most ``timeout``. The answer is cached for the
    process; ``refresh=True`` asks again.
    """
    if hub_offline_env():
        return HubStatus(False, "HF_HUB_OFFLINE is set: offline mode by choice")
    default_host, default_port = hub_address()
    address = (host or default_host, port or default_port)
    if address in _hub_cache and not refresh:
        return _hub_cache[address]

    result: dict = {}

    def probe():
        try:
            with socket.create_connection(address, timeout=timeout):
                result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    start = time.perf_counter()
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    seconds = time.perf_counter() - start
    name = address[0] if address[1] in (80, 443) else f"{address[0]}:{address[1]}"
    if result.get("ok"):
        status = HubStatus(True, f"{name} answered in {seconds:.2f} s", seconds)
    elif "error" in result:
        status = HubStatus(False, f"{name} unreachable ({type(result['error']).__name__})", seconds)
    else:
        status = HubStatus(False, f"{name} did not answer within {timeout:g} s", seconds)
    _hub_cache[address] = status
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
