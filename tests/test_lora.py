"""course_utils.lora: LoRA from scratch is exact at init, merges exactly, trains only A and B, and gives
peft's numbers."""

import copy
import math

import pytest
import torch
import torch.nn as nn

from course_utils.errors import BadInputError
from course_utils.lora import (ADAPTER_CONFIG, ADAPTER_WEIGHTS, DEFAULT_TARGETS, LoRAConfig, LoRALinear,
                               apply_lora, load_adapter, lora_layers, lora_state_dict, merge_lora,
                               save_adapter, trainable_parameters)

transformers = pytest.importorskip("transformers")

# the tiny Llama: hidden 64, 4 heads of 16, 2 KV heads (grouped-query), MLP 96, 2 layers, vocab 128, tied
H, HEADS, KV_HEADS, HEAD_DIM, MLP, LAYERS, VOCAB = 64, 4, 2, 16, 96, 2, 128


def tiny_llama(seed=0):
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=H, intermediate_size=MLP,
                                      num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                      num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, max_position_embeddings=64,
                                      tie_word_embeddings=True)
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config).eval()


def batch(seed=1, B=2, T=12):
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(seed))


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def train_steps(model, ids, steps=3, lr=1e-2):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model.eval()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def base():
    return tiny_llama()


def lora_copy(base, **kwargs):
    return apply_lora(copy.deepcopy(base), LoRAConfig(**{"r": 4, "alpha": 8, "seed": 0, **kwargs}))


# ----------------------------------------------------------------------------- one layer

def test_lora_linear_init_forward_and_merge():
    g = torch.Generator().manual_seed(0)
    base = nn.Linear(40, 24)
    layer = LoRALinear(base, r=3, alpha=6, generator=g)
    assert layer.lora_A.shape == (3, 40) and layer.lora_B.shape == (24, 3) and layer.scaling == 2
    assert torch.count_nonzero(layer.lora_B) == 0
    bound = 1 / math.sqrt(40)  # kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in)), as nn.Linear and peft
    assert layer.lora_A.abs().max() <= bound and layer.lora_A.abs().max() > 0.8 * bound
    x = torch.randn(5, 7, 40, generator=g)  # (B, T, in)
    assert torch.equal(layer(x), base(x))  # B = 0: exactly the base layer
    with torch.no_grad():
        layer.lora_B.normal_(generator=g)
    expected = base(x) + 2 * (x @ layer.lora_A.T @ layer.lora_B.T)
    torch.testing.assert_close(layer(x), expected)
    merged = layer.merge()
    assert type(merged) is nn.Linear and merged is not base
    torch.testing.assert_close(merged.weight, base.weight + 2 * layer.lora_B @ layer.lora_A)
    torch.testing.assert_close(merged(x), layer(x), atol=1e-5, rtol=1e-5)
    assert torch.equal(merged.bias, base.bias)


def test_dropout_acts_on_the_lora_branch_in_training_only():
    g = torch.Generator().manual_seed(0)
    layer = LoRALinear(nn.Linear(32, 32), r=4, alpha=4, dropout=0.5, generator=g)
    with torch.no_grad():
        layer.lora_B.normal_(generator=g)
    x = torch.randn(8, 32, generator=g)
    no_dropout = layer.base(x) + (x @ layer.lora_A.T @ layer.lora_B.T) * layer.scaling
    torch.testing.assert_close(layer.eval()(x), no_dropout)
    assert not torch.allclose(layer.train()(x), no_dropout)


# ----------------------------------------------------------------------------- a whole model

def test_init_gives_exactly_the_base_models_logits(base):
    ids = batch()
    model = lora_copy(base)
    assert set(lora_layers(model)) == {f"model.layers.{i}.{part}.{name}" for i in range(LAYERS)
                                       for part, names in (("self_attn", DEFAULT_TARGETS[:4]),
                                                           ("mlp", DEFAULT_TARGETS[4:])) for name in names}
    assert type(model.lm_head) is nn.Linear  # never the (tied) output head
    assert torch.equal(logits(model, ids), logits(base, ids))


def test_only_a_and_b_are_trainable_and_get_gradients(base):
    model = train_steps(lora_copy(base), batch(), steps=1)  # after one step B != 0, so A gets gradients too
    model.train()
    model(input_ids=batch(2), labels=batch(2)).loss.backward()
    for name, p in model.named_parameters():
        is_lora = name.endswith((".lora_A", ".lora_B"))
        assert p.requires_grad == is_lora, name
        if is_lora:
            assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name
        else:
            assert p.grad is None, name


