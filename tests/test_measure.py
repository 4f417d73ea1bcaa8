import math

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

from course_utils import measure
from course_utils.catalog import get_spec


def test_count_parameters_matches_torch_and_splits_by_component():
    model = AutoModelForCausalLM.from_config(get_spec("SmolLM2-135M").to_config())
    counts = measure.count_parameters(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters()) == 134_515_008
    assert counts["embedding"] == 49152 * 576  # tied: counted once
    assert counts["non_embedding"] == counts["total"] - counts["embedding"]
    comp = counts["by_component"]
    assert sum(comp.values()) == counts["total"]
    assert comp["mlp"] == 30 * 3 * 576 * 1536
    assert comp["attention"] == 30 * (576 * 576 * 2 + 2 * 576 * 192)
    assert "other" not in comp


def test_count_parameters_untied_gpt2_has_positions_in_embedding():
    model = AutoModelForCausalLM.from_config(GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100,
                                                        n_positions=32))
    counts = measure.count_parameters(model)
    assert counts["embedding"] == 100 * 64 + 32 * 64
    assert counts["total"] == measure.params_from_architecture(
        arch="gpt2", n_layers=2, hidden=64, heads=4, kv_heads=4, head_dim=16, mlp=256, vocab=100,
        tied_embeddings=True, context=32)


def test_kv_cache_formula_matches_what_generate_allocates():
    config = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    model = AutoModelForCausalLM.from_config(config).eval()
    prompt = torch.randint(0, 128, (2, 10))
    out = model.generate(prompt, max_new_tokens=6, do_sample=False, return_dict_in_generate=True,
                         use_cache=True, attention_mask=torch.ones_like(prompt), pad_token_id=0)
    seq_len = out.sequences.shape[1] - 1  # the last token is produced but never fed back
    real = measure.cache_tensor_bytes(out.past_key_values)
    formula = measure.kv_cache_bytes(n_layers=3, kv_heads=2, head_dim=16, seq_len=seq_len, batch=2,
                                     bytes_per_value=4)
    assert real == formula > 0


def test_memory_footprint_and_weights_bytes():
    model = AutoModelForCausalLM.from_config(get_spec("SmolLM2-135M").to_config())
    n = 134_515_008
    assert measure.weights_bytes(n, torch.float32) == 4 * n
    assert measure.weights_bytes(n, "bfloat16") == 2 * n
    mem = measure.model_memory_bytes(model)
    assert 4 * n <= mem < 4 * n * 1.01  # parameters plus the small rotary buffer
    assert measure.model_memory_bytes(model.to(torch.bfloat16)) < mem / 1.9
    with pytest.raises(ValueError, match="unknown dtype"):
        measure.dtype_bytes("float8")


def test_flops_formulas():
    assert measure.training_flops(10, 100) == 6000
    # 2N, plus the attention term grows with context
    assert measure.flops_per_token(1000, n_layers=2, context=0, attn_dim=8) == 2000
    assert measure.flops_per_token(1000, n_layers=2, context=10, attn_dim=8) == 2000 + 2 * 2 * 10 * 8


def test_flops_per_token_counts_the_output_head_when_asked():
    """A tiny tied Llama by hand: vocab 100, hidden 16, MLP 32, 2 layers, 4 heads of 4, 2 KV heads."""
    config = LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = AutoModelForCausalLM.from_config(config).eval()
    per_layer = (16 * 16 + 2 * 16 * 8 + 16 * 16) + 3 * 16 * 32 + 2 * 16  # q k v o, gate up down, 2 norms
    n = 2 * per_layer + 16  # + the final norm
    assert measure.count_parameters(model)["non_embedding"] == n == 4688
    head = 100 * 16  # tied: no parameters of its own, but a 16 × 100 matmul for every token
    kaplan = measure.flops_per_token(n, n_layers=2, context=10, attn_dim=16)
    dense = measure.flops_per_token(n, n_layers=2, context=10, attn_dim=16, head_params=head)
    assert kaplan == 2 * 4688 + 2 * 2 * 10 * 16 == 10016
    assert dense == kaplan + 2 * 1600 == 13216

    # torch's FLOP counter on a one-token forward sees the matmuls: every linear layer and the head
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.tensor([[5]]))
    norms = 2 * 2 * 16 + 16  # no matmul: the only non-embedding weights the counter does not see
    assert counter.get_total_flops() == measure.flops_per_token(n, n_layers=2, context=0, attn_dim=16,
                                                                head_params=head) - 2 * norms


def test_timing_counts_new_tokens(tiny_llama_dir):
    from course_utils.loading import load_model

    lm = load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The printer", return_tensors="pt").input_ids
    out, t = measure.time_generation(lm.model, ids, max_new_tokens=8, do_sample=False,
                                     min_new_tokens=8, pad_token_id=0)
    assert t.n_new_tokens == 8 == out.shape[1] - ids.shape[1]
    assert 0 < t.time_to_first_token_s <= t.total_s
    assert t.tokens_per_s > 0


PEAK_SCRIPT = """
import torch
from course_utils.measure import peak_memory

def allocate():
    x = torch.ones(50_000_000)  # 200 MB
    return float(x[0])

result, peak = peak_memory(allocate)
_, small_peak = peak_memory(lambda: torch.ones(1000).sum())
print(result, peak, small_peak)
"""


def test_peak_memory_sees_a_large_allocation():
    # In a fresh process: memory that earlier tests freed but the allocator kept would hide the spike.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, timeout=120)
    result, peak, small_peak = (float(x) for x in out.stdout.split())
    assert result == 1.0
    assert 150e6 < peak < 400e6
    assert small_peak < 50e6


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(tiny_llama_dir):
    from course_utils.loading import load_model

    lm = load_model(str(tiny_llama_dir))
    model = lm.model
    with torch.no_grad():  # make every prediction uniform
        for p in model.parameters():
            p.zero_()
    text = "The weather today is sunny with light wind."
    r = measure.perplexity(model, lm.tokenizer, text)
    V = model.config.vocab_size
    assert r["perplexity"] == pytest.approx(V, rel=1e-4)
    assert r["bits_per_char"] == pytest.approx(r["n_tokens"] * math.log2(V) / len(text), rel=1e-4)


def test_perplexity_sliding_window_scores_every_token_once(tiny_llama_dir):
    from course_utils.loading import load_model

    lm = load_model(str(tiny_llama_dir))
    text = "Mix the flour with two eggs and a cup of milk. " * 12
    full = measure.perplexity(lm.model, lm.tokenizer, text)
    windowed = measure.perplexity(lm.model, lm.tokenizer, text, max_length=32, stride=16)
    assert windowed["n_tokens"] == full["n_tokens"]
    with pytest.raises(ValueError):
        measure.perplexity(lm.model, lm.tokenizer, "")
