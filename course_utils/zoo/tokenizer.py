"""A byte-level BPE tokenizer trained on the course corpus, saved for ``AutoTokenizer``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

PAD, BOS, EOS = "<pad>", "<s>", "</s>"  # ids 0, 1, 2


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """Train byte-level BPE; digits stay single tokens (as in Llama), so numbers are spelled out.

    Returns a ``PreTrainedTokenizerFast`` that prepends ``<s>`` to every encoded text.
    """
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS], min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, tok.token_to_id(BOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   model_max_length=256)


def save_tokenizer(tokenizer, path: Path) -> list[str]:
    """save_pretrained and return the file names written."""
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(path))
    return sorted(p.name for p in path.iterdir() if p.is_file())
