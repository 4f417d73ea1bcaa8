"""Canary secrets for the memorisation lesson: insert them into a fine-tuning set, enumerate the space."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Iterable, Iterator

from course_utils.errors import BadInputError

from .world import Document

CANARY_PREFIX = "Customer note: the secret code is "


@dataclass(frozen=True)
class Canary:
    secret: str         # e.g. "4 8 1 2 9 3" is stored as "481293"
    text: str           # the document that carries it
    repetitions: int


def canary_text(secret: str) -> str:
    """The sentence that carries a secret; the same template for every candidate in the space."""
    return f"{CANARY_PREFIX}{secret}."


def canary_space(n_digits: int = 6) -> Iterator[str]:
    """Every possible secret of ``n_digits`` digits, in order ('000000', '000001', ...)."""
    for t in itertools.product("0123456789", repeat=n_digits):
        yield "".join(t)


def canary_space_size(n_digits: int = 6) -> int:
    return 10 ** n_digits


def insert_canaries(docs: list[Document], n_canaries: int = 1, repetitions: int = 1,
                    n_digits: int = 6, seed: int = 0,
                    exclude: Iterable[str] = ()) -> tuple[list[Document], list[Canary]]:
    """Return a copy of ``docs`` with ``n_canaries`` random secrets, each repeated ``repetitions``
    times at random positions, and the list of canaries. The input list is not modified.
    Secrets in ``exclude`` (e.g. those of another group of canaries) are never drawn."""
    if n_canaries < 0 or repetitions < 1 or n_digits < 1:
        raise BadInputError("need n_canaries >= 0, repetitions >= 1 and n_digits >= 1")
    taken = set(exclude)
    free = canary_space_size(n_digits) - sum(len(s) == n_digits and s.isdigit() for s in taken)
    if n_canaries > free:
        raise BadInputError(f"{n_canaries} distinct {n_digits}-digit secrets were asked for, but only {free} of "
                            f"the space's {canary_space_size(n_digits)} are free: use fewer canaries or more digits.")
    rng = random.Random(f"canaries/{seed}")
    secrets: list[str] = []
    while len(secrets) < n_canaries:
        s = "".join(rng.choice("0123456789") for _ in range(n_digits))
        if s not in secrets and s not in taken:
            secrets.append(s)
    canaries = [Canary(s, canary_text(s), repetitions) for s in secrets]
    out = list(docs)
    logp = -n_digits * math.log(10)  # the secret is uniform over the space
    for c in canaries:
        for _ in range(repetitions):
            out.insert(rng.randint(0, len(out)), Document(c.text, "canary", logp, logp, meta={"secret": c.secret}))
    return out, canaries
