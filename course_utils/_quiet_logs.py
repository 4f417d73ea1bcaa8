"""Drop the known, harmless warnings that torchao logs whenever transformers loads a model.

Once torchao is installed, transformers imports it on the first model load of every session (its quantizer
registry, transformers/quantizers/auto.py), and on a CPU machine that prints, in every lesson:

- "Failed to load .../torchao/_C_mxfp8....so" and "Failed to load .../torchao/_C_cutlass_90a.abi3.so"
  (logger "torchao"): torchao's kernels for NVIDIA GPUs (MX-FP8, Hopper CUTLASS), which a CPU never uses;
- "<enum 'KernelPreference'> is an Enum subclass and is now natively supported by torch.compile ..." and the same
  for ScaleCalculationMode (logger "torch.utils._pytree"): a deprecation note about how torchao registers its
  enums with torch.compile.

And once bitsandbytes is imported (lesson 09) on a CPU with AVX512-BF16:

- "Failed to load CPU gemm_4bit_forward from kernels-community: ..." (logger "bitsandbytes.backends.cpu.ops"):
  bitsandbytes tries to fetch an optional faster kernel from the model hub through the `kernels` package, and
  without it (or offline) uses the kernels it ships.

They look like errors and are not. The filter matches these messages by their text (and, for the enum note,
only torchao's enums); every other warning, from torchao or anywhere, still shows. ``install()`` adds it once.
"""

from __future__ import annotations

import logging
import re

# torchao/__init__.py: logger.warning(f"Failed to load {file}: {e}") for each extension it cannot load
_GPU_ONLY_EXTENSION = re.compile(r"^Failed to load \S*torchao[/\\]_C_(mxfp8|cutlass_90a)\S*\.so: ")
# torch/utils/_pytree.py: log.warning("%s is an Enum subclass and is now natively supported by ...", cls)
_ENUM_NOTE = "is an Enum subclass and is now natively supported by torch.compile"
# bitsandbytes/backends/cpu/ops.py: logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: ...")
_OPTIONAL_HUB_KERNEL = "Failed to load CPU gemm_4bit_forward from kernels-community"


class KnownHarmlessWarnings(logging.Filter):
    """Drops torchao's GPU-only extension load failures, torch's deprecation note on torchao's enums, and
    bitsandbytes' note that an optional hub kernel is absent."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name == "torchao":
            return not _GPU_ONLY_EXTENSION.match(message)
        if record.name == "bitsandbytes.backends.cpu.ops":
            return not message.startswith(_OPTIONAL_HUB_KERNEL)
        if record.name == "torch.utils._pytree" and _ENUM_NOTE in message:
            args = record.args if isinstance(record.args, tuple) else ()
            return not (args and str(getattr(args[0], "__module__", "")).startswith("torchao"))
        return True


LOGGERS = ("torchao", "torch.utils._pytree", "bitsandbytes.backends.cpu.ops")


def install() -> None:
    """Add the filter to those loggers (once, however often it is called). Needs no torch or torchao."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, KnownHarmlessWarnings) for f in logger.filters):
            logger.addFilter(KnownHarmlessWarnings())


# transformers/generation/utils.py: logger.warning_once("Passing `generation_config` together with generation-related
# arguments=(...) is deprecated ...") — printed by assisted generation itself, which calls the assistant's generate
# with both (candidate_generator.py); nothing the caller passed causes it.
_ASSISTANT_CONFIG_NOTE = "Passing `generation_config` together with generation-related arguments"


class _AssistantConfigNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _ASSISTANT_CONFIG_NOTE not in record.getMessage()


class quiet_assistant_note:
    """``with quiet_assistant_note(): model.generate(..., assistant_model=draft)``: drops transformers' deprecation
    note that its own assisted generation triggers, for the duration of the block only."""

    def __enter__(self):
        self._filter = _AssistantConfigNote()
        logging.getLogger("transformers.generation.utils").addFilter(self._filter)
        return self

    def __exit__(self, *exc):
        logging.getLogger("transformers.generation.utils").removeFilter(self._filter)
        return False
