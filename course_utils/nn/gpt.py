"""A small Llama-style GPT from scratch: the architecture of SmolLM2 and of the course models.

Token embedding -> n_layer x Block(RMSNorm -> attention with RoPE, RMSNorm -> SwiGLU MLP, both
residual) -> RMSNorm -> lm_head (tied to the embedding by default). ``GPT.from_hf`` copies the
weights of a transformers ``LlamaForCausalLM`` and reproduces its logits.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import apply_rope, merge_heads, repeat_kv, rope_cos_sin, scaled_dot_product_attention


@dataclass
class GPTConfig:
    vocab_size: int = 256
    n_layer: int = 2
    n_head: int = 4
    n_kv_head: int = 4  # fewer than n_head: grouped-query attention, a smaller KV cache
    n_embd: int = 64
    head_dim: int | None = None  # None: n_embd // n_head
    intermediate_size: int = 256  # MLP hidden width
    max_seq_len: int = 256  # context length
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    tie_embeddings: bool = True  # lm_head reuses the token embedding matrix
    attn_impl: str = "scratch"  # "scratch": our attention; "torch": F.scaled_dot_product_attention (faster)

    def __post_init__(self):
        if self.head_dim is None:
            if self.n_embd % self.n_head:
                raise ValueError(f"n_embd ({self.n_embd}) is not divisible by n_head ({self.n_head}); "
                                 "set head_dim explicitly")
            self.head_dim = self.n_embd // self.n_head
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head ({self.n_head}) must be a multiple of n_kv_head ({self.n_kv_head})")
        if self.attn_impl not in ("scratch", "torch"):
            raise ValueError(f"attn_impl must be 'scratch' or 'torch', got {self.attn_impl!r}")

    @classmethod
    def from_hf_config(cls, hf_config):
        """Translate a transformers LlamaConfig; refuse features this model does not implement."""
        problems = []
        if getattr(hf_config, "model_type", None) not in ("llama", None):
            problems.append(f"model_type is {hf_config.model_type!r}, not 'llama'")
        if getattr(hf_config, "hidden_act", "silu") != "silu":
            problems.append(f"hidden_act is {hf_config.hidden_act!r}, not 'silu'")
        if getattr(hf_config, "attention_bias", False) or getattr(hf_config, "mlp_bias", False):
            problems.append("the linear layers have biases")
        rope = getattr(hf_config, "rope_parameters", None) or {}
        if rope.get("rope_type", "default") != "default":
            problems.append(f"rope_type is {rope['rope_type']!r}, only 'default' RoPE is implemented")
        if problems:
            raise ValueError("GPT.from_hf supports plain Llama models (e.g. SmolLM2, the course models): "
                             + "; ".join(problems))
        theta = rope.get("rope_theta", getattr(hf_config, "rope_theta", 10000.0))
        return cls(
            vocab_size=hf_config.vocab_size,
            n_layer=hf_config.num_hidden_layers,
            n_head=hf_config.num_attention_heads,
            n_kv_head=hf_config.num_key_value_heads or hf_config.num_attention_heads,
            n_embd=hf_config.hidden_size,
            head_dim=getattr(hf_config, "head_dim", None),
            intermediate_size=hf_config.intermediate_size,
            max_seq_len=hf_config.max_position_embeddings,
            rope_theta=float(theta),
            rms_norm_eps=hf_config.rms_norm_eps,
            tie_embeddings=bool(hf_config.tie_word_embeddings),
        )

    def to_hf_config(self):
        """The equivalent transformers LlamaConfig."""
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=self.vocab_size, num_hidden_layers=self.n_layer, num_attention_heads=self.n_head,
            num_key_value_heads=self.n_kv_head, hidden_size=self.n_embd, head_dim=self.head_dim,
            intermediate_size=self.intermediate_size, max_position_embeddings=self.max_seq_len,
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            rms_norm_eps=self.rms_norm_eps, tie_word_embeddings=self.tie_embeddings,
        )


class RMSNorm(nn.Module):
    """x / rms(x) * weight: LayerNorm without mean-centring or bias."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):  # (B, T, C)
        xf = x.float()  # in float32, so half-precision activations do not overflow when squared
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class Attention(nn.Module):
    """Causal multi-head self-attention with grouped-query heads and rotary positions."""

    def __init__(self, config):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.attn_impl = config.attn_impl
        C, hs = config.n_embd, config.head_dim
        self.q_proj = nn.Linear(C, self.n_head * hs, bias=False)
        self.k_proj = nn.Linear(C, self.n_kv_head * hs, bias=False)
        self.v_proj = nn.Linear(C, self.n_kv_head * hs, bias=False)
        self.o_proj = nn.Linear(self.n_head * hs, C, bias=False)

    def forward(self, x, cos, sin, return_attention=False):
        B, T, C = x.shape
        hs = self.head_dim
        q = self.q_proj(x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, self.n_kv_head, hs).transpose(1, 2)  # (B, n_kv, T, hs)
        v = self.v_proj(x).view(B, T, self.n_kv_head, hs).transpose(1, 2)  # (B, n_kv, T, hs)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # position enters through q and k only
        n_rep = self.n_head // self.n_kv_head
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, nh, T, hs)
        att = None
        if return_attention or self.attn_impl == "scratch":
            y, att = scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = self.o_proj(merge_heads(y))  # (B, T, C)
        return y, (att if return_attention else None)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.n_embd, bias=False)

    def forward(self, x):  # (B, T, C)
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # (B, T, C), via (B, T, I)


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config):
        super().__init__()
        self.attn_norm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, return_attention=False):
        a, att = self.attn(self.attn_norm(x), cos, sin, return_attention)
        x = x + a
        x = x + self.mlp(self.mlp_norm(x))
        return x, att


