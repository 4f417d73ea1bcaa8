"""Lesson 12's decision guide: from a task's needs to a size class, concrete catalog models, a monthly cost, what to
try first and what to measure, each reason citing the scorecard rows it rests on.

    need = Needs(breadth="one narrow task", domain_examples=2000, min_tokens_per_s=5, tokens_per_month=20e6,
                 data_may_leave=False, hardware="laptop (16 GB RAM)")
    rec = recommend(need)              # reads the evidence (own, else reference) through scorecard.Evidence
    print(rec.text())
    rec.conflicts                      # inputs that cannot all be met, named (never papered over)

The rules are the functions ``rule_*`` below, applied in order (``RULES``); each adds findings to the
recommendation and may narrow the candidate models. To disagree with one, read it, change it, or add your own
to ``RULES`` (lesson 12's exercises do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from course_utils.errors import BadInputError

BREADTHS = ("one narrow task", "a few related tasks", "open-ended")
SIZE_CLASSES = {  # upper bound on parameters, inclusive
    "small": 500e6,
    "medium": 2e9,
    "large": math.inf,
}
SIZE_FOR_BREADTH = {"one narrow task": "small", "a few related tasks": "medium", "open-ended": "large"}

# name -> (memory bytes, GPU?, bandwidth bytes/s or None (= the one measured in lesson 09), source of bandwidth,
#          the lesson 09 cost preset it is priced as)
HARDWARE = {
    "Binder (2 GB RAM)": (2e9, False, None, "assumed: this machine's, measured in lesson 09", "rented CPU VM"),
    "laptop (8 GB RAM)": (8e9, False, None, "assumed: this machine's, measured in lesson 09", "this laptop"),
    "laptop (16 GB RAM)": (16e9, False, None, "assumed: this machine's, measured in lesson 09", "this laptop"),
    "Colab T4 (16 GB GPU)": (16e9, True, 320e9, "NVIDIA T4 datasheet: 320 GB/s", "rented cloud GPU"),
    "H100 (80 GB GPU)": (80e9, True, 3.35e12, "NVIDIA H100 SXM datasheet: 3.35 TB/s", "rented cloud GPU"),
}


@dataclass(frozen=True, kw_only=True)
class Needs:
    """What the task needs. ``min_tokens_per_s``: the generation speed one user must get (0: no one waits)."""

    breadth: str = "one narrow task"
    domain_examples: int = 0
    min_tokens_per_s: float = 5.0
    tokens_per_month: float = 10e6
    data_may_leave: bool = True
    hardware: str = "laptop (16 GB RAM)"
    answers_in_documents: bool = False  # the answers are in documents (manuals, records, mail), not general knowledge

    def __post_init__(self):
        if self.breadth not in BREADTHS:
            raise BadInputError(f"breadth={self.breadth!r}: choose one of {', '.join(BREADTHS)}.")
        if self.hardware not in HARDWARE:
            raise BadInputError(f"hardware={self.hardware!r}: choose one of {', '.join(HARDWARE)}.")
        for name, lo, hi, unit in (("domain_examples", 0, 1e9, "examples"), ("min_tokens_per_s", 0, 1e5, "tokens/s"),
                                   ("tokens_per_month", 0, 1e15, "tokens a month")):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo <= v <= hi) or v != v:
                raise BadInputError(f"{name}={v!r}: enter a number of {unit} from {lo:g} to {hi:g}.")


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: str  # "size", "models", "try", "both", "measure", "cost", "conflict", "note"
    text: str
    cites: tuple[str, ...] = ()  # scorecard claim ids


@dataclass
class Recommendation:
    needs: Needs
    size_class: str = ""
    candidates: list = field(default_factory=list)  # ModelSpec, largest first, that fit the hardware
    deployment: str = "local"  # "local" or "endpoint"
    tokens_per_s: dict = field(default_factory=dict)  # model name -> estimated decode tokens/s on the hardware
    monthly_usd: dict = field(default_factory=dict)  # "local" / "endpoint" -> USD a month
    findings: list[Finding] = field(default_factory=list)

    def add(self, rule: str, kind: str, text: str, *cites: str) -> None:
        self.findings.append(Finding(rule, kind, text, cites))

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def conflicts(self) -> list[Finding]:
        return self.of("conflict")

    @property
    def models(self) -> list[str]:
        return [s.name for s in self.candidates[:3]]

    def text(self) -> str:
        lines = [f"Size class: {self.size_class}; run it {'on your own hardware' if self.deployment == 'local' else 'at an endpoint'}"
                 + (f"; models: {', '.join(self.models)}" if self.models else "; no catalog model fits")]
        if self.monthly_usd:
            lines.append("Monthly cost (example prices): " + ", ".join(f"{k} ≈ ${v:,.0f}" for k, v in self.monthly_usd.items()))
        for title, kind in (("CONFLICTS", "conflict"), ("Why", "size"), ("Models", "models"), ("Cost", "cost"),
                            ("Try first", "try"), ("Use both", "both"), ("Measure before deciding", "measure"),
                            ("Notes", "note")):
            items = self.of(kind)
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {f.text}" + (f"  [scorecard: {', '.join(f.cites)}]" if f.cites else "") for f in items]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- the evidence the rules read

def _measured(ev, lesson: int, key: str):
    from course_utils.scorecard import MissingEvidence

    try:
        return ev.value(lesson, key)
    except MissingEvidence:
        return None


def bandwidth_of(hardware: str, ev) -> tuple[float | None, str]:
    """Bytes/s the hardware reads memory at, and where the figure comes from."""
    _, _, bw, source, _ = HARDWARE[hardware]
    if bw is None:
        bw = _measured(ev, 9, "bandwidth_bytes_per_s")
        if bw is None:
            return None, "not measured: run lesson 09"
    return bw, source


def estimated_tokens_per_s(spec, hardware: str, ev, bits: int | None = None) -> float | None:
    """Decode tokens/s of ``spec`` on ``hardware``: bandwidth ÷ weight bytes × the share of that bound reached in
    lesson 09 (``scorecard.share_of_bound``). ``bits``: quantized weights (e.g. 4) instead of the default dtype."""
    from course_utils.measure import dtype_bytes
    from course_utils.sizing import default_dtype

    from course_utils.hardware import decode_bound
    from course_utils.scorecard import share_of_bound

    bw, _ = bandwidth_of(hardware, ev)
    if bw is None or not _measured(ev, 9, "share_of_decode_bound"):
        return None
    gpu = HARDWARE[hardware][1]
    per_weight = bits / 8 if bits else dtype_bytes(default_dtype(spec, "cuda" if gpu else "cpu", bf16_native=True))
    return decode_bound(spec.params * per_weight, bw) * share_of_bound(ev)


def _fits(spec, hardware: str, bits: int | None = None) -> bool:
    """Whether ``spec`` fits ``hardware`` by the memory guard's estimate (``bits``: weights quantized to that)."""
    from course_utils.measure import dtype_bytes
    from course_utils.sizing import RUNTIME_OVERHEAD_BYTES, default_dtype, estimate_memory_bytes

    memory, gpu, *_ = HARDWARE[hardware]
    dtype = default_dtype(spec, "cuda" if gpu else "cpu", True)
    need = estimate_memory_bytes(spec, dtype, 1024)
    if bits:  # the same estimate with the weights (and their 10 % activation allowance) at bits/8 bytes each
        need -= int(spec.params * (dtype_bytes(dtype) - bits / 8) * 1.10)
    return need + (0 if gpu else RUNTIME_OVERHEAD_BYTES) <= memory


