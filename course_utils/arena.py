"""The arena engine: two models answer the same prompt side by side, streamed and measured.

    side = LocalSide(load_model("course-slm"))       # or RemoteSide(Endpoint(...))
    run = ArenaRun([small, large], "Once upon a time", GenerationSettings(max_new_tokens=40))
    run.start(); run.wait()                          # or `await run.pump()` inside a kernel
    run.results[0].text, run.results[0].timing.tokens_per_s

Each side generates in a worker thread and pushes events (:class:`TokenEvent`, :class:`UsageEvent`,
:class:`ErrorEvent`, :class:`DoneEvent`) into one queue. Only the thread that calls
:meth:`ArenaRun.poll` — the kernel's main thread — turns them into text and calls ``on_update``, so
widgets are never touched from a worker. A stop event, checked by a StoppingCriteria after every
token, ends generation between two tokens. Each local side samples from its own
``torch.Generator`` seeded with the settings' seed: seeded runs repeat exactly, even with both
sides at once, and the learner's global random state is left alone.

Also here: metrics (FLOPs per token, cost per 1,000 tokens from visible assumptions), the two
models' next-token distributions aligned by decoded text with their KL divergence, and batch
mode over the shipped prompt set (course_utils/data/arena_prompts.json).
"""

from __future__ import annotations

import asyncio
import json
import math
import queue
import re
import threading
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from course_utils.errors import FRIENDLY, BadInputError
from course_utils.generation import GenerationSettings, prepare_generation, with_own_generator
from course_utils.measure import GenerationTiming, count_parameters, flops_per_token

PROMPTS_PATH = Path(__file__).parent / "data" / "arena_prompts.json"
SCHEDULES = ("together", "one after another")


# ----------------------------------------------------------------------------- events on the queue

@dataclass(frozen=True)
class TokenEvent:
    """New output of side ``side``: token ids (a local model) or text pieces (an endpoint)."""
    side: int
    tokens: list
    t: float = field(default_factory=time.perf_counter)  # when it arrived


@dataclass(frozen=True)
class UsageEvent:
    """How many tokens an endpoint says it generated (None when it does not say)."""
    side: int
    completion_tokens: int | None
    t: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class ErrorEvent:
    """Why side ``side`` could not go on, in words the learner can act on."""
    side: int
    message: str
    t: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class DoneEvent:
    """The side's worker has finished (after its tokens, and its error if any)."""
    side: int
    t: float = field(default_factory=time.perf_counter)


# ----------------------------------------------------------------------------- the two sides

@dataclass
class SideInfo:
    name: str
    kind: str                   # "local" or "endpoint"
    params: int | None          # None when unknown (an endpoint)
    memory_bytes: int | None
    n_layers: int | None
    attn_dim: int | None        # heads · head_dim, for the attention FLOPs
    non_embedding: int | None
    label: str = ""             # e.g. the random-weights warning
    instruct: bool = False
    head_params: int = 0        # vocab · hidden: the output head's matmul, counted (nanoGPT's dense count)

    def flops_per_token(self, context: int) -> int | None:
        """Forward FLOPs for one new token with ``context`` tokens before it, output head included."""
        if self.non_embedding is None:
            return None
        return flops_per_token(self.non_embedding, n_layers=self.n_layers, context=context,
                               attn_dim=self.attn_dim, head_params=self.head_params)


class _QueueStreamer:
    """A transformers streamer that forwards each new token id, with its arrival time, to a queue."""

    def __init__(self, q: queue.Queue, side: int):
        self.q, self.side, self._prompt_seen = q, side, False

    def put(self, value: torch.Tensor):
        if not self._prompt_seen:  # generate() first sends the prompt
            self._prompt_seen = True
            return
        self.q.put(TokenEvent(self.side, value.reshape(-1).tolist()))

    def end(self):
        pass


def _stop_criteria(stop: threading.Event):
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopOnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):  # checked after every token
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    return StoppingCriteriaList([StopOnEvent()])


