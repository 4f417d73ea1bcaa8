"""course_utils: the tested helpers behind the *Small vs Large Language Models* notebooks.

One concept per module: ``env`` (this machine), ``registry`` (the model catalog),
``loading`` (safe loading), ``measure`` (parameters, memory, FLOPs, timing, perplexity).
"""

import os
from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
# The shipped course models; COURSE_MODELS_DIR points elsewhere (e.g. a class's shared copy).
MODELS_DIR = Path(os.environ.get("COURSE_MODELS_DIR") or REPO_ROOT / "models")
