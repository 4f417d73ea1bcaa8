import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from course_utils import env


def test_detect_runtime_from_environment():
    assert env.detect_runtime({"COLAB_RELEASE_TAG": "x"}) == "colab"
    assert env.detect_runtime({"BINDER_SERVICE_HOST": "10.0.0.1"}) == "binder"
    assert env.detect_runtime({"CI": "true"}) == "ci"
    assert env.detect_runtime({}) == "local"


def test_machine_info_reads_real_numbers():
    m = env.machine_info(check_hub_now=False)
    assert m.cpu_cores >= 1
    assert 0 < m.ram_available_bytes <= m.ram_total_bytes
    assert m.device in ("cpu", "cuda")
    assert m.accelerator_bytes > 0


def test_hub_offline_env_is_honoured_without_any_connection(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("no connection may be attempted when HF_HUB_OFFLINE=1")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", forbidden)
    status = env.check_hub(refresh=True)
    assert not status.reachable and "HF_HUB_OFFLINE" in status.reason


def test_hub_check_answers_true_for_a_listening_local_server(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        status = env.check_hub(host="127.0.0.1", port=server.getsockname()[1], refresh=True)
    finally:
        server.close()
    assert status.reachable


def test_hub_check_reports_a_refused_port_quickly(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    status = env.check_hub(host="127.0.0.1", port=port, refresh=True)
    assert not status.reachable and "unreachable" in status.reason


def test_hub_check_never_hangs_past_its_timeout(monkeypatch):
    """A black-holed network (DNS or connect hanging) costs at most the timeout."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    def black_hole(*args, **kwargs):
        time.sleep(3)
        raise OSError("no answer")

    monkeypatch.setattr(socket, "create_connection", black_hole)
    start = time.perf_counter()
    status = env.check_hub(timeout=0.5, host="127.0.0.1", refresh=True)
    assert time.perf_counter() - start < 1.5
    assert not status.reachable and "did not answer" in status.reason


def test_human_bytes():
    assert env.human_bytes(512) == "512 B"
    assert env.human_bytes(1.5e9) == "1.50 GB"


# ----------------------------------------------------------------------------- cgroup memory limits

GIB = 1 << 30
V1_NO_LIMIT = "9223372036854771712"  # what cgroup v1 writes for "no limit"


def _cgroup_tree(tmp_path, proc_line: str, files: dict[str, str]):
    """A fake /proc/self/cgroup holding ``proc_line`` and a fake /sys/fs/cgroup with ``files``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(proc_line + "\n")
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    return proc, root


def test_cgroup_v2_limit_of_a_parent_slice_counts(tmp_path):
    """TLJH-style: the user's slice holds the limit, the process sits in a scope below it, the root
    cgroup (no memory.max there) shows the machine."""
    proc, root = _cgroup_tree(tmp_path, "0::/user.slice/user-1000.slice/session-3.scope", {
        "cgroup.controllers": "cpu memory pids",
        "user.slice/memory.max": "max", "user.slice/memory.current": str(3 * GIB),
        "user.slice/user-1000.slice/memory.max": str(2 * GIB),
        "user.slice/user-1000.slice/memory.current": str(500 * 2**20),
        "user.slice/user-1000.slice/session-3.scope/memory.max": "max",
        "user.slice/user-1000.slice/session-3.scope/memory.current": str(400 * 2**20),
    })
    cg = env.cgroup_memory(proc, root)
    assert cg.limit_bytes == 2 * GIB
    assert cg.available_bytes == 2 * GIB - 500 * 2**20  # the limited level's own usage, all its processes
    assert cg.path == root / "user.slice/user-1000.slice"


def test_cgroup_nested_limits_take_the_smallest_limit_and_the_least_headroom(tmp_path):
    proc, root = _cgroup_tree(tmp_path, "0::/hub/alice", {
        "hub/memory.max": str(4 * GIB), "hub/memory.current": str(int(3.5 * GIB)),  # other users' kernels
        "hub/alice/memory.max": str(2 * GIB), "hub/alice/memory.current": str(GIB // 4),
    })
    cg = env.cgroup_memory(proc, root)
    assert cg.limit_bytes == 2 * GIB and cg.path == root / "hub/alice"
    assert cg.available_bytes == GIB // 2  # the parent has only 0.5 GiB left, though alice has 1.75


def test_cgroup_usage_excludes_page_cache_the_kernel_can_drop(tmp_path):
    proc, root = _cgroup_tree(tmp_path, "0::/user", {
        "user/memory.max": str(2 * GIB), "user/memory.current": str(GIB),
        "user/memory.stat": f"anon {GIB // 2}\nfile {GIB // 2}\ninactive_file {GIB // 4}",
    })
    assert env.cgroup_memory(proc, root).available_bytes == 2 * GIB - (GIB - GIB // 4)


def test_cgroup_v1_memory_line_and_its_parents(tmp_path):
    proc, root = _cgroup_tree(tmp_path, "5:cpuset:/\n4:memory:/jupyter/bob\n0::/", {
        "memory/memory.limit_in_bytes": V1_NO_LIMIT, "memory/memory.usage_in_bytes": str(9 * GIB),
        "memory/jupyter/memory.limit_in_bytes": str(3 * GIB),
        "memory/jupyter/memory.usage_in_bytes": str(GIB),
        "memory/jupyter/bob/memory.limit_in_bytes": V1_NO_LIMIT,
        "memory/jupyter/bob/memory.usage_in_bytes": str(GIB // 2),
        "memory/jupyter/bob/memory.stat": f"inactive_file 1\ntotal_inactive_file {GIB // 2}",
    })
    cg = env.cgroup_memory(proc, root)
    assert (cg.limit_bytes, cg.available_bytes) == (3 * GIB, 2 * GIB)
    assert cg.path == root / "memory/jupyter"


def test_cgroup_v1_combined_controllers(tmp_path):
    proc, root = _cgroup_tree(tmp_path, "3:cpu,memory:/course", {
        "cpu,memory/course/memory.limit_in_bytes": str(GIB),
        "cpu,memory/course/memory.usage_in_bytes": str(GIB // 4),
    })
    cg = env.cgroup_memory(proc, root)
    assert (cg.limit_bytes, cg.available_bytes) == (GIB, 3 * GIB // 4)


def test_cgroup_max_and_huge_values_mean_no_limit(tmp_path):
    proc, root = _cgroup_tree(tmp_path, "0::/a/b", {
        "a/memory.max": "max", "a/b/memory.max": "max", "a/b/memory.current": str(GIB)})
    assert env.cgroup_memory(proc, root) is None
    proc, root = _cgroup_tree(tmp_path / "v1", "4:memory:/a", {"memory/a/memory.limit_in_bytes": V1_NO_LIMIT})
    assert env.cgroup_memory(proc, root) is None
    assert env.cgroup_memory(tmp_path / "no-such-file", root) is None


def test_cgroup_of_a_container_without_cgroup_namespace(tmp_path):
    """/proc/self/cgroup names the host's path, but the container's own cgroup is mounted at the root."""
    proc, root = _cgroup_tree(tmp_path, "0::/kubepods/pod42/abc", {
        "memory.max": str(2 * GIB), "memory.current": str(GIB)})
    assert env.cgroup_memory(proc, root).limit_bytes == 2 * GIB
    assert env.cgroup_memory(tmp_path / "no-proc-self-cgroup", root).limit_bytes == 2 * GIB  # the root's, then


def _fake_machine(monkeypatch, total: int, available: int) -> None:
    """psutil reports a machine with ``total`` bytes of RAM, ``available`` of them free (not this one)."""
    from types import SimpleNamespace

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(total=total, available=available))


def test_ram_bytes_uses_the_cgroup_limit_below_the_machine(tmp_path, monkeypatch):
    _fake_machine(monkeypatch, 16 * GIB, 8 * GIB)
    limit = 256 * 2**20
    proc, root = _cgroup_tree(tmp_path, "0::/user", {
        "user/memory.max": str(limit), "user/memory.current": str(limit // 4)})
    assert env.ram_bytes(proc, root) == (limit, limit - limit // 4)  # the cgroup's headroom, not the machine's
    _fake_machine(monkeypatch, 16 * GIB, 100 * 2**20)  # the machine has less free than the cgroup allows
    assert env.ram_bytes(proc, root) == (limit, 100 * 2**20)
    _fake_machine(monkeypatch, 16 * GIB, 8 * GIB)
    proc, root = _cgroup_tree(tmp_path / "huge", "0::/user", {"user/memory.max": str(1 << 55)})
    assert env.ram_bytes(proc, root) == (16 * GIB, 8 * GIB)  # a limit above the machine: the machine's


CHILD = ("import psutil; from course_utils import env; total, available = env.ram_bytes(); "
         "cg = env.cgroup_memory(); print(total, available, cg.limit_bytes, cg.available_bytes, "
         "psutil.virtual_memory().available, cg.path)")


def _real_cgroup(version: str, name: str):
    """Create a top-level memory cgroup ``name`` (v1 or v2) limited to 2 GiB, or skip saying why.
    Returns (its directory, a cleanup function)."""
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup needs root")
    undo = []
    if version == "v2":
        root = Path("/sys/fs/cgroup")
        controllers = root / "cgroup.controllers"
        if not controllers.exists() or "memory" not in controllers.read_text().split():
            pytest.skip("no cgroup v2 memory controller at /sys/fs/cgroup (cgroup v1 or hybrid machine)")
        subtree = root / "cgroup.subtree_control"
        if "memory" not in subtree.read_text().split():
            try:
                subtree.write_text("+memory")
            except OSError as exc:
                pytest.skip(f"cannot enable +memory in {subtree}: {exc}")
            undo.append(lambda: subtree.write_text("-memory"))
        limit_file = "memory.max"
    else:
        root = Path("/sys/fs/cgroup/memory")
        if not (root / "memory.limit_in_bytes").exists():
            pytest.skip("no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory")
        limit_file = "memory.limit_in_bytes"
    cgroup = root / name

    def cleanup():
        for step in [lambda: cgroup.rmdir() if cgroup.exists() else None, *undo]:
            try:
                step()
            except OSError:
                pass

    try:
        cgroup.mkdir()
        (cgroup / limit_file).write_text(str(2 * GIB))
    except OSError as exc:
        cleanup()
        pytest.skip(f"cannot create a memory-limited cgroup at {cgroup}: {exc}")
    return cgroup, cleanup


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_ram_bytes_in_a_real_memory_limited_cgroup(version):
    """A child process in a real 2 GiB cgroup (Binder's size) reports 2 GiB, whatever the machine has."""
    cgroup, cleanup = _real_cgroup(version, f"course-test-{os.getpid()}")
    try:
        wrapper = f'echo $$ > {cgroup / "cgroup.procs"} && exec "$0" -c "$1"'
        out = subprocess.run(["sh", "-c", wrapper, sys.executable, CHILD], capture_output=True, text=True,
                             timeout=60, cwd=Path(env.__file__).parent.parent)
    finally:
        cleanup()
    assert out.returncode == 0, out.stderr
    total, available, limit, headroom, machine_available = (int(x) for x in out.stdout.split()[:5])
    assert out.stdout.split()[5].endswith(cgroup.name)
    assert total == limit == 2 * GIB
    assert 0 < 2 * GIB - headroom < 512 * 2**20  # the cgroup holds the child, tens of MB
    assert available <= headroom and abs(available - min(headroom, machine_available)) < 64 * 2**20
