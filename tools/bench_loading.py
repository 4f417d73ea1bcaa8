"""Print how long loading takes: imports, the course models, the cache, and from-config builds.

    HF_HUB_OFFLINE=1 python tools/bench_loading.py

Run in a fresh process (the first load pays transformers' one-time lazy import of the model code).
"""

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
start = time.perf_counter()
from course_utils import loading  # noqa: E402  (timed on purpose)

print("| what | time |\n|---|---|")
print(f"| import course_utils.loading (torch + transformers) | {time.perf_counter() - start:.2f} s |")
for name in ("course-slm", "course-llm", "course-medium", "course-tiny"):
    t = time.perf_counter()
    lm = loading.load_model(name)
    print(f"| load_model({name!r}) -> {lm.info.name}, {lm.info.params / 1e6:.1f}M | {time.perf_counter() - t:.3f} s |")
t = time.perf_counter()
loading.load_model("course-llm")
print(f"| load_model('course-llm') again (per-process cache) | {(time.perf_counter() - t) * 1e3:.2f} ms |")
for name in ("SmolLM2-135M", "Qwen2.5-0.5B", "Qwen2.5-1.5B"):
    t = time.perf_counter()
    lm = loading.load_model(name, from_config=True)
    print(f"| {name} from config ({lm.info.dtype}, {lm.info.memory_bytes / 1e9:.2f} GB) | {time.perf_counter() - t:.1f} s |")
