"""course_utils.nn: from-scratch attention equals torch's, the from-scratch GPT equals transformers' Llama."""

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from course_utils import MODELS_DIR
from course_utils.nn import (
    GPT,
    GPTConfig,
    apply_rope,
    causal_mask,
    merge_heads,
    repeat_kv,
    rope_cos_sin,
    scaled_dot_product_attention,
    split_heads,
)
from course_utils.nn import gpt as gpt_module

transformers = pytest.importorskip("transformers")

ATOL_ATTN = 1e-5
ATOL_LOGITS = 1e-4


def qkv(B=2, nh=4, T=9, hs=16, Tk=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    Tk = T if Tk is None else Tk
    return (torch.randn(B, nh, T, hs, generator=g), torch.randn(B, nh, Tk, hs, generator=g),
            torch.randn(B, nh, Tk, hs, generator=g))


# ---- attention -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {},
    {"is_causal": True},
    {"scale": 0.3},
    {"is_causal": True, "scale": 0.3},
], ids=["plain", "causal", "scale", "causal+scale"])
def test_attention_matches_torch(kwargs):
    q, k, v = qkv()
    ours = scaled_dot_product_attention(q, k, v, **kwargs)
    torch_y = F.scaled_dot_product_attention(q, k, v, **kwargs)
    assert ours.shape == torch_y.shape == (2, 4, 9, 16)
    assert (ours - torch_y).abs().max() <= ATOL_ATTN


def test_attention_causal_with_fewer_queries_than_keys_matches_torch():
    q, k, v = qkv(T=3, Tk=7)  # torch aligns the causal mask top-left; so must we
    diff = scaled_dot_product_attention(q, k, v, is_causal=True) - F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert diff.abs().max() <= ATOL_ATTN


def test_attention_boolean_and_float_masks_match_torch():
    q, k, v = qkv()
    g = torch.Generator().manual_seed(1)
    bool_mask = torch.rand(2, 1, 9, 9, generator=g) > 0.4  # broadcast over heads
    bool_mask[..., 0] = True  # keep at least one key per row (an all-masked row is NaN in both)
    float_mask = torch.randn(9, 9, generator=g)
    for mask in (bool_mask, float_mask, causal_mask(9)):
        ours = scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert (ours - F.scaled_dot_product_attention(q, k, v, attn_mask=mask)).abs().max() <= ATOL_ATTN
    # the boolean causal mask is the same as is_causal=True
    assert torch.equal(scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(9)),
                       scaled_dot_product_attention(q, k, v, is_causal=True))


def test_grouped_query_attention_after_repeat_kv_matches_torch():
    q, _, _ = qkv(nh=6)
    _, k, v = qkv(nh=2, seed=1)  # 2 key/value heads shared by 6 query heads
    k3, v3 = repeat_kv(k, 3), repeat_kv(v, 3)
    assert k3.shape == (2, 6, 9, 16)
    assert torch.equal(k3, k.repeat_interleave(3, dim=1))
    ours = scaled_dot_product_attention(q, k3, v3, is_causal=True)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    assert (ours - ref).abs().max() <= ATOL_ATTN


def test_attention_weights_are_causal_distributions():
    q, k, v = qkv()
    y, w = scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
    assert w.shape == (2, 4, 9, 9)
    assert torch.allclose(w.sum(-1), torch.ones(2, 4, 9), atol=1e-6)
    assert torch.all(w.triu(diagonal=1) == 0)  # nothing attends to the future
    assert torch.all(w[..., causal_mask(9)] > 0)  # the past and present all get some weight
    assert torch.allclose(w[..., 0, 0], torch.ones(2, 4))  # the first token can only see itself
    assert torch.allclose(y, w @ v)


def test_attention_rejects_bad_input_with_a_message():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="repeat_kv"):
        scaled_dot_product_attention(q, k[:, :2], v[:, :2])
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(9), is_causal=True)
    with pytest.raises(ValueError, match="head size"):
        scaled_dot_product_attention(q, k[..., :8], v)


