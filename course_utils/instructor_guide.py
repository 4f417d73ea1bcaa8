"""docs/instructor.md, generated: per lesson, the planned time, the measured run time and memory, the widgets to demo
live, the predictions to collect from the room and the exercises; then the room's sizing from the measured peaks.

The numbers come from records, never typed: docs/lesson_memory.json (tools/bench_binder_memory.py: each lesson
under a 2 GB cgroup) and docs/class_server.json (tools/bench_class_server.py: learners streaming from one shared
server). The lessons' own text gives the predictions and the exercises.

    python -m course_utils instructor          # rewrite docs/instructor.md
    python -m course_utils instructor --check  # is it in sync? (a test runs this)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from course_utils import REPO_ROOT
from course_utils.class_config import LESSON_MEMORY
from course_utils.course_map import LESSONS, Lesson
from course_utils.server_load import READING_TOKENS_PER_S

GUIDE = REPO_ROOT / "docs" / "instructor.md"
CLASS_SERVER = REPO_ROOT / "docs" / "class_server.json"
WIDGET_RE = re.compile(r"\b(\w+(?:Explorer|Arena|Calculator|Guide|Generate|Plot))\(")
CLASS_SIZE = 40


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"] if path.exists() else []


def predictions(lesson: Lesson) -> list[str]:
    """The lesson's "Predict" questions, one line each (a bullet that only explains the convention is skipped)."""
    out = []
    for cell in _cells(REPO_ROOT / lesson.notebook):
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            continue
        for match in re.finditer(r"(^|\n)(- )?[^\n]*?\*\*Predict[^*]*\*\*:?", text):
            if match.group(2):
                continue
            rest = [p for p in text[match.end():].split("\n\n") if p.strip()]
            if rest:
                out.append(" ".join(rest[0].split()).strip(" :"))
    return out


def widgets(lesson: Lesson) -> list[str]:
    """The widgets the lesson builds, in order, each once: these are the cells to demo live."""
    found = []
    for cell in _cells(REPO_ROOT / lesson.notebook):
        if cell["cell_type"] == "code":
            found += [w for w in WIDGET_RE.findall("".join(cell["source"])) if w not in found]
    return found


def exercises(lesson: Lesson) -> list[str]:
    path = REPO_ROOT / "solutions" / Path(lesson.notebook).name
    return [m.group(1).strip() for cell in _cells(path) if cell["cell_type"] == "markdown"
            for m in [re.match(r"## Exercise \d+ · (.+)", "".join(cell["source"]))] if m]


