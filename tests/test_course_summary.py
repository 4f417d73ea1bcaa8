"""The one-page course summary: the learner's numbers, whose they are, and a standalone HTML file."""

import base64
import re

import pytest

from course_utils.course_summary import build_summary
from course_utils.errors import BadInputError
from course_utils.scorecard import Evidence
from evidence_samples import write_sample


def test_summary_html_is_standalone_with_embedded_plots(tmp_path):
    write_sample(tmp_path / "own")
    page = build_summary(Evidence(folder=tmp_path / "own", reference=tmp_path / "none"), today="2026-12-02")
    path = page.save(tmp_path / "summary.html")
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", text)  # nothing fetched from anywhere
    assert "<script" not in text and "<link" not in text
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 3
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    assert "holds under conditions" in text and "0.665" in text  # a verdict and a lesson 10 figure
    assert "2026-12-02" in text


def test_summary_marks_reference_figures_and_unrun_lessons(tmp_path):
    write_sample(tmp_path / "own", lessons=(10,))
    write_sample(tmp_path / "ref", lessons=(5, 9))
    page = build_summary(Evidence(folder=tmp_path / "own", reference=tmp_path / "ref"), figures=False)
    assert page.sources[10] == "yours" and page.sources[5] == "reference" and page.sources[11] == "none"
    assert {src for _, _, src in page.lessons[5]} == {"reference"}
    html = page.to_html()
    assert "class=ref" in html and "Not recorded yet" in html
    with pytest.raises(BadInputError, match=".html"):
        page.save(tmp_path / "summary.pdf")
