"""The bigram counted and learned: the count table is normalized counts, gradient descent reaches its loss."""

import math

import pytest
import torch

from course_utils.bigram import CharVocab, NeuralBigram, bigram_counts, count_logprobs, table_loss
from course_utils.ngram import END
from course_utils.training import TrainConfig, encode_texts, train

TEXTS = ["the cat sat on the mat.", "the dog sat on the log.", "a cat and a dog."] * 4


def test_vocab_streams_texts_with_end_between_them_and_unknown_characters():
    chars = CharVocab(["ab", "ba"])
    assert chars.itos[0] == END and len(chars) == 4          # END, a, b, unknown
    stream = encode_texts(chars, ["ab", "bz"])
    assert stream.tolist() == [1, 2, 0, 2, chars.unk_id, 0]
    assert chars.decode(stream[:3]) == "ab" + END


def test_counts_by_hand():
    stream = torch.tensor([1, 2, 1, 2, 2, 0])                # pairs 1-2, 2-1, 1-2, 2-2, 2-0
    counts = bigram_counts(stream, 3)
    assert counts.tolist() == [[0, 0, 0], [0, 0, 2], [1, 1, 1]]
    assert counts.sum() == len(stream) - 1


def test_count_table_is_the_normalized_counts_with_add_alpha_smoothing():
    counts = torch.tensor([[0, 0, 0], [0, 1, 3], [2, 1, 1]])
    plain = count_logprobs(counts, alpha=0.0).exp()
    assert torch.allclose(plain[1], torch.tensor([0, 1 / 4, 3 / 4]))
    assert torch.allclose(plain[2], torch.tensor([2 / 4, 1 / 4, 1 / 4]))
    assert torch.allclose(plain[0], torch.full((3,), 1 / 3))  # never seen: uniform
    add_one = count_logprobs(counts, alpha=1.0).exp()          # (N(a b) + 1) / (N(a) + V)
    assert torch.allclose(add_one[1], torch.tensor([1 / 7, 2 / 7, 4 / 7]))
    assert torch.allclose(add_one.sum(1), torch.ones(3))


def test_table_loss_is_the_mean_negative_log_probability_of_each_pair():
    stream = torch.tensor([1, 2, 1, 2, 2, 0])
    table = count_logprobs(bigram_counts(stream, 3), alpha=0.0)
    by_hand = -(2 * math.log(2 / 2) + math.log(1 / 3) * 3) / 5   # 1 -> 2 twice (p = 1); 2 -> 1, 2, 0 (p = 1/3)
    assert math.isclose(table_loss(table, stream), by_hand, rel_tol=1e-6)


def test_the_neural_bigram_is_a_one_hot_times_its_weight_matrix_and_starts_uniform():
    model = NeuralBigram(5)
    torch.nn.init.normal_(model.logits.weight, generator=torch.Generator().manual_seed(0))
    idx = torch.tensor([[0, 3, 3, 1]])                                     # (B, T)
    one_hot = torch.nn.functional.one_hot(idx, 5).float()                   # (B, T, V)
    assert torch.allclose(model(idx), one_hot @ model.logits.weight)
    assert torch.allclose(NeuralBigram(5).logprobs().exp(), torch.full((5, 5), 0.2))


def test_gradient_descent_reaches_the_counting_bigrams_loss():
    chars = CharVocab(TEXTS)
    stream = encode_texts(chars, TEXTS)                                     # (N,)
    best = table_loss(count_logprobs(bigram_counts(stream, len(chars)), alpha=0.0), stream)
    model = NeuralBigram(len(chars))
    cfg = TrainConfig(steps=300, batch_size=16, block_size=32, lr=0.3, warmup_steps=0, weight_decay=0.0,
                      grad_clip=None, eval_every=300)
    history = train(model, stream, stream, cfg, progress=False)
    assert history.val_loss[0] == pytest.approx(math.log(len(chars)))     # all-zero logits: uniform
    learned = table_loss(model.logprobs(), stream)
    assert learned > best - 1e-6                 # the normalized counts are the best any bigram does here
    assert learned - best < 0.003                # ... and gradient descent gets there
    assert best < math.log(len(chars)) - 1       # (a bigram learns a lot on this text: the test is not trivial)