def _size_class(spec) -> str:
    return next(name for name, top in SIZE_CLASSES.items() if spec.params <= top)


def _hub_models():
    from course_utils.catalog import catalog

    return [s for s in catalog().values() if not s.is_course_model and not s.gated]


# ----------------------------------------------------------------------------- the rules, in order

def rule_breadth_sets_size(need: Needs, rec: Recommendation, ev) -> None:
    """A narrow task starts small, an open-ended one large: breadth is what size buys (lessons 05, 07)."""
    rec.size_class = SIZE_FOR_BREADTH[need.breadth]
    bpc, params = _measured(ev, 5, "val_bpc"), _measured(ev, 5, "params")
    ladder = ""
    if bpc and params:
        ladder = " (lesson 05, bits/char up the ladder: " + " → ".join(
            f"{bpc[m]:.3f}" for m in sorted(bpc, key=lambda m: params.get(m, 0))) + ")"
    rec.add("breadth", "size", f"'{need.breadth}' starts from the {rec.size_class} class: what more parameters buy "
            f"is breadth, lower loss across every domain at once{ladder}.", "size", "bigger_better")


def rule_data_lets_small_specialise(need: Needs, rec: Recommendation, ev) -> None:
    """With enough domain examples a fine-tuned small model beats a general large one (lesson 08); without them,
    prompt the largest model that fits."""
    docs = _measured(ev, 8, "docs_to_beat_untrained") or {}
    enough = docs.get("course-small")
    if need.breadth == "open-ended":
        if need.domain_examples:
            rec.add("data", "note", f"{need.domain_examples:,} examples will not make a small model general: keep "
                    "them as a test set to compare candidates on.", "domain")
        return
    if enough is None:
        rec.add("data", "note", "Lesson 08's data-efficiency figure is not recorded: run lesson 08 to see how many "
                "examples a fine-tune needs.")
        return
    if need.domain_examples >= enough:
        rec.size_class = "small"
        rec.add("data", "size", f"{need.domain_examples:,} examples is at least the {enough:,} with which the fine-tuned "
                "course-small beat every untrained model in lesson 08: a small model fine-tuned on them is the "
                "candidate.", "domain", "customise")
        rec.add("data", "try", "Fine-tune the small model (all weights; LoRA saves memory only at scale), keeping "
                "a held-out split.", "finetune", "lora")
    else:
        rec.add("data", "try", f"With {need.domain_examples:,} examples (lesson 08's small model needed {enough:,}), "
                "start with prompting: a few worked examples in the prompt of the largest model that fits; collect "
                "data as you go.", "domain", "customise")


