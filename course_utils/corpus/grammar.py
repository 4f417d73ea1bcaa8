"""The machinery every domain grammar runs on: a generator that records each random choice.

A domain is a plain function ``domain(g, cfg)`` that calls ``g.pick(...)`` to make choices and
``g.emit(...)`` to write text. Run with a :class:`Sampler` it produces a document together with the
exact log-probability of the choices made. Run with a :class:`Replayer` (see ``parse.py``) the same
function is driven by forced choices against a target text, which lets a test enumerate *every*
derivation of a text and check that there is exactly one — so -log p(derivation) = -log p(text).
"""

from __future__ import annotations

import math
import random
from typing import Sequence, TypeVar

T = TypeVar("T")


class Gen:
    """Base class: text buffer, log-probability accumulator and helpers shared by both modes."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.logprob = 0.0  # natural log
        self.meta: dict = {}
        self.label: str | None = None
        self.choices: list[int] = []  # the derivation: index chosen at each pick

    # --- the two primitives -------------------------------------------------------------
    def _choose(self, weights: Sequence[float]) -> int:
        raise NotImplementedError

    def emit(self, *texts: str) -> None:
        self.parts.extend(texts)

    # --- helpers built on pick -------------------------------------------------------------
    def pick(self, options: Sequence[T], weights: Sequence[float] | None = None) -> T:
        """Choose one option (uniform unless ``weights``); adds log p(choice) to ``logprob``."""
        if weights is None:
            weights = [1.0] * len(options)
        if len(weights) != len(options) or not options:
            raise ValueError("pick needs as many weights as options, and at least one option")
        i = self._choose(weights)
        self.choices.append(i)
        self.logprob += math.log(weights[i] / sum(weights))
        return options[i]

    def chance(self, p: float) -> bool:
        """True with probability p."""
        return self.pick([True, False], [p, 1.0 - p])

    def digits(self, n: int, first_nonzero: bool = False) -> str:
        """Emit n uniformly random digits one choice at a time; return them."""
        out = ""
        for k in range(n):
            d = self.pick("123456789" if (k == 0 and first_nonzero) else "0123456789")
            self.emit(d)
            out += d
        return out

    def distinct(self, options: Sequence[T], k: int) -> list[T]:
        """k distinct options in random order (sampling without replacement)."""
        pool, out = list(options), []
        for _ in range(k):
            x = self.pick(pool)
            pool.remove(x)
            out.append(x)
        return out

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Sampler(Gen):
    """Draws choices from a seeded ``random.Random`` (Mersenne Twister: same seed, same bytes)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def _choose(self, weights: Sequence[float]) -> int:
        u = self.rng.random() * sum(weights)
        acc = 0.0
        for i, w in enumerate(weights):
            acc += w
            if u < acc:
                return i
        return max(i for i, w in enumerate(weights) if w > 0)  # u hit the rounding edge


class Branch(Exception):
    """Raised by the replayer at the first choice beyond its forced prefix."""

    def __init__(self, valid: list[int]) -> None:
        self.valid = valid


class Mismatch(Exception):
    """The text emitted so far is not a prefix of the target."""


class Replayer(Gen):
    """Replays a forced prefix of choices while checking the emitted text against a target."""

    def __init__(self, forced: list[int], target: str) -> None:
        super().__init__()
        self.forced, self.target, self.pos, self.n = forced, target, 0, 0

    def _choose(self, weights: Sequence[float]) -> int:
        if self.n < len(self.forced):
            self.n += 1
            return self.forced[self.n - 1]
        raise Branch([i for i, w in enumerate(weights) if w > 0])

    def emit(self, *texts: str) -> None:
        for s in texts:
            if not self.target.startswith(s, self.pos):
                raise Mismatch
            self.pos += len(s)


# --- small English helpers used by the grammars --------------------------------------------
def a(word: str) -> str:
    """'a apple' -> 'an apple'."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def cap(s: str) -> str:
    return s[0].upper() + s[1:]
