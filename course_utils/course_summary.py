"""A one-page course summary in the learner's numbers: what each lesson measured, the scorecard, and a few plots,
exportable as one standalone HTML file (plots embedded as PNG data, no CDN, no script) to keep or hand in.

    page = build_summary()                 # evidence: yours, else the shipped reference, and it says which
    page.save(default_path())              # in your evidence folder; open it in any browser, offline
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.errors import BadInputError

LESSON_FOCUS = {5: "Scale", 6: "The arena", 7: "Inside the models", 8: "Fine-tuning", 9: "Efficiency and cost",
                10: "Bias and evaluation", 11: "Privacy and security", 13: "Small and large together"}


def _fmt(value) -> str:
    """A recorded value as a short readable string."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return f"{len(value)} rows"
    return str(value)


@dataclass
class Figure:
    title: str
    png: bytes


@dataclass
class CourseSummary:
    created: str
    sources: dict  # lesson -> "yours" / "reference" / "none"
    lessons: dict  # lesson -> [(key, formatted value, source)]
    verdicts: list
    figures: list[Figure] = field(default_factory=list)

    def to_html(self) -> str:
        e = html.escape
        out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
               "<title>Small vs Large Language Models: my course summary</title>",
               "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
               "td,th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}"
               ".ref{color:#777}.verdict{font-weight:bold}img{max-width:100%}</style></head><body>",
               "<h1>Small vs Large Language Models: course summary</h1>",
               f"<p>Made {e(self.created)}. Evidence per lesson: "
               + ", ".join(f"{n:02d} {e(s)}" for n, s in self.sources.items())
               + ". <span class='ref'>Grey</span> figures are the course's reference run, not yours.</p>",
               "<h2>The scorecard</h2><table><tr><th>claim</th><th>verdict</th><th>why</th><th>evidence</th></tr>"]
        for v in self.verdicts:
            cond = f": {e(v.condition)}" if v.condition else ""
            out.append(f"<tr><td>{e(v.claim.text)}</td><td class='verdict'>{e(v.verdict)}{cond}</td>"
                       f"<td>{e(v.reasoning)}</td><td>{e(v.sources)}</td></tr>")
        out.append("</table><h2>What each lesson measured</h2>")
        for n, rows in self.lessons.items():
            out.append(f"<h3>{n:02d} · {e(LESSON_FOCUS.get(n, ''))} <small>({e(self.sources.get(n, 'none'))})</small></h3>")
            if not rows:
                out.append("<p>Not recorded yet: run the lesson to the end.</p>")
                continue
            out.append("<table>" + "".join(
                f"<tr{'' if src == 'yours' else ' class=ref'}><td>{e(key)}</td><td>{e(text)}</td></tr>"
                for key, text, src in rows) + "</table>")
        if self.figures:
            out.append("<h2>Plots</h2>")
            for f in self.figures:
                data = base64.b64encode(f.png).decode("ascii")
                out.append(f"<h3>{e(f.title)}</h3><img alt='{e(f.title)}' src='data:image/png;base64,{data}'>")
        out.append("</body></html>")
        return "\n".join(out)

    def save(self, path) -> Path:
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise BadInputError(f"{path.name}: save the summary as a .html file, e.g. 'my_course_summary.html'.")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


def default_path() -> Path:
    """Where lesson 12 saves the summary: in the learner's evidence folder (user-writable, outside the course)."""
    from course_utils.evidence import evidence_dir

    return evidence_dir() / "course_summary.html"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def summary_figures(ev) -> list[Figure]:
    """The plots the summary embeds, each drawn only if its evidence exists: bits/char up the ladder against
    the floor (05), pronoun skew against the data (10), quantization cost by bits (09)."""
    import matplotlib.pyplot as plt

    from course_utils.scorecard import MissingEvidence

    figs = []
    try:
        bpc, params, floor = ev.value(5, "val_bpc"), ev.value(5, "params"), ev.value(5, "floor_bpc")
        fig, ax = plt.subplots(figsize=(5, 3.2))
        names = sorted(bpc, key=params.get)
        ax.plot([params[n] for n in names], [bpc[n] for n in names], "o-", label="course models")
        ax.axhline(floor, color="k", ls="--", label=f"entropy floor {floor:.3f}")
        ax.set(xscale="log", xlabel="parameters", ylabel="bits/char", title="Lesson 05: loss against size")
        ax.legend()
        figs.append(Figure("Loss against size, with the floor (lesson 05)", _png(fig)))
    except MissingEvidence:
        pass
    try:
        skew, data = ev.value(10, "general_skew"), ev.value(10, "data_general_skew")
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.bar([n.removeprefix("course-") for n in skew], list(skew.values()), color="tab:purple")
        ax.axhline(data, color="k", ls="--", label=f"the data {data:.2f}")
        ax.axhline(0.5, color="grey", ls=":", label="no skew 0.50")
        ax.set(ylabel="skew (stereotyped pronoun's share)", ylim=(0.4, 1), title="Lesson 10: skew against the data")
        ax.legend()
        figs.append(Figure("Pronoun skew of each model against its data (lesson 10)", _png(fig)))
    except MissingEvidence:
        pass
    try:
        sweep = ev.value(9, "quantized_bpc_change")
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for model, by_bits in sweep.items():
            bits = sorted((b for b in by_bits if int(b) < 16), key=int)  # 32: the full-precision baseline itself
            ax.plot([int(b) for b in bits], [100 * by_bits[b] for b in bits], "o-", label=model)
            ax.set_xticks([int(b) for b in bits])
        ax.set(xlabel="bits per weight", ylabel="bits/char change (%)", yscale="symlog",
               title="Lesson 09: what quantization costs")
        ax.legend()
        figs.append(Figure("Quantization cost by bit width (lesson 09)", _png(fig)))
    except MissingEvidence:
        pass
    return figs


def build_summary(ev=None, verdicts=None, *, figures: bool = True, today: str | None = None) -> CourseSummary:
    """The summary from the evidence ``ev`` (default: own, else reference) and the scorecard ``verdicts``."""
    from course_utils import evidence
    from course_utils.scorecard import Evidence, scorecard

    ev = ev or Evidence()
    lessons = {}
    for n in evidence.REFERENCE_LESSONS:  # a lesson's figures all come from one run: yours, or else the reference
        _, entries = ev.lesson(n)
        lessons[n] = [(k, _fmt(e.value) + (f" {e.unit}" if e.unit else ""), e.source) for k, e in entries.items()]
    return CourseSummary(created=today or _dt.date.today().isoformat(), sources=ev.sources(), lessons=lessons,
                         verdicts=verdicts if verdicts is not None else scorecard(ev),
                         figures=summary_figures(ev) if figures else [])