def _record(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def room_sizing(memory: Path, server: dict, class_size: int = CLASS_SIZE) -> list[str]:
    """Markdown lines: per-learner limits and the class's totals (``class_config.sizing`` of the lesson-memory
    record at ``memory``), and the load test's figures."""
    from course_utils.class_config import MARGIN, sizing

    s = sizing(memory)
    if s is None:
        return ["No lesson peaks are recorded: run `python tools/bench_binder_memory.py`."]
    command = json.loads(Path(memory).read_text()).get("command", "")
    total_gb, total_cores = s.totals(class_size)
    lines = [f"The hungriest lesson, {s.hungriest}, peaked at {_mb(s.peak_bytes)} (notebook, kernel and page cache, "
             f"under a 2 GB cgroup; `{command}`). With a {MARGIN:g}× margin, give each learner a "
             f"**{s.memory_limit_gb:g} GB memory limit**. Learners rarely hit their peaks at the same moment, but "
             "size for it: a class that runs the same cell together does. `python -m course_utils classroom` writes "
             "these limits into the configuration for The Littlest JupyterHub and Zero to JupyterHub (classroom/).",
             "", f"| class of {class_size} | per learner | total |", "|---|---|---|",
             f"| memory (limit) | {s.memory_limit_gb:g} GB | {total_gb:g} GB, plus about 2 GB for the hub and the OS |",
             f"| CPU (guarantee) | {s.cpu_guarantee:g} core, limit {s.cpu_limit:g} | {total_cores:g} cores; every "
             f"lesson was measured on 2 cores, and {s.cpu_guarantee:g} core makes a lesson's compute cells up to "
             f"{2 / s.cpu_guarantee:g}× slower |", f"| torch threads | {s.threads} (`OMP_NUM_THREADS`) | |"]
    runs = server.get("runs", [])
    if runs:
        lines += ["", f"**The shared model server** (`{server.get('command', '')}`, {server.get('cpu_cores', '?')} CPU "
                      "cores shared by the server and the learners' clients; each learner streams one answer):", "",
                  "| model | learners at once | time to first token p50 / p95 | tokens/s per learner | tokens/s in "
                  "total | errors | still serving after hang-ups | learners per server core at reading speed |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in runs:
            lines.append(f"| {r['model']} | {r['learners']} | {r['ttft_p50_s']:.2f} / {r['ttft_p95_s']:.2f} s | "
                         f"{r['tokens_per_s_per_learner']:.1f} | {r['tokens_per_s_total']:.1f} | {r['errors']} | "
                         f"{'yes' if r['still_serving'] else 'NO'} | {r['learners_per_core']:.1f} |")
        lines += ["", f"Reading speed is taken as {READING_TOKENS_PER_S:g} tokens/s (about 250 words a minute). The "
                      f"rule: learners per server core = total tokens/s ÷ {READING_TOKENS_PER_S:g} ÷ cores. For a GPU, measure the same way with vLLM "
                      "(`python -m course_utils loadtest URL MODEL --clients 40`)."]
    return lines


def guide() -> str:
    memory, server = _record(LESSON_MEMORY), _record(CLASS_SERVER)
    measured = memory.get("lessons", {})
    out = ["# Instructor's guide", "",
           "*Generated by `python -m course_utils instructor` from the lessons and the measurement records "
           "(docs/lesson_memory.json, docs/class_server.json); edit those, not this file.*", "",
           "## Before class", "",
           "1. **Pin the models.** On one machine with the hub: `python -m course_utils download --tier laptop-cpu` "
           "(or `--tier binder`, or `--models …`). Commit the `models.lock` it writes to the class's copy of the "
           "course, so every machine loads the same commits.",
           "2. **Fill the room's caches.** Either every learner runs `python -m course_utils download --models …` as "
           "the lock lists, or one machine serves its cache to the room: `python -m course_utils hub serve --host "
           "0.0.0.0`, and learners `export HF_ENDPOINT=http://THAT-MACHINE:8090` before starting Jupyter.",
           "3. **Check every machine.** `python -m course_utils doctor --class --server URL --lessons 06 13` prints one "
           "screen: install, course models, the locked models in the cache, memory against today's lessons' measured "
           "peaks, the hub, the class server. Each ✗ line says what to do.",
           "4. **Start the class server** for the arena's remote side: `transformers serve PATH --host 0.0.0.0 --port "
           "8000` on a CPU machine (sizing below), or `vllm serve MODEL` on a GPU. Check it under load with "
           "`python -m course_utils loadtest http://HOST:8000/v1 MODEL --clients 40`.", "",
           "## Plan B: no network at all", "",
           "Every lesson runs offline by design: the course's own models (course-tiny to course-large) and the "
           "generated corpus ship in `models/`. Set `HF_HUB_OFFLINE=1` (or just lose the network): hub models that "
           "are cached still load; the rest are replaced by the course model of the same role, and one line says so. "
           "The online cells (real SmolLM2 pairs, hub tokenizers, template probes) print that they are skipped. "
           "Lesson 12's verdicts use the learner's own evidence, or the shipped reference runs where a lesson was "
           "skipped.", "",
           "## Common failures and their fixes", "",
           "| what the learner sees | cause | fix |", "|---|---|---|",
           "| `ModelTooLargeError: … needs about … Try …` | the model does not fit this machine's free memory | take "
           "the model it names, or `dtype='bfloat16'`; close other notebooks (each kernel holds its models) |",
           "| `Offline (…): X is not cached here, so the course model … stands in` | no hub and no cached copy | "
           "fine for the lesson; for the real model, fill the cache (Before class, 2) |",
           "| `The hub did not answer within … s` | wifi too slow for the hub | use the room's hub (`hub serve`) "
           "or the cache; the course model stands in meanwhile |",
           "| `GatedModelError` | the model needs a licence click-through | accept it on the hub while logged in, "
           "`hf auth login` (never paste a token into a notebook), or pick the ungated model it names |",
           "| `UnsafeWeightsError` | the repository has only pickle weights | choose another model; the course loads "
           "safetensors only |",
           "| the kernel dies (no message) | out of memory outside the course's guard (several kernels open) | "
           "Kernel → Shut Down All Kernels, reopen one lesson |",
           "| widgets do not show | the notebook opened in an old frontend, or widgets not trusted | JupyterLab 4, "
           "File → Trust Notebook, re-run the cell; on Colab the course installs the widgets Colab supports |",
           "| the arena's remote side errors | class server down or wrong address | `doctor --class --server URL` "
           "names the problem |", "",
           "## The room", ""]
    out += room_sizing(LESSON_MEMORY, server)
    out += ["", "## Lesson by lesson", "",
            "Planned time is the lesson's own estimate; *run time* and *peak* are the notebook run top to bottom, "
            "offline, in a fresh kernel on 2 CPU cores under a 2 GB cgroup (what the learner's machine does when "
            "they press Run All, not the teaching time).", ""]
    for lesson in LESSONS:
        stem = Path(lesson.notebook).stem
        m = measured.get(stem)
        figures = (f"run time {m['wall_s']:.0f} s, peak {_mb(m['peak_bytes'])}" if m else "not measured yet")
        out += [f"### {lesson.number:02d} · {lesson.title} — {lesson.minutes} min planned; {figures}", "",
                f"*You leave knowing:* {lesson.you_leave_knowing}. Hardware: {lesson.hardware}.", ""]
        shown = widgets(lesson)
        out.append("**Demo live** (on the projector, while the room predicts): "
                   + (", ".join(f"`{w}`" for w in shown) if shown else "the plots; this lesson has no widget") + ". "
                   "Leave the measuring cells that take longer than a minute to the learners' own machines.")
        asked = predictions(lesson)
        if asked:
            out += ["", "**Predictions to collect** (a show of hands or a shared sheet, before the cell runs):", ""]
            out += [f"{i}. {q}" for i, q in enumerate(asked, 1)]
        tasks = exercises(lesson)
        if tasks:
            out += ["", "**Exercises** (exercises/, hints with `hint(1)`, `hint(2)`): " + "; ".join(tasks) + "."]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = guide()
    if argv[:1] == ["--check"]:
        same = GUIDE.exists() and GUIDE.read_text() == text
        print("docs/instructor.md is in sync" if same else
              "docs/instructor.md is out of date: run `python -m course_utils instructor`")
        return 0 if same else 1
    GUIDE.write_text(text)
    print(f"wrote {GUIDE.relative_to(REPO_ROOT)}")
    return 0
