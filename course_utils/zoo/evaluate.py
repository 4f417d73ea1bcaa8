"""Measure a course model against the generator: bits/char vs the floor, helpdesk accuracy, samples."""

from __future__ import annotations

import math

import torch

from course_utils.corpus import HELPDESK, Document, LabelTask, derivations

LN2 = math.log(2)
SAMPLE_PROMPTS = {"story": "Once upon a time,", "weather": "Weather report for", "recipe": "Recipe:",
                  "review": "Review of the", "helpdesk": "Ticket #", "clinic": "Clinic note,",
                  "email": "Email from"}


def padded_batches(seqs: list[list[int]], pad_id: int, batch_size: int = 32):
    """Yield (indices, ids (B, T), mask (B, T)): the sequences right-padded in batches of similar lengths."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths batch together
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        T = max(len(seqs[i]) for i in idx)
        ids = torch.full((len(idx), T), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), T), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
            mask[r, :len(seqs[i])] = 1
        yield idx, ids, mask


@torch.no_grad()
def sequence_logprobs(model, seqs: list[list[int]], pad_id: int, batch_size: int = 32) -> list[list[float]]:
    """log p(token_t | tokens_<t) for t >= 1 of each sequence (natural log)."""
    out: list[list[float]] = [[] for _ in seqs]
    device = next(model.parameters()).device
    for idx, ids, mask in padded_batches(seqs, pad_id, batch_size):
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float().cpu()  # (B, T, V)
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


def bits_per_char(model, tokenizer, docs: list[Document]) -> float:
    """Bits/char of the whole set of documents (the mix), the number every lesson compares with the floor."""
    return by_domain(docs, doc_bits(model, tokenizer, docs))["mix"]


def label_scores(model, tokenizer, docs: list[Document], task: LabelTask = HELPDESK) -> list[dict[str, float]]:
    """log p(label + line end | document up to the label prompt) for every label of ``task``."""
    seqs, spans = [], []
    for d in docs:
        cands = [tokenizer(task.prompt_of(d) + c + "\n")["input_ids"] for c in task.labels]
        k = 0  # shared prefix: the label's own tokens start after it
        while all(len(c) > k and c[k] == cands[0][k] for c in cands):
            k += 1
        seqs += cands
        spans += [k] * len(cands)
    lps = sequence_logprobs(model, seqs, tokenizer.pad_token_id)
    n = len(task.labels)
    return [{c: sum(lps[j * n + i][spans[j * n + i] - 1:]) for i, c in enumerate(task.labels)}
            for j in range(len(docs))]


def task_accuracy(model, tokenizer, docs: list[Document], task: LabelTask = HELPDESK) -> float:
    """Pick the label whose text (with its line end) is most likely after the task's prompt."""
    scores = label_scores(model, tokenizer, docs, task)
    return sum(max(s, key=s.get) == d.label for s, d in zip(scores, docs)) / len(docs)


def helpdesk_accuracy(model, tokenizer, tickets: list[Document]) -> float:
    """Accuracy on the helpdesk category task."""
    return task_accuracy(model, tokenizer, tickets, HELPDESK)


def middle_reading(model, tokenizer, docs: list[Document]) -> dict:
    """Reading from the middle: bits of each document's second half read alone (as a prompt is, after
    ``<s>``), against the bits of the same characters with the whole document before them."""
    alone = after = 0.0
    seqs = []
    for d in docs:
        enc = tokenizer(d.text, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        k = len(ids) // 2
        cut = offsets[k][0]
        seqs.append((ids + [tokenizer.eos_token_id], k))
        seqs.append((tokenizer(d.text[cut:])["input_ids"] + [tokenizer.eos_token_id], 1))
    lps = sequence_logprobs(model, [s for s, _ in seqs], tokenizer.pad_token_id)
    for j in range(0, len(seqs), 2):
        after += -sum(lps[j][seqs[j][1] - 1:]) / LN2     # tokens k... of the whole document
        alone += -sum(lps[j + 1]) / LN2                   # every token of the second half alone
    return {"docs": len(docs), "ratio": round(alone / after, 4), "bits_alone": round(alone, 1),
            "bits_in_context": round(after, 1)}


@torch.no_grad()
def copy_ratio(model, tokenizer, docs: list[Document], period: int = 48) -> dict:
    """Loss on the second copy of a repeated ``period``-token segment of real text ÷ the first copy."""
    from course_utils.heads import repeat_loss, repeated_segments

    ids = [tokenizer(d.text, add_special_tokens=False)["input_ids"] for d in docs]
    probe = repeated_segments(ids, period, tokenizer.bos_token_id)
    first, second = repeat_loss(model, probe, period)
    return {"segments": len(probe), "period": period, "first_nats": round(first, 4),
            "second_nats": round(second, 4), "ratio": round(second / first, 4)}


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