def test_causal_mask_and_heads():
    assert torch.equal(causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    x = torch.randn(2, 5, 12)
    h = split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    assert torch.equal(h[:, 1, :, :], x[..., 4:8])  # head 1 owns channels 4..7
    assert torch.equal(merge_heads(h), x)
    with pytest.raises(ValueError, match="divisible"):
        split_heads(x, 5)


# ---- RoPE ------------------------------------------------------------------------------------------------------

def test_rope_matches_transformers_llama():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = LlamaConfig(hidden_size=64, num_attention_heads=4, rope_parameters={"rope_type": "default",
                                                                                  "rope_theta": 500.0})
    q, k, _ = qkv(T=11)
    hf_cos, hf_sin = LlamaRotaryEmbedding(config)(q, torch.arange(11)[None])
    cos, sin = rope_cos_sin(11, 16, theta=500.0)
    assert torch.equal(cos, hf_cos[0]) and torch.equal(sin, hf_sin[0])
    hf_q, hf_k = apply_rotary_pos_emb(q, k, hf_cos, hf_sin)
    assert torch.equal(apply_rope(q, cos, sin), hf_q) and torch.equal(apply_rope(k, cos, sin), hf_k)


def test_rope_scores_depend_only_on_relative_position():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)
    cos, sin = rope_cos_sin(20, 16)

    def score(m, n):  # query at position m, key at position n
        return apply_rope(q, cos[m], sin[m]) @ apply_rope(k, cos[n], sin[n])

    assert torch.isclose(score(5, 2), score(15, 12), atol=1e-5)
    assert not torch.isclose(score(5, 2), score(5, 4), atol=1e-3)
    assert torch.isclose(apply_rope(q, cos[7], sin[7]).norm(), q.norm())  # a rotation keeps lengths


# ---- the GPT against transformers' Llama -----------------------------------------------------------------------

def llama_config(tie=True, **overrides):
    from transformers import LlamaConfig

    kw = dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              intermediate_size=128, max_position_embeddings=64, tie_word_embeddings=tie,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, eos_token_id=None,
              bos_token_id=None)
    kw.update(overrides)
    return LlamaConfig(**kw)


