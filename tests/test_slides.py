"""Slides: each lesson's slide metadata follows the rule (so RISE shows sections, predictions and their answers),
and the export is self-contained (the browser test opens it with the network refused)."""

import json
import re

from course_utils import REPO_ROOT, slides


def _cell(kind, text, **extra):
    return {"cell_type": kind, "source": [text], "metadata": {}, **extra}


def test_the_rule_makes_sections_slides_and_lets_the_room_predict_before_the_answer():
    nb = {"cells": [_cell("markdown", "badges", id="launch-badges"), _cell("code", "# bootstrap"),
                    _cell("markdown", "# 03 · Title"), _cell("markdown", "## 1. A section"),
                    _cell("markdown", "Some text"), _cell("markdown", "**Predict:** how big?"),
                    _cell("code", "print(answer)"), _cell("code", "more()"), _cell("markdown", "### Details"),
                    _cell("code", "record()", id="l03-evidence")]}
    kinds = [c["metadata"]["slideshow"]["slide_type"] for c in slides.with_slide_metadata(nb)["cells"]]
    assert kinds == ["skip", "skip", "slide", "slide", "-", "subslide", "fragment", "-", "subslide", "skip"]


def test_every_lesson_carries_the_slide_metadata_of_the_rule():
    assert slides.sync(check_only=True) == []  # `python -m course_utils slides sync` after editing a lesson
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        kinds = [c["metadata"]["slideshow"]["slide_type"] for c in cells]
        assert kinds.count("slide") >= 3, path.name  # the title and the sections
        assert kinds[0] == "skip" or cells[0].get("id") != "launch-badges"


def test_the_export_loads_nothing_from_the_network(tmp_path):
    html = slides.export("03", tmp_path)
    text = html.read_text()
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', text)
    assert refs and all(not r.startswith(("http:", "https:", "//")) for r in refs if not r.startswith("data:")), refs
    local = [r for r in refs if not r.startswith("data:")]
    assert all((tmp_path / r).is_file() for r in local), local
    for css in tmp_path.rglob("*.css"):
        assert not re.search(r"@import\s+url\((['\"]?)https?:", css.read_text()), css
    assert "cdn" not in " ".join(local).lower() and "mathjax" not in text.lower().split("<body")[0]


def test_an_unknown_lesson_is_refused_with_the_list():
    import pytest

    from course_utils.errors import BadInputError

    with pytest.raises(BadInputError, match="No lesson '99'.*00_start_here"):
        slides.export("99", REPO_ROOT / "unused")
