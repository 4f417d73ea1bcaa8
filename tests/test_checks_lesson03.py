"""Lesson 03 checks: accept a right answer, reject a stub and typical wrong answers with their message."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from check_verdicts import assert_verdicts

from course_utils.checks import lesson03 as c
from course_utils.hints import load_hints

# ---- right answers (as in solutions/03_self_attention.ipynb) ---------------------------------------


def simple_attention(x):
    return torch.softmax(x @ x.transpose(-2, -1), dim=-1) @ x


def self_attention_forward(self, x):
    q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(k.size(-1)), dim=-1) @ v


def causal_attention_forward(self, x):
    T = x.size(1)
    q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))).masked_fill(~self.mask[:T, :T], float("-inf"))
    return self.dropout(torch.softmax(scores, dim=-1)) @ v


def _heads(t, n):  # (B, T, n * hs) -> (B, n, T, hs)
    B, T, _ = t.shape
    return t.view(B, T, n, -1).transpose(1, 2)


def _attend(self, q, k, v):  # (B, nh, T, hs) each -> (B, T, nh * hs)
    B, nh, T, hs = q.shape
    scores = (q @ k.transpose(-2, -1) / math.sqrt(hs)).masked_fill(~self.mask[:T, :T], float("-inf"))
    return (self.dropout(torch.softmax(scores, dim=-1)) @ v).transpose(1, 2).reshape(B, T, nh * hs)


def multi_head_attention_forward(self, x):
    q, k, v = (_heads(w(x), self.n_heads) for w in (self.W_query, self.W_key, self.W_value))
    return self.W_out(_attend(self, q, k, v))


def grouped_query_attention_forward(self, x):
    r = self.n_heads // self.n_kv_heads
    q = _heads(self.W_query(x), self.n_heads)
    k, v = (_heads(w(x), self.n_kv_heads).repeat_interleave(r, dim=1) for w in (self.W_key, self.W_value))
    return self.W_out(_attend(self, q, k, v))


class SelfAttention(nn.Module):
    def __init__(self, d_in, d_out, bias=False):
        super().__init__()
        self.W_query = nn.Linear(d_in, d_out, bias=bias)
        self.W_key = nn.Linear(d_in, d_out, bias=bias)
        self.W_value = nn.Linear(d_in, d_out, bias=bias)

    forward = self_attention_forward


class CausalAttention(SelfAttention):
    def __init__(self, d_in, d_out, context_length, dropout=0.0):
        super().__init__(d_in, d_out)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", torch.ones(context_length, context_length, dtype=torch.bool).tril())

    forward = causal_attention_forward


class MultiHeadAttention(CausalAttention):
    def __init__(self, d_in, d_out, n_heads, dropout=0.0, context_length=256):
        super().__init__(d_in, d_out, context_length, dropout)
        self.n_heads, self.head_dim = n_heads, d_out // n_heads
        self.W_out = nn.Linear(d_out, d_out, bias=False)

    forward = multi_head_attention_forward


class GroupedQueryAttention(MultiHeadAttention):
    def __init__(self, d_in, d_out, n_heads, n_kv_heads, dropout=0.0, context_length=256):
        super().__init__(d_in, d_out, n_heads, dropout, context_length)
        self.n_kv_heads = n_kv_heads
        self.W_key = nn.Linear(d_in, n_kv_heads * self.head_dim, bias=False)
        self.W_value = nn.Linear(d_in, n_kv_heads * self.head_dim, bias=False)

    forward = grouped_query_attention_forward


def module(base, forward, **attributes):
    """A variant of a right module with another forward (and class attributes)."""
    return type(base.__name__, (base,), {"forward": forward, **attributes})


# ---- typical wrong answers --------------------------------------------------------------------------

def scores_of(self, x, scale=None):
    q, k = self.W_query(x), self.W_key(x)
    return q @ k.transpose(-2, -1) / math.sqrt(k.size(-1) if scale is None else scale)


class NoParameters(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query = self.W_key = self.W_value = None

    def forward(self, x):
        return x


class MaskAttribute(CausalAttention):  # a plain tensor attribute: not moved by .to(device), not saved
    def __init__(self, d_in, d_out, context_length, dropout=0.0):
        super().__init__(d_in, d_out, context_length, dropout)
        mask = self.mask
        del self.mask
        self.mask = mask.clone()


class MaskParameter(CausalAttention):
    def __init__(self, d_in, d_out, context_length, dropout=0.0):
        super().__init__(d_in, d_out, context_length, dropout)
        mask = self.mask
        del self.mask
        self.mask = nn.Parameter(mask.float())


def causal(body):
    """A CausalAttention forward built from scores (B, T, T) and the mask (T, T)."""
    def forward(self, x):
        T = x.size(1)
        return body(self, x, scores_of(self, x), self.mask[:T, :T], self.W_value(x))
    return forward


def manual_dropout_without_rescale(self, x, s, mask, v):
    w = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
    return (w * (torch.rand(w.shape) > self.dropout.p) if self.training else w) @ v


def split_view(t, n):  # the classic mistake: the right shape, the wrong numbers
    B, T, C = t.shape
    return t.view(B, n, T, C // n)


def mha(split=_heads, merge=None, out=True, causal_mask=True, scale=None, dropout=True):
    def forward(self, x):
        B, T, _ = x.shape
        q, k, v = (split(w(x), self.n_heads) for w in (self.W_query, self.W_key, self.W_value))
        s = q @ k.transpose(-2, -1) / math.sqrt(scale or self.head_dim)
        if causal_mask:
            s = s.masked_fill(~self.mask[:T, :T], float("-inf"))
        w = torch.softmax(s, dim=-1)
        y = (self.dropout(w) if dropout else w) @ v  # (B, nh, T, hs)
        y = merge(y) if merge else y.transpose(1, 2).reshape(B, T, -1)
        return self.W_out(y) if out else y
    return forward


def gqa(repeat):
    def forward(self, x):
        r = self.n_heads // self.n_kv_heads
        q = _heads(self.W_query(x), self.n_heads)
        k, v = (repeat(_heads(w(x), self.n_kv_heads), r) for w in (self.W_key, self.W_value))
        return self.W_out(_attend(self, q, k, v))
    return forward


CASES = {
    "simple": (c.check_simple_attention, simple_attention, [
        (lambda x: torch.softmax(x @ x.transpose(-2, -1) / math.sqrt(x.size(-1)), -1) @ x, "the scores are scaled"),
        (lambda x: torch.softmax(x @ x.transpose(-2, -1), dim=-2) @ x, "softmax over the wrong dimension"),
        (lambda x: torch.softmax(x @ x.transpose(-2, -1), dim=-1), "shape of the attention weights"),
        (lambda x: (x @ x.transpose(-2, -1)) @ x, "the weights are the raw scores"),
        (lambda x: (s := x @ x.transpose(-2, -1)) / s.sum(-1, keepdim=True) @ x, "divided by their sum"),
        (lambda x: torch.softmax(x @ x.T, dim=-1) @ x, "transpose(-2, -1)"),  # .T on (B, T, C) crashes
        (lambda x: F.scaled_dot_product_attention(x, x, x, scale=1.0), "scaled_dot_product_attention was called"),
    ]),
    "self": (c.check_self_attention, SelfAttention, [
        (module(SelfAttention, lambda self, x: torch.softmax(scores_of(self, x, 1.0), -1) @ self.W_value(x)),
         "the scores are not scaled"),
        (module(SelfAttention, lambda self, x: torch.softmax(scores_of(self, x, x.size(-1)), -1) @ self.W_value(x)),
         "scaled by √d_in instead of √d_out"),
        (module(SelfAttention, lambda self, x: torch.softmax(scores_of(self, x).transpose(-2, -1), -1)
                @ self.W_value(x)), "queries and keys swapped"),
        (module(SelfAttention, lambda self, x: torch.softmax(scores_of(self, x), -2) @ self.W_value(x)),
         "softmax over the queries"),
        (module(SelfAttention, lambda self, x: torch.softmax(scores_of(self, x), -1) @ x), "d_in = 5 numbers"),
        (module(SelfAttention, lambda self, x: self_attention_forward(self, x.detach()).detach()),
         "not connected to the weights"),
        (module(SelfAttention, lambda self, x: torch.softmax(scores_of(self, x), -1) @ self.W_value(x).detach()),
         "no gradient reached W_value.weight"),
        (lambda d_in, d_out: SelfAttention(d_in, d_out, bias=True), "W_query has a bias"),
        (NoParameters, "no trainable parameters"),
        (module(SelfAttention, lambda self, x: F.scaled_dot_product_attention(
            self.W_query(x), self.W_key(x), self.W_value(x))), "scaled_dot_product_attention was called"),
    ]),
    "causal": (c.check_causal_attention, CausalAttention, [
        (module(CausalAttention, causal(lambda self, x, s, mask, v: self.dropout(torch.softmax(s, -1)) @ v)),
         "not causal"),
        (module(CausalAttention, lambda self, x: self.dropout(torch.softmax(
            scores_of(self, x).masked_fill(~self.mask, float("-inf")), -1)) @ self.W_value(x)),
         "works for T = context_length = 10 only"),
        (module(CausalAttention, causal(lambda self, x, s, mask, v: self.dropout(torch.softmax(
            s.masked_fill(mask, float("-inf")), -1)) @ v)), "NaN in the output"),
        (module(CausalAttention, causal(lambda self, x, s, mask, v: F.dropout(torch.softmax(
            s.masked_fill(~mask, float("-inf")), -1), self.dropout.p) @ v)), "dropout is still on"),
        (module(CausalAttention, causal(lambda self, x, s, mask, v: self.dropout(torch.softmax(
            s.masked_fill(~mask, float("-inf")), -1) @ v))), "dropout is applied to the output"),
        (module(CausalAttention, causal(lambda self, x, s, mask, v: torch.softmax(
            s.masked_fill(~mask, float("-inf")), -1) @ v)), "no attention weight was zeroed"),
        (module(CausalAttention, causal(lambda self, x, s, mask, v: torch.softmax(
            self.dropout(s).masked_fill(~mask, float("-inf")), -1) @ v)), "no attention weight was zeroed"),
        (module(CausalAttention, causal(manual_dropout_without_rescale)), "not rescaled"),
        (module(CausalAttention, causal(lambda self, x, s, mask, v: self.dropout(torch.softmax(
            scores_of(self, x, 1.0).masked_fill(~mask, float("-inf")), -1)) @ v)), "the scores are not scaled"),
        (MaskAttribute, "no buffer called mask"),
        (MaskParameter, "the mask is a parameter"),
    ]),
    "mha": (c.check_multi_head_attention, MultiHeadAttention, [
        (module(MultiHeadAttention, mha(split=split_view, merge=lambda y: y.reshape(y.size(0), y.size(2), -1))),
         "a view to (B, nh, T, hs) without transpose"),
        (module(MultiHeadAttention, mha(merge=lambda y: y.reshape(y.size(0), y.size(2), -1))),
         "merged without moving them back"),
        (module(MultiHeadAttention, mha(split=split_view)), "split with a view to (B, nh, T, hs)"),
        (module(MultiHeadAttention, mha(out=False)), "the output projection W_out is missing"),
        (module(MultiHeadAttention, mha(causal_mask=False)), "not causal"),
        (module(MultiHeadAttention, mha(scale=12)), "scaled by √d_out instead of √head_dim"),
        (module(MultiHeadAttention, mha(merge=lambda y: y.transpose(1, 2).view(y.size(0), y.size(2), -1))),
         ".reshape works where .view fails"),
        (module(MultiHeadAttention, mha(dropout=False)), "two calls give the same output"),
        (module(MultiHeadAttention, lambda self, x: multi_head_attention_forward(self, x)
                @ self.W_out.weight.detach().T), "MultiHeadAttention(12, 12, n_heads=3): output vs"),
        (module(MultiHeadAttention, lambda self, x: _attend(self, *(_heads(w(x), self.n_heads) for w in (
            self.W_query, self.W_key, self.W_value))) @ self.W_out.weight.detach().T),
         "no gradient reached W_out.weight"),
    ]),
    "gqa": (c.check_grouped_query_attention, GroupedQueryAttention, [
        (module(GroupedQueryAttention, gqa(lambda t, r: t.repeat(1, r, 1, 1))), "repeat instead of repeat_interleave"),
        (module(GroupedQueryAttention, gqa(lambda t, r: t)), "repeat each one n_heads // n_kv_heads times"),
        (module(GroupedQueryAttention, lambda self, x: multi_head_attention_forward(self, x)),
         "repeat each one n_heads // n_kv_heads times"),  # Exercise 4's forward: fine for 4 kv heads, then crashes
    ]),
}


@pytest.mark.filterwarnings("ignore:The use of `x.T`")
@pytest.mark.parametrize("name, i", [(n, i) for n in CASES for i in range(len(CASES[n][2]))])
def test_accepts_right_waits_for_stub_rejects_wrong_with_message(name, i, capsys):
    check, right, wrongs = CASES[name]
    wrong, message = wrongs[i]
    assert_verdicts(check, right, wrong, message, capsys)


def test_checks_leave_the_notebooks_random_state_alone(capsys):
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    for check, right, _ in CASES.values():
        check(right)
        assert torch.equal(torch.random.get_rng_state(), state), check.__name__
    assert capsys.readouterr().out.count("✅") == len(CASES)


def test_a_module_check_makes_its_exercise_current_for_hint(capsys):
    hints = load_hints("03")
    assert [e.name for e in hints.exercises] == ["simple_attention", "self_attention_forward",
                                                 "causal_attention_forward", "multi_head_attention_forward",
                                                 "grouped_query_attention_forward"]
    c.check_causal_attention(CausalAttention)  # its forward is a function called causal_attention_forward
    assert hints.current.name == "causal_attention_forward"
    hints(1)
    assert "exercise 3 · causal_attention_forward · hint 1" in capsys.readouterr().out


def test_the_fused_attention_is_back_after_a_check(capsys):
    before = F.scaled_dot_product_attention
    c.check_simple_attention(lambda x: F.scaled_dot_product_attention(x, x, x, scale=1.0))
    assert F.scaled_dot_product_attention is before
    q = torch.randn(1, 2, 3, 4)
    assert torch.allclose(F.scaled_dot_product_attention(q, q, q), c.scaled_dot_product_attention(q, q, q), atol=1e-6)
