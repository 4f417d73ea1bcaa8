"""Run a child process under a real memory limit, as Binder (2 GB) or a JupyterHub spawner would: a fresh memory
cgroup (v1 or v2) that the child joins before it starts, removed afterwards. Where the machine does not let us make
one, the test is skipped with the reason."""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path("/sys/fs/cgroup")


def _make(limit_bytes: int) -> Path:
    name = f"course-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    v2 = ROOT / "cgroup.controllers"
    if v2.exists() and "memory" in v2.read_text().split():
        folder, limit_file = ROOT / name, "memory.max"
    elif (ROOT / "memory" / "memory.limit_in_bytes").exists():
        folder, limit_file = ROOT / "memory" / name, "memory.limit_in_bytes"
    else:
        raise OSError("no memory cgroup controller is mounted")
    folder.mkdir()
    try:
        (folder / limit_file).write_text(str(limit_bytes))
    except OSError:
        folder.rmdir()
        raise
    return folder


@contextmanager
def memory_cgroup(limit_bytes: int):
    """A new memory cgroup limited to ``limit_bytes``; yields its folder."""
    try:
        folder = _make(limit_bytes)
    except OSError as exc:
        pytest.skip(f"cannot create a memory cgroup here ({exc}); run as root on a machine with cgroups")
    try:
        yield folder
    finally:
        for _ in range(50):  # the child has exited; the kernel may take a moment to release the group
            try:
                folder.rmdir()
                break
            except OSError:
                import time

                time.sleep(0.1)


def run_limited(cmd: list[str], limit_bytes: int, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run ``cmd`` inside a new cgroup of ``limit_bytes``; returns the completed process (killed by the kernel's
    OOM killer: returncode -9), with ``peak_bytes``: the group's peak memory (page cache included)."""
    with memory_cgroup(limit_bytes) as folder:
        procs = folder / "cgroup.procs"

        def join():  # in the child, before exec: everything it runs is counted against the limit
            procs.write_text(str(os.getpid()))

        run = subprocess.run(cmd, preexec_fn=join, capture_output=True, text=True, timeout=timeout, **kwargs)
        peak = next((folder / f for f in ("memory.peak", "memory.max_usage_in_bytes") if (folder / f).exists()), None)
        run.peak_bytes = int(peak.read_text()) if peak is not None else None
        return run
