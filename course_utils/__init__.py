"""course_utils: the tested helpers behind the *Small vs Large Language Models* notebooks.

One concept per module: ``env`` (this machine), ``registry`` (the model catalog),
``loading`` (safe loading), ``measure`` (parameters, memory, FLOPs, timing, perplexity).
"""

from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
