"""A JupyterHub spawner for the tests: SimpleLocalProcessSpawner (a local process per user, no system users), with
each user's server, and every kernel it starts, in a memory cgroup of the user's ``mem_limit`` (v1 or v2), as
The Littlest JupyterHub's systemd spawner limits each user. Only for tests: it isolates nothing else."""

import os
from pathlib import Path

from jupyterhub.spawner import SimpleLocalProcessSpawner

ROOT = Path("/sys/fs/cgroup")


def _group(name: str) -> tuple[Path, str]:
    v2 = ROOT / "cgroup.controllers"
    if v2.exists() and "memory" in v2.read_text().split():
        return ROOT / name, "memory.max"
    return ROOT / "memory" / name, "memory.limit_in_bytes"


class CgroupSpawner(SimpleLocalProcessSpawner):
    def _cgroup(self) -> tuple[Path, str]:
        return _group(f"course-hub-{os.getpid()}-{self.user.name}")

    def make_preexec_fn(self, name):
        chdir_home = super().make_preexec_fn(name)
        folder, limit_file = self._cgroup()
        limit = int(self.mem_limit or 0)

        def preexec():  # in the child, before exec: the server and its kernels count against the limit
            if limit:
                folder.mkdir(exist_ok=True)
                (folder / limit_file).write_text(str(limit))
                (folder / "cgroup.procs").write_text(str(os.getpid()))
            chdir_home()

        return preexec

    async def stop(self, now=False):
        await super().stop(now=now)
        folder, _ = self._cgroup()
        try:
            folder.rmdir()
        except OSError:
            pass  # not made (no limit), or the kernel has not released it yet
