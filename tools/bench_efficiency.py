"""Lesson 09's benchmark: every ratio measured in one run, on one machine, against a baseline measured beside it.

    python tools/bench_efficiency.py                  # course-large and SmolLM2-135M (random weights), 1 thread
    python tools/bench_efficiency.py --threads 2 --repeats 5

Printed (and written as JSON with --json PATH):
- bfloat16 ÷ float32 decode and prefill speed, per model;
- torchao int8 and bitsandbytes NF4 ÷ bfloat16 decode speed and saved-file size (and ÷ float32);
- cached ÷ uncached time per token around position 256 (SmolLM2-135M's architecture: course models stop at 256);
- batch-32 ÷ batch-1 throughput (course-large);
- achieved decode bandwidth (tokens/s × bytes of weights) ÷ measured copy bandwidth, per model and form.

Each figure is a median of ``--repeats`` runs. Figures, not pass/fail: record them in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from course_utils import hardware, quantize_libraries, serving  # noqa: E402
from course_utils.corpus import make_splits  # noqa: E402
from course_utils.loading import load_model, release  # noqa: E402
from course_utils.measure import model_memory_bytes  # noqa: E402
from course_utils.tables import text_table  # noqa: E402


def forms_of(name: str, from_config: bool):
    """(the float32 LoadedModel, {form: model}): float32, bfloat16, torchao int8 and bitsandbytes NF4 (where
    installed)."""
    lm = load_model(name, dtype="float32", from_config=from_config)
    half = load_model(name, dtype="bfloat16", from_config=from_config)
    release(half)  # held by the dict below only, so it is freed with it
    out = {"float32": lm.model, "bfloat16": half.model}
    status = quantize_libraries.library_status()
    if status.get("torchao"):
        out["torchao int8"] = quantize_libraries.torchao_int8(lm.model)
    if status.get("bitsandbytes"):
        out["bitsandbytes NF4"] = quantize_libraries.bnb_nf4(lm.model if from_config else lm.info.location)
    return lm, out


def weight_bytes(form: str, model) -> int:
    return model_memory_bytes(model) if form in ("float32", "bfloat16") else quantize_libraries.serialized_bytes(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    bandwidth = hardware.copy_bandwidth(256, repeats=args.repeats)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s); "
          f"torch {torch.__version__}; copy bandwidth {bandwidth}; libraries {quantize_libraries.library_status()}")

    docs = make_splits({"test": 8})["test"]
    rows, ratios = [], {}
    for name, from_config, n_new in (("course-large", False, 32), ("SmolLM2-135M", True, 16)):
        lm, forms = forms_of(name, from_config)
        ids = lm.tokenizer("Ticket #4411: the printer", return_tensors="pt")["input_ids"]
        long_ids = lm.tokenizer(" ".join(d.text for d in docs), return_tensors="pt", truncation=True,
                                max_length=200)["input_ids"]
        speeds = {}
        for form, model in forms.items():
            decode = serving.decode_speed(model, ids, n_new, repeats=args.repeats)
            prefill = serving.prefill_speed(model, long_ids, repeats=args.repeats)
            size = weight_bytes(form, model)
            speeds[form] = (decode.median, prefill.median, size)
            rows.append({"model": name, "form": form, "MB": size / 1e6, "decode tok/s": decode.median,
                         "decode range": f"{decode.low:.1f}–{decode.high:.1f}", "prefill tok/s": prefill.median,
                         "bandwidth used": decode.median * size / bandwidth.median})
        f32, b16 = speeds["float32"], speeds["bfloat16"]
        ratios[f"{name}: bf16 ÷ fp32 decode"] = b16[0] / f32[0]
        ratios[f"{name}: bf16 ÷ fp32 prefill"] = b16[1] / f32[1]
        for form in ("torchao int8", "bitsandbytes NF4"):
            if form in speeds:
                ratios[f"{name}: {form} ÷ bf16 decode"] = speeds[form][0] / b16[0]
                ratios[f"{name}: {form} ÷ bf16 bytes"] = speeds[form][2] / b16[2]
                ratios[f"{name}: {form} ÷ fp32 decode"] = speeds[form][0] / f32[0]
        if name == "course-large":
            prompts = [d.text.split(".")[0] for d in make_splits({"val": 32}, domain="helpdesk")["val"]]
            sweep = serving.batch_sweep(lm.model, lm.tokenizer, prompts, (1, 32), n_new=32, repeats=args.repeats)
            ratios["course-large: batch-32 ÷ batch-1 throughput"] = sweep[1].tokens_per_s / sweep[0].tokens_per_s
        else:
            start = ids[:, :4]
            n = 256 - start.shape[1]
            _, cached = serving.per_token_seconds(lm.model, start, n, use_cache=True)
            _, uncached = serving.per_token_seconds(lm.model, start, n, use_cache=False)
            tail = slice(-16, None)
            ratios[f"{name}: cached ÷ uncached s/token at 256"] = (
                sorted(cached[tail])[8] / sorted(uncached[tail])[8])
        release(lm)
        del lm, forms
    print(text_table(rows, digits=3))
    print(text_table([{"ratio": k, "value": v} for k, v in ratios.items()], digits=3))
    print(f"wall {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bandwidth": bandwidth.median, "rows": rows, "ratios": ratios}, f, indent=1)


if __name__ == "__main__":
    main()
