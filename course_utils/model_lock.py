"""``models.lock``: the exact hub commit of every model a class uses, so every machine runs the same weights.

``python -m course_utils download --tier laptop-cpu`` (or ``--models A B``) fetches the models into
the hub cache and writes the lock: for each hub id, the commit its revision resolved to and the
SHA-256 of each file. ``load_model`` then asks the hub for that commit instead of the catalog's
branch, and ``download --check`` verifies the cache against the lock and says what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from course_utils import MODELS_DIR
from course_utils.catalog import ModelSpec, get_spec

LOCK_PATH = MODELS_DIR.parent / "models.lock"
LOCK_PATH_VAR = "COURSE_MODELS_LOCK"  # another lock file, e.g. one an instructor hands out
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja", "tokenizer*"]


def lock_path() -> Path:
    return Path(os.environ.get(LOCK_PATH_VAR) or LOCK_PATH)


def read_lock(path: Path | None = None) -> dict:
    """{hub id: {"revision", "commit", "files": {name: sha256}}}; empty when there is no lock."""
    path = path or lock_path()
    if not path.is_file():
        return {}
    return json.loads(path.read_text())["models"]


def locked_revision(spec: ModelSpec, path: Path | None = None) -> str:
    """The commit the lock pins ``spec`` to, else the catalog's revision."""
    entry = read_lock(path).get(spec.hub_id or "")
    return entry["commit"] if entry else spec.revision


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_lock(entries: dict, path: Path | None = None) -> Path:
    """Merge ``entries`` into the lock at ``path`` (models already locked keep their entry unless given)."""
    path = path or lock_path()
    models = {**read_lock(path), **entries}
    path.write_text(json.dumps({"format": 1, "models": dict(sorted(models.items()))}, indent=1) + "\n")
    return path


def _tier_models(tier: str) -> list[str]:
    from course_utils.tiers import TIERS

    if tier not in TIERS:
        from course_utils.errors import BadInputError

        raise BadInputError(f"Unknown tier {tier!r}. Choose one of: {', '.join(TIERS)}.")
    t = TIERS[tier]
    return list(dict.fromkeys(t.candidates_small + t.candidates_large))


def download(names: list[str], path: Path | None = None) -> int:
    """Fetch ``names`` (catalog models) into the hub cache, with progress bars, and lock them."""
    from huggingface_hub import HfApi, snapshot_download

    from course_utils.env import check_hub, human_bytes
    from course_utils.measure import dtype_bytes

    specs = [get_spec(name) for name in names]
    hub_specs = [s for s in specs if not s.is_course_model]
    for spec in specs:
        if spec.is_course_model:
            print(f"{spec.name} is a course model: it ships in {MODELS_DIR}, nothing to download.")
    if not hub_specs:
        return 0
    hub = check_hub()
    if not hub.reachable:
        print(f"Cannot download {', '.join(s.name for s in hub_specs)}: {hub.reason}. "
              "Offline, the course models (course-slm, course-llm) stand in.")
        return 1
    locked, api = {}, HfApi()
    for spec in hub_specs:
        revision = locked_revision(spec, path)
        commit = api.model_info(spec.hub_id, revision=revision).sha
        size = spec.params * dtype_bytes(spec.checkpoint_dtype)
        print(f"{spec.name}: {spec.hub_id}@{revision} is commit {commit[:12]} (about {human_bytes(size)})")
        folder = Path(snapshot_download(spec.hub_id, revision=commit, allow_patterns=DOWNLOAD_PATTERNS))
        files = {p.relative_to(folder).as_posix(): sha256_file(p)
                 for p in sorted(folder.rglob("*")) if p.is_file()}
        locked[spec.hub_id] = {"name": spec.name, "revision": spec.revision, "commit": commit, "files": files}
    written = write_lock(locked, path)
    print(f"Locked {len(locked)} model(s) in {written}: every machine with this file loads these commits.")
    return 0


@dataclass
class LockProblem:
    hub_id: str
    problem: str  # one line: what is wrong and what to do


def check(path: Path | None = None) -> list[LockProblem]:
    """What the hub cache lacks against the lock: missing snapshots, missing or altered files."""
    from huggingface_hub import snapshot_download

    problems = []
    for hub_id, entry in read_lock(path).items():
        try:
            folder = Path(snapshot_download(hub_id, revision=entry["commit"], allow_patterns=DOWNLOAD_PATTERNS,
                                            local_files_only=True))
        except Exception:  # huggingface_hub raises several kinds for "not in the cache"
            problems.append(LockProblem(hub_id, f"not in the hub cache at commit {entry['commit'][:12]}: "
                                                f"run `python -m course_utils download --models {entry['name']}`"))
            continue
        for name, sha in entry["files"].items():
            file = folder / name
            if not file.is_file():
                problems.append(LockProblem(hub_id, f"{name} is missing: run the download again"))
            elif sha256_file(file) != sha:
                problems.append(LockProblem(hub_id, f"{name} differs from the lock (corrupted or replaced): "
                                                    "delete it from the cache and download again"))
    return problems


def main(args) -> int:
    """Command line: ``download NAME…``, ``download --tier T``, ``download --models A B``, ``download --check``."""
    path = Path(args.lock) if args.lock else None
    if args.check:
        lock = read_lock(path)
        if not lock:
            print(f"No lock at {path or lock_path()}: run `python -m course_utils download --tier NAME` first.")
            return 1
        problems = check(path)
        for p in problems:
            print(f"✗ {p.hub_id}: {p.problem}")
        ok = len(lock) - len({p.hub_id for p in problems})
        print(f"{ok} of {len(lock)} locked model(s) are in the cache as locked.")
        return 1 if problems else 0
    names = list(args.names) + list(args.models or [])
    if args.tier:
        names += _tier_models(args.tier)
    if not names:
        print("Say what to download: a model name, --models A B, or --tier NAME.")
        return 2
    return download(list(dict.fromkeys(names)), path)
