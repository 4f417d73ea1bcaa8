"""``python -m course_utils doctor --class``: is this learner's machine ready for today's class? One screen, one
line per check, and for each problem what to do.

It checks the install, the course models, the models the class's ``models.lock`` names (in the hub cache, at
the locked commit, unaltered), memory against the largest peak the lessons were measured at
(docs/lesson_memory.json, written by tools/bench_binder_memory.py), the model hub, and the class's shared model
server (``--server URL`` or ``COURSE_CLASS_SERVER``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.class_config import LESSON_MEMORY  # one record, written by tools/bench_binder_memory.py
from course_utils.env import human_bytes

SERVER_VAR = "COURSE_CLASS_SERVER"
MARGIN = 1.2  # the measured peak, plus room for the browser tab and the OS


@dataclass
class Check:
    name: str
    ok: bool
    detail: str  # what was found; for a problem, also what to do


@dataclass
class RoomReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ready(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = ["Room check: is this machine ready for today's class?", "=" * 52]
        lines += [f"{'✓' if c.ok else '✗'} {c.name:<13} {c.detail}" for c in self.checks]
        lines.append("")
        lines.append("READY for class." if self.ready else
                     f"NOT READY: {len(self.problems)} problem(s) above, each with what to do.")
        return "\n".join(lines)


def lesson_peaks(path: Path = LESSON_MEMORY, lessons: list[str] | None = None) -> dict[str, int]:
    """{lesson: measured peak bytes} from the record (only ``lessons`` whose names start with the given numbers)."""
    if not path.is_file():
        return {}
    record = json.loads(path.read_text())["lessons"]
    return {name: int(r["peak_bytes"]) for name, r in record.items()
            if r.get("result") == "passed" and (not lessons or name.split("_")[0] in lessons)}


def _memory_check(available: int, peaks: dict[str, int]) -> Check:
    if not peaks:
        return Check("memory", True, f"{human_bytes(available)} available (no measured lesson peaks to compare)")
    lesson, peak = max(peaks.items(), key=lambda kv: kv[1])
    need = int(peak * MARGIN)
    if available >= need:
        return Check("memory", True, f"{human_bytes(available)} available; the hungriest lesson ({lesson}) peaked "
                                     f"at {human_bytes(peak)}")
    short = [name for name, p in peaks.items() if p * MARGIN > available]
    return Check("memory", False, f"{human_bytes(available)} available, but {', '.join(sorted(short))} peaked at up "
                                  f"to {human_bytes(peak)}: close other programs (browser tabs too) or use the "
                                  "class server / Binder for those lessons")


def _lock_checks() -> list[Check]:
    from course_utils import model_lock

    path = model_lock.lock_path()
    lock = model_lock.read_lock()
    if not lock:
        return [Check("models.lock", False, f"none at {path}: ask your instructor for the class's models.lock (or set "
                                            f"{model_lock.LOCK_PATH_VAR}), then run `python -m course_utils download "
                                            "--models …` as it says")]
    problems = model_lock.check()
    checks = [Check("model", False, f"{p.hub_id}: {p.problem}") for p in problems]
    bad = {p.hub_id for p in problems}
    ok = [entry["name"] for hub_id, entry in lock.items() if hub_id not in bad]
    if ok:
        checks.insert(0, Check("models", True, f"{len(ok)} of {len(lock)} locked model(s) cached as locked: "
                                                f"{', '.join(ok)}"))
    return checks


def _server_check(url: str | None) -> Check | None:
    if not url:
        return None
    import httpx

    base = url.rstrip("/")
    try:
        response = httpx.get(base + "/models", timeout=3.0)
        response.raise_for_status()
        names = [m.get("id", "?") for m in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError) as exc:
        return Check("class server", False, f"{base} does not answer ({type(exc).__name__}): check the address with "
                                            "your instructor and that you are on the room's network")
    return Check("class server", True, f"{base} answers; serving {', '.join(names[:3]) or 'no model listed'}")


def check_room(server: str | None = None, lessons: list[str] | None = None,
               memory_record: Path = LESSON_MEMORY) -> RoomReport:
    """Every check of ``doctor --class``; ``lessons`` (e.g. ["06", "13"]) limits the memory check to today's."""
    from course_utils.doctor import diagnose

    doctor = diagnose(check_hub=True)
    report = RoomReport()
    add = report.checks.append
    if doctor.broken:
        add(Check("install", False, f"{', '.join(doctor.broken)} fail to import: run `pip install -r requirements.txt "
                                    "-e .` in the course folder"))
    else:
        add(Check("install", True, f"torch {doctor.versions['torch']}, transformers {doctor.versions['transformers']}"))
    course_missing = [m for m in doctor.missing if "course models" in m]
    add(Check("course models", not course_missing, course_missing[0] if course_missing else "present in models/"))
    report.checks += _lock_checks()
    add(_memory_check(doctor.machine.ram_available_bytes, lesson_peaks(memory_record, lessons)))
    hub = doctor.machine.hub
    add(Check("model hub", True, f"{'reachable' if hub.reachable else 'offline'}: {hub.reason}"
              + ("" if hub.reachable else " (fine if the locked models are cached; the offline lessons need none)")))
    server_check = _server_check(server or os.environ.get(SERVER_VAR))
    if server_check is not None:
        add(server_check)
    return report


def run_room_check(server: str | None = None, lessons: list[str] | None = None) -> int:
    report = check_room(server, lessons)
    print(report.text())
    return 0 if report.ready else 1
