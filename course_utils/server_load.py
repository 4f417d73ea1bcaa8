"""A class at once on one shared model server: many learners stream answers from the same OpenAI-compatible
endpoint (``transformers serve`` on a CPU, vLLM on a GPU), and this measures what each of them sees.

``run_load`` starts ``clients`` learners together (threads, each streaming one answer through
``course_utils.remote.stream_text``), lets ``drop`` of them hang up mid-answer, as a closed laptop does, and
then checks that the server still answers. The report gives time to first token (p50/p95), tokens/s per learner
and in total, and the errors. Everything is bounded: one request per learner, and a deadline for the whole run.

    python -m course_utils loadtest http://127.0.0.1:8000/v1 MODEL --clients 20
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.errors import BadInputError
from course_utils.generation import GenerationSettings
from course_utils.remote import Endpoint, EndpointError, stream_text

READING_TOKENS_PER_S = 5.0  # an answer that streams this fast keeps up with a reader (about 250 words a minute)
PROMPTS = ("The weather today", "Ticket 12: my password", "Mix the flour with", "Once upon a time",
           "The nurse said that", "Review: this toaster")


@dataclass
class StreamRecord:
    """One learner's request."""

    client: int
    ttft_s: float | None = None  # time to the first streamed piece
    seconds: float = 0.0  # to the end of the answer (or the hang-up)
    tokens: int = 0  # streamed pieces (the server's count when it sends one)
    dropped: bool = False  # hung up on purpose, mid-answer
    error: str | None = None

    @property
    def tokens_per_s(self) -> float:
        """What this learner saw: tokens over the whole request, the wait for the first one included."""
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class LoadReport:
    endpoint: str
    records: list[StreamRecord]
    wall_s: float
    max_tokens: int
    after_drops: StreamRecord | None = None  # a request sent once every learner is done
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> list[StreamRecord]:
        return [r for r in self.records if r.error is None and not r.dropped]

    @property
    def errors(self) -> list[StreamRecord]:
        return [r for r in self.records if r.error is not None]

    def ttft_percentile(self, q: float) -> float | None:
        times = sorted(r.ttft_s for r in self.records if r.ttft_s is not None and r.error is None)
        if not times:
            return None
        return times[min(len(times) - 1, max(0, round(q / 100 * len(times)) - 1))]

    @property
    def total_tokens_per_s(self) -> float:
        return sum(r.tokens for r in self.records if r.error is None) / self.wall_s if self.wall_s else 0.0

    @property
    def tokens_per_s_per_learner(self) -> float:
        speeds = [r.tokens_per_s for r in self.completed if r.tokens_per_s]
        return statistics.median(speeds) if speeds else 0.0

    @property
    def still_serving(self) -> bool:
        return self.after_drops is not None and self.after_drops.error is None and self.after_drops.tokens > 0

    def summary(self) -> dict:
        p50, p95 = self.ttft_percentile(50), self.ttft_percentile(95)
        return {"learners": len(self.records), "completed": len(self.completed),
                "dropped": sum(r.dropped for r in self.records), "errors": len(self.errors),
                "ttft p50 (s)": p50, "ttft p95 (s)": p95,
                "tokens/s per learner (median)": self.tokens_per_s_per_learner,
                "tokens/s in total": self.total_tokens_per_s, "wall (s)": self.wall_s,
                "still serving after the drops": self.still_serving}

    def text(self) -> str:
        s = self.summary()
        fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
        lines = [f"{s['learners']} learners streaming up to {self.max_tokens} tokens each from {self.endpoint}:",
                 f"  completed {s['completed']}, hung up mid-answer {s['dropped']}, errors {s['errors']}",
                 f"  time to first token: p50 {fmt(s['ttft p50 (s)'])} s, p95 {fmt(s['ttft p95 (s)'])} s",
                 f"  tokens/s: {s['tokens/s per learner (median)']:.1f} per learner (median), "
                 f"{s['tokens/s in total']:.1f} in total, over {s['wall (s)']:.1f} s",
                 f"  after the hang-ups the server {'still answers' if self.still_serving else 'does NOT answer'}"]
        lines += [f"  error: {r.error}" for r in self.errors[:3]]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def learners_per_core(report: LoadReport, server_cores: int, reading_tokens_per_s: float = READING_TOKENS_PER_S,
                      ) -> float:
    """How many learners streaming at once one server core keeps at reading speed, from the measured total."""
    return report.total_tokens_per_s / reading_tokens_per_s / max(1, server_cores)


