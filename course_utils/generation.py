"""Generate text from a loaded model, with every setting checked first.

Bad settings never reach ``model.generate``: an empty prompt is refused, a prompt longer than
the context is truncated from the left, absurd ``max_new_tokens`` is capped, temperature 0
means greedy; each adjustment is reported in ``GenerationResult.notes``.

Seeded sampling draws from a ``torch.Generator`` of each call's own (:func:`with_own_generator`),
never from torch's global one: the same seed gives the same text, a learner's own random state
is left alone, and two generations in threads (the arena) never share a generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from course_utils.errors import BadInputError
from course_utils.measure import GenerationTiming, time_generation
from course_utils.sampling import apply_temperature, top_k_filter, top_p_filter

MAX_NEW_TOKENS_CAP = 512


@dataclass
class GenerationSettings:
    max_new_tokens: int = 40
    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    seed: int = 0

    def checked(self) -> tuple["GenerationSettings", list[str]]:
        """A valid copy of the settings and notes on anything changed."""
        notes = []
        if self.max_new_tokens < 1:
            raise BadInputError(f"max_new_tokens must be at least 1 (got {self.max_new_tokens}).")
        max_new = self.max_new_tokens
        if max_new > MAX_NEW_TOKENS_CAP:
            notes.append(f"max_new_tokens {max_new} capped at {MAX_NEW_TOKENS_CAP}.")
            max_new = MAX_NEW_TOKENS_CAP
        if self.temperature < 0:
            raise BadInputError(f"temperature must be 0 or more (got {self.temperature}); "
                                "0 means always pick the most likely token.")
        if not 0 < self.top_p <= 1:
            raise BadInputError(f"top_p must be in (0, 1] (got {self.top_p}); 1 keeps every token.")
        if self.top_k < 0:
            raise BadInputError(f"top_k must be 0 (off) or more (got {self.top_k}).")
        if self.temperature == 0:
            notes.append("temperature 0: greedy decoding (always the most likely token).")
        return GenerationSettings(max_new, self.temperature, self.top_k, self.top_p, self.seed), notes


@dataclass
class GenerationResult:
    prompt: str
    text: str  # the continuation only
    timing: GenerationTiming
    notes: list[str] = field(default_factory=list)


def encode_prompt(lm, prompt: str, max_new_tokens: int) -> tuple[torch.Tensor, list[str]]:
    """Token ids for ``prompt`` (chat template for instruct models), truncated to fit the context."""
    if prompt is None or not str(prompt).strip():
        raise BadInputError("The prompt is empty: type some text for the model to continue.")
    tok = lm.tokenizer
    if tok is None:
        raise BadInputError(f"{lm.info.name} has no tokenizer here, so it cannot read text.")
    notes = []
    if lm.info.instruct and getattr(tok, "chat_template", None):
        ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)["input_ids"]
    else:
        ids = tok(prompt, return_tensors="pt").input_ids
    context = lm.info.context or ids.shape[1] + max_new_tokens
    room = context - max_new_tokens
    if room < 1:
        raise BadInputError(f"max_new_tokens {max_new_tokens} leaves no room for the prompt in "
                            f"{lm.info.name}'s {context}-token context; ask for fewer tokens.")
    if ids.shape[1] > room:
        notes.append(f"The prompt has {ids.shape[1]} tokens but only {room} fit before the "
                     f"{max_new_tokens} new ones ({context}-token context): kept the last {room}.")
        ids = ids[:, -room:]
    return ids, notes


@dataclass
class PreparedGeneration:
    """What ``model.generate`` needs for one prompt: checked settings, token ids and kwargs."""

    settings: GenerationSettings
    input_ids: torch.Tensor  # (1, T)
    generate_kwargs: dict
    notes: list[str] = field(default_factory=list)


def prepare_generation(lm, prompt: str, settings: GenerationSettings | None = None,
                       **overrides) -> PreparedGeneration:
    """Check the settings, cap them to the context, encode the prompt, build the sampling kwargs.

    Shared by :func:`generate` and the arena, so both treat bad input the same way.
    """
    settings = settings or GenerationSettings()
    settings = GenerationSettings(**{**settings.__dict__, **overrides})
    settings, notes = settings.checked()
    context = lm.info.context
    if context and settings.max_new_tokens > context // 2:
        notes.append(f"max_new_tokens {settings.max_new_tokens} capped at {context // 2}: half of "
                     f"{lm.info.name}'s {context}-token context, leaving room for the prompt.")
        settings.max_new_tokens = context // 2
    ids, prompt_notes = encode_prompt(lm, prompt, settings.max_new_tokens)
    notes += prompt_notes
    tok = lm.tokenizer
    kwargs = dict(do_sample=settings.temperature > 0, pad_token_id=tok.pad_token_id
                  if tok.pad_token_id is not None else tok.eos_token_id,
                  attention_mask=torch.ones_like(ids))
    if settings.temperature > 0:
        kwargs.update(temperature=settings.temperature, top_k=settings.top_k or None, top_p=settings.top_p)
    else:
        kwargs.update(temperature=None, top_k=None, top_p=None)
    return PreparedGeneration(settings, ids, kwargs, notes)


def seeded_sampler(settings: GenerationSettings, device, before=()):
    """Temperature, top-k and top-p (course_utils.sampling), then one draw from a generator of
    this call's own, seeded with ``settings.seed``. ``generate`` has no generator argument and
    samples from torch's global one; with ``do_sample=False`` it takes the argmax, which is the
    drawn token: it keeps score 0, every other token gets -inf. ``before``: logits processors to
    run first."""
    from transformers import LogitsProcessor, LogitsProcessorList

    generator = torch.Generator(device=device).manual_seed(settings.seed)

    class SampleWithOwnGenerator(LogitsProcessor):
        def __call__(self, input_ids, scores):  # (batch, vocab), after generate's own processors
            logits = top_p_filter(top_k_filter(apply_temperature(scores, settings.temperature),
                                               settings.top_k), settings.top_p)
            drawn = torch.multinomial(logits.softmax(-1), 1, generator=generator)  # (batch, 1)
            return torch.full_like(scores, -math.inf).scatter(-1, drawn, 0.0)

    return LogitsProcessorList([*before, SampleWithOwnGenerator()])


def with_own_generator(generate_kwargs: dict, settings: GenerationSettings, device) -> dict:
    """``generate_kwargs`` changed so that sampling draws from :func:`seeded_sampler`'s generator
    instead of torch's global one (greedy decoding, temperature 0, draws nothing: unchanged)."""
    if settings.temperature <= 0:
        return generate_kwargs
    return {**generate_kwargs, "do_sample": False, "temperature": None, "top_k": None, "top_p": None,
            "logits_processor": seeded_sampler(settings, device, generate_kwargs.get("logits_processor") or ())}


def generate(lm, prompt: str, settings: GenerationSettings | None = None, **overrides) -> GenerationResult:
    """Continue ``prompt`` with model ``lm`` (a ``LoadedModel``); keyword overrides change settings."""
    prep = prepare_generation(lm, prompt, settings, **overrides)
    model, tok, ids = lm.model, lm.tokenizer, prep.input_ids
    device = next(model.parameters()).device
    kwargs = {**prep.generate_kwargs, "attention_mask": prep.generate_kwargs["attention_mask"].to(device)}
    kwargs = with_own_generator(kwargs, prep.settings, device)  # torch's global random state stays as it was
    out, timing = time_generation(model, ids.to(device), prep.settings.max_new_tokens, **kwargs)
    text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    return GenerationResult(prompt, text, timing, prep.notes)