_WARMED_UP: "weakref.WeakSet[torch.nn.Module]" = weakref.WeakSet()


class LocalSide:
    """A model in this process (a ``LoadedModel``); extra keyword arguments go to ``generate``
    (e.g. ``min_new_tokens`` for fixed-length benchmarks)."""

    kind = "local"

    def __init__(self, lm, **generate_kwargs):
        self.lm, self.extra = lm, generate_kwargs
        cfg = lm.model.config
        heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", 0)
        head_dim = getattr(cfg, "head_dim", None) or (getattr(cfg, "hidden_size", 0) // max(heads, 1))
        counts = count_parameters(lm.model)
        self.info = SideInfo(lm.info.name, "local", lm.info.params, lm.info.memory_bytes,
                             getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", 0),
                             heads * head_dim, counts["non_embedding"],
                             label=lm.info.note if lm.info.random_weights else "",
                             instruct=lm.info.instruct,
                             head_params=getattr(cfg, "vocab_size", 0) * getattr(cfg, "hidden_size", 0))
        if lm.model not in _WARMED_UP:
            self._warm_up()

    @torch.no_grad()
    def _warm_up(self) -> None:
        """A 2-token generate: the first call in a process pays one-time setup (imports, caches)
        that would otherwise show up as a slow first token of the first run."""
        tok, model = self.lm.tokenizer, self.lm.model
        start = tok.bos_token_id if tok is not None and tok.bos_token_id is not None else 0
        ids = torch.tensor([[start]], device=next(model.parameters()).device)
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False,
                       pad_token_id=start)
        _WARMED_UP.add(model)

    def prepare(self, prompt: str, settings: GenerationSettings):
        """Checked settings and notes, on the calling thread (bad input is refused before any thread)."""
        prep = prepare_generation(self.lm, prompt, settings)
        return prep, prep.notes, prep.input_ids.shape[1]

    @torch.no_grad()
    def work(self, prep, q: queue.Queue, side: int, stop: threading.Event) -> None:
        model = self.lm.model
        device = next(model.parameters()).device
        kwargs = {**prep.generate_kwargs, "attention_mask": prep.generate_kwargs["attention_mask"].to(device),
                  **self.extra}
        kwargs = with_own_generator(kwargs, prep.settings, device)  # this side's generator, not torch's global one
        model.generate(prep.input_ids.to(device), max_new_tokens=prep.settings.max_new_tokens,
                       streamer=_QueueStreamer(q, side), stopping_criteria=_stop_criteria(stop), **kwargs)

    def decode(self, ids: list[int]) -> str:
        return self.lm.tokenizer.decode(ids, skip_special_tokens=True)

    def count_tokens(self, text: str) -> int | None:
        return len(self.lm.tokenizer(text, add_special_tokens=False).input_ids)


class RemoteSide:
    """An OpenAI-compatible endpoint (see course_utils.remote). Parameters and memory are unknown
    unless the model name is in the catalog."""

    kind = "endpoint"

    def __init__(self, endpoint):
        from course_utils.registry import UnknownModelError, get_spec

        self.endpoint = endpoint
        try:
            spec = get_spec(endpoint.model.split("/")[-1])
        except UnknownModelError:
            spec = None
        non_emb = None if spec is None else (spec.params or spec.formula_params()) - spec.vocab * spec.hidden * \
            (1 if spec.tied_embeddings else 2)
        self.info = SideInfo(endpoint.label, "endpoint", spec.params if spec else None, None,
                             spec.n_layers if spec else None, spec.heads * spec.head_dim if spec else None,
                             non_emb, label="endpoint: timings include the network",
                             instruct=endpoint.api == "chat", head_params=spec.vocab * spec.hidden if spec else 0)

    def prepare(self, prompt: str, settings: GenerationSettings):
        if prompt is None or not str(prompt).strip():
            raise BadInputError("The prompt is empty: type some text for the model to continue.")
        settings, notes = settings.checked()
        if settings.top_k:
            notes.append("top-k is not part of the OpenAI API: the endpoint ignores it.")
        return (prompt, settings), notes, None

    def work(self, prepared, q: queue.Queue, side: int, stop: threading.Event) -> None:
        from course_utils.remote import stream_text

        prompt, settings = prepared
        for kind, value in stream_text(self.endpoint, prompt, settings, stop):
            q.put(TokenEvent(side, [value]) if kind == "text" else UsageEvent(side, value))

    def decode(self, pieces: list[str]) -> str:
        return "".join(pieces)

    def count_tokens(self, text: str) -> int | None:
        return None  # the endpoint's tokenizer is not known here


