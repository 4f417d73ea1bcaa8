"""Small HTML pieces the widgets share. Every text is escaped: it may quote the learner's input,
a model's output or an exception's message."""

from __future__ import annotations

from html import escape


def error_html(message: str) -> str:
    """A message in red with a warning sign."""
    return f"<span style='color:#b00'>⚠ {escape(str(message))}</span>"
