"""A virtual environment with Colab's widget stack, for the tests: ipywidgets 7.7.1 (Colab's frontend does not
support ipywidgets 8; see ../shared/reference/part3_facts.md) with the widgetsnbextension and jupyterlab_widgets
releases that match it. Everything else (torch, transformers, the course) comes from this environment
(``--system-site-packages``); the course is used from the working tree.

    python tools/colab_stack.py            # creates .venv-colab/ (or says it is ready); prints its python
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / ".venv-colab"
PINS = ("ipywidgets==7.7.1", "widgetsnbextension==3.6.10", "jupyterlab_widgets==1.1.11", "ipython_genutils==0.2.0")


def python() -> Path:
    return ENV / "bin" / "python"


def ready() -> bool:
    """Whether the environment exists and imports ipywidgets 7.7.1."""
    if not python().exists():
        return False
    out = subprocess.run([python(), "-c", "import ipywidgets; print(ipywidgets.__version__)"], capture_output=True,
                         text=True)
    return out.returncode == 0 and out.stdout.strip() == "7.7.1"


def create() -> Path:
    """Make the environment if it is not ready; returns its python. Raises CalledProcessError if pip fails."""
    if not ready():
        venv.EnvBuilder(system_site_packages=True, clear=True, with_pip=True).create(ENV)
        subprocess.run([python(), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS], check=True,
                       timeout=600)
    return python()


if __name__ == "__main__":
    print(create())
    sys.exit(0)
