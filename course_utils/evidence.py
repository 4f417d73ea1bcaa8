"""The evidence store: the key measurements each lesson records as it runs, for lesson 12's scorecard.

One small JSON file per lesson, in a user-writable folder outside the package (``evidence_dir()``), each entry
with its provenance: which models (name and weight hash, or hub id and revision), which machine (tier, cores,
RAM, GPU), the date, the course version, and whether the run was the lesson's default or its full setting.

    record(9, "int8_speedup", 1.10, models=["course-large"], unit="×")   # in a lesson, after measuring it
    record_many(9, {"int8_speedup": 1.10, "bandwidth": 9.8e9}, models=["course-large"])   # several, one write
    own = load_lesson(9)                      # None, with one line saying why, if missing, corrupt or old
    entry = lookup(9, "int8_speedup")         # the learner's own if recorded, else the shipped reference
    entry.value, entry.source                 # 1.10, "yours" | "reference"

The course ships reference results in the same format (``REFERENCE_DIR``), made by the documented commands on a
named machine. A file that cannot be read is ignored with a message, never a crash, and never overwritten by a
partial update: writes go to a temporary file that replaces the old one in one step.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from course_utils import MODELS_DIR, __version__
from course_utils.errors import BadInputError, CourseError

FORMAT = 1
REFERENCE_DIR = MODELS_DIR / "evidence"
SETTINGS = ("default", "full")


def evidence_dir(environ: dict | None = None) -> Path:
    """Where the learner's own evidence lives: ``$COURSE_EVIDENCE_DIR``, else ``$XDG_DATA_HOME`` (or
    ``~/.local/share``) ``/small-vs-large-llms/evidence``. Created when first written, not here."""
    env = os.environ if environ is None else environ
    if env.get("COURSE_EVIDENCE_DIR"):
        return Path(env["COURSE_EVIDENCE_DIR"]).expanduser()
    base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share").expanduser()
    return base / "small-vs-large-llms" / "evidence"


def _check_lesson(lesson) -> None:
    if isinstance(lesson, bool) or not isinstance(lesson, int) or not 0 <= lesson <= 99:
        raise BadInputError(f"lesson={lesson!r}: a lesson number is an int from 0 to 99.")


def _file(folder: Path, lesson: int) -> Path:
    _check_lesson(lesson)
    return Path(folder) / f"lesson{lesson:02d}.json"


def model_identity(name: str) -> str:
    """What pins a model's weights: a course model's sha256 (from the zoo manifest), a hub model's
    ``hub_id@revision`` (from the catalog), or ``"unknown"``."""
    from course_utils.catalog import get_spec
    from course_utils.finetune_results import model_hashes

    try:
        spec = get_spec(name)  # course aliases too: "course-llm" is course-large
    except CourseError:  # not in the catalog: a local folder or a name the course does not know
        return "unknown"
    hashes = model_hashes(spec.name)
    if hashes:
        return "sha256:" + next(iter(hashes.values()))
    return f"{spec.hub_id}@{spec.revision}" if spec.hub_id else "unknown"


def machine_summary(machine=None) -> dict:
    """The machine an entry was measured on: tier, cores, RAM and GPU (from ``env.machine_info``, or a dict of
    them already made)."""
    if isinstance(machine, dict):
        return dict(machine)
    from course_utils.env import machine_info
    from course_utils.tiers import tier_for

    m = machine_info(check_hub_now=False) if machine is None else machine
    return {"tier": tier_for(m).name, "cpu_cores": m.cpu_cores, "ram_bytes": m.ram_total_bytes,
            "gpu": m.gpu.name if m.gpu else None}


def shipped_machine(results: dict) -> dict:
    """The machine a shipped results file (lesson 08's or 11's grid) was made on, in ``machine_summary``'s shape:
    figures read from such a file are recorded as the full setting, on that machine, not on the learner's."""
    m = results.get("machine") or {}
    return {"tier": "shipped grid", "cpu_cores": m.get("cpu_count"), "ram_bytes": None, "gpu": None,
            "torch": m.get("torch"), "created": results.get("created")}