class UnavailableSide:
    """A side that could not be set up (e.g. refused by the memory guard): its column shows why."""

    kind = "unavailable"

    def __init__(self, name: str, reason: str):
        self.reason = reason
        self.info = SideInfo(name, "unavailable", None, None, None, None, None)

    def prepare(self, prompt, settings):
        raise BadInputError(self.reason)

    def count_tokens(self, text: str) -> None:
        return None


# ----------------------------------------------------------------------------- one run

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

    def __init__(self, sides, prompt: str, settings: GenerationSettings | None = None,
                 schedule: str = "together", on_update=None, render_s: float = 0.1):
        if schedule not in SCHEDULES:
            raise BadInputError(f"schedule must be one of {SCHEDULES} (got {schedule!r}).")
        self.sides, self.prompt, self.schedule = list(sides), prompt, schedule
        self.settings = settings or GenerationSettings()
        self.on_update, self.render_s = on_update, render_s
        self.queue: queue.Queue = queue.Queue()
        self.stop_event = threading.Event()
        self.results = [SideResult(s.info.name) for s in self.sides]
        self.threads: list[threading.Thread | None] = [None] * len(self.sides)
        self._prepared: list = [None] * len(self.sides)
        self._dirty, self._last_render = False, 0.0
        for i, side in enumerate(self.sides):  # refuse bad input here, before any thread starts
            try:
                self._prepared[i], notes, n_prompt = side.prepare(prompt, self.settings)
            except FRIENDLY as exc:
                self.results[i].error = str(exc)
                self.results[i].t_end = time.perf_counter()
                continue
            self.results[i].notes, self.results[i].n_prompt_tokens = list(notes), n_prompt or 0

    # --- workers
    def _worker(self, i: int) -> None:
        try:
            self.sides[i].work(self._prepared[i], self.queue, i, self.stop_event)
        except FRIENDLY as exc:
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
    def _handle(self, event) -> None:
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


# ----------------------------------------------------------------------------- cost

@dataclass
class CostAssumptions:
    """What an hour of generation costs. Local: hardware rent (or purchase price ÷ hours of use)
    plus electricity. Endpoint: the provider's price per million generated tokens."""

    hardware_usd_per_hour: float = 0.10
    power_watts: float = 65.0
    electricity_usd_per_kwh: float = 0.30
    endpoint_usd_per_million_tokens: float = 0.50

    def usd_per_hour(self) -> float:
        return self.hardware_usd_per_hour + self.power_watts / 1000 * self.electricity_usd_per_kwh

    def per_1k_tokens(self, tokens_per_s: float | None, kind: str = "local") -> float | None:
        """Dollars for 1,000 generated tokens at ``tokens_per_s`` (one request at a time)."""
        if kind == "endpoint":
            return self.endpoint_usd_per_million_tokens / 1000
        if not tokens_per_s or tokens_per_s <= 0 or math.isnan(tokens_per_s):
            return None
        return 1000 / tokens_per_s / 3600 * self.usd_per_hour()


# ----------------------------------------------------------------------------- next-token distributions

OTHER = "(other)"
KL_FLOOR = 1e-9

_VOCAB_TEXT: dict[int, tuple[object, list[str]]] = {}


def vocab_texts(tokenizer) -> list[str]:
    """The decoded text of every token id (cached per tokenizer)."""
    key = id(tokenizer)
    if key not in _VOCAB_TEXT or _VOCAB_TEXT[key][0] is not tokenizer:
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        _VOCAB_TEXT[key] = (tokenizer, texts)
    return _VOCAB_TEXT[key][1]


