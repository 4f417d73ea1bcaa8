"""The course-model zoo: tokenizer, model ladder, training, measurement and the manifest.

Build with ``python -m course_utils zoo build`` (see docs/zoo.md).
"""

import os

# On a shared 2-core machine, OpenMP threads that spin while waiting collapse torch's speed as
# soon as another process runs (10x slower measured); sleeping waits cost little. Takes effect if
# torch has not been imported yet, as with `python -m course_utils zoo build`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
