"""One prompt through one or two sides, side by side, streamed and measured.

Each side generates in a worker thread and puts typed events (course_utils.arena.events) on one
queue. Only the thread that calls :meth:`ArenaRun.poll` (the kernel's main thread) turns them into
text and calls ``on_update``, so widgets are never touched from a worker. A stop event, which each
side checks after every token, ends generation between two tokens.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass, field

from course_utils.arena.events import DoneEvent, ErrorEvent, Event, EventQueue, TokenEvent, UsageEvent
from course_utils.arena.sides import Side
from course_utils.errors import BadInputError, CourseError
from course_utils.generation import GenerationSettings
from course_utils.measure import GenerationTiming

SCHEDULES = ("together", "one after another")


@dataclass
class SideResult:
    name: str
    tokens: list = field(default_factory=list)  # token ids (local) or text pieces (endpoint)
    arrivals: list[float] = field(default_factory=list)  # perf_counter time of each token / piece
    text: str = ""                              # what is visible so far
    n_prompt_tokens: int = 0
    notes: list[str] = field(default_factory=list)
    error: str = ""
    t_start: float = 0.0
    t_first: float | None = None                # the first token left the model
    t_first_visible: float | None = None        # ... and was on screen
    t_end: float | None = None
    stopped: bool = False
    usage_tokens: int | None = None             # what an endpoint reported

    @property
    def n_tokens(self) -> int:
        return self.usage_tokens or len(self.tokens)

    @property
    def done(self) -> bool:
        return self.t_end is not None

    @property
    def timing(self) -> GenerationTiming | None:
        """Time to first token and tokens/s (the course's one definition, from measure.py)."""
        if self.t_first is None:
            return None
        end = self.t_end or time.perf_counter()
        return GenerationTiming(self.n_prompt_tokens, self.n_tokens, self.t_first - self.t_start,
                                end - self.t_start)

    @property
    def ttft_visible_s(self) -> float | None:
        return None if self.t_first_visible is None else self.t_first_visible - self.t_start


class ArenaRun:
    """One prompt through one or two sides, each in a worker thread.

    schedule: "together" (both at once: they share the CPU, as a learner sees) or
    "one after another" (each alone: fair speeds on a small machine).
    on_update(run) is called from the polling thread whenever visible text changes.
    """

    def __init__(self, sides: list[Side], prompt: str, settings: GenerationSettings | None = None,
                 schedule: str = "together", on_update=None, render_s: float = 0.1):
        if schedule not in SCHEDULES:
            raise BadInputError(f"schedule must be one of {SCHEDULES} (got {schedule!r}).")
        self.sides: list[Side] = list(sides)
        for side in self.sides:
            if not isinstance(side, Side):
                raise TypeError(f"{type(side).__name__} is not an arena side: it needs kind, info, "
                                "prepare, work, decode and count_tokens (see course_utils.arena.sides.Side).")
        self.prompt, self.schedule = prompt, schedule
        self.settings = settings or GenerationSettings()
        self.on_update, self.render_s = on_update, render_s
        self.queue: EventQueue = queue.Queue()
        self.stop_event = threading.Event()
        self.results = [SideResult(s.info.name) for s in self.sides]
        self.threads: list[threading.Thread | None] = [None] * len(self.sides)
        self._prepared: list = [None] * len(self.sides)
        self._dirty, self._last_render = False, 0.0
        for i, side in enumerate(self.sides):  # refuse bad input here, before any thread starts
            try:
                self._prepared[i], notes, n_prompt = side.prepare(prompt, self.settings)
            except CourseError as exc:
                self.results[i].error = str(exc)
                self.results[i].t_end = time.perf_counter()
                continue
            self.results[i].notes, self.results[i].n_prompt_tokens = list(notes), n_prompt or 0

    # --- workers
    def _worker(self, i: int) -> None:
        try:
            self.sides[i].work(self._prepared[i], self.queue, i, self.stop_event)
        except CourseError as exc:
            self.queue.put(ErrorEvent(i, str(exc)))
        except Exception as exc:  # keep the kernel alive; say what happened
            self.queue.put(ErrorEvent(i, f"{type(exc).__name__}: {exc}"))
        finally:
            self.queue.put(DoneEvent(i))

    def _launch(self, i: int) -> None:
        r = self.results[i]
        if r.done or self.threads[i] is not None:
            return
        r.t_start = time.perf_counter()
        self.threads[i] = threading.Thread(target=self._worker, args=(i,), daemon=True,
                                           name=f"arena-{i}")
        self.threads[i].start()

    def start(self) -> "ArenaRun":
        for i in range(len(self.sides)):
            self._launch(i)
            if self.schedule == "one after another" and not self.results[i].done:
                break
        self._render(force=True)
        return self

    def stop(self) -> None:
        """End generation between two tokens (safe to call from any thread)."""
        self.stop_event.set()

    @property
    def running(self) -> bool:
        return not all(r.done for r in self.results)

    # --- the polling thread
    def _handle(self, event: Event) -> None:
        i, t = event.side, event.t
        r = self.results[i]
        if isinstance(event, TokenEvent):
            if r.t_first is None:
                r.t_first = t
            r.tokens.extend(event.tokens)
            r.arrivals.append(t)
            self._dirty = True
        elif isinstance(event, UsageEvent):
            r.usage_tokens = event.completion_tokens
        elif isinstance(event, ErrorEvent):
            r.error = event.message
            self._dirty = True
        elif isinstance(event, DoneEvent):
            r.t_end = t
            r.stopped = self.stop_event.is_set()
            self._dirty = True
            if self.schedule == "one after another" and i + 1 < len(self.sides) and not self.stop_event.is_set():
                self._launch(i + 1)
            elif self.stop_event.is_set():  # a side that never started ends as stopped
                for j, other in enumerate(self.results):
                    if self.threads[j] is None and not other.done:
                        other.t_end, other.stopped = t, True

    def _render(self, force: bool = False) -> None:
        now = time.perf_counter()
        first = any(r.t_first is not None and r.t_first_visible is None for r in self.results)
        if not (force or first or (self._dirty and now - self._last_render >= self.render_s)):
            return
        for i, r in enumerate(self.results):
            if r.tokens:
                text = self.sides[i].decode(r.tokens)
                r.text = text[:-1] if text.endswith("\ufffd") else text  # half of a multi-byte character
        if self.on_update is not None:
            self.on_update(self)
        now = time.perf_counter()
        for r in self.results:
            if r.t_first_visible is None and r.text:
                r.t_first_visible = now
        self._dirty, self._last_render = False, now

    def poll(self, timeout: float = 0.0) -> bool:
        """Handle what the workers sent (waiting up to ``timeout`` s for it); True while running."""
        try:
            item = self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
            while True:
                self._handle(item)
                item = self.queue.get_nowait()
        except queue.Empty:
            pass
        still = self.running
        self._render(force=not still)
        return still

    def wait(self, timeout_s: float | None = None) -> "ArenaRun":
        """Poll in this thread until both sides finish (outside a kernel, or for nbval).

        Until a side's first token is on screen, wake as soon as it arrives; after that, wake
        every ``render_s`` only, so this thread does not take the CPU from the generating ones.
        """
        deadline = None if timeout_s is None else time.perf_counter() + timeout_s
        while True:
            waiting_first = any(r.t_first_visible is None and not r.done and self.threads[i] is not None
                                for i, r in enumerate(self.results))
            if not waiting_first:
                time.sleep(self.render_s)
            if not self.poll(timeout=0.02 if waiting_first else 0.0):
                break
            if deadline is not None and time.perf_counter() > deadline:
                self.stop()
                deadline = None
        self.join()
        return self

    async def pump(self, interval_s: float = 0.03) -> "ArenaRun":
        """Poll from the kernel's event loop, yielding between polls so clicks (Stop) get through."""
        while self.poll():
            await asyncio.sleep(interval_s)
        self.join()
        return self

    def join(self, timeout: float = 5.0) -> None:
        for t in self.threads:
            if t is not None:
                t.join(timeout)
