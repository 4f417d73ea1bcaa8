"""models/manifest.json: what was built, with the sha256 of every shipped file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of each file in ``folder`` (not recursive)."""
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def write_manifest(models_dir: Path, corpus: dict, tokenizer: dict, models: list[dict],
                   aliases: dict[str, str]) -> Path:
    manifest = {"format": 1, "aliases": aliases, "corpus": corpus, "tokenizer": tokenizer, "models": models}
    path = models_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def read_manifest(models_dir: Path) -> dict:
    return json.loads((models_dir / "manifest.json").read_text())