def test_trainable_count_is_the_formula(base):
    r = 4
    per_layer = r * ((H + HEADS * HEAD_DIM) + 2 * (H + KV_HEADS * HEAD_DIM) + (HEADS * HEAD_DIM + H)
                     + 3 * (H + MLP))  # q, k and v, o, gate, up and down: r·(in + out) each
    total_base = sum(p.numel() for p in base.parameters())
    trainable, total = trainable_parameters(lora_copy(base, r=r))
    assert trainable == LAYERS * per_layer == 2 * 4 * (128 + 2 * 96 + 128 + 3 * 160)
    assert total == total_base + trainable
    trainable_qv, _ = trainable_parameters(lora_copy(base, r=r, target_modules=("q_proj", "v_proj")))
    assert trainable_qv == LAYERS * r * ((H + HEADS * HEAD_DIM) + (H + KV_HEADS * HEAD_DIM))


def test_merged_model_gives_the_trained_logits(base):
    ids = batch()
    model = train_steps(lora_copy(base), ids, steps=3)
    trained = logits(model, ids)
    assert (trained - logits(base, ids)).abs().max() > 1e-2  # training changed the model
    layer = model.model.layers[0].self_attn.q_proj
    expected_w = layer.base.weight + layer.scaling * layer.lora_B @ layer.lora_A
    merged = merge_lora(model)
    assert not lora_layers(merged) and type(merged.model.layers[0].self_attn.q_proj) is nn.Linear
    torch.testing.assert_close(merged.model.layers[0].self_attn.q_proj.weight, expected_w)
    torch.testing.assert_close(logits(merged, ids), trained, atol=1e-5, rtol=1e-4)
    assert trainable_parameters(merged)[1] == sum(p.numel() for p in base.parameters())


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # inside peft
def test_parity_with_peft(base):
    peft = pytest.importorskip("peft")
    r, alpha = 4, 8
    ours = lora_copy(base, r=r, alpha=alpha)
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0,
                                                                         target_modules=list(DEFAULT_TARGETS)))
    g = torch.Generator().manual_seed(3)
    pairs = {}
    for path, layer in lora_layers(ours).items():
        peft_layer = theirs.base_model.model.get_submodule(path)
        assert peft_layer.scaling["default"] == layer.scaling == alpha / r
        with torch.no_grad():
            layer.lora_B.normal_(std=0.1, generator=g)  # a non-zero update, so the check means something
            peft_layer.lora_A["default"].weight.copy_(layer.lora_A)
            peft_layer.lora_B["default"].weight.copy_(layer.lora_B)
        pairs[path] = (layer, peft_layer)
    assert theirs.get_nb_trainable_parameters()[0] == trainable_parameters(ours)[0]
    ids = batch()
    ours.train(), theirs.train()
    out_ours, out_theirs = ours(input_ids=ids, labels=ids), theirs(input_ids=ids, labels=ids)
    assert (out_ours.logits - logits(base, ids)).abs().max() > 1e-3
    torch.testing.assert_close(out_ours.logits, out_theirs.logits, atol=1e-5, rtol=1e-5)
    out_ours.loss.backward(), out_theirs.loss.backward()
    for path, (layer, peft_layer) in pairs.items():
        torch.testing.assert_close(layer.lora_A.grad, peft_layer.lora_A["default"].weight.grad, atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(layer.lora_B.grad, peft_layer.lora_B["default"].weight.grad, atol=1e-6, rtol=1e-4)


def test_save_and_load_roundtrip(base, tmp_path):
    ids = batch()
    model = train_steps(lora_copy(base, r=4, alpha=8), ids, steps=2)
    folder = save_adapter(model, tmp_path / "adapter")
    assert sorted(p.name for p in folder.iterdir()) == sorted([ADAPTER_WEIGHTS, ADAPTER_CONFIG])
    lora_bytes = sum(t.numel() * t.element_size() for t in lora_state_dict(model).values())
    size = (folder / ADAPTER_WEIGHTS).stat().st_size
    assert lora_bytes <= size < lora_bytes + 16_000  # A and B and a header: no base weights
    fresh = load_adapter(copy.deepcopy(base), folder)  # a plain base model: LoRA layers are added
    assert torch.equal(logits(fresh, ids), logits(model, ids))
    again = load_adapter(lora_copy(base, r=4, alpha=8, seed=7), folder)  # already wrapped: A and B overwritten
    assert torch.equal(logits(again, ids), logits(model, ids))


def test_a_course_model_and_the_from_scratch_gpt():
    from course_utils.catalog import get_spec
    from course_utils.loading import load_model
    from course_utils.nn import GPT, GPTConfig

    spec = get_spec("course-small")
    if not spec.available_offline:
        pytest.skip("course models not built")
    base = load_model("course-small", device="cpu").model
    model = apply_lora(copy.deepcopy(base), LoRAConfig(r=8, alpha=16, seed=0))  # a copy: load_model caches
    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    per_layer = 8 * ((spec.hidden + q) + 2 * (spec.hidden + kv) + (q + spec.hidden) + 3 * (spec.hidden + spec.mlp))
    assert trainable_parameters(model)[0] == spec.n_layers * per_layer
    ids = torch.randint(0, spec.vocab, (1, 16), generator=torch.Generator().manual_seed(0))
    assert torch.equal(logits(model, ids), logits(base, ids))

    gpt = GPT(GPTConfig(vocab_size=VOCAB, n_layer=2, n_head=4, n_kv_head=2, n_embd=64, intermediate_size=96))
    apply_lora(gpt, LoRAConfig(r=4, alpha=8))  # the same Linear names as Llama
    assert len(lora_layers(gpt)) == 2 * 7
    assert trainable_parameters(gpt)[0] == 2 * 4 * (2 * (64 + 64) + 2 * (64 + 2 * 16) + 3 * (64 + 96))


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, message", [
    ({"r": 0}, "rank r must be a positive whole number"),
    ({"r": -2}, "rank r must be a positive whole number"),
    ({"r": 2.5}, "rank r must be a positive whole number"),
    ({"alpha": 0}, "alpha must be positive"),
    ({"alpha": -1.0}, "alpha must be positive"),
    ({"dropout": 1.0}, "dropout is a probability in [0, 1)"),
    ({"dropout": -0.1}, "dropout is a probability in [0, 1)"),
    ({"target_modules": ()}, "target_modules is empty"),
])
def test_bad_config_values(kwargs, message):
    with pytest.raises(BadInputError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        LoRAConfig(**kwargs)


def test_bad_models_and_targets(base, tmp_path):
    with pytest.raises(BadInputError) as e:  # k_proj is 64 -> 32: rank at most 32
        apply_lora(copy.deepcopy(base), LoRAConfig(r=33))
    assert "r=33 is larger than model.layers.0.self_attn.k_proj allows" in str(e.value)
    assert "at most 32" in str(e.value)
    with pytest.raises(BadInputError) as e:
        apply_lora(copy.deepcopy(base), LoRAConfig(target_modules=("query", "value")))
    assert "No Linear layer of this model is named query, value" in str(e.value)
    assert "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head" in str(e.value)
    with pytest.raises(BadInputError, match="shares its weight with the input embedding"):
        apply_lora(copy.deepcopy(base), LoRAConfig(target_modules=("q_proj", "lm_head")))
    model = lora_copy(base)
    with pytest.raises(BadInputError, match="already has LoRA layers"):
        apply_lora(model, LoRAConfig())
    untouched = copy.deepcopy(base)
    with pytest.raises(BadInputError):
        apply_lora(untouched, LoRAConfig(r=33))
    assert not lora_layers(untouched) and all(p.requires_grad for p in untouched.parameters())  # nothing changed
    with pytest.raises(BadInputError, match="no LoRA layers to save"):
        save_adapter(copy.deepcopy(base), tmp_path / "nothing")
    with pytest.raises(BadInputError, match="is not a saved adapter"):
        load_adapter(copy.deepcopy(base), tmp_path)
    save_adapter(model, tmp_path / "a")
    bigger = tiny_llama()
    bigger.model.layers.append(copy.deepcopy(bigger.model.layers[0]))
    with pytest.raises(BadInputError, match="does not fit this model"):
        load_adapter(bigger, tmp_path / "a")
    wider = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=2 * H, intermediate_size=MLP, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, tie_word_embeddings=True))
    with pytest.raises(BadInputError, match="has shape .* in the adapter but"):
        load_adapter(wider, tmp_path / "a")
    assert not lora_layers(wider) and not lora_layers(bigger)  # refused before anything changed


def test_models_on_the_meta_device_can_be_counted_and_tied_heads_are_still_refused():
    """Every meta tensor has data_ptr() 0: ties are found by identity, so counting LoRA on a 7B config costs nothing."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    apply_lora(model, LoRAConfig(r=4))
    per_layer = 4 * ((32 + 32) + 2 * (32 + 16) + (32 + 32) + 2 * (32 + 64) + (64 + 32))
    assert trainable_parameters(model)[0] == 2 * per_layer
    with torch.device("meta"):
        tied = LlamaForCausalLM(config)
    with pytest.raises(BadInputError, match="tied embeddings"):
        apply_lora(tied, LoRAConfig(target_modules=("lm_head",)))
