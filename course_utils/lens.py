"""The logit lens: read the residual stream after every layer through the model's own final norm
and output head, as if the model stopped there (nostalgebraist, 2020).

Depth is normalised, layer / n_layers (0 = the embeddings, 1 = the output), so a 4-layer and an
8-layer model line up on one axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def model_parts(model):
    """(decoder layers, final norm, output head) of a Llama/Qwen2, GPT-2 or GPT-NeoX model."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for base, layers, norm in (("model", "layers", "norm"), ("transformer", "h", "ln_f"),
                               ("gpt_neox", "layers", "final_layer_norm")):
        inner = getattr(model, base, None)
        if inner is not None and hasattr(inner, layers):
            return getattr(inner, layers), getattr(inner, norm), head
    raise ValueError(f"the logit lens does not know where the layers of {type(model).__name__} are")


@torch.no_grad()
def residual_stream(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Hidden states: the embeddings, then the output of each layer (before any final norm).

    Read with forward hooks: transformers' ``output_hidden_states`` returns the last one *after*
    the final norm, which would apply the norm twice.
    """
    layers, _, _ = model_parts(model)
    captured: list[torch.Tensor] = []

    def grab_input(module, args, kwargs):
        if not captured:  # the first layer's input is the embedding output
            captured.append((args[0] if args else kwargs["hidden_states"]).detach())

    def grab_output(module, args, output):
        captured.append((output[0] if isinstance(output, tuple) else output).detach())

    hooks = [layers[0].register_forward_pre_hook(grab_input, with_kwargs=True)]
    hooks += [layer.register_forward_hook(grab_output) for layer in layers]
    try:
        model(input_ids=input_ids, attention_mask=attention_mask)
    finally:
        for h in hooks:
            h.remove()
    return captured  # n_layers + 1 tensors of shape (B, T, d)


@torch.no_grad()
def lens_logprobs(model, input_ids: torch.Tensor, position: int = -1) -> torch.Tensor:
    """Log-probabilities of the next token at ``position``, read after each layer: (n_layers + 1, V)."""
    _, norm, head = model_parts(model)
    stream = torch.stack([h[0, position] for h in residual_stream(model, input_ids)])  # (L+1, d)
    return torch.log_softmax(head(norm(stream)).float(), dim=-1)                        # (L+1, V)


def top_token_by_layer(lm, prompt: str) -> list[dict]:
    """For one prompt: the most likely next token read after each layer, and its probability."""
    ids = lm.tokenizer(prompt, return_tensors="pt").input_ids
    logp = lens_logprobs(lm.model, ids)                                      # (L+1, V)
    n = logp.shape[0] - 1
    best = logp.max(-1)
    return [{"layer": i, "depth": i / n, "token": repr(lm.tokenizer.decode([int(best.indices[i])])),
             "p": float(best.values[i].exp())} for i in range(n + 1)]


@dataclass
class LensCurves:
    """Per prompt and relative depth: probability of the answer's first token, KL to the output."""

    model: str
    depth: torch.Tensor      # (L+1,) layer / n_layers
    p_answer: torch.Tensor   # (n_prompts, L+1)
    kl_to_final: torch.Tensor  # (n_prompts, L+1), bits
    top1_is_answer: torch.Tensor  # (n_prompts, L+1) bool


@torch.no_grad()
def lens_curves(lm, prompts: list[str], answer_ids: list[int], batch_size: int = 32) -> LensCurves:
    """The logit lens of ``lm`` (a LoadedModel) on each prompt, tracking the token ``answer_ids[i]``."""
    _, norm, head = model_parts(lm.model)
    p, kl, top = [], [], []
    for k in range(0, len(prompts), batch_size):
        enc = lm.tokenizer(prompts[k:k + batch_size], return_tensors="pt", padding=True)  # right-padded
        last = enc.attention_mask.sum(1) - 1                                              # (B,)
        stream = residual_stream(lm.model, enc.input_ids, enc.attention_mask)             # L+1 x (B, T, d)
        h = torch.stack([s[torch.arange(len(last)), last] for s in stream], 1)            # (B, L+1, d)
        logp = torch.log_softmax(head(norm(h)).float(), -1)                               # (B, L+1, V)
        final = logp[:, -1:]
        answer = torch.tensor(answer_ids[k:k + batch_size])[:, None]
        p.append(logp.gather(-1, answer[:, None].expand(-1, logp.shape[1], 1))[..., 0].exp())
        kl.append((final.exp() * (final - logp)).sum(-1) / math.log(2))
        top.append(logp.argmax(-1) == answer)
    n = logp.shape[1] - 1
    return LensCurves(lm.info.name, torch.arange(n + 1) / n, torch.cat(p), torch.cat(kl), torch.cat(top))


def plot_lens(curves: list[LensCurves]):
    """Mean answer probability and mean KL to the final distribution vs relative depth."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for c, color in zip(curves, ("#4c9be8", "#e8884c", "#6ab04c", "#9b59b6")):
        label = f"{c.model} ({len(c.depth) - 1} layers)"
        a.plot(c.depth, c.p_answer.mean(0), "o-", color=color, label=label)
        b.plot(c.depth, c.kl_to_final.mean(0), "o-", color=color, label=label)
    a.set_ylabel("p(answer token), mean over prompts")
    b.set_ylabel("KL(output ‖ layer) in bits")
    for ax in (a, b):
        ax.set_xlabel("relative depth (layer / number of layers)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