def _hf_to_ours(key):
    """Map a transformers Llama state-dict key to this module's name for the same tensor."""
    key = key.removeprefix("model.")
    for hf, ours in (("embed_tokens.", "tok_emb."), ("layers.", "blocks."), ("self_attn.", "attn."),
                     ("input_layernorm.", "attn_norm."), ("post_attention_layernorm.", "mlp_norm.")):
        key = key.replace(hf, ours)
    return key


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.norm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        if config.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight  # one (V, C) matrix both reads and writes tokens

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None, return_attention=False):
        """idx (B, T) token ids -> logits (B, T, V).

        With targets (B, T) (the next token at each position; -100 = ignore) also the mean
        cross-entropy loss; with return_attention also a list of n_layer weights (B, nh, T, T).
        Returns logits, or a tuple (logits, [loss], [attentions]) in that order.
        """
        B, T = idx.shape
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence of {T} tokens is longer than the context ({self.config.max_seq_len})")
        x = self.tok_emb(idx)  # (B, T, C)
        cos, sin = rope_cos_sin(T, self.config.head_dim, self.config.rope_theta, device=idx.device,
                                dtype=x.dtype)  # (T, hs) each
        attentions = []
        for block in self.blocks:
            x, att = block(x, cos, sin, return_attention)
            attentions.append(att)
        logits = self.lm_head(self.norm(x))  # (B, T, V)

        out = (logits,)
        if targets is not None:
            out += (F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100),)
        if return_attention:
            out += (attentions,)
        return out[0] if len(out) == 1 else out

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        """Append max_new_tokens sampled tokens to idx (B, T); temperature 0 = greedy."""
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
        for _ in range(max_new_tokens):
            logits = self(idx[:, -self.config.max_seq_len:])[:, -1, :]  # (B, V), crop to the context
            if temperature == 0:
                next_id = logits.argmax(-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]  # (B, 1)
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                next_id = torch.multinomial(F.softmax(logits.float(), dim=-1), num_samples=1)  # (B, 1)
            idx = torch.cat((idx, next_id), dim=1)
        return idx

    def count_parameters_by_component(self):
        """Parameters per component; 'lm_head' appears only when it is not tied to the embedding."""
        counts = {"embedding": self.tok_emb.weight.numel(), "attention": 0, "mlp": 0, "norms": self.norm.weight.numel()}
        for block in self.blocks:
            counts["attention"] += sum(p.numel() for p in block.attn.parameters())
            counts["mlp"] += sum(p.numel() for p in block.mlp.parameters())
            counts["norms"] += block.attn_norm.weight.numel() + block.mlp_norm.weight.numel()
        if not self.config.tie_embeddings:
            counts["lm_head"] = self.lm_head.weight.numel()
        return counts

    @classmethod
    def from_hf(cls, model_or_path):
        """Build a GPT from a transformers LlamaForCausalLM (or the folder it was saved in), copying its weights."""
        if isinstance(model_or_path, (str, bytes)) or hasattr(model_or_path, "__fspath__"):
            from transformers import AutoModelForCausalLM

            hf = AutoModelForCausalLM.from_pretrained(model_or_path, use_safetensors=True)
        else:
            hf = model_or_path
        config = GPTConfig.from_hf_config(hf.config)
        model = cls(config)
        state = {}
        for key, tensor in hf.state_dict().items():
            if key == "lm_head.weight" and config.tie_embeddings:
                continue  # the same tensor as the embedding
            state[_hf_to_ours(key)] = tensor
        if config.tie_embeddings:
            state["lm_head.weight"] = state["tok_emb.weight"]
        model.load_state_dict(state, strict=True)  # strict: every weight must find its place
        return model.to(next(hf.parameters()).dtype).eval()

    def to_hf(self):
        """The equivalent transformers LlamaForCausalLM, with these weights (e.g. to save_pretrained)."""
        from transformers import LlamaForCausalLM

        hf = LlamaForCausalLM(self.config.to_hf_config())
        ours = self.state_dict()
        state = {key: ours[_hf_to_ours(key)] for key in hf.state_dict()}
        hf.load_state_dict(state, strict=True)
        return hf.to(self.tok_emb.weight.dtype).eval()

