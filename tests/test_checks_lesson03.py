"""Lesson 03 checks: accept a right answer, reject a stub and typical wrong answers with a message."""

import math

import pytest
import torch
from check_verdicts import assert_verdicts

from course_utils.checks import lesson03 as c


def right_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def right_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def right_split(x, n_heads):
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)


def right_mha(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    B, T, C = x.shape
    q = right_split(x @ w_q.T, n_head)
    k = right_split(x @ w_k.T, n_kv_head).repeat_interleave(n_head // n_kv_head, dim=1)
    v = right_split(x @ w_v.T, n_kv_head).repeat_interleave(n_head // n_kv_head, dim=1)
    y = right_attention(q, k, v, right_mask(T))
    return y.transpose(1, 2).reshape(B, T, -1) @ w_o.T


def softmax_over_queries(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-2) @ v


def no_output_projection(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    return right_mha(x, w_q, w_k, w_v, torch.eye(w_o.size(0)), n_head, n_kv_head)


def no_repeat_kv(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    B, T, C = x.shape
    q, k, v = right_split(x @ w_q.T, n_head), right_split(x @ w_k.T, n_kv_head), right_split(x @ w_v.T, n_kv_head)
    return right_attention(q, k, v, right_mask(T)).transpose(1, 2).reshape(B, T, -1) @ w_o.T


def non_causal_mha(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    B, T, C = x.shape
    q = right_split(x @ w_q.T, n_head)
    k = right_split(x @ w_k.T, n_kv_head).repeat_interleave(n_head // n_kv_head, dim=1)
    v = right_split(x @ w_v.T, n_kv_head).repeat_interleave(n_head // n_kv_head, dim=1)
    return right_attention(q, k, v).transpose(1, 2).reshape(B, T, -1) @ w_o.T


CASES = {
    "causal_mask": (c.check_causal_mask, right_mask, [
        (lambda T: torch.ones(T, T, dtype=torch.bool).triu(), "transposed"),
        (lambda T: torch.ones(T, T).tril(), "boolean"),
        (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), "lower triangle"),
        (lambda T: [[True]], "should return a tensor"),
    ]),
    "attention": (c.check_attention, right_attention, [
        (lambda q, k, v, mask=None: right_attention(q * math.sqrt(q.size(-1)), k, v, mask), "not scaled"),
        (lambda q, k, v, mask=None: right_attention(q, k, v), "mask is ignored"),
        (softmax_over_queries, "wrong dimension"),
        (lambda q, k, v, mask=None: q, "attention output"),
    ]),
    "split_heads": (c.check_split_heads, right_split, [
        (lambda x, nh: x.reshape(x.size(0), nh, x.size(1), -1), "heads mixed up"),
        (lambda x, nh: x.view(x.size(0), x.size(1), nh, -1), "wrong shape"),
    ]),
    "mha": (c.check_causal_self_attention, right_mha, [
        (lambda x, w_q, w_k, w_v, w_o, nh, nkv: right_mha(x, w_q, w_k, w_v, w_o, nh, nkv) * 1.1, "attention output"),
        (no_output_projection, "attention output"),
        (no_repeat_kv, "your code raised RuntimeError"),
        (non_causal_mha, "not causal"),  # the first config is fine, grouped-query crashes
    ]),
}


@pytest.mark.parametrize("name, i", [(n, i) for n in CASES for i in range(len(CASES[n][2]))])
def test_accepts_right_waits_for_stub_rejects_wrong_with_message(name, i, capsys):
    check, right, wrongs = CASES[name]
    wrong, message = wrongs[i]
    assert_verdicts(check, right, wrong, message, capsys)

