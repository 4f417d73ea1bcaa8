"""The course map as data: the README, notebook 00 and the tests all read this one list."""

from __future__ import annotations

import html
from dataclasses import dataclass

from course_utils import REPO_ROOT


@dataclass(frozen=True)
class Lesson:
    number: int
    slug: str
    title: str
    minutes: int
    hardware: str
    you_leave_knowing: str

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.number:02d}_{self.slug}.ipynb"

    @property
    def available(self) -> bool:
        return (REPO_ROOT / self.notebook).exists()


LESSONS = [
    Lesson(0, "start_here", "Start here", 15, "any (offline)",
           "how to run the course here and which models this machine gets"),
    Lesson(1, "next_token_prediction", "Next-token prediction", 55, "any (offline)",
           "an LM is a distribution over next tokens; loss, perplexity, bits/char, the entropy floor"),
    Lesson(2, "tokenization", "Tokenization", 60, "any (offline)",
           "characters vs words vs BPE; special tokens; vocabulary size vs parameters; tokens are cost"),
    Lesson(3, "self_attention", "Self-attention", 50, "any (offline)",
           "queries, keys, values; the causal mask; heads; why position matters"),
    Lesson(4, "tiny_gpt", "A tiny GPT", 60, "any (offline)",
           "a GPT is a stack of simple blocks; we rebuild one and train one"),
    Lesson(5, "scale", "Scale", 45, "any; more RAM shows bigger real configs",
           "parameters, memory, FLOPs and scaling laws, fitted on the course models"),
    Lesson(6, "arena", "The arena", 35, "any; a GPU or the hub for real large models",
           "what changes between a small and a large model, measured side by side"),
    Lesson(7, "inside_the_models", "Inside the models", 45, "any (offline)",
           "where answers form; head types; how tokenizers differ"),
    Lesson(8, "fine_tuning", "Fine-tuning", 60, "CPU works; a GPU is faster",
           "adapting a small model to a domain; full fine-tune vs LoRA; cost by size"),
    Lesson(9, "efficiency", "Efficiency and cost", 60, "any; a GPU shows more",
           "bandwidth bounds decoding; dtypes, quantization, KV cache, batching; cost per token, local vs cloud"),
    Lesson(10, "bias_and_evaluation", "Bias and evaluation", 45, "any (offline)",
           "bias comes from data, measured; contamination, test-set variance, calibration"),
    Lesson(11, "privacy_and_security", "Privacy and security", 45, "any (offline)",
           "memorisation, safe loading, local vs cloud data flow, prompt injection"),
    Lesson(12, "choosing_a_model", "Choosing a model", 30, "any (offline)",
           "how to decide, with a scorecard of common claims and the evidence"),
    Lesson(13, "small_and_large_together", "Small and large together", 45, "any (offline); the hub adds real pairs",
           "speculative decoding, a cascade, distillation and retrieval, each against its baseline"),
]


def available_lessons() -> list[Lesson]:
    """The lessons whose notebook exists in this checkout (the others are in preparation)."""
    return [lesson for lesson in LESSONS if lesson.available]


def course_map_markdown() -> str:
    rows = ["| # | lesson | time | hardware | you leave knowing |", "|---|---|---|---|---|"]
    rows += [f"| {l.number:02d} | {f'[{l.title}]({l.notebook})' if l.available else l.title + ' (in preparation)'} "
             f"| {l.minutes} min | {l.hardware} | {l.you_leave_knowing} |" for l in LESSONS]
    return "\n".join(rows)


def course_map_html() -> str:
    head = "".join(f"<th style='text-align:left'>{h}</th>"
                   for h in ("#", "lesson", "time", "hardware", "you leave knowing"))
    body = "".join(
        f"<tr><td>{l.number:02d}</td><td><b>{html.escape(l.title)}</b>"
        f"{'' if l.available else ' <i>(in preparation)</i>'}</td><td>{l.minutes} min</td>"
        f"<td>{html.escape(l.hardware)}</td><td>{html.escape(l.you_leave_knowing)}</td></tr>"
        for l in LESSONS)
    return f"<table><tr>{head}</tr>{body}</table>"
