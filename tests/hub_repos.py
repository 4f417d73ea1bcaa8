"""Test repositories for the local hub (course_utils.local_hub), under the catalog's hub ids.

Each is the catalog model's architecture shrunk to two layers, with random weights, the
course tokenizer (with a chat template for instruct models) and safetensors, as on the hub.
The config says ``course_random_weights``, so the loader labels the text as noise. Also:
a pickle-only repository (the loader must refuse it), one gated, and one slow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from pathlib import Path

import torch

from course_utils.catalog import get_spec
from course_utils.local_hub import HubRules, add_snapshot
from course_utils.loading import course_tokenizer

# One per family, base and instruct; the laptop and Binder tiers' pairs; the lessons' online models.
SAFETENSORS_MODELS = ("SmolLM2-135M", "SmolLM2-135M-Instruct", "SmolLM2-360M", "SmolLM2-360M-Instruct",
                      "SmolLM2-1.7B-Instruct", "Qwen2.5-0.5B", "Qwen2.5-0.5B-Instruct", "Pythia-70M", "GPT-2")
PICKLE_ONLY = "Pythia-160M"
GATED = "Qwen2.5-1.5B-Instruct"
SLOW = "GPT-2-medium"
SLOW_SECONDS = 30.0  # the slow repository answers after this long
TIMEOUT_S = 2  # the loader's timeout in these tests (HF_HUB_ETAG_TIMEOUT)

CHAT_TEMPLATE = ("{% for message in messages %}<s>{{ message['role'] }}\n{{ message['content'] }}</s>\n"
                 "{% endfor %}{% if add_generation_prompt %}<s>assistant\n{% endif %}")


def tiny_config(name: str, tokenizer):
    """The catalog model's config with two layers and a small width (its family's shape kept;
    wider for a larger catalog model, so a pair's large one is larger here too)."""
    spec = get_spec(name)
    heads, kv_heads = 4, (4 if spec.kv_heads == spec.heads else 2)
    head_dim = 16 if spec.params < 300e6 else 24 if spec.params < 1e9 else 32
    small = dataclasses.replace(spec, n_layers=2, hidden=heads * head_dim, heads=heads, kv_heads=kv_heads,
                                head_dim=head_dim, mlp=8 * head_dim * 2, vocab=len(tokenizer),
                                context=min(spec.context, 2048))
    config = small.to_config()
    config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    config.course_random_weights = True
    return config


def save_tiny_model(name: str, folder: Path, *, pickle_only: bool = False) -> None:
    from transformers import AutoModelForCausalLM

    tokenizer = course_tokenizer()
    torch.manual_seed(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))  # the same weights everywhere
    model = AutoModelForCausalLM.from_config(tiny_config(name, tokenizer))
    model.save_pretrained(folder, safe_serialization=not pickle_only)
    if pickle_only:
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        for f in folder.glob("*.safetensors"):
            f.unlink()
    if get_spec(name).instruct:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)


def build_repos(root: Path) -> dict[str, str]:
    """Write every test repository into ``root`` (hub-cache layout); {hub id: commit}."""
    commits = {}
    for name in (*SAFETENSORS_MODELS, PICKLE_ONLY, GATED, SLOW):
        with tempfile.TemporaryDirectory() as tmp:
            save_tiny_model(name, Path(tmp), pickle_only=name == PICKLE_ONLY)
            hub_id = get_spec(name).hub_id
            commits[hub_id] = add_snapshot(root, hub_id, Path(tmp))
    return commits


def rules() -> HubRules:
    return HubRules(gated={get_spec(GATED).hub_id}, slow_seconds={get_spec(SLOW).hub_id: SLOW_SECONDS})


def online_env(hub_url: str, folder: Path) -> dict:
    """The environment of a process that is online against the local hub at ``hub_url``, with its own
    hub cache and lock file under ``folder`` (the suite itself stays offline)."""
    import os

    from course_utils import REPO_ROOT

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(folder / "hf-home"), HF_HUB_ETAG_TIMEOUT=str(TIMEOUT_S),
               HF_HUB_DOWNLOAD_TIMEOUT="20", HF_HUB_DISABLE_TELEMETRY="1",
               COURSE_MODELS_LOCK=str(folder / "models.lock"), PYTHONPATH=str(REPO_ROOT))
    return env