def rule_hardware_bounds_size(need: Needs, rec: Recommendation, ev) -> None:
    """Only models whose memory estimate fits the hardware are candidates (lessons 05, 09); 4-bit weights widen
    the choice (the quantization row)."""
    wanted = [s for s in _hub_models() if _size_class(s) == rec.size_class]
    fit = [s for s in wanted if _fits(s, need.hardware)]
    quantized = [s for s in wanted if s not in fit and _fits(s, need.hardware, bits=4)]
    rec.candidates = sorted(fit, key=lambda s: s.params, reverse=True)
    if quantized and not fit:
        rec.candidates = sorted(quantized, key=lambda s: s.params, reverse=True)
        rec.add("hardware", "try", f"Quantize to 4 bits: only then does {rec.candidates[0].name} fit "
                f"{need.hardware}.", "quantization")
    if rec.candidates:
        rec.add("hardware", "models", f"{', '.join(s.name for s in rec.candidates[:3])} fit {need.hardware} "
                f"(memory estimate for a 1,024-token context).", "hardware")


def rule_privacy_means_local(need: Needs, rec: Recommendation, ev) -> None:
    """Data that must stay: only local models; fine-tuning on private data also needs deduplication and an exposure
    check (lesson 11)."""
    if need.data_may_leave:
        if not rec.candidates:
            rec.deployment = "endpoint"
            rec.add("privacy", "models", f"No {rec.size_class} catalog model fits {need.hardware}; the data may leave "
                    "the machine, so use a hosted endpoint of that class.", "hardware", "cost")
        return
    rec.deployment = "local"
    if not rec.candidates:
        largest = max((s for s in _hub_models() if _fits(s, need.hardware, bits=4)), key=lambda s: s.params,
                      default=None)
        rec.add("privacy", "conflict", f"'{need.breadth}' calls for the {rec.size_class} class, the data must stay on "
                f"the machine, and the largest catalog model {need.hardware} holds is "
                f"{largest.name + ' (at 4 bits)' if largest else 'none'}. Choose: bigger hardware, a "
                "narrower task (then a fine-tuned small model), or let the data leave.", "hardware", "privacy")
    if need.domain_examples:
        rec.add("privacy", "measure", "Before shipping a model fine-tuned on private data: deduplicate it and "
                "measure canary exposure; local weights leak what they memorised.", "local_private", "privacy")


