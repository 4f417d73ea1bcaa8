"""The shared model server under a class: `transformers serve` on this machine's CPU, with 20 and 40 learners
streaming at once (course_utils.server_load), for course-large and for SmolLM2-135M's real architecture (random
weights and the course tokenizer's vocabulary, saved to a temporary folder: its speed is real, its text is not). Prints each run's figures and the
sizing rule they imply, and writes them to docs/class_server.json (the instructor's guide reads it).

    python tools/bench_class_server.py [--clients 20 40] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.catalog import get_spec  # noqa: E402
from course_utils.remote import Endpoint  # noqa: E402
from course_utils.server_load import learners_per_core, run_load, transformers_serve  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _smollm_folder(folder: Path) -> Path:
    """SmolLM2-135M's layers with the course tokenizer's vocabulary, so every token it streams is text.

    With its own 49,152-token vocabulary and random weights nearly every token would fall outside the course
    tokenizer and stream as nothing; the 1,024-token head leaves its 30 layers (107M parameters) as they are.
    """
    import dataclasses

    import torch
    from transformers import AutoModelForCausalLM

    from course_utils.loading import course_tokenizer

    tokenizer = course_tokenizer()
    config = dataclasses.replace(get_spec("SmolLM2-135M"), vocab=len(tokenizer)).to_config()
    config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, None  # never stops early
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    print(f"{cores} CPU cores, shared by the server and the learners' client threads.\n")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {"course-large": get_spec("course-llm").path,
                  "SmolLM2-135M layers (random weights, 1,024-token vocabulary)": _smollm_folder(Path(tmp))}
        for label, path in models.items():
            with transformers_serve(path, _free_port()) as url:
                for clients in args.clients:
                    report = run_load(Endpoint(base_url=url, model=str(path), read_timeout_s=300), clients=clients,
                                      max_tokens=args.max_tokens, drop=2, deadline_s=600)
                    print(f"## {label}, {clients} learners")
                    print(report.text().replace(str(path), label))
                    print(f"  sizing: {learners_per_core(report, cores):.1f} learners per server core at reading "
                          "speed\n", flush=True)
                    s = report.summary()
                    runs.append({"model": label, "learners": clients, "max_tokens": args.max_tokens,
                                 "dropped": s["dropped"], "errors": s["errors"], "ttft_p50_s": s["ttft p50 (s)"],
                                 "ttft_p95_s": s["ttft p95 (s)"], "tokens_per_s_total": s["tokens/s in total"],
                                 "tokens_per_s_per_learner": s["tokens/s per learner (median)"],
                                 "still_serving": s["still serving after the drops"], "wall_s": s["wall (s)"],
                                 "learners_per_core": learners_per_core(report, cores)})
    record = {"command": "python tools/bench_class_server.py", "date": datetime.date.today().isoformat(),
              "cpu_cores": cores, "runs": runs}
    (ROOT / "docs" / "class_server.json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
