"""Shared fixtures. Tests never touch the network: the hub is off for the whole session, and the tests of the
online paths run child processes against a local hub on 127.0.0.1 (``local_hub``). (One exception: tools/test_envs.py
builds .venv-colab and .venv-binder once per machine, from the package registry, for test_colab_stack.py and
test_binder.py.)"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The suite runs on two workers (pytest-xdist). An OpenMP thread that spins while it waits steals the other
# worker's core: waiting threads sleep instead (set before torch loads OpenMP; notebook kernels inherit it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Lessons record their measurements for lesson 12: under test, into a folder of the session, not the user's
if "COURSE_EVIDENCE_DIR" not in os.environ:  # made once, by the process that starts the workers
    import atexit
    import shutil
    import tempfile

    os.environ["COURSE_EVIDENCE_DIR"] = tempfile.mkdtemp(prefix="course-evidence-")
    atexit.register(shutil.rmtree, os.environ["COURSE_EVIDENCE_DIR"], ignore_errors=True)

import socket  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1 (for servers the tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

TEXT = ("The printer on floor two is jammed again. The weather today is sunny with light wind. "
        "Mix the flour with two eggs and a cup of milk. The nurse said that she would call back. "
        "Ticket 42: password reset requested, resolved by the helpdesk. ") * 20


def make_tiny_llama(path, *, n_layers=2, hidden=64, heads=4, kv_heads=2, vocab=None, context=128, seed=0):
    """Save a tiny random Llama and a byte-level BPE tokenizer to ``path`` with save_pretrained."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator([TEXT], trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    config = LlamaConfig(vocab_size=vocab or len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=n_layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=context, tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_llama_large_dir(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama-large"), n_layers=3, hidden=96, seed=1)


@pytest.fixture(scope="session")
def local_hub(tmp_path_factory):
    """One local model hub per test process (course_utils.local_hub) on 127.0.0.1, serving tests/hub_repos.py's
    repositories; stopped at the end. ``hub.commits`` maps each hub id to its commit."""
    from hub_repos import build_repos, rules

    from course_utils.local_hub import LocalHub

    root = tmp_path_factory.mktemp("hub-repos")
    commits = build_repos(root)
    with LocalHub(root, rules=rules()) as hub:
        hub.commits = commits
        yield hub


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    from course_utils import loading

    loading.clear_cache()
    yield
    loading.clear_cache()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread, and far faster on a shared 2-core machine; restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
