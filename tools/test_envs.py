"""Virtual environments the tests build once per machine from the package registry, to run the course on the
stacks learners have:

- Colab (``.venv-colab``): ipywidgets 7.7.1 (Colab's frontend does not support ipywidgets 8; see
  ../shared/reference/part3_facts.md) with the widgetsnbextension and jupyterlab_widgets releases that match it,
  and Colab's transformers 5.15 (the oldest release the course is tested with; it brings huggingface_hub 1.x and
  an older tokenizers). Everything else (torch, the course) comes from this environment
  (``--system-site-packages``); the course is used from the working tree.
- Binder (``.venv-binder``): a fresh environment with nothing but ``binder/requirements.txt``, then
  ``binder/postBuild`` run in it, as repo2docker does.

    python tools/test_envs.py colab|binder     # creates the environment (or says it is ready); prints its python
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP = ("-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile")  # .pyc files come on first use


@dataclass(frozen=True)
class TestEnv:
    name: str
    folder: Path
    system_site_packages: bool
    pip_args: tuple[str, ...]  # what `pip install` gets
    post_build: str | None  # a script run in the environment afterwards (repo2docker's postBuild)
    probe: str  # python code that prints what a ready environment has
    inputs: tuple[Path, ...] = ()  # files whose content the environment is built from: a change rebuilds it

    def python(self) -> Path:
        return self.folder / "bin" / "python"

    def fingerprint(self) -> str:
        digest = hashlib.sha256(" ".join(self.pip_args).encode())
        for path in self.inputs:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def ready(self) -> bool:
        """Whether the environment exists, was built from today's inputs, and its probe runs."""
        stamp = self.folder / "course-fingerprint"
        if not self.python().exists() or not stamp.exists() or stamp.read_text() != self.fingerprint():
            return False
        return subprocess.run([self.python(), "-c", self.probe], capture_output=True, cwd=ROOT).returncode == 0

    def create(self) -> Path:
        """Make the environment if it is not ready; returns its python. Raises CalledProcessError if pip fails."""
        if not self.ready():
            venv.EnvBuilder(system_site_packages=self.system_site_packages, clear=True, with_pip=True).create(
                self.folder)
            subprocess.run([self.python(), *PIP, *self.pip_args], check=True, timeout=900, cwd=ROOT)
            if self.post_build:
                path = f"{self.folder / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
                subprocess.run(["bash", self.post_build], check=True, timeout=600, cwd=ROOT,
                               env={**os.environ, "PATH": path, "VIRTUAL_ENV": str(self.folder)})
            (self.folder / "course-fingerprint").write_text(self.fingerprint())
        return self.python()

    def create_or_skip(self) -> Path:
        """For a test fixture: ``create()``, or skip the test with the reason where no package registry answers."""
        import pytest

        try:
            return self.create()
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"could not build the {self.name} environment ({exc}); "
                        f"run python tools/test_envs.py {self.name}")


COLAB_PINS = ("ipywidgets==7.7.1", "widgetsnbextension==3.6.10", "jupyterlab_widgets==1.1.11",
              "ipython_genutils==0.2.0", "transformers==5.15.0")
COLAB = TestEnv(
    "colab", ROOT / ".venv-colab", system_site_packages=True, pip_args=COLAB_PINS, post_build=None,
    probe="import ipywidgets, transformers; assert (ipywidgets.__version__, transformers.__version__) == "
          "('7.7.1', '5.15.0')")
BINDER = TestEnv(
    "binder", ROOT / ".venv-binder", system_site_packages=False,
    # the CPU torch index binder/requirements.txt names is not reachable from every machine: one try, then PyPI
    pip_args=("--retries", "1", "--timeout", "20", "-r", "binder/requirements.txt"), post_build="binder/postBuild",
    probe="import course_utils, torch, transformers, ipywidgets, jupyterlab",
    inputs=(ROOT / "binder" / "requirements.txt", ROOT / "binder" / "postBuild"))
ENVS = {e.name: e for e in (COLAB, BINDER)}


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ENVS:
        sys.exit(f"usage: python tools/test_envs.py {'|'.join(ENVS)}")
    print(ENVS[sys.argv[1]].create())
