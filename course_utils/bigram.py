"""The bigram model twice: counted, and learned by gradient descent (lesson 01's bridge to neural nets).

A bigram model predicts the next character from the current one alone, so everything it knows is a
(V, V) table: row a is p(next | a). Counting fills the table with normalized counts::

    p(b | a) = (N(a b) + alpha) / (N(a) + V · alpha)        # alpha = 1: add-one (Laplace) smoothing

The same model as a neural net is a (V, V) table of *logits* W, one layer: the one-hot vector of a
times W is row a of W (what ``nn.Embedding(V, V)`` looks up), and its softmax is p(next | a). Trained
on the cross-entropy with ``course_utils.training.train``, the gradient for row a is
N(a) · softmax(W[a]) - N(a ·) (divided by the number of pairs): zero exactly where softmax(W[a]) is
the normalized count. Gradient descent finds the counting model's table.

    chars = CharVocab(texts)
    stream = encode_texts(chars, texts)                    # (N,) one id per character, END after each text
    table = count_logprobs(bigram_counts(stream, len(chars)))
    table_loss(table, stream)                              # nats per character
"""

from __future__ import annotations

import torch
import torch.nn as nn

from course_utils.ngram import END, UNK


class CharVocab:
    """One id per character seen in ``texts``; id 0 is END (a text's end, and so the start of the next),
    the last id stands for a character never seen. Called like a ``transformers`` tokenizer, so
    ``course_utils.training.encode_texts`` turns texts into one stream of ids."""

    def __init__(self, texts):
        self.itos = [END] + sorted(set("".join(texts)) - {END, UNK}) + [UNK]
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.eos_token_id, self.unk_id = 0, len(self.itos) - 1

    def __len__(self) -> int:
        return len(self.itos)

    def __call__(self, texts) -> dict[str, list[list[int]]]:
        return {"input_ids": [[self.stoi.get(c, self.unk_id) for c in t] for t in texts]}

    def decode(self, ids) -> str:
        return "".join(self.itos[int(i)] for i in ids)


def bigram_counts(stream: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """(V, V) counts: entry [a, b] is how often id b follows id a in the stream (N,)."""
    pairs = stream[:-1] * vocab_size + stream[1:]                            # (N-1,) one number per pair
    return torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)


def count_logprobs(counts: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """(V, V) log p(b | a): each row's counts plus ``alpha``, normalized to sum to 1.
    A row never seen (all zeros, alpha 0) gets the uniform distribution."""
    smoothed = counts.double() + alpha                                     # (V, V)
    total = smoothed.sum(1, keepdim=True)                                  # (V, 1) N(a) + V · alpha
    probs = torch.where(total > 0, smoothed / total.clamp_min(1e-300), 1.0 / counts.shape[1])
    return probs.log().float()


def table_loss(logprobs: torch.Tensor, stream: torch.Tensor) -> float:
    """Cross-entropy (nats per prediction) of a (V, V) log-probability table on every pair of the stream."""
    return -logprobs[stream[:-1], stream[1:]].double().mean().item()


class NeuralBigram(nn.Module):
    """The bigram as a one-layer neural net: a (V, V) table of logits, looked up by the current id.
    It starts at all zeros (every next character equally likely: the loss starts at ln V)."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.logits = nn.Embedding(vocab_size, vocab_size)  # row a = one_hot(a) @ W
        nn.init.zeros_(self.logits.weight)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.logits(idx)  # (B, T) -> (B, T, V): the logits of the next id after each id

    @torch.no_grad()
    def logprobs(self) -> torch.Tensor:
        """(V, V) log p(b | a), comparable with :func:`count_logprobs`."""
        return self.logits.weight.log_softmax(-1)