HF_VARIANTS = {
    "tied": {},
    "untied": {"tie": False},
    # like SmolLM2: head_dim set on its own (not hidden_size / heads) and a larger rope_theta
    "head_dim": {"head_dim": 24, "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0}},
}


@pytest.fixture(scope="module", params=list(HF_VARIANTS))
def hf_path(request, tmp_path_factory):
    """A random LlamaForCausalLM saved with save_pretrained, with weights large enough that the attention
    pattern (and so RoPE) matters for the logits."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config(**HF_VARIANTS[request.param]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0.0, 0.2)
    path = tmp_path_factory.mktemp(f"llama_{request.param}")
    model.save_pretrained(path)
    return path


def load_hf(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


def tokens(vocab, B=2, T=24, seed=0):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


def test_gpt_reproduces_llama_logits_and_attention(hf_path):
    hf = load_hf(hf_path)
    ours = GPT.from_hf(hf_path)
    idx = tokens(256)
    with torch.no_grad():
        ref = hf(idx, output_attentions=True)
        logits, attentions = ours(idx, return_attention=True)
    assert logits.shape == (2, 24, 256)
    assert (logits - ref.logits).abs().max() <= ATOL_LOGITS
    assert len(attentions) == 2
    for a, b in zip(attentions, ref.attentions):
        assert a.shape == (2, 4, 24, 24)
        assert (a - b).abs().max() <= ATOL_ATTN


def test_gpt_parameter_count_matches_llama(hf_path):
    hf = load_hf(hf_path)
    ours = GPT.from_hf(hf)
    total = sum(p.numel() for p in ours.parameters())
    assert total == hf.num_parameters()
    parts = ours.count_parameters_by_component()
    assert sum(parts.values()) == total
    C, V, L, hs = 64, 256, 2, hf.config.head_dim
    assert parts["embedding"] == V * C
    assert parts["attention"] == L * (2 * C * 4 * hs + 2 * C * 2 * hs)  # q, o: 4 heads; k, v: 2 heads
    assert parts["mlp"] == L * 3 * C * 128
    assert parts["norms"] == (2 * L + 1) * C
    assert ("lm_head" in parts) == (not hf.config.tie_word_embeddings)


def test_rope_matters_for_parity(hf_path, monkeypatch):
    """The parity test would catch a model that forgot positions."""
    hf = load_hf(hf_path)
    ours = GPT.from_hf(hf)
    monkeypatch.setattr(gpt_module, "apply_rope", lambda x, cos, sin: x)
    idx = tokens(256)
    with torch.no_grad():
        assert (ours(idx) - hf(idx).logits).abs().max() > 1e-2


def test_loss_matches_llama(hf_path):
    hf = load_hf(hf_path)
    ours = GPT.from_hf(hf)
    idx = tokens(256)
    targets = torch.cat([idx[:, 1:], torch.full((2, 1), -100)], dim=1)  # next token; nothing after the last
    with torch.no_grad():
        _, loss = ours(idx, targets)
        assert abs(loss.item() - hf(idx, labels=idx).loss.item()) <= 1e-5


def test_greedy_generation_matches_transformers(hf_path):
    hf = load_hf(hf_path)
    ours = GPT.from_hf(hf)
    prompt = tokens(256, B=1, T=5)
    expected = hf.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
    assert torch.equal(ours.generate(prompt, 6, temperature=0), expected)
    assert torch.equal(ours.generate(prompt, 6, temperature=1.0, top_k=1), expected)  # top-1 sampling is greedy


def test_to_hf_round_trip_and_torch_attention(hf_path):
    hf = load_hf(hf_path)
    ours = GPT.from_hf(hf)
    idx = tokens(256)
    with torch.no_grad():
        back = ours.to_hf()(idx).logits
        fast = GPT.from_hf(hf)
        for block in fast.blocks:
            block.attn.attn_impl = "torch"
        assert (back - hf(idx).logits).abs().max() <= ATOL_LOGITS
        assert (fast(idx) - ours(idx)).abs().max() <= ATOL_LOGITS


def test_gpt_trains_from_scratch():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, n_layer=1, n_head=2, n_kv_head=1, n_embd=16, intermediate_size=32,
                          max_seq_len=8))
    assert model.lm_head.weight is model.tok_emb.weight
    idx = torch.arange(8).repeat(4, 1)  # a pattern to memorise: 0 1 2 ... 7
    targets = torch.cat([idx[:, 1:], torch.full((4, 1), -100)], dim=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        _, loss = model(idx, targets)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first / 3


def test_gpt_rejects_bad_input():
    model = GPT(GPTConfig(max_seq_len=8))
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 1, temperature=-1)
    with pytest.raises(ValueError, match="multiple of n_kv_head"):
        GPTConfig(n_head=4, n_kv_head=3)
    with pytest.raises(ValueError, match="biases"):
        GPTConfig.from_hf_config(llama_config(attention_bias=True))
    cfg = GPTConfig.from_hf_config(llama_config())
    assert dataclasses.asdict(cfg) == dataclasses.asdict(GPTConfig(
        vocab_size=256, n_layer=2, n_head=4, n_kv_head=2, n_embd=64, head_dim=16, intermediate_size=128,
        max_seq_len=64, rope_theta=10000.0, rms_norm_eps=1e-6, tie_embeddings=True))


# ---- the shipped course models ---------------------------------------------------------------------------------

COURSE_MODELS = sorted(p.parent for p in Path(MODELS_DIR).glob("*/config.json"))


@pytest.mark.skipif(not COURSE_MODELS, reason="no course models under models/ yet")
@pytest.mark.parametrize("path", COURSE_MODELS, ids=lambda p: p.name)
def test_gpt_reproduces_course_model(path):
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ours = GPT.from_hf(hf)
    idx = tokens(hf.config.vocab_size, T=min(32, hf.config.max_position_embeddings))
    with torch.no_grad():
        assert (ours(idx) - hf(idx).logits).abs().max() <= ATOL_LOGITS
    assert sum(p.numel() for p in ours.parameters()) == hf.num_parameters()