def rule_speed_needs_bandwidth(need: Needs, rec: Recommendation, ev) -> None:
    """Decode speed ≈ bandwidth ÷ weight bytes (lesson 09): a candidate that cannot reach the target is dropped,
    or quantized; if none reaches it locally, say so."""
    if rec.deployment != "local" or not rec.candidates:
        return
    bw, source = bandwidth_of(need.hardware, ev)
    speeds = {s.name: estimated_tokens_per_s(s, need.hardware, ev) for s in rec.candidates}
    if any(v is None for v in speeds.values()):
        rec.add("speed", "note", f"Decode speed cannot be estimated ({source}).")
        return
    rec.tokens_per_s = speeds
    fast = [s for s in rec.candidates if speeds[s.name] >= need.min_tokens_per_s]
    if fast:
        rec.candidates = fast
        rec.add("speed", "models", f"{fast[0].name}: about {speeds[fast[0].name]:.0f} tokens/s on {need.hardware} "
                f"({bw / 1e9:,.0f} GB/s, {source}), at least the {need.min_tokens_per_s:g} needed.", "hardware")
        return
    q4 = {s.name: estimated_tokens_per_s(s, need.hardware, ev, bits=4) for s in rec.candidates}
    rec.candidates = sorted(rec.candidates, key=lambda s: q4[s.name], reverse=True)  # fastest first, from here on
    rec.tokens_per_s = q4
    best = rec.candidates[0]
    if q4[best.name] >= need.min_tokens_per_s:
        rec.candidates = [s for s in rec.candidates if q4[s.name] >= need.min_tokens_per_s]
        rec.add("speed", "try", f"Quantize to 4 bits: {best.name} then reaches about {q4[best.name]:.0f} tokens/s "
                f"(≥ {need.min_tokens_per_s:g}); check its quality loss first.", "quantization", "hardware")
        return
    text = (f"The fastest candidate, {best.name}, reaches about {q4[best.name]:.1f} tokens/s on {need.hardware} even at "
            f"4 bits, below the {need.min_tokens_per_s:g} needed.")
    if need.data_may_leave:
        rec.deployment = "endpoint"
        rec.add("speed", "note", text + " The data may leave: use an endpoint (or faster hardware).", "hardware", "cost")
    else:
        rec.add("speed", "conflict", text + " The data must stay local: get hardware with more bandwidth (a GPU), "
                "accept a lower speed, or choose a smaller class.", "hardware", "privacy")


def rule_finetune_fits_memory(need: Needs, rec: Recommendation, ev) -> None:
    """Fine-tuning needs weights, gradients and optimizer state in memory (lesson 08): when all weights do not fit
    the hardware, LoRA or QLoRA may; when neither does, the fine-tune has to run elsewhere."""
    from course_utils.training_memory import training_memory

    tuning = any("Fine-tune" in f.text for f in rec.of("try"))
    if not tuning or rec.deployment != "local" or not rec.candidates:
        return
    spec = rec.candidates[0]
    memory = HARDWARE[need.hardware][0]
    need_gb = {m: training_memory(spec, method=m, dtype="bfloat16", batch=4, seq_len=512).total
               for m in ("full", "lora", "qlora")}
    fits = [m for m in ("full", "lora", "qlora") if need_gb[m] <= memory]
    sizes = ", ".join(f"{m} {v / 1e9:.1f} GB" for m, v in need_gb.items())
    if fits and fits[0] != "full":
        rec.add("fine-tune memory", "try", f"Fine-tuning {spec.name} with all weights needs more than {need.hardware} "
                f"has ({sizes}, batch 4 × 512 tokens): use {'QLoRA' if fits[0] == 'qlora' else 'LoRA'}.",
                "lora", "finetune")
    elif not fits:
        rec.add("fine-tune memory", "note", f"Even QLoRA of {spec.name} needs more than {need.hardware} has ({sizes}): "
                "fine-tune on rented hardware, then run the result here.", "lora", "finetune")


