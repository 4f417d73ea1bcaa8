"""The sides of the arena: whatever answers a prompt, behind one interface (:class:`Side`).

    LocalSide(load_model("course-slm"))          # a model in this process
    RemoteSide(Endpoint(url, "course-llm"))      # an OpenAI-compatible endpoint (course_utils.remote)
    UnavailableSide("Qwen2.5-7B", "needs 15 GB") # a stand-in that shows why a model is missing

A side never touches widgets: its worker puts events on the run's queue (course_utils.arena.events).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from course_utils.arena.events import EventQueue, TokenEvent, UsageEvent
from course_utils.errors import BadInputError
from course_utils.generation import GenerationSettings, prepare_generation, with_own_generator
from course_utils.measure import count_parameters, flops_per_token
from course_utils.streaming import NewTokenStreamer


@dataclass
class SideInfo:
    name: str
    kind: str                   # "local", "endpoint" or "unavailable"
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


@runtime_checkable
class Side(Protocol):
    """What :class:`~course_utils.arena.run.ArenaRun` needs from a side.

    ``prepare`` runs on the calling thread and refuses bad input with a course error, before any
    thread starts. ``work`` runs in the side's worker thread: it puts :class:`TokenEvent` (and
    :class:`UsageEvent`) on ``q`` as output arrives and returns soon after ``stop`` is set; the run
    adds the error and done events. ``decode`` turns the tokens collected so far into text.
    """

    kind: str
    info: SideInfo

    def prepare(self, prompt: str, settings: GenerationSettings) -> tuple[object, list[str], int | None]:
        """(what ``work`` needs, notes on adjusted settings, prompt length in tokens or None)."""
        ...

    def work(self, prepared, q: EventQueue, side: int, stop: threading.Event) -> None:
        ...

    def decode(self, tokens: list) -> str:
        ...

    def count_tokens(self, text: str) -> int | None:
        """Tokens ``text`` takes in this side's tokenizer (None when unknown)."""
        ...


# ----------------------------------------------------------------------------- a model in this process

class _QueueStreamer(NewTokenStreamer):
    """Forwards each step's new token ids, with their arrival time, to the run's queue."""

    def __init__(self, q: EventQueue, side: int):
        super().__init__()
        self.q, self.side = q, side

    def on_new_tokens(self, ids: torch.Tensor) -> None:
        self.q.put(TokenEvent(self.side, ids.reshape(-1).tolist()))


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
        ids = torch.tensor([[start]], device=next(model.parameters()).device)  # (1, 1)
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False,
                       pad_token_id=start)
        _WARMED_UP.add(model)

    def prepare(self, prompt: str, settings: GenerationSettings):
        """Checked settings and notes, on the calling thread (bad input is refused before any thread)."""
        prep = prepare_generation(self.lm, prompt, settings)
        return prep, prep.notes, prep.input_ids.shape[1]

    @torch.no_grad()
    def work(self, prep, q: EventQueue, side: int, stop: threading.Event) -> None:
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


# ----------------------------------------------------------------------------- an endpoint

class RemoteSide:
    """An OpenAI-compatible endpoint (see course_utils.remote). Parameters and memory are unknown
    unless the model name is in the catalog."""

    kind = "endpoint"

    def __init__(self, endpoint):
        from course_utils.catalog import get_spec
        from course_utils.errors import UnknownModelError

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

    def work(self, prepared, q: EventQueue, side: int, stop: threading.Event) -> None:
        from course_utils.remote import stream_text

        prompt, settings = prepared
        for kind, value in stream_text(self.endpoint, prompt, settings, stop):
            q.put(TokenEvent(side, [value]) if kind == "text" else UsageEvent(side, value))

    def decode(self, pieces: list[str]) -> str:
        return "".join(pieces)

    def count_tokens(self, text: str) -> int | None:
        return None  # the endpoint's tokenizer is not known here


# ----------------------------------------------------------------------------- a stand-in

class UnavailableSide:
    """A side that could not be set up (e.g. refused by the memory guard): its column shows why."""

    kind = "unavailable"

    def __init__(self, name: str, reason: str):
        self.reason = reason
        self.info = SideInfo(name, "unavailable", None, None, None, None, None)

    def prepare(self, prompt: str, settings: GenerationSettings):
        raise BadInputError(self.reason)

    def work(self, prepared, q: EventQueue, side: int, stop: threading.Event) -> None:
        raise BadInputError(self.reason)  # never reached: prepare refuses first

    def decode(self, tokens: list) -> str:
        return ""

    def count_tokens(self, text: str) -> None:
        return None
