"""The decision guide as a widget: the task's needs in, ``decision_guide.recommend``'s answer out, after every change.

    guide = DecisionGuide()                   # evidence: yours, else the shipped reference
    guide.privacy.value = "must stay on the machine"
    guide.recommendation.conflicts            # what the notebook and the tests read
"""

from __future__ import annotations

import html

import ipywidgets as W
from IPython.display import display

from course_utils.decision_guide import BREADTHS, HARDWARE, Needs, recommend
from course_utils.errors import CourseError
from course_utils.widgets.html import error_html

_STYLE = {"description_width": "initial"}
DATA_OPTIONS = {"none": 0, "tens (30)": 30, "hundreds (300)": 300, "thousands (2,000)": 2000, "many (20,000)": 20000}
SPEED_OPTIONS = {"no one waits (batch jobs)": 0.0, "reading speed (5 tokens/s)": 5.0, "fast chat (20 tokens/s)": 20.0,
                 "instant (60 tokens/s)": 60.0}
PRIVACY_OPTIONS = ("may leave the machine", "must stay on the machine")
_KIND_TITLES = (("conflict", "Conflicts: these inputs cannot all be met"), ("size", "Why this size"),
                ("models", "Models"), ("cost", "Cost"), ("try", "Try first"), ("both", "Use both: small and large together"),
                ("measure", "Measure before deciding"),
                ("note", "Notes"))


class DecisionGuide:
    """Dropdowns for breadth, domain data, speed, privacy and hardware, a volume box, a documents checkbox; ``recommendation`` and the
    HTML answer update after each change. ``ev``: a ``scorecard.Evidence`` (default: own, else reference)."""

    def __init__(self, ev=None, *, needs: Needs | None = None):
        from course_utils.scorecard import Evidence

        self.ev = ev or Evidence()
        n = needs or Needs()
        data_label = min(DATA_OPTIONS, key=lambda k: abs(DATA_OPTIONS[k] - n.domain_examples))
        speed_label = min(SPEED_OPTIONS, key=lambda k: abs(SPEED_OPTIONS[k] - n.min_tokens_per_s))
        self.breadth = W.Dropdown(options=list(BREADTHS), value=n.breadth, description="task", style=_STYLE)
        self.data = W.Dropdown(options=list(DATA_OPTIONS), value=data_label, description="domain examples",
                               style=_STYLE)
        self.speed = W.Dropdown(options=list(SPEED_OPTIONS), value=speed_label, description="speed per user",
                                style=_STYLE)
        self.volume = W.FloatLogSlider(value=max(n.tokens_per_month, 1e5), base=10, min=5, max=11, step=0.25,
                                       description="tokens / month", style=_STYLE, readout_format=".2g",
                                       layout=W.Layout(width="420px"))
        self.privacy = W.Dropdown(options=list(PRIVACY_OPTIONS), description="data",
                                  value=PRIVACY_OPTIONS[0 if n.data_may_leave else 1], style=_STYLE)
        self.hardware = W.Dropdown(options=list(HARDWARE), value=n.hardware, description="hardware", style=_STYLE)
        self.documents = W.Checkbox(value=n.answers_in_documents, description="the answers are in documents "
                                    "(manuals, records, mail)", style=_STYLE, indent=False)
        self.answer = W.HTML()
        self.recommendation = None
        self.error = None
        for control in self.controls:
            control.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([W.HBox([self.breadth, self.data]), W.HBox([self.speed, self.privacy]),
                              W.HBox([self.volume, self.hardware]), self.documents, self.answer])
        self.update()

    @property
    def controls(self):
        return (self.breadth, self.data, self.speed, self.volume, self.privacy, self.hardware, self.documents)

    def needs(self) -> Needs:
        return Needs(breadth=self.breadth.value, domain_examples=DATA_OPTIONS[self.data.value],
                     min_tokens_per_s=SPEED_OPTIONS[self.speed.value], tokens_per_month=float(self.volume.value),
                     data_may_leave=self.privacy.value == PRIVACY_OPTIONS[0], hardware=self.hardware.value,
                     answers_in_documents=bool(self.documents.value))

    def update(self) -> None:
        try:
            self.recommendation, self.error = recommend(self.needs(), self.ev), None
        except CourseError as exc:
            self.recommendation, self.error = None, str(exc)
            self.answer.value = error_html(exc)
            return
        self.answer.value = recommendation_html(self.recommendation)

    def _ipython_display_(self):
        display(self.widget)


def recommendation_html(rec) -> str:
    """The recommendation as HTML (every text escaped), conflicts first and in red."""
    head = (f"<b>{html.escape(rec.size_class)} class</b>, "
            f"{'on your own hardware' if rec.deployment == 'local' else 'at an endpoint'}"
            + (f": {html.escape(', '.join(rec.models))}" if rec.models else ""))
    if rec.monthly_usd:
        head += "<br>monthly, at example prices: " + ", ".join(f"{html.escape(k)} ≈ ${v:,.0f}"
                                                                for k, v in rec.monthly_usd.items())
    parts = [f"<p>{head}</p>"]
    for kind, title in _KIND_TITLES:
        items = rec.of(kind)
        if items:
            color = " style='color:#b00'" if kind == "conflict" else ""
            parts.append(f"<b{color}>{html.escape(title)}</b><ul>" + "".join(
                f"<li{color}>{html.escape(f.text)}"
                + (f" <small>[scorecard: {html.escape(', '.join(f.cites))}]</small>" if f.cites else "") + "</li>"
                for f in items) + "</ul>")
    return "".join(parts)
