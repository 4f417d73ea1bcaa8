"""Parse a text back into its derivations: the check that each text has exactly one."""

from __future__ import annotations

from .domains import DOMAINS
from .grammar import Branch, Mismatch, Replayer
from .world import CorpusConfig, mix_grammar


def derivations(text: str, domain: str = "mix", cfg: CorpusConfig = CorpusConfig(),
                limit: int = 2, max_runs: int = 200_000) -> list[tuple[list[int], float]]:
    """All derivations (choice sequences, log p) of ``text`` under ``domain``, up to ``limit``.

    Depth-first search: the grammar is re-run with a forced prefix of choices; a branch dies as
    soon as its emitted text stops matching ``text``. A well-formed grammar returns exactly one.
    """
    fn = mix_grammar(cfg) if domain == "mix" else DOMAINS[domain]
    found, stack, runs = [], [[]], 0
    while stack and len(found) < limit:
        forced = stack.pop()
        runs += 1
        if runs > max_runs:
            raise RuntimeError(f"parse of {text[:40]!r}... exceeded {max_runs} runs")
        g = Replayer(forced, text)
        try:
            fn(g, cfg)
        except Mismatch:
            continue
        except Branch as b:
            stack.extend(forced + [i] for i in reversed(b.valid))
            continue
        if g.pos == len(text):
            found.append((forced, g.logprob))
    return found
