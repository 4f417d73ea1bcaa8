"""Readable reports: one per model, and the ladder's results table for docs/zoo.md."""

from __future__ import annotations

import re
from pathlib import Path

BEGIN, END = "<!-- results:begin (python -m course_utils zoo report --write-docs) -->", "<!-- results:end -->"


def model_report_md(r: dict) -> str:
    """The readable report saved beside each model."""
    m, t = r["metrics"], r["training"]
    lines = [f"# {r['name']}", "",
             f"{r['params']:,} parameters (Llama architecture: {r['architecture']['n_layers']} layers, "
             f"hidden {r['architecture']['hidden']}, {r['architecture']['heads']} heads, "
             f"MLP {r['architecture']['mlp']}, vocab {r['architecture']['vocab']}, tied embeddings).", "",
             f"Training: {t['steps']} steps, {t['tokens']:,} tokens, {t['wall_s']:.0f} s "
             f"({t['tokens_per_s']:,.0f} tokens/s in {t.get('precision', 'float32')}, "
             f"{t['achieved_flops'] / 1e9:.1f} GFLOP/s = {100 * t['flops_ratio']:.0f}% of the rate of its own "
             f"matmul shapes measured in the same run).", "",
             "| validation | model bits/char | floor bits/char | above floor |", "|---|---|---|---|"]
    for k, v in m["val_bits_per_char"].items():
        lines.append(f"| {k} | {v:.4f} | {m['val_floor_bits_per_char'][k]:.4f} | {m['pct_above_floor'][k]:+.1f}% |")
    lines += ["", f"Helpdesk category accuracy: {m['helpdesk_accuracy']:.3f} "
              f"(best possible {m['helpdesk_bayes_accuracy']:.3f}, {m['helpdesk_tickets']} tickets).",
              f"Samples that are exactly grammatical: {100 * m['samples_grammatical_fraction']:.0f}%.", "",
              "## Samples (temperature 1)", ""]
    for dom, ss in r["samples"]["by_domain"].items():
        for s in ss[:2]:
            lines += [f"**{dom}** ({'grammatical' if s['grammatical'] else 'not grammatical'}):", "",
                      "```", s["text"], "```", ""]
    return "\n".join(lines)



def results_table(manifest: dict) -> str:
    """Markdown: the ladder next to the entropy floor, the reading/copying measurements, the scaling
    grid and the build benchmark, from the manifest."""
    c = manifest["corpus"]
    b = c.get("build", {})
    models = manifest["models"]
    rows = [f"Entropy floor of the mix: {c['floor_bits_per_char']['mix']:.4f} bits/char "
            f"(95% CI {c['floor_ci95']['mix'][0]:.4f}-{c['floor_ci95']['mix'][1]:.4f}, "
            f"{c['floor_docs']:,} documents).", "",
            "| model | params | val bits/char | floor (same docs) | above floor | helpdesk acc. (best possible) "
            "| grammatical samples | tokens | tokens/param | train s | tokens/s | precision | GFLOP/s "
            "| ÷ its matmuls' rate (same run) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for m in models:
        t, mt = m["training"], m["metrics"]
        rows.append(f"| {m['name']} | {m['params']:,} | {mt['val_bits_per_char']['mix']:.4f} | "
                    f"{mt['val_floor_bits_per_char']['mix']:.4f} | {mt['pct_above_floor']['mix']:+.1f}% | "
                    f"{mt['helpdesk_accuracy']:.3f} ({mt['helpdesk_bayes_accuracy']:.3f}) | "
                    f"{100 * mt['samples_grammatical_fraction']:.0f}% | {t['tokens']:,} | "
                    f"{t['tokens'] / m['params']:.2f} | {t['wall_s']:.0f} | "
                    f"{t['tokens_per_s']:,.0f} | {t.get('precision', 'float32')} | {t['achieved_flops'] / 1e9:.1f} | "
                    f"{t['flops_ratio']:.2f} of {t['matmul_flops'] / 1e9:.0f} |")
    domains = [k for k in models[0]["metrics"]["val_bits_per_char"] if k != "mix"]
    rows += ["", "Above the floor, per domain (validation; email is the copying domain):", "",
             "| model | " + " | ".join(domains) + " |", "|---|" + "---:|" * len(domains)]
    for m in models:
        p = m["metrics"]["pct_above_floor"]
        rows.append(f"| {m['name']} | " + " | ".join(f"{p[d]:+.1f}%" for d in domains) + " |")
    if all("middle_reading" in m["metrics"] for m in models):
        rows += ["", "Reading anywhere and copying (validation documents):", "",
                 "| model | bits/char ÷ floor | middle of a document read alone ÷ with the document before it "
                 "| 2nd copy of a 48-token segment ÷ 1st copy | induction heads (census) | best induction score "
                 "| held-out bank bits/char (floor) |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for m in models:
            mt = m["metrics"]
            bank = mt["held_out_bank"]
            rows.append(f"| {m['name']} | {mt['val_bits_per_char']['mix'] / mt['val_floor_bits_per_char']['mix']:.2f} "
                        f"| {mt['middle_reading']['ratio']:.2f} | {mt['copying']['mix']['ratio']:.2f} | "
                        f"{mt['head_census']['induction']} of {mt['head_census']['heads']} | "
                        f"{mt['head_census']['best induction score']:.2f} | "
                        f"{bank['bits_per_char']:.3f} ({bank['floor_bits_per_char']:.3f}) |")
    if all(m["training"].get("grid") for m in models):
        rows += ["", "The scaling grid: held-out bits/char of each recipe trained for a smaller budget "
                 "(warmup-stable-decay forks, each decayed over its last "
                 f"{100 * models[0]['training'].get('decay_fraction', 0.15):.0f}% of steps):", ""]
        for m in models:
            pts = ", ".join(f"{p['tokens'] / 1e6:.2f}M: {p['val_bits_per_char']:.4f}" for p in m["training"]["grid"])
            rows.append(f"- {m['name']}: {pts}")
    threads = sorted({m["training"].get("threads", 1) for m in models})
    rows += ["", f"Build: `{b.get('command', '?')}` took {b.get('wall_s', float('nan')):.0f} s wall "
             f"(trained this run: {', '.join(b.get('trained_this_run', [])) or 'nothing'}); "
             f"float32 2048² matmul on this machine: {b.get('matmul_flops_start', 0) / 1e9:.1f} GFLOP/s at the start, "
             f"{b.get('matmul_flops_end', 0) / 1e9:.1f} at the end, "
             f"{b.get('matmul_flops_1thread', 0) / 1e9:.1f} on one thread (models train on "
             f"{'/'.join(map(str, threads))} thread{'s' if threads != [1] else ''})."]
    return "\n".join(rows)


def write_docs(manifest: dict, doc: Path) -> None:
    """Replace the generated section of ``doc`` (between the markers) with the results table."""
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{doc} lacks the markers {BEGIN!r} ... {END!r}")
    new = BEGIN + "\n" + results_table(manifest) + "\n" + END
    doc.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: new, text, flags=re.S))