def text_distribution(probs: torch.Tensor, texts: list[str]) -> dict[str, float]:
    """Probabilities (V,) keyed by decoded text: ids that decode to the same text are summed.
    Ids the tokenizer does not know (padding rows of the embedding) go to OTHER."""
    out: dict[str, float] = {}
    for i, p in enumerate(probs.tolist()):
        t = texts[i] if i < len(texts) else OTHER
        out[t] = out.get(t, 0.0) + p
    return out


def align_by_text(dist_a: dict[str, float], dist_b: dict[str, float], k: int = 10
                  ) -> tuple[list[str], list[float], list[float]]:
    """One shared axis: the union of each model's top-k texts, then OTHER (all the rest).

    A text in one top-k but not the other gets the other model's probability for that text
    (0 if its tokenizer has no such token). OTHER collects each model's remaining mass, so both
    lists sum to 1 over the same outcomes and a KL divergence between them is defined.
    """
    def top(d):
        return [t for t, _ in sorted(((t, p) for t, p in d.items() if t != OTHER),
                                     key=lambda x: -x[1])[:k]]

    labels = list(dict.fromkeys(top(dist_a) + top(dist_b)))
    pa = [dist_a.get(t, 0.0) for t in labels]
    pb = [dist_b.get(t, 0.0) for t in labels]
    pa.append(max(0.0, 1.0 - sum(pa)))
    pb.append(max(0.0, 1.0 - sum(pb)))
    return labels + [OTHER], pa, pb


def kl_divergence_bits(p: list[float], q: list[float], floor: float = KL_FLOOR) -> float:
    """D(p ‖ q) = Σ p·log2(p/q), in bits; q is floored at ``floor`` so a 0 there stays finite."""
    return sum(pi * math.log2(pi / max(qi, floor)) for pi, qi in zip(p, q) if pi > 0)


@dataclass
class NextTokenComparison:
    names: tuple[str, str]
    labels: list[str]       # shared axis (decoded text), last one OTHER
    p_a: list[float]
    p_b: list[float]
    kl_ab_bits: float       # D(a ‖ b): bits lost using b's distribution when a's is the truth
    kl_ba_bits: float


@torch.no_grad()
def compare_next_token(lm_a, lm_b, prompt: str, k: int = 10) -> NextTokenComparison:
    """Both models' next-token distributions after ``prompt`` on one axis, with KL both ways."""
    from course_utils.sampling import next_token_logits

    dists = []
    for lm in (lm_a, lm_b):
        probs = next_token_logits(lm, prompt).softmax(-1)  # (V,)
        dists.append(text_distribution(probs, vocab_texts(lm.tokenizer)))
    labels, pa, pb = align_by_text(dists[0], dists[1], k)
    return NextTokenComparison((lm_a.info.name, lm_b.info.name), labels, pa, pb,
                               kl_divergence_bits(pa, pb), kl_divergence_bits(pb, pa))


