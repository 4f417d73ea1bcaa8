"""Tokenizer explorer: type text, see it cut into coloured tokens by two tokenizers side by side.

Works with ``transformers`` tokenizers (the course tokenizer, SmolLM2's, Qwen's, ...) and with
the tokenizers of ``course_utils.bpe`` (characters, words, from-scratch BPE).
"""

from __future__ import annotations

import html

import ipywidgets as W

from course_utils.sampling import show_token
from course_utils.widgets.html import error_html

COLORS = ["#fde2a7", "#bde3f7", "#c9f0c1", "#f7c8d9", "#dcd0f5", "#f9d3b4"]
MAX_CHARS = 5000  # longer text is cut, so a pasted book cannot freeze the page


def token_pieces(tokenizer, text: str) -> list[tuple[str, int]]:
    """``[(piece, id), ...]`` whose pieces join back to ``text`` (no special tokens added).

    ``transformers`` tokenizers are cut by their character offsets; a character split into
    several byte-level tokens shows in the first of them (the others are empty).
    """
    if hasattr(tokenizer, "pieces"):
        return tokenizer.pieces(text)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    out, pos = [], 0
    for tid, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        end = max(end, pos)
        out.append((text[pos:end], tid))  # from the previous end: spaces an offset skips stay visible
        pos = end
    if out and pos < len(text):
        out[-1] = (out[-1][0] + text[pos:], out[-1][1])
    return out


def hub_tokenizers(names=("SmolLM2-135M", "Qwen2.5-0.5B")) -> tuple[dict, str]:
    """Real models' tokenizers from the hub when it answers: ``({label: tokenizer}, note)``.

    Offline (or on any failure) the dict has what could be loaded and the note says why the
    rest is missing; only the small tokenizer files are downloaded, never the weights.
    """
    from course_utils.env import check_hub
    from course_utils.loading import load_tokenizer

    hub = check_hub()
    if not hub.reachable:
        return {}, f"offline ({hub.reason}): no real model's tokenizer, only the course's own"
    out, failed = {}, []
    for name in names:
        try:
            tok = load_tokenizer(name)
        except Exception as exc:  # the hub answered but this download failed: say so, carry on
            failed.append(f"{name} ({type(exc).__name__})")
            continue
        out[f"{name} tokenizer ({len(tok):,} tokens, from the hub)"] = tok
    note = f"loaded from the hub: {', '.join(names)}" if not failed else f"could not load {', '.join(failed)}"
    return out, note


def vocab_size(tokenizer) -> int:
    n = getattr(tokenizer, "vocab_size", None)
    return len(tokenizer) if hasattr(tokenizer, "__len__") else int(n or 0)


def tokens_html(pieces: list[tuple[str, int]], show_ids: bool = False) -> str:
    """Coloured token spans; hovering shows the id (and ``show_ids`` prints it under each)."""
    spans = []
    for k, (piece, tid) in enumerate(pieces):
        color = COLORS[k % len(COLORS)]
        label = html.escape(show_token(piece))
        sub = f"<sub style='color:#666'>{tid}</sub>" if show_ids else ""
        spans.append(f"<span title='id {tid}' style='background:{color};border-radius:3px;padding:1px 2px;"
                     f"margin:1px;display:inline-block'>{label}{sub}</span>")
        if piece.endswith("\n"):
            spans.append("<br>")
    return "".join(spans)


class TokenizerExplorer:
    """Two tokenizers side by side on the same text: coloured tokens, ids, counts.

    ``tokenizers`` maps a label (say what it is, honestly) to a tokenizer; ``left`` and ``right``
    pick the labels shown first.
    """

    def __init__(self, tokenizers: dict, text: str = "The printer on floor 2 is jammed again.",
                 left: str | None = None, right: str | None = None):
        if len(tokenizers) < 1:
            raise ValueError("TokenizerExplorer needs at least one tokenizer")
        self.tokenizers = dict(tokenizers)
        labels = list(self.tokenizers)
        self.text = W.Textarea(value=text, description="text", continuous_update=False,
                               layout=W.Layout(width="95%", height="80px"))
        self.left = W.Dropdown(options=labels, value=left or labels[0], description="left")
        self.right = W.Dropdown(options=labels, value=right or labels[min(1, len(labels) - 1)],
                                description="right")
        self.show_ids = W.Checkbox(value=False, description="show ids")
        self.panes = [W.HTML(), W.HTML()]
        self.summary = W.HTML()
        self.counts: dict[str, int] = {}  # label -> number of tokens, for the last text
        for control in (self.text, self.left, self.right, self.show_ids):
            control.observe(lambda _: self.update(), names="value")
        half = W.Layout(width="49%")
        self.widget = W.VBox([self.text, W.HBox([self.left, self.right, self.show_ids]),
                              W.HBox([W.VBox([self.panes[0]], layout=half), W.VBox([self.panes[1]], layout=half)]),
                              self.summary])
        self.update()

    def update(self):
        text = self.text.value
        self.counts = {}
        if not text.strip():
            for pane in self.panes:
                pane.value = ""
            self.summary.value = error_html("The text is empty: type something to tokenize.")
            return None
        note = ""
        if len(text) > MAX_CHARS:
            text, note = text[:MAX_CHARS], f" (only the first {MAX_CHARS:,} characters are shown)"
        for pane, label in zip(self.panes, (self.left.value, self.right.value)):
            try:
                pieces = token_pieces(self.tokenizers[label], text)
            except Exception as exc:  # a third-party tokenizer failing must not kill the widget
                pane.value = f"<b>{html.escape(label)}</b><br>{error_html(str(exc))}"
                continue
            self.counts[label] = len(pieces)
            pane.value = (f"<b>{html.escape(label)}</b><br><small>{len(pieces)} tokens · "
                          f"{len(text) / max(len(pieces), 1):.2f} characters per token · vocabulary "
                          f"{vocab_size(self.tokenizers[label]):,}</small>"
                          f"<div style='font-family:monospace;line-height:1.9;margin-top:4px'>"
                          f"{tokens_html(pieces, self.show_ids.value)}</div>")
        self.summary.value = f"<small>{len(text):,} characters{note}. Hover over a token to see its id.</small>"
        return self.counts

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