@dataclass(frozen=True)
class Entry:
    """One recorded measurement and where it came from."""

    lesson: int
    key: str
    value: object
    unit: str | None
    models: dict
    machine: dict
    date: str
    course_version: str
    setting: str
    source: str = "yours"  # "yours" or "reference"

    def provenance(self) -> str:
        models = ", ".join(self.models) or "no model"
        cores = self.machine.get("cpu_cores", "?")
        where = (f"the shipped grid's machine ({cores} cores, {self.machine.get('created', '?')})"
                 if self.machine.get("tier") == "shipped grid" else f"{self.machine.get('tier', '?')} tier ({cores} cores)")
        return (f"{self.source}: lesson {self.lesson:02d}, {self.setting} setting, {models}, {where}, {self.date}, "
                f"course {self.course_version}")


def _read(path: Path, source: str) -> dict[str, Entry] | None:
    """The entries of one lesson file, or None with one line saying why it is ignored."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        print(f"The evidence file {path} cannot be read ({type(exc).__name__}: {exc}); it is ignored. Run the "
              f"lesson again to record it anew.")
        return None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("entries"), dict):
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        print(f"The evidence file {path} has format {found!r}; this course reads format {FORMAT}, so it is "
              f"ignored. Run the lesson again to record it anew.")
        return None
    out = {}
    fields = set(Entry.__dataclass_fields__) - {"source"}
    for key, e in raw["entries"].items():
        if not isinstance(e, dict) or not fields <= set(e):
            print(f"The evidence file {path} has an incomplete entry {key!r}; that entry is ignored.")
            continue
        out[key] = Entry(**{k: e[k] for k in fields}, source=source)
    return out


def load_lesson(lesson: int, folder: Path | None = None) -> dict[str, Entry] | None:
    """The learner's recorded entries of one lesson ({key: Entry}), or None if there are none (or the file is
    unreadable, which is said in one line)."""
    return _read(_file(evidence_dir() if folder is None else folder, lesson), "yours")


def load_reference(lesson: int, folder: Path | None = None) -> dict[str, Entry] | None:
    """The shipped reference entries of one lesson ({key: Entry}), or None if none are shipped."""
    return _read(_file(REFERENCE_DIR if folder is None else folder, lesson), "reference")


def _entry(lesson: int, key, value, models, unit, setting, machine, today) -> Entry:
    if not isinstance(key, str) or not key.strip():
        raise BadInputError(f"key={key!r}: name the measurement with a non-empty string, e.g. 'int8_speedup'.")
    if setting not in SETTINGS:
        raise BadInputError(f"setting={setting!r}: choose one of {', '.join(SETTINGS)}.")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"the value of {key!r} cannot be recorded ({exc}); record a number, a string, or a "
                            f"list or dict of them.") from None
    return Entry(lesson, key, value, unit, {m: model_identity(m) for m in models}, machine,
                 today or _dt.date.today().isoformat(), __version__, setting)


def _write(folder: Path, lesson: int, new: list[Entry]) -> None:
    path = _file(folder, lesson)
    entries = _read(path, "yours") or {}
    entries.update({e.key: e for e in new})
    folder.mkdir(parents=True, exist_ok=True)
    body = {"format": FORMAT, "lesson": lesson,
            "entries": {k: {f: v for f, v in asdict(e).items() if f != "source"} for k, e in entries.items()}}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(body, f, indent=1)
    os.replace(tmp, path)  # one step: a reader never sees half a file


def record(lesson: int, key: str, value, *, models=(), unit: str | None = None, setting: str = "default",
           folder: Path | None = None, machine=None, today: str | None = None) -> Entry:
    """Record one measurement of ``lesson`` (replacing an earlier one of the same ``key``) and return it.

    ``value``: a number, a string, or a list or dict of them (anything JSON can hold). ``models``: the names of
    the models it was measured on. An unreadable earlier file is replaced, after saying so."""
    _check_lesson(lesson)  # a bad lesson number is refused before anything is measured
    entry = _entry(lesson, key, value, models, unit, setting, machine_summary(machine), today)
    _write(evidence_dir() if folder is None else Path(folder), lesson, [entry])
    return entry


def record_many(lesson: int, values: dict, *, models=(), setting: str = "default", folder: Path | None = None,
                machine=None, today: str | None = None, quiet: bool = False) -> list[Entry]:
    """Record several measurements of ``lesson`` at once ({key: value}, all measured on ``models``), in one
    write, and say where (unless ``quiet``)."""
    if not isinstance(values, dict) or not values:
        raise BadInputError("values must be a non-empty dict {key: measured value}.")
    _check_lesson(lesson)
    where = machine_summary(machine)
    entries = [_entry(lesson, k, v, models, None, setting, where, today) for k, v in values.items()]
    folder = evidence_dir() if folder is None else Path(folder)
    _write(folder, lesson, entries)
    if not quiet:
        print(f"recorded {len(entries)} measurements of lesson {lesson:02d} for lesson 12 in {folder}")
    return entries


def lookup(lesson: int, key: str, *, folder: Path | None = None, reference: Path | None = None) -> Entry | None:
    """The learner's own entry if recorded, else the shipped reference one, else None."""
    own = load_lesson(lesson, folder) or {}
    if key in own:
        return own[key]
    return (load_reference(lesson, reference) or {}).get(key)