def plot_next_token(cmp: NextTokenComparison, ax=None):
    """Grouped bars, one pair per decoded token text; returns the figure."""
    import matplotlib.pyplot as plt

    from course_utils.sampling import show_token

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.28 * len(cmp.labels) + 1.2))
    y = range(len(cmp.labels))
    ax.barh([i - 0.2 for i in y], cmp.p_a, height=0.4, label=cmp.names[0], color="#1a5fb4")
    ax.barh([i + 0.2 for i in y], cmp.p_b, height=0.4, label=cmp.names[1], color="#e66100")
    ax.set_yticks(list(y), [show_token(t) if t != OTHER else t for t in cmp.labels])
    ax.invert_yaxis()
    ax.set_xlabel("probability of the next token")
    ax.set_title(f"KL(a‖b) = {cmp.kl_ab_bits:.2f} bits, KL(b‖a) = {cmp.kl_ba_bits:.2f} bits", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


# ----------------------------------------------------------------------------- batch mode

CATEGORIES = ("general knowledge", "course world", "reasoning", "instructions")


def course_world_prompts(n_per_kind: int = 3, seed: int = 2026) -> list[dict]:
    """Questions about the course world with answer keys: ``course_utils.world_facts`` (prompts cut
    from held-out documents where the world fixes what comes next), in the prompt-set format."""
    from course_utils.world_facts import world_facts

    out, seen = [], {}
    for f in world_facts(n_per_kind, seed):
        tag = f.kind.split(":")[0]
        seen[tag] = seen.get(tag, 0) + 1
        out.append({"id": f"{tag}-{seen[tag]}", "category": "course world", "kind": f.kind,
                    "prompt": f.prompt, "answer": f.answer.strip()})
    return out


def load_prompts(categories=None, n_per_category: int | None = None, path: Path = PROMPTS_PATH) -> list[dict]:
    """The shipped prompt set, optionally only some categories and the first n of each."""
    prompts = json.loads(Path(path).read_text())["prompts"]
    if categories is not None:
        unknown = set(categories) - set(CATEGORIES)
        if unknown:
            raise BadInputError(f"Unknown categories {sorted(unknown)}; the prompt set has {list(CATEGORIES)}.")
        prompts = [p for p in prompts if p["category"] in categories]
    if n_per_category is not None:  # the first n of each category, taking each kind in turn
        rank: dict[str, int] = {}
        keyed = []
        for i, p in enumerate(prompts):
            rank[p["kind"]] = rank.get(p["kind"], 0) + 1
            keyed.append((p["category"], rank[p["kind"]], i, p))
        taken: dict[str, int] = {}
        kept = []
        for cat, _, i, p in sorted(keyed, key=lambda x: (CATEGORIES.index(x[0]), x[1], x[2])):
            taken[cat] = taken.get(cat, 0) + 1
            if taken[cat] <= n_per_category:
                kept.append(p)
        prompts = kept
    return prompts


def words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def score_answer(text: str, answer: str, instruct: bool = False) -> bool:
    """Base models must continue with the answer (its words come first); instruct models answer
    in a sentence, so the answer's words must appear within their first 20 words."""
    got, want = words(text), words(answer)
    if not want:
        return False
    if not instruct:
        return got[: len(want)] == want
    window = got[:20]
    return any(window[i:i + len(want)] == want for i in range(len(window) - len(want) + 1))


@dataclass
class BatchRow:
    prompt_id: str
    category: str
    side: str
    params: int | None
    text: str
    n_tokens: int
    ttft_s: float | None
    tokens_per_s: float | None
    total_s: float | None
    correct: bool | None      # None: no answer key
    error: str = ""


@dataclass
class BatchResult:
    rows: list[BatchRow]
    sides: list[str]

    def by_side(self, side: str) -> list[BatchRow]:
        return [r for r in self.rows if r.side == side]

    def agreement(self) -> dict[str, float]:
        """Per category: share of prompts where both sides begin with the same word."""
        if len(self.sides) < 2:
            return {}
        a = {r.prompt_id: r for r in self.by_side(self.sides[0])}
        b = {r.prompt_id: r for r in self.by_side(self.sides[1])}
        agree: dict[str, list[bool]] = {}
        for pid, ra in a.items():
            if pid in b:
                agree.setdefault(ra.category, []).append(words(ra.text)[:1] == words(b[pid].text)[:1])
        return {c: sum(v) / len(v) for c, v in agree.items()}

    def summary(self) -> list[dict]:
        """One row per side: median latency and speed, accuracy per category with an answer key."""
        out = []
        for side in self.sides:
            rows = [r for r in self.by_side(side) if not r.error]
            med = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")  # noqa: E731
            row = {"model": side, "params": rows[0].params if rows else None, "prompts": len(rows),
                   "median first token (s)": med([r.ttft_s for r in rows if r.ttft_s is not None]),
                   "median tokens/s": med([r.tokens_per_s for r in rows if r.tokens_per_s]),
                   "median total (s)": med([r.total_s for r in rows if r.total_s is not None])}
            for c in CATEGORIES:
                keyed = [r.correct for r in rows if r.category == c and r.correct is not None]
                if keyed:
                    row[f"accuracy: {c}"] = sum(keyed) / len(keyed)
            out.append(row)
        return out

    def table_html(self) -> str:
        """The summary as an HTML table; every name and value is escaped (a side's name may be a
        path or an endpoint's label, typed by the learner)."""
        from html import escape

        rows = self.summary()
        cols = list(dict.fromkeys(k for r in rows for k in r))
        fmt = lambda v: escape(f"{v / 1e6:,.1f}M" if isinstance(v, int) and v > 10000 else  # noqa: E731
                               f"{v:.3g}" if isinstance(v, float) else "?" if v is None else str(v))
        head = "".join(f"<th>{escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
        agree = escape(", ".join(f"{c}: {v:.0%}" for c, v in self.agreement().items()))
        return (f"<table><tr>{head}</tr>{body}</table>"
                + (f"<p>Same first word (agreement): {agree}</p>" if agree else ""))

    def plot(self):
        """Latency vs size, agreement per category, accuracy per category; returns the figure."""
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        summary = self.summary()
        ax = axes[0]
        for s in summary:
            if s["params"]:
                ax.scatter(s["params"], s["median total (s)"], s=40)
                ax.annotate(s["model"], (s["params"], s["median total (s)"]), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_ylabel("median time per answer (s)")
        ax.set_title("latency vs size", fontsize=10)
        agree = self.agreement()
        axes[1].bar(list(agree), list(agree.values()), color="#888")
        axes[1].set_ylim(0, 1)
        axes[1].set_title("same first word (agreement)", fontsize=10)
        keyed = [c for c in CATEGORIES if any(f"accuracy: {c}" in s for s in summary)]
        width = 0.8 / max(len(summary), 1)
        for j, s in enumerate(summary):
            axes[2].bar([i + j * width for i in range(len(keyed))],
                        [s.get(f"accuracy: {c}", 0) for c in keyed], width=width, label=s["model"])
        axes[2].set_xticks([i + width * (len(summary) - 1) / 2 for i in range(len(keyed))], keyed)
        axes[2].set_ylim(0, 1)
        axes[2].set_title("accuracy (prompts with an answer key)", fontsize=10)
        axes[2].legend(fontsize=8)
        for ax in axes[1:]:
            ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        fig.tight_layout()
        return fig


def run_batch(sides, prompts: list[dict], settings: GenerationSettings | None = None,
              progress: bool = True) -> BatchResult:
    """Every prompt through every side, one at a time (fair timings), with a progress bar.

    A side may write more than ``settings.max_new_tokens`` when an answer key needs more of its
    tokens (plus 2), so a long answer is never cut short and scored wrong.
    """
    from tqdm.auto import tqdm

    settings = settings or GenerationSettings(max_new_tokens=12, temperature=0.0)
    rows = []
    bar = tqdm(total=len(prompts) * len(sides), desc="batch", unit="answer", disable=not progress)
    for p in prompts:
        for side in sides:
            need = side.count_tokens(" " + p["answer"]) if p.get("answer") else None
            s = settings if not need else replace(settings, max_new_tokens=max(settings.max_new_tokens, need + 2))
            run = ArenaRun([side], p["prompt"], s).start().wait()
            r = run.results[0]
            t = r.timing
            correct = None if not p.get("answer") or r.error else \
                score_answer(r.text, p["answer"], side.info.instruct)
            rows.append(BatchRow(p["id"], p["category"], side.info.name, side.info.params, r.text,
                                 r.n_tokens, t.time_to_first_token_s if t else None,
                                 t.tokens_per_s if t else None, t.total_s if t else None, correct, r.error))
            bar.update(1)
    bar.close()
    return BatchResult(rows, [s.info.name for s in sides])
