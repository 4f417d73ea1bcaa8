"""The next-token distribution and how to sample from it: temperature, top-k, top-p.

Every transform works on logits (the model's raw scores), last dimension = vocabulary, and
returns logits; a removed token gets ``-inf`` so softmax gives it probability 0. The order is
the one ``transformers`` uses: temperature, then top-k, then top-p. ``SamplingStep`` keeps every
intermediate distribution so lessons and widgets can show what each transform did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LN2 = math.log(2)


# --------------------------------------------------------------------------- transforms

def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature``; 0 means greedy (only the most likely token stays)."""
    if temperature < 0:
        raise ValueError(f"temperature must be 0 or more (got {temperature})")
    if temperature == 0:
        best = logits.argmax(dim=-1, keepdim=True)                      # (..., 1)
        return torch.full_like(logits, -math.inf).scatter(-1, best, 0.0)
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` highest logits (ties with the k-th are kept too); ``k=0`` keeps all."""
    if k < 0:
        raise ValueError(f"top_k must be 0 (off) or more (got {k})")
    if k == 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]               # (..., 1)
    return logits.masked_fill(logits < kth, -math.inf)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus sampling: keep the most likely tokens until their mass reaches ``p``.

    A token is kept when the tokens ranked above it hold less than ``p`` of the mass, so the
    most likely token always stays and ``p=1`` keeps everything.
    """
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (got {p})")
    if p == 1:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs                          # mass ranked above each token
    remove_sorted = mass_before >= p
    remove = remove_sorted.scatter(-1, order, remove_sorted)            # back to vocabulary order
    return logits.masked_fill(remove, -math.inf)


# --------------------------------------------------------------------------- measuring a distribution

def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits over the last dimension (0 · log 0 counts as 0)."""
    logp = torch.where(probs > 0, probs.log(), torch.zeros_like(probs))
    return -(probs * logp).sum(dim=-1) / LN2 + 0.0  # + 0.0 turns -0.0 into 0.0


def mass_kept(probs: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """The probability mass of the kept tokens (before renormalising)."""
    return (probs * kept).sum(dim=-1)


@dataclass
class SamplingStep:
    """One next-token distribution, before and after the transforms (all shapes (V,))."""

    probs: torch.Tensor              # the model's distribution (temperature 1)
    tempered: torch.Tensor           # after temperature
    final: torch.Tensor              # after top-k and top-p, renormalised: what is sampled from
    kept: torch.Tensor               # bool: tokens that survived top-k and top-p

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())

    @property
    def mass_kept(self) -> float:
        """Share of the tempered distribution that top-k and top-p kept."""
        return float(mass_kept(self.tempered, self.kept))

    @property
    def entropy_before(self) -> float:
        return float(entropy_bits(self.probs))

    @property
    def entropy_after(self) -> float:
        return float(entropy_bits(self.final))


def transform(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
              top_p: float = 1.0) -> SamplingStep:
    """Apply temperature, top-k and top-p to one vector of logits (V,) and keep every stage."""
    logits = logits.float()
    tempered = apply_temperature(logits, temperature)
    filtered = top_p_filter(top_k_filter(tempered, top_k), top_p)
    return SamplingStep(probs=logits.softmax(-1), tempered=tempered.softmax(-1),
                        final=filtered.softmax(-1), kept=torch.isfinite(filtered))


# --------------------------------------------------------------------------- using a model

@torch.no_grad()
def next_token_logits(lm, prompt: str) -> torch.Tensor:
    """The logits (V,) a ``LoadedModel`` gives the token after ``prompt``."""
    from course_utils.generation import encode_prompt

    ids, _ = encode_prompt(lm, prompt, max_new_tokens=1)                # (1, T), fits the context
    return lm.model(ids.to(lm.model.device)).logits[0, -1].float().cpu()


@torch.no_grad()
def token_logprobs(lm, text: str) -> list[tuple[str, float]]:
    """Each token of ``text`` with log p(token | tokens before it), natural log.

    The first token is predicted from the beginning-of-text token when the tokenizer adds one.
    """
    tok = lm.tokenizer
    ids = tok(text, return_tensors="pt").input_ids                      # (1, T), with <s> if used
    if tok.bos_token_id is not None and ids[0, 0] != tok.bos_token_id:
        ids = torch.cat([torch.tensor([[tok.bos_token_id]]), ids], dim=1)
    logp = lm.model(ids.to(lm.model.device)).logits[0, :-1].float().log_softmax(-1).cpu()  # (T-1, V)
    targets = ids[0, 1:]
    picked = logp.gather(-1, targets[:, None])[:, 0]                    # (T-1,)
    return [(tok.decode([t]), float(lp)) for t, lp in zip(targets.tolist(), picked)]


@torch.no_grad()
def sample_continuation(lm, prompt: str, max_new_tokens: int = 20, temperature: float = 1.0,
                        top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None,
                        ) -> list[int]:
    """Sample up to ``max_new_tokens`` token ids after ``prompt``, with this module's transforms.

    Written out token by token so it is easy to read: the prompt runs once, then each new token
    runs alone, reusing the keys and values cached for the tokens before it (the KV cache).
    Stops early at the end-of-text token.
    """
    from course_utils.generation import encode_prompt

    ids, _ = encode_prompt(lm, prompt, max_new_tokens)                  # (1, T)
    out = lm.model(ids.to(lm.model.device), use_cache=True)
    eos = lm.tokenizer.eos_token_id
    new: list[int] = []
    for _ in range(max_new_tokens):
        step = transform(out.logits[0, -1].float().cpu(), temperature, top_k, top_p)   # (V,)
        token = int(torch.multinomial(step.final, 1, generator=generator))
        if token == eos:
            break
        new.append(token)
        out = lm.model(torch.tensor([[token]], device=lm.model.device),  # (1, 1): only the new token
                       past_key_values=out.past_key_values, use_cache=True)
    return new


def show_token(text: str) -> str:
    """A token made visible: spaces as '␣', newlines as '⏎', other control characters escaped."""
    text = text.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text) or "∅"


def token_labels(tokenizer, ids) -> list[str]:
    """Each token id decoded on its own and made visible (``show_token``): labels for plots and tables."""
    return [show_token(tokenizer.decode([int(i)])) for i in ids]