# ----------------------------------------------------------------------------- the shipped reference

REFERENCE_LESSONS = (5, 6, 7, 8, 9, 10, 11, 13)


def build_reference(lessons=REFERENCE_LESSONS, out: Path | None = None, timeout_s: int = 900) -> list[Path]:
    """Run each lesson notebook in a fresh kernel, offline, with its evidence going to a scratch folder, and
    copy the files it recorded into ``out`` (the shipped ``REFERENCE_DIR``). A lesson that fails stops the
    build before anything is replaced. ``python -m course_utils evidence reference`` calls this."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    from course_utils import REPO_ROOT

    out = REFERENCE_DIR if out is None else Path(out)
    notebooks = {int(p.name[:2]): p for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    missing = [n for n in lessons if n not in notebooks]
    if missing:
        raise BadInputError(f"no lesson notebook for {missing}; lessons with one: {sorted(notebooks)}.")
    saved = {k: os.environ.get(k) for k in ("COURSE_EVIDENCE_DIR", "HF_HUB_OFFLINE")}
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(COURSE_EVIDENCE_DIR=scratch, HF_HUB_OFFLINE="1")
        try:
            for n in lessons:
                path = notebooks[n]
                print(f"running {path.name} …", flush=True)
                nb = nbformat.read(path, as_version=4)
                NotebookClient(nb, kernel_name="python3", timeout=timeout_s,
                               resources={"metadata": {"path": str(path.parent)}}).execute()
                if not _file(Path(scratch), n).exists():
                    raise CourseError(f"{path.name} ran but recorded no evidence: does it still call "
                                      f"evidence.record_many?")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        out.mkdir(parents=True, exist_ok=True)
        for n in lessons:
            written.append(Path(shutil.copy(_file(Path(scratch), n), _file(out, n))))
    return written


def main(argv: list[str]) -> int:
    """``reference [LESSON …]``: rebuild the shipped reference; ``show``: what the scorecard would read."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m course_utils evidence")
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("reference", help="run lessons 05-11 and 13 offline and write models/evidence/")
    r.add_argument("lessons", nargs="*", type=int, default=list(REFERENCE_LESSONS))
    sub.add_parser("show", help="list each lesson's evidence: yours, the reference, or none")
    args = p.parse_args(argv)
    if args.action == "reference":
        for path in build_reference(args.lessons):
            print(f"wrote {path}")
        return 0
    for n in REFERENCE_LESSONS:
        own, ref = load_lesson(n), load_reference(n)
        print(f"lesson {n:02d}: " + (f"yours ({len(own)} measurements)" if own else
                                      f"reference ({len(ref)} measurements)" if ref else "none recorded"))
    return 0
