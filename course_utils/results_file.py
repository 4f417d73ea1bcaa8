"""Shipped results files (lesson 08's fine-tuning grid, lesson 11's memorisation grid): read one, or say in one
line why it is ignored — missing, corrupt, or of another format — and how to rebuild it. Never a crash."""

from __future__ import annotations

import json
from pathlib import Path


def read_results(path: Path, *, what: str, command: str, fmt: int, key: str) -> dict | None:
    """The JSON object at ``path`` if its ``format`` is ``fmt`` and it holds ``key``; otherwise None, with the
    reason printed. ``what`` names the results ("fine-tuning"), ``command`` the one that rebuilds them."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except OSError:
        print(f"No shipped {what} results at {path}: run `{command}` to make them.")
        return None
    except ValueError as exc:
        print(f"The {what} results file {path} is corrupt ({exc}); it is ignored. Rebuild it with `{command}`.")
        return None
    if not isinstance(results, dict) or results.get("format") != fmt or key not in results:
        found = results.get("format") if isinstance(results, dict) else type(results).__name__
        print(f"{path} has format {found!r}, this course reads format {fmt}; it is ignored. "
              f"Rebuild it with `{command}`.")
        return None
    return results


def run_metadata(command: str) -> dict:
    """What every shipped results file says about its run: the command, the course version, the date and the
    machine (cores, platform, torch)."""
    import os
    import platform
    import time

    import torch

    from course_utils import __version__

    return {"command": command, "course_version": __version__, "created": time.strftime("%Y-%m-%d"),
            "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__}}