def _one(ep: Endpoint, prompt: str, settings: GenerationSettings, record: StreamRecord, start: threading.Event,
         drop_after: int | None) -> None:
    stop = threading.Event()
    start.wait()
    began = time.perf_counter()
    try:
        for kind, value in stream_text(ep, prompt, settings, stop=stop):
            if kind == "text":
                if record.ttft_s is None:
                    record.ttft_s = time.perf_counter() - began
                record.tokens += 1
                if drop_after is not None and record.tokens >= drop_after:
                    record.dropped = True
                    stop.set()  # the connection is shut down now, mid-answer
            elif kind == "usage" and value and not record.dropped:
                record.tokens = int(value)
    except EndpointError as exc:
        record.error = str(exc)
    record.seconds = time.perf_counter() - began


def run_load(ep: Endpoint, *, clients: int = 20, max_tokens: int = 32, drop: int = 0, drop_after: int = 4,
             deadline_s: float = 300.0, prompts: tuple[str, ...] = PROMPTS) -> LoadReport:
    """``clients`` learners stream one answer each, all at once; ``drop`` of them hang up after ``drop_after``
    tokens. Then one more request checks the server still answers."""
    if not 1 <= clients <= 500:
        raise BadInputError(f"clients must be between 1 and 500 (got {clients}).")
    if not 0 <= drop <= clients:
        raise BadInputError(f"drop must be between 0 and the number of clients ({clients}); got {drop}.")
    if not 1 <= max_tokens <= 4096:
        raise BadInputError(f"max_tokens must be between 1 and 4096 (got {max_tokens}).")
    settings = GenerationSettings(max_new_tokens=max_tokens, temperature=0.0)
    start = threading.Event()
    records = [StreamRecord(client=i) for i in range(clients)]
    threads = [threading.Thread(target=_one, args=(ep, prompts[i % len(prompts)], settings, records[i], start,
                                                   drop_after if i < drop else None),
                                daemon=True, name=f"learner-{i}") for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    start.set()
    notes = []
    for t in threads:
        t.join(max(0.0, deadline_s - (time.perf_counter() - began)))
    wall = time.perf_counter() - began
    for r, t in zip(records, threads):
        if t.is_alive():
            r.error = r.error or f"no answer within the run's deadline of {deadline_s:g} s"
    if any(t.is_alive() for t in threads):
        notes.append(f"the run stopped at its deadline ({deadline_s:g} s) with learners still waiting")
    after = StreamRecord(client=-1)
    _one(ep, prompts[0], GenerationSettings(max_new_tokens=4, temperature=0.0), after, _set(), None)
    return LoadReport(ep.label, records, wall, max_tokens, after, notes)


def _set() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@contextlib.contextmanager
def transformers_serve(model_path: str | Path, port: int, *, dtype: str = "float32", start_timeout_s: float = 90.0,
                       extra_args: tuple[str, ...] = ()):
    """``transformers serve`` for ``model_path`` on 127.0.0.1:``port``, offline, stopped on exit; yields the
    base URL (``http://127.0.0.1:PORT/v1``) once ``/health`` answers. Raises EndpointError if it does not start."""
    import httpx

    cli = os.path.join(os.path.dirname(sys.executable), "transformers")
    proc = subprocess.Popen([cli, "serve", str(model_path), "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", "--dtype", dtype, *extra_args],
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    try:
        while True:
            if proc.poll() is not None:
                raise EndpointError("transformers serve exited: " + proc.stderr.read().decode()[-2000:])
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise EndpointError(f"transformers serve did not answer /health within {start_timeout_s:g} s")
            time.sleep(0.25)
        yield base + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(args) -> int:
    """Command line: ``loadtest URL MODEL [--clients N] [--max-tokens T] [--drop D] [--server-cores C]``."""
    ep = Endpoint(base_url=args.url, model=args.model, api=args.api, read_timeout_s=args.read_timeout)
    report = run_load(ep, clients=args.clients, max_tokens=args.max_tokens, drop=args.drop)
    print(report.text())
    if args.server_cores:
        per_core = learners_per_core(report, args.server_cores)
        print(f"Sizing: {report.total_tokens_per_s:.1f} tokens/s in total on {args.server_cores} server core(s) keeps "
              f"about {per_core:.1f} learners per core streaming at reading speed ({READING_TOKENS_PER_S:g} tokens/s).")
    return 0 if not report.errors and report.still_serving else 1