def rule_volume_sets_cost(need: Needs, rec: Recommendation, ev) -> None:
    """Monthly cost with lesson 09's cost model: local at the estimated speed vs an endpoint of the same class at
    example prices; more volume than one machine makes is named."""
    from course_utils.cost import EXAMPLE_ENDPOINTS, EXAMPLE_HARDWARE

    endpoint = next(e for e in EXAMPLE_ENDPOINTS.values()
                    if ("small" in e.name) == (rec.size_class != "large"))
    rec.monthly_usd["endpoint"] = endpoint.monthly_usd(need.tokens_per_month)
    name = rec.candidates[0].name if rec.candidates else None
    tps = rec.tokens_per_s.get(name) if name else None
    if tps:
        machine = next(h for h in EXAMPLE_HARDWARE.values() if HARDWARE[need.hardware][4] in h.name)
        rec.monthly_usd["local"] = machine.monthly_usd(need.tokens_per_month, tps)
        n = machine.machines_needed(need.tokens_per_month, tps)
        cheaper = "local" if rec.monthly_usd["local"] < rec.monthly_usd["endpoint"] else "the endpoint"
        rec.add("volume", "cost", f"{need.tokens_per_month / 1e6:,.1f} M tokens a month: {name} locally ≈ "
                f"${rec.monthly_usd['local']:,.0f} ({n} × {machine.name}) vs ${rec.monthly_usd['endpoint']:,.0f} at "
                f"{endpoint.name}: {cheaper} is cheaper at this volume.", "cost")
        if n > 1:
            rec.add("volume", "conflict" if not need.data_may_leave else "note",
                    f"One {need.hardware} makes about {tps * 3600 * 730 / 1e6:,.0f} M tokens a month at {tps:.0f} "
                    f"tokens/s; this volume needs {n} of them (or batching, which multiplies throughput).", "cost")
        if need.data_may_leave and cheaper == "the endpoint" and rec.deployment == "local":
            rec.deployment = "endpoint"
    else:
        rec.add("volume", "cost", f"At an endpoint ({endpoint.name}) ≈ ${rec.monthly_usd['endpoint']:,.0f} a month.",
                "cost")


def rule_what_to_measure(need: Needs, rec: Recommendation, ev) -> None:
    """Whatever the choice: measure it on your own task before deciding (lessons 09 and 10)."""
    from course_utils.intervals import wilson_interval

    lo, hi = wilson_interval(25, 50)  # how wide a 95 % interval is on 50 examples at 50 % accuracy
    rec.add("measure", "measure", "Accuracy of the top two candidates on your own held-out examples, with an interval "
            f"(on 50 examples a 95 % interval spans ±{(hi - lo) / 2:.2f}: too wide to separate close models).",
            "domain", "bigger_better")
    rec.add("measure", "measure", f"Tokens/s and memory on {need.hardware} at your batch size; the estimate here is a "
            "bandwidth bound.", "hardware", "cost")
    if need.breadth != "one narrow task":
        gap = _measured(ev, 10, "general_abs_gap")
        seen = ""
        if gap and "course-small" in gap and "course-large" in gap:
            seen = (f" (in lesson 10, course-large's skew was {gap['course-large']:.3f} from its data's, "
                    f"course-small's {gap['course-small']:.3f})")
        rec.add("measure", "measure", f"Bias probes on your own templates: a model's skew follows its data{seen}.",
                "bias")


