"""Compare two tokenizers on the same texts: are they the same, how many tokens each needs, and
which words they cut differently. A tokenizer is a transformers tokenizer or any function
``text -> list of pieces`` (``characters`` is one)."""

from __future__ import annotations

import re


def characters(text: str) -> list[str]:
    """The character-level tokenizer: one piece per character."""
    return list(text)


def pieces(tokenizer, text: str) -> list[str]:
    """The text cut into pieces (special tokens left out)."""
    if callable(tokenizer) and not hasattr(tokenizer, "convert_ids_to_tokens"):
        return tokenizer(text)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode([i]) for i in ids]


def same_tokenizer(a, b) -> bool:
    """Same vocabulary (piece -> id) and same cut of a test sentence."""
    probe = "Ticket #4821: the VPN will not connect. Café, naïve, 😀."
    return a.get_vocab() == b.get_vocab() and pieces(a, probe) == pieces(b, probe)


def tokenizer_diff(texts: list[str], a, b, name_a: str = "A", name_b: str = "B", examples: int = 8) -> dict:
    """Token counts under ``a`` and ``b``, characters per token, and words cut differently."""
    n_a = n_b = n_chars = 0
    differ: dict[str, tuple[list[str], list[str]]] = {}
    for text in texts:
        n_a += len(pieces(a, text))
        n_b += len(pieces(b, text))
        n_chars += len(text)
        for word in re.findall(r" ?\w+", text):
            if word not in differ and len(differ) < examples:
                pa, pb = pieces(a, word), pieces(b, word)
                if pa != pb:
                    differ[word] = (pa, pb)
    return {"names": (name_a, name_b), "tokens": (n_a, n_b), "chars": n_chars,
            "chars_per_token": (n_chars / max(n_a, 1), n_chars / max(n_b, 1)), "examples": differ}


def diff_text(d: dict) -> str:
    """A readable report of :func:`tokenizer_diff`."""
    (na, nb), (ta, tb), (ca, cb) = d["names"], d["tokens"], d["chars_per_token"]
    lines = [f"{d['chars']:,} characters: {na} {ta:,} tokens ({ca:.2f} chars/token), "
             f"{nb} {tb:,} tokens ({cb:.2f} chars/token); {na} needs {ta / max(tb, 1):.2f}x the tokens of {nb}"]
    for word, (pa, pb) in d["examples"].items():
        lines.append(f"  {word!r:>16}: {na} {pa}  |  {nb} {pb}")
    return "\n".join(lines)
