"""docs/instructor.md is generated from the lessons and the measurement records, and kept in sync."""

import json

from course_utils import instructor_guide as g
from course_utils.course_map import LESSONS


def test_the_guide_is_in_sync_with_the_lessons_and_the_records():
    assert g.GUIDE.read_text() == g.guide(), "run `python -m course_utils instructor`"


def test_every_lesson_has_its_measured_figures_its_predictions_and_its_exercises():
    text = g.guide()
    memory = json.loads(g.LESSON_MEMORY.read_text())["lessons"]
    for lesson in LESSONS:
        stem = f"{lesson.number:02d}_{lesson.slug}"
        assert f"### {lesson.number:02d} · {lesson.title} — {lesson.minutes} min planned; run time " \
               f"{memory[stem]['wall_s']:.0f} s, peak {memory[stem]['peak_bytes'] / 1e6:,.0f} MB" in text
        for question in g.predictions(lesson):
            assert question in text
    assert len(g.predictions(LESSONS[6])) >= 3 and "ArenaRun" not in g.widgets(LESSONS[6])
    assert g.exercises(LESSONS[13]) == ["The accept/reject loop (medium)", "A cascade threshold, tuned and tested "
                                        "(medium)", "The distillation loss (easy)"]


def test_the_room_is_sized_from_the_hungriest_measured_lesson(tmp_path):
    memory = tmp_path / "lesson_memory.json"
    memory.write_text(json.dumps({"command": "x", "lessons": {"a": {"peak_bytes": 1_600_000_000},
                                                              "b": {"peak_bytes": 900_000_000}}}))
    lines = "\n".join(g.room_sizing(memory, {}, class_size=40))
    assert "a, peaked at 1,600 MB" in lines and "**2 GB memory limit**" in lines  # 1.6 GB × 1.25, rounded up
    assert "| memory (limit) | 2 GB | 80 GB" in lines and "| CPU (guarantee) | 0.5 core, limit 2 | 20 cores" in lines
    assert g.room_sizing(tmp_path / "none.json", {}) == [
        "No lesson peaks are recorded: run `python tools/bench_binder_memory.py`."]