def rule_use_both(need: Needs, rec: Recommendation, ev) -> None:
    """Small and large together (lesson 13): a draft model when someone waits on a larger one, a cascade for a narrow
    task at volume, distillation when a small model must learn from little data, and retrieval when the answers are
    in documents. Each finding quotes lesson 13's figures; without them it says to run the lesson."""
    if need.min_tokens_per_s > 0 and rec.size_class != "small" and rec.deployment == "local":
        sweep, ratios = _measured(ev, 13, "speculative_sweep"), _measured(ev, 13, "draft_cost_ratio") or {}
        if sweep:
            from course_utils.speculative import predicted_speedup

            best = max((r for rows in sweep.values() for r in rows), key=lambda r: r["speedup"])
            bound = next((c for pair, c in ratios.items() if "bandwidth bound" in pair), None)
            real = (f"; with a draft {1 / bound:.0f}× smaller than its target the same tokens per pass predict "
                    f"{predicted_speedup(best['tokens_per_pass'], best['k'], bound):.1f}×" if bound else "")
            rec.add("use both", "both", f"Speculative decoding: a small model of the same family (same tokenizer) "
                    f"drafts, the large one verifies; the text is unchanged. Lesson 13 measured up to "
                    f"{best['speedup']:.2f}× on the course pair ({best['tokens_per_pass']:.1f} tokens per large "
                    f"pass at k = {best['k']}){real}.", "hardware")
        else:
            rec.add("use both", "both", "Speculative decoding could make the large model faster at no cost in "
                    "quality: run lesson 13 to measure it.", "hardware")
    if need.breadth == "one narrow task" and need.tokens_per_month >= 1e8:
        runs = _measured(ev, 13, "cascade") or {}
        if runs:
            best = min(runs, key=lambda k: runs[k]["cost_vs_large"])
            r = runs[best]
            rec.add("use both", "both", f"A cascade: the smaller model answers when it is sure, the larger one "
                    f"otherwise. In lesson 13 ({best}) it reached {r['test_accuracy']:.3f} against "
                    f"{r['large_test_accuracy']:.3f} for the large model alone, at {r['cost_vs_large']:.2f}× its "
                    f"cost, deferring {r['deferred']:.0%}; it pays only if the first model keeps most examples.",
                    "cost")
        else:
            rec.add("use both", "both", "A cascade (small first, large when unsure) may cut the cost at this "
                    "volume: run lesson 13 to measure one.", "cost")
    if rec.size_class == "small" and need.domain_examples < 1000:
        d, full = _measured(ev, 13, "distillation"), _measured(ev, 13, "distillation_full")
        text = "Distillation: with few examples of your own, a larger model's outputs can teach the small one. "
        if d:
            text += (f"In lesson 13 it closed {d['gap_closed']:.0%} of the gap to the teacher at {d['flops_ratio']:.2f}× "
                     "the training FLOPs")
            if full:
                paid = full["best_bpc"] < full["matched_control_bpc"]
                text += (f"; in its full run the best student ({full['best_bpc']:.4f} bits/char) "
                         f"{'beat' if paid else 'lost to'} the data alone given the same FLOPs "
                         f"({full['matched_control_bpc']:.4f})")
            text += ": compare against the data alone at the same FLOPs before paying for it."
        else:
            text += "Run lesson 13 to see what it buys per training FLOP."
        rec.add("use both", "both", text, "customise")
    if need.answers_in_documents:
        r = _measured(ev, 13, "retrieval")
        text = "Retrieval: search the documents and put the best matches in the prompt, instead of hoping a model " \
               "remembers them (it cannot know documents it never saw). "
        if r:
            read = ", ".join(f"{m} {v:.0%}" for m, v in r["oracle_accuracy"].items())
            text += (f"In lesson 13 BM25 ranked the right message first for {r['recall_at_1']:.0%} of the questions and "
                     f"{r['messages_that_fit']:.0f} messages fit the context; given the right message, the models "
                     f"answered {read}: check that your model copies from its prompt before relying on retrieval.")
        else:
            text += "Run lesson 13 to measure the retriever and the reader."
        rec.add("use both", "both", text, "domain")


RULES = [rule_breadth_sets_size, rule_data_lets_small_specialise, rule_hardware_bounds_size,
         rule_privacy_means_local, rule_speed_needs_bandwidth, rule_finetune_fits_memory, rule_volume_sets_cost,
         rule_use_both, rule_what_to_measure]


def recommend(need: Needs, ev=None, rules=None) -> Recommendation:
    """Apply ``rules`` (default ``RULES``) in order to ``need``, reading the evidence ``ev`` (default: own, else
    the shipped reference)."""
    from course_utils.scorecard import Evidence

    ev = ev or Evidence()
    rec = Recommendation(need)
    for rule in RULES if rules is None else rules:
        rule(need, rec, ev)
    return rec
