"""Measure a course model against the generator: bits/char vs the floor, helpdesk accuracy, samples."""

from __future__ import annotations

import math

import torch

from course_utils.corpus import CATEGORIES, Document, derivations, ticket_prompt

LN2 = math.log(2)
SAMPLE_PROMPTS = {"story": "Once upon a time,", "weather": "Weather report for", "recipe": "Recipe:",
                  "review": "Review of the", "helpdesk": "Ticket #", "clinic": "Clinic note,"}


@torch.no_grad()
def sequence_logprobs(model, seqs: list[list[int]], pad_id: int, batch_size: int = 32) -> list[list[float]]:
    """log p(token_t | tokens_<t) for t >= 1 of each sequence (natural log)."""
    out: list[list[float]] = [[] for _ in seqs]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths batch together
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        T = max(len(seqs[i]) for i in idx)
        ids = torch.full((len(idx), T), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), T), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
            mask[r, :len(seqs[i])] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits.float()     # (B, T, V)
        lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]  # (B, T-1)
        for r, i in enumerate(idx):
            out[i] = lp[r, :len(seqs[i]) - 1].tolist()
    return out


def doc_bits(model, tokenizer, docs: list[Document]) -> list[float]:
    """-log2 p_model(<s> text </s>) per document: every token of the text plus the end token."""
    seqs = [x + [tokenizer.eos_token_id] for x in tokenizer([d.text for d in docs])["input_ids"]]
    return [-sum(lp) / LN2 for lp in sequence_logprobs(model, seqs, tokenizer.pad_token_id)]


def by_domain(docs: list[Document], bits: list[float]) -> dict[str, float]:
    """Bits/char (sum of bits / sum of characters) for the mix and for each domain."""
    groups: dict[str, list[int]] = {"mix": list(range(len(docs)))}
    for i, d in enumerate(docs):
        groups.setdefault(d.domain, []).append(i)
    return {k: sum(bits[i] for i in ix) / sum(len(docs[i].text) for i in ix) for k, ix in groups.items()}


def helpdesk_accuracy(model, tokenizer, tickets: list[Document]) -> float:
    """Pick the category whose label (with its line end) is most likely after 'Category: '."""
    seqs, spans = [], []
    for d in tickets:
        cands = [tokenizer(ticket_prompt(d) + c + "\n")["input_ids"] for c in CATEGORIES]
        k = 0  # shared prefix: the label's own tokens start after it
        while all(len(c) > k and c[k] == cands[0][k] for c in cands):
            k += 1
        seqs += cands
        spans += [k] * len(cands)
    lps = sequence_logprobs(model, seqs, tokenizer.pad_token_id)
    n = len(CATEGORIES)
    correct = 0
    for j, d in enumerate(tickets):
        scores = [sum(lps[j * n + c][spans[j * n + c] - 1:]) for c in range(n)]
        correct += CATEGORIES[max(range(n), key=scores.__getitem__)] == d.label
    return correct / len(tickets)


@torch.no_grad()
def samples(model, tokenizer, per_domain: int = 4, max_new_tokens: int = 170, seed: int = 0) -> dict:
    """Sampled continuations (temperature 1) of each domain's opening, and how many of them are
    exactly grammatical: a text of the world is one the generator's parser can derive."""
    torch.manual_seed(seed)
    out, valid, total = {}, 0, 0
    for dom, prompt in SAMPLE_PROMPTS.items():
        enc = tokenizer([prompt] * per_domain, return_tensors="pt")
        gen = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                             max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
        texts = tokenizer.batch_decode(gen, skip_special_tokens=True)
        ok = [_parses(t, dom) for t in texts]
        valid += sum(ok)
        total += len(texts)
        out[dom] = [{"text": t, "grammatical": g} for t, g in zip(texts, ok)]
    return {"grammatical_fraction": valid / total, "by_domain": out}


def _parses(text: str, domain: str) -> bool:
    try:
        return len(derivations(text, domain, limit=1, max_runs=20_000)) == 1
    except RuntimeError:
        return False
