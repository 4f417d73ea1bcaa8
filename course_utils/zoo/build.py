"""``python -m course_utils zoo build``: corpus -> tokenizer -> the model ladder -> manifest.

Resumable twice over: a model whose report matches its spec and the corpus is kept, and a model
in training resumes from its last checkpoint in ``models/.work/``. Everything is seeded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from course_utils import MODELS_DIR, REPO_ROOT
from course_utils.measure import training_flops
from course_utils.corpus import (BANK, CorpusConfig, bank_task, bayes_accuracy, floor_of, generate,
                                 helpdesk_task, make_splits)

from . import bench, evaluate
from .ladder import LADDER, LLM, SLM, LadderSpec, llama_config
from .manifest import file_hashes, read_manifest, write_manifest
from .report import model_report_md, results_table, write_docs
from .tokenizer import save_tokenizer, train_tokenizer
from .train import encode, token_stream, train

VOCAB = 1024
SIZES = {"train": 100_000, "val": 1000, "test": 1000}  # ~12M training tokens: no model sees a document twice
CHECK_DOCS = 48       # the first val docs, re-measured by the tests against the manifest
GRID_DOCS = 300       # the fixed held-out set of the scaling grid (the first val docs)
HELPDESK_VAL = 300
BANK_VAL = 300
PROBE_DOCS = 200      # val docs for the reading-from-the-middle and copying measurements


def corpus_fingerprint(splits: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(splits):
        for d in splits[name]:
            h.update(d.text.encode() + b"\0")
    return h.hexdigest()


def check_subset(val_docs):
    """The small fixed validation subset the tests re-measure (first CHECK_DOCS val documents)."""
    return val_docs[:CHECK_DOCS]


def architecture(spec: LadderSpec, vocab: int) -> dict:
    return {"n_layers": spec.n_layers, "hidden": spec.hidden, "heads": spec.heads,
            "kv_heads": spec.kv_heads or spec.heads, "head_dim": spec.head_dim, "mlp": spec.mlp,
            "vocab": vocab, "context": spec.context, "tied_embeddings": True, "rope_theta": 10000.0}


def save_model(model, tokenizer, path: Path) -> None:
    """save_pretrained in float16 (half the bytes); config says float32, so a plain
    ``from_pretrained(path)`` computes in float32 on the rounded weights."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    path.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    cfg = json.loads((path / "config.json").read_text())
    cfg["dtype"] = "float32"
    (path / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def measure(path: Path, world: dict) -> dict:
    """Load the saved folder the way a learner does and measure it against the generator."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils import heads

    model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    tok = AutoTokenizer.from_pretrained(str(path))
    val = world["val"]
    bits = evaluate.doc_bits(model, tok, val)
    bpc = evaluate.by_domain(val, bits)
    floor = evaluate.by_domain(val, [d.bits for d in val])
    check = check_subset(val)
    bank = world["bank"]
    bank_bits = evaluate.doc_bits(model, tok, bank)
    probe_docs = val[:PROBE_DOCS]
    email_docs = [d for d in val if d.domain == "email"]
    probe = heads.repeated_random_tokens(len(tok), period=40, batch=8, bos=tok.bos_token_id)
    census = heads.census(heads.head_scores(model, probe, 40, name=path.name))
    out = {
        "val_docs": len(val),
        "val_bits_per_char": {k: round(v, 5) for k, v in bpc.items()},
        "val_floor_bits_per_char": {k: round(v, 5) for k, v in floor.items()},
        "pct_above_floor": {k: round(100 * (bpc[k] / floor[k] - 1), 2) for k in bpc},
        "check_subset": {"docs": len(check),
                         "bits_per_char": round(sum(bits[:len(check)]) / sum(len(d.text) for d in check), 6)},
        "helpdesk_accuracy": round(evaluate.helpdesk_accuracy(model, tok, world["helpdesk"]), 4),
        "helpdesk_bayes_accuracy": round(world["bayes"], 4),
        "helpdesk_tickets": len(world["helpdesk"]),
        "held_out_bank": {"docs": len(bank),
                          "bits_per_char": round(sum(bank_bits) / sum(len(d.text) for d in bank), 5),
                          "floor_bits_per_char": round(floor_of(bank, under="domain").bits_per_char, 5),
                          "intent_accuracy_zero_shot": round(evaluate.task_accuracy(model, tok, bank, BANK), 4),
                          "intent_bayes_accuracy": round(world["bank_bayes"], 4)},
        "middle_reading": evaluate.middle_reading(model, tok, probe_docs),
        "copying": {"mix": evaluate.copy_ratio(model, tok, probe_docs),
                    "email_quote_pct_above_floor": round(100 * (bpc["email"] / floor["email"] - 1), 2)
                    if email_docs else None},
        "head_census": {k: census[k] for k in ("heads", "previous-token", "induction", "first-token",
                                               "best induction score")},
    }
    s = evaluate.samples(model, tok)
    out["samples_grammatical_fraction"] = round(s["grammatical_fraction"], 4)
    return out, s


def grid_loss_fn(world: dict, tokenizer):
    """bits/char on the grid's fixed held-out documents, for the scaling grid."""
    docs = world["val"][:GRID_DOCS]
    chars = sum(len(d.text) for d in docs)

    def grid_loss(model) -> float:
        was = model.training
        model.eval()
        bits = evaluate.doc_bits(model, tokenizer, docs)
        model.train(was)
        return sum(bits) / chars

    return grid_loss


def make_world(fast: bool) -> dict:
    cfg = CorpusConfig()
    sizes = {"train": 2000, "val": 100, "test": 100} if fast else SIZES
    splits = make_splits(sizes, cfg=cfg)
    helpdesk = helpdesk_task({"val": 40 if fast else HELPDESK_VAL}, cfg)["val"]
    bank = bank_task({"val": 40 if fast else BANK_VAL}, cfg)["val"]
    sample = generate("mix", 2000 if fast else 20000, seed=cfg.seed + 1, cfg=cfg)
    floors = {"mix": floor_of(sample)}
    for dom in cfg.domain_weights:
        floors[dom] = floor_of([d for d in sample if d.domain == dom])
    floors["bank (held out)"] = floor_of(generate("bank", 500 if fast else 5000, seed=cfg.seed + 1, cfg=cfg),
                                         under="domain")
    return {"cfg": cfg, "splits": splits, "val": splits["val"], "helpdesk": helpdesk, "bank": bank,
            "bayes": bayes_accuracy(helpdesk, cfg), "bank_bayes": bayes_accuracy(bank, cfg), "floors": floors,
            "floor_docs": len(sample), "fingerprint": corpus_fingerprint(splits)}


def build(out: Path, only: list[str] | None, fast: bool, force: bool, token_scale: float = 1.0) -> int:
    from transformers import AutoTokenizer, LlamaForCausalLM

    t_start = time.time()
    work = out / ".work"
    specs = LADDER
    if token_scale != 1.0:
        specs = [replace(s, train_tokens=int(s.train_tokens * token_scale)) for s in specs]
    if fast:
        specs = [replace(s, train_tokens=60 * s.tokens_per_step // 8, batch_size=4, warmup_steps=5, grid_points=3)
                 for s in LADDER]
    unknown = set(only or []) - {s.name for s in specs}
    if unknown:
        print(f"unknown model(s) {sorted(unknown)}; the ladder is {[s.name for s in specs]}")
        return 2
    print("measuring this machine's matmul rate ...", flush=True)
    peak = bench.matmul_flops()
    print(f"  {peak / 1e9:.1f} GFLOP/s (float32 2048x2048 matmul)")
    print("generating the corpus ...", flush=True)
    world = make_world(fast)
    train_docs = world["splits"]["train"]
    print(f"  {len(train_docs):,} training documents, {sum(len(d.text) for d in train_docs):,} characters; "
          f"floor {world['floors']['mix'].bits_per_char:.4f} bits/char")

    tok_dir = out / "tokenizer"
    tok_meta = tok_dir / "corpus_fingerprint.txt"
    if force or not tok_meta.exists() or tok_meta.read_text().strip() != world["fingerprint"]:
        print("training the tokenizer ...", flush=True)
        save_tokenizer(train_tokenizer((d.text for d in train_docs), VOCAB), tok_dir)
        tok_meta.write_text(world["fingerprint"] + "\n")
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    stream = None

    trained = []
    for spec in specs:
        if only and spec.name not in only:
            continue
        path = out / spec.name
        rep_path = path / "report.json"
        if not force and rep_path.exists():
            old = json.loads(rep_path.read_text())
            if old.get("spec") == spec.to_dict() and old.get("corpus_fingerprint") == world["fingerprint"]:
                print(f"{spec.name}: up to date, kept")
                continue
        t_model = time.time()
        if stream is None:
            stream = token_stream(encode(tokenizer, [d.text for d in train_docs]), seed=world["cfg"].seed)
        torch.manual_seed(spec.seed)
        config = llama_config(spec, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id,
                              tokenizer.pad_token_id)
        device = "cuda" if torch.cuda.is_available() else "cpu"  # the build may run on a GPU machine
        model = LlamaForCausalLM(config).to(device)
        params = sum(p.numel() for p in model.parameters())
        print(f"{spec.name}: {params:,} parameters, {spec.steps} steps of {spec.tokens_per_step} tokens; "
              f"scaling grid at steps {spec.grid_steps()}", flush=True)
        # the yardstick: this step's own matmul shapes, in each dtype, on the threads training uses
        shapes = (spec.tokens_per_step, spec.hidden, spec.mlp, len(tokenizer))
        yard = {"float32": bench.layer_matmul_flops(*shapes, threads=spec.threads, device=device),
                "bfloat16": bench.layer_matmul_flops(*shapes, dtype=torch.bfloat16, threads=spec.threads, repeats=1,
                                                     device=device)}
        rec = train(model, spec, stream, work / spec.name, grid_loss=grid_loss_fn(world, tokenizer),
                    bos_id=tokenizer.bos_token_id)
        rec["achieved_flops"] = training_flops(params, rec["tokens"]) / max(rec["wall_s"], 1e-9)
        rec["matmul_flops"] = yard[rec["precision"]]
        rec["matmul_flops_by_dtype"] = yard
        rec["matmul_flops_2048"] = peak
        rec["flops_ratio"] = round(rec["achieved_flops"] / rec["matmul_flops"], 4)
        print(f"{spec.name}: {rec['tokens']:,} tokens in {rec['wall_s']:.0f} s ({rec['precision']}), "
              f"{rec['achieved_flops'] / 1e9:.1f} GFLOP/s = {rec['flops_ratio']:.2f} of its matmuls' rate", flush=True)
        rec["device"] = device
        save_model(model.cpu(), tokenizer, path)
        print(f"{spec.name}: measuring ...", flush=True)
        metrics, samples = measure(path, world)
        report = {"name": spec.name, "spec": spec.to_dict(), "params": params,
                  "architecture": architecture(spec, len(tokenizer)), "training": rec, "metrics": metrics,
                  "samples": samples, "corpus_fingerprint": world["fingerprint"],
                  "model_build_s": round(time.time() - t_model, 1)}
        rep_path.write_text(json.dumps(report, indent=2) + "\n")
        (path / "report.md").write_text(model_report_md(report) + "\n")
        trained.append(spec.name)

    wall = time.time() - t_start
    peak_end = bench.matmul_flops()
    peak_1 = bench.matmul_flops(threads=1)
    print(f"matmul rate at the end: {peak_end / 1e9:.1f} GFLOP/s (start: {peak / 1e9:.1f}; "
          f"one thread: {peak_1 / 1e9:.1f})")
    models = []
    for spec in specs:
        rep_path = out / spec.name / "report.json"
        if not rep_path.exists():
            continue
        r = json.loads(rep_path.read_text())
        models.append({"name": r["name"], "path": r["name"], "params": r["params"],
                       "architecture": r["architecture"], "dtype": "float32", "stored_dtype": "float16",
                       "training": {**r["spec"], **r["training"]}, "metrics": r["metrics"],
                       "files": file_hashes(out / spec.name)})
    names = [m["name"] for m in models]
    aliases = {}
    if names:
        aliases = {"course-slm": SLM if SLM in names else names[0], "course-llm": LLM if LLM in names else names[-1]}
    f = world["floors"]
    corpus = {"seed": world["cfg"].seed, "fingerprint": world["fingerprint"],
              "config": {"pronoun_skew": world["cfg"].pronoun_skew,
                         "helpdesk_clue_rate": world["cfg"].helpdesk_clue_rate,
                         "bank_clue_rate": world["cfg"].bank_clue_rate, "held_out": ["bank"],
                         "weights": world["cfg"].domain_weights, "sizes": {k: len(v) for k, v in world["splits"].items()}},
              "floor_docs": world["floor_docs"],
              "floor_bits_per_char": {k: round(v.bits_per_char, 5) for k, v in f.items()},
              "floor_ci95": {k: [round(v.ci95[0], 5), round(v.ci95[1], 5)] for k, v in f.items()}}
    tok = {"path": "tokenizer", "vocab_size": len(tokenizer), "files": file_hashes(tok_dir)}
    per_model = [json.loads((out / m["name"] / "report.json").read_text()).get("model_build_s", 0) for m in models]
    build_info = {"wall_s": round(wall, 1), "trained_this_run": trained, "models_build_s": per_model,
                  "matmul_flops_start": peak, "matmul_flops_end": peak_end, "matmul_flops_1thread": peak_1,
                  "token_scale": token_scale,
                  "command": "python -m course_utils zoo build" + (" --fast" if fast else "")
                  + (f" --token-scale {token_scale}" if token_scale != 1.0 else "")}
    path = write_manifest(out, {**corpus, "build": build_info}, tok, models, aliases)
    print(f"\nwrote {path} in {wall:.0f} s (trained: {', '.join(trained) or 'nothing'})")
    print(results_table(read_manifest(out)))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_utils zoo",
                                description="Build the offline world: corpus, tokenizer, course models.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="generate the corpus, train the tokenizer and the model ladder")
    b.add_argument("--only", action="append", metavar="NAME", help="build only this model (repeatable)")
    b.add_argument("--fast", action="store_true",
                   help="smoke test: a small corpus and 40 steps per model, into models/.work/fast")
    b.add_argument("--force", action="store_true", help="retrain even if a model is up to date")
    b.add_argument("--token-scale", type=float, default=1.0,
                   help="multiply every model's token budget (e.g. 4 on a GPU or an AMX CPU: course-large at 16M)")
    b.add_argument("--out", type=Path, default=None, help="output folder (default: models/)")
    r = sub.add_parser("report", help="print the results table from models/manifest.json")
    r.add_argument("--write-docs", action="store_true", help="also update the table in docs/zoo.md")
    args = p.parse_args(argv)
    if args.command == "report":
        manifest = read_manifest(MODELS_DIR)
        print(results_table(manifest))
        if args.write_docs:
            write_docs(manifest, REPO_ROOT / "docs" / "zoo.md")
        return 0
    out = args.out or (MODELS_DIR / ".work" / "fast" if args.fast else MODELS_DIR)
    return build(out, args.only, args.fast, args.force, args.token_scale)
