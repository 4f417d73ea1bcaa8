"""Lesson 12's scorecard: each common claim about small vs large models, judged by explicit rules over the
evidence lessons 05-11 recorded (``course_utils.evidence``): the learner's own where it exists, else the
shipped reference, and every number says which.

    ev = Evidence()                              # own evidence first, the reference where there is none
    rows = scorecard(ev)                         # one Verdict per claim, in CLAIMS order
    rows = scorecard(ev, Thresholds(clear_ratio=3.0))   # the same evidence, a stricter reading
    print(scorecard_table(rows))

A rule is a short function per claim (``judge_<id>``): it reads numbers, compares them with a named threshold
and returns a Verdict with the reasoning built from those numbers. Read them, disagree, change a threshold:
the verdicts follow the rules, never a typed conclusion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from course_utils import evidence as _evidence
from course_utils.errors import BadInputError

HOLDS, CONDITIONAL, FAILS, UNMEASURED = "holds", "holds under conditions", "does not hold", "not measured"
SMALL, LARGE = "course-small", "course-large"  # the pair lessons 05-11 measure offline


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The lines the rules draw. Each is a judgement, named so it can be argued with."""

    clear_ratio: float = 1.5  # a cost, time or size ratio counts as a real difference from this factor on
    accuracy_margin: float = 0.02  # accuracies closer than this (absolute) are a tie
    skew_margin: float = 0.05  # pronoun-skew differences smaller than this are a tie
    quality_tolerance: float = 0.02  # a change in bits/char below this share counts as "free"
    usable_tokens_per_s: float = 5.0  # about reading speed: below it, a model is not usable interactively
    leak_bits: float = 10.0  # a canary exposure from this many bits on counts as leaking (≈ top 1 in 1,000)

    def __post_init__(self):
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise BadInputError(f"Thresholds.{name}={value!r}: a threshold is a number above 0.")
        if self.clear_ratio <= 1:
            raise BadInputError(f"Thresholds.clear_ratio={self.clear_ratio}: a ratio that counts as a difference "
                                "must be above 1 (e.g. 1.5).")


@dataclass(frozen=True)
class Number:
    """One figure a verdict rests on, and whose it is."""

    label: str
    text: str  # formatted for reading
    lesson: int
    source: str  # "yours" or "reference"


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    qualifies: str | None = None  # for a common add-on claim: the main claim it qualifies


CLAIMS: tuple[Claim, ...] = (
    Claim("size", "Small models have far fewer parameters and are specialised for a task; large models have "
                  "billions and are general."),
    Claim("finetune", "Small models take less time and fewer resources to fine-tune."),
    Claim("bias", "Large models are more biased (trained on vast, unfiltered data); small ones are less."),
    Claim("hardware", "Small models need little compute and run on modest hardware; large ones need powerful "
                      "GPUs."),
    Claim("cost", "Small models are cheaper to run."),
    Claim("domain", "Small models are more precise in their domain."),
    Claim("customise", "Small models are easier to customise."),
    Claim("privacy", "Small models are more secure and private."),
    Claim("bigger_better", "A bigger model is always better.", qualifies="size"),
    Claim("lora", "LoRA makes fine-tuning cheaper.", qualifies="finetune"),
    Claim("quantization", "Quantization is free.", qualifies="hardware"),
    Claim("local_private", "Local means private.", qualifies="privacy"),
)
CLAIM_IDS = tuple(c.id for c in CLAIMS)


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    reasoning: str
    condition: str = ""
    numbers: list[Number] = field(default_factory=list)
    published: list[str] = field(default_factory=list)

    @property
    def sources(self) -> str:
        """"yours", "reference", "yours and reference" or "none"."""
        found = sorted({n.source for n in self.numbers}, reverse=True)
        return " and ".join(found) or "none"


class MissingEvidence(Exception):
    def __init__(self, lesson: int, key: str):
        super().__init__(f"lesson {lesson:02d} has not recorded {key!r}")
        self.lesson, self.key = lesson, key


class Evidence:
    """The measurements the rules read: own first, then the reference (``evidence.lookup``), each read once."""

    def __init__(self, folder: Path | None = None, reference: Path | None = None, *, own_only: bool = False,
                 reference_only: bool = False):
        if own_only and reference_only:
            raise BadInputError("own_only and reference_only exclude each other: choose one, or neither for both.")
        self.folder, self.reference = folder, reference
        self.own_only, self.reference_only = own_only, reference_only
        self._cache: dict[tuple[int, str], _evidence.Entry | None] = {}

    def entry(self, lesson: int, key: str) -> _evidence.Entry:
        if (lesson, key) not in self._cache:
            if self.reference_only:
                e = (_evidence.load_reference(lesson, self.reference) or {}).get(key)
            else:
                e = _evidence.lookup(lesson, key, folder=self.folder, reference=self.reference)
            self._cache[lesson, key] = None if (e is None or (self.own_only and e.source != "yours")) else e
        e = self._cache[lesson, key]
        if e is None:
            raise MissingEvidence(lesson, key)
        return e

    def value(self, lesson: int, key: str):
        return self.entry(lesson, key).value

    def number(self, lesson: int, key: str, label: str, text: str) -> Number:
        return Number(label, text, lesson, self.entry(lesson, key).source)

    def lesson(self, n: int) -> tuple[str, dict]:
        """One lesson's whole file and whose it is: ("yours", entries) when the learner has recorded it,
        ("reference", entries) when only the shipped file has it, ("none", {}) otherwise."""
        own = None if self.reference_only else _evidence.load_lesson(n, self.folder)
        if own:
            return "yours", own
        ref = None if self.own_only else _evidence.load_reference(n, self.reference)
        return ("reference", ref) if ref else ("none", {})

    def sources(self, lessons=_evidence.REFERENCE_LESSONS) -> dict[int, str]:
        """Per lesson: "yours", "reference" or "none" (see :meth:`lesson`)."""
        return {n: self.lesson(n)[0] for n in lessons}


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _x(r: float) -> str:
    return f"{r:.1f}×"


# ----------------------------------------------------------------------------- the eight claims

def judge_size(ev: Evidence, t: Thresholds) -> Verdict:
    """Fewer parameters: by definition. Specialised: only if a small model beats the general large one in a
    domain. As shipped (lessons 05, 07) versus after fine-tuning (lesson 08)."""
    params, bpc = ev.value(5, "params"), ev.value(5, "val_bpc")
    facts = ev.value(7, "facts")
    by_kind = ev.value(7, "facts_by_kind")
    ft, bar = ev.value(8, "best_finetuned_accuracy"), ev.value(8, "best_untrained")
    ratio = params[LARGE] / params[SMALL]
    small_wins = [f"{k['kind']}, {k[SMALL]} vs {k[LARGE]} of {k['n']}" for k in by_kind if k[SMALL] > k[LARGE]]
    beats = ft[SMALL] - bar["accuracy"] >= t.accuracy_margin
    nums = [ev.number(5, "params", "parameters, large ÷ small", _x(ratio)),
            ev.number(5, "val_bpc", "bits/char as shipped, small vs large", f"{bpc[SMALL]:.3f} vs {bpc[LARGE]:.3f}"),
            ev.number(7, "facts", "world facts right, small vs large",
                      f"{facts[SMALL]} vs {facts[LARGE]} of {facts['n']}"),
            ev.number(8, "best_finetuned_accuracy", "fine-tuned small vs best untrained",
                      f"{_pct(ft[SMALL])} vs {_pct(bar['accuracy'])} ({bar['name']})")]
    if not beats:
        return Verdict(CLAIMS[0], FAILS, f"Even fine-tuned, the small model ({_pct(ft[SMALL])}) does not beat the best "
                       f"untrained contender ({_pct(bar['accuracy'])}): fewer parameters bought no specialisation.",
                       numbers=nums)
    wins = f"; the small one wins only on {'; '.join(small_wins)}" if small_wins else ""
    if bpc[LARGE] < bpc[SMALL] and facts[LARGE] > facts[SMALL]:  # as shipped, the large model is the better one
        return Verdict(CLAIMS[0], CONDITIONAL,
                       f"The large model has {ratio:.1f}× the parameters and, as shipped, lower loss and more facts "
                       f"right ({facts[LARGE]} vs {facts[SMALL]} of {facts['n']}{wins}); fine-tuned on bank chats the "
                       f"small one reaches {_pct(ft[SMALL])} against {_pct(bar['accuracy'])} for the best untrained contender "
                       f"({bar['name']}).",
                       "specialisation is something you do to a small model (fine-tuning), not something it has",
                       nums)
    return Verdict(CLAIMS[0], HOLDS, f"With {ratio:.1f}× fewer parameters the small model is already as good as "
                   f"shipped, and fine-tuned it beats every untrained contender.", numbers=nums)


def judge_finetune(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 08's grid: the same 2,000 chats, all weights, large ÷ small in time, compute and memory."""
    r = ev.value(8, "large_vs_small_finetune")
    nums = [ev.number(8, "large_vs_small_finetune", "large ÷ small: parameters, time, compute, memory",
                      f"{_x(r['params'])}, {_x(r['time'])}, {_x(r['flops'])}, {_x(r['memory'])}")]
    mem = ev.value(8, "training_memory_gb")
    nums.append(ev.number(8, "training_memory_gb", "full fine-tune memory, SmolLM2-135M vs Qwen2.5-7B (estimate)",
                          f"{mem['SmolLM2-135M, full']:.1f} GB vs {mem['Qwen2.5-7B, full']:.1f} GB"))
    if r["time"] >= t.clear_ratio and r["memory"] >= t.clear_ratio:
        return Verdict(CLAIMS[1], HOLDS, f"The large model ({_x(r['params'])} the parameters) took {_x(r['time'])} the "
                       f"time and {_x(r['memory'])} the memory on the same data; at real sizes the gap is "
                       f"{mem['SmolLM2-135M, full']:.1f} GB against {mem['Qwen2.5-7B, full']:.1f} GB.", numbers=nums)
    if r["time"] >= t.clear_ratio or r["memory"] >= t.clear_ratio:
        cheaper = "time" if r["time"] >= t.clear_ratio else "memory"
        return Verdict(CLAIMS[1], CONDITIONAL, f"Only the {cheaper} differs by {t.clear_ratio}× or more "
                       f"(time {_x(r['time'])}, memory {_x(r['memory'])}).", f"in {cheaper}", nums)
    return Verdict(CLAIMS[1], FAILS, f"Time {_x(r['time'])} and memory {_x(r['memory'])}: both under "
                   f"{t.clear_ratio}×, no real difference at these sizes.", numbers=nums)


def _pair(d: dict) -> tuple[str, str]:
    """The smallest and the largest course model in a per-model dict, by lesson 05's parameter ladder order."""
    order = [m for m in ("course-tiny", SMALL, "course-medium", LARGE) if m in d]
    if len(order) < 2:
        raise BadInputError(f"two course models are needed, got {sorted(d)}")
    return (SMALL if SMALL in order else order[0]), order[-1]


def judge_bias(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 10: skew a model produces, and its distance from the data's skew; the balanced clinic domain."""
    skew, gap = ev.value(10, "general_skew"), ev.value(10, "general_abs_gap")
    data, clinic = ev.value(10, "data_general_skew"), ev.value(10, "clinic_skew")
    s, l_ = _pair(skew)
    nums = [ev.number(10, "general_skew", f"pronoun skew, {s} vs {l_} (data {data:.2f})",
                      f"{skew[s]:.3f} vs {skew[l_]:.3f}"),
            ev.number(10, "general_abs_gap", "distance from the data's skew", f"{gap[s]:.3f} vs {gap[l_]:.3f}"),
            ev.number(10, "clinic_skew", "skew in the balanced clinic domain (data 0.50)",
                      ", ".join(f"{v:.2f}" for v in clinic.values()))]
    more_skewed = skew[l_] - skew[s] >= t.skew_margin
    more_faithful = gap[s] - gap[l_] >= t.skew_margin
    balanced = all(abs(v - 0.5) < t.skew_margin for v in clinic.values())
    from_data = " Trained on balanced clinic notes, every size stays near 0.50: the bias comes from the data." \
        if balanced else ""
    if more_skewed and more_faithful:
        return Verdict(CLAIMS[2], CONDITIONAL,
                       f"By the skew it produces the large model is more biased ({skew[l_]:.3f} vs {skew[s]:.3f}); "
                       f"measured against its data ({data:.2f}) it is the more faithful copy (off by {gap[l_]:.3f} vs "
                       f"{gap[s]:.3f}): the small model is less biased because it learned less.{from_data}",
                       "by the skew produced; not by distance from the data, which is where the bias comes from", nums)
    if more_skewed:
        return Verdict(CLAIMS[2], HOLDS, f"The large model's skew is {skew[l_]:.3f} against {skew[s]:.3f}.{from_data}",
                       numbers=nums)
    return Verdict(CLAIMS[2], FAILS, f"The skews differ by {skew[l_] - skew[s]:+.3f}, under the {t.skew_margin} "
                   f"margin.{from_data}", numbers=nums)


def share_of_bound(ev: Evidence) -> float:
    """The best share of the bandwidth bound (bandwidth ÷ weight bytes) a model reached in lesson 09. The largest
    models measured (a real architecture, random weights: speed does not depend on the values) come closest; the
    tiny course models lose more to fixed costs per step."""
    return max(ev.value(9, "share_of_decode_bound").values())


def decode_bound_here(ev: Evidence, weight_bytes: float) -> float:
    """Tokens/s a model of ``weight_bytes`` would decode at on the measured machine: its bandwidth ÷ the bytes,
    times the share of that bound reached in lesson 09."""
    from course_utils.hardware import decode_bound

    return decode_bound(weight_bytes, ev.value(9, "bandwidth_bytes_per_s")) * share_of_bound(ev)


def judge_hardware(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 09: decode speed is bounded by bandwidth ÷ weight bytes. Which sizes reach reading speed here?"""
    from course_utils.catalog import get_spec
    from course_utils.measure import weights_bytes

    tps, bw = ev.value(9, "decode_tokens_per_s"), ev.value(9, "bandwidth_bytes_per_s")
    machine = ev.entry(9, "bandwidth_bytes_per_s").machine
    s, l_ = _pair(tps)
    big = weights_bytes(get_spec("Qwen2.5-7B").params, "bfloat16")
    big_tps = decode_bound_here(ev, big)
    usable_bytes = decode_bound_here(ev, 1.0) / t.usable_tokens_per_s
    nums = [ev.number(9, "decode_tokens_per_s", f"decode speed, {s} vs {l_}", f"{tps[s]:.0f} vs {tps[l_]:.0f} tokens/s"),
            ev.number(9, "bandwidth_bytes_per_s", "memory bandwidth", f"{bw / 1e9:.1f} GB/s"),
            ev.number(9, "share_of_decode_bound", "Qwen2.5-7B bfloat16 here, at the measured share of the bound",
                      f"{big_tps:.1f} tokens/s")]
    both_run = min(tps.values()) >= t.usable_tokens_per_s
    ram = machine.get("ram_bytes") or 0
    if both_run and big_tps < t.usable_tokens_per_s:
        return Verdict(CLAIMS[3], CONDITIONAL,
                       f"Both course models decode above {t.usable_tokens_per_s:g} tokens/s on this "
                       f"{machine.get('cpu_cores', '?')}-core machine, but Qwen2.5-7B in bfloat16 ({big / 1e9:.1f} GB) "
                       f"would manage about {big_tps:.1f}{' and does not fit its RAM' if big > ram else ''}: here the "
                       f"line falls near {usable_bytes / 1e9:.1f} GB of weights.",
                       f"the line is bytes over bandwidth (≈ {usable_bytes / 1e9:.1f} GB of weights at "
                       f"{t.usable_tokens_per_s:g} tokens/s here), not 'small' or 'large'; quantization moves it",
                       nums)
    if both_run:
        return Verdict(CLAIMS[3], FAILS, f"Even Qwen2.5-7B would decode at about {big_tps:.1f} tokens/s here: this "
                       f"machine is not modest.", numbers=nums)
    return Verdict(CLAIMS[3], FAILS, f"Even the course models decode under {t.usable_tokens_per_s:g} tokens/s "
                   f"({tps[s]:.1f} and {tps[l_]:.1f}).", numbers=nums)


def cost_per_million(tokens_per_s: float) -> float:
    """USD per million generated tokens on lesson 09's example rented 2-core CPU VM (an editable assumption)."""
    from course_utils.cost import EXAMPLE_HARDWARE

    vm = next(h for h in EXAMPLE_HARDWARE.values() if "CPU VM" in h.name)
    return vm.usd_per_million_tokens(tokens_per_s)


def judge_cost(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 09: cost per token follows throughput on the same machine; batching changes throughput too."""
    batch = ev.value(9, "batch_tokens_per_s")
    s, l_ = _pair(batch)
    one_s, one_l, many_l = batch[s]["1"], batch[l_]["1"], batch[l_][max(batch[l_], key=int)]
    n = max(batch[l_], key=int)
    ratio = one_s / one_l
    nums = [ev.number(9, "batch_tokens_per_s", "tokens/s one request at a time, small vs large",
                      f"{one_s:.0f} vs {one_l:.0f}"),
            ev.number(9, "batch_tokens_per_s", f"large model, batch {n}", f"{many_l:.0f} tokens/s"),
            ev.number(9, "batch_tokens_per_s", "USD per million tokens on the example CPU VM: small, large, large batched",
                      f"{cost_per_million(one_s):.2f}, {cost_per_million(one_l):.2f}, {cost_per_million(many_l):.2f}")]
    arena_params, arena_tps = ev.value(6, "params"), ev.value(6, "tokens_per_s")
    a_small, a_large = min(arena_params, key=arena_params.get), max(arena_params, key=arena_params.get)
    slower = arena_tps[a_small] / arena_tps[a_large]
    more = arena_params[a_large] / arena_params[a_small]
    nums.append(ev.number(6, "tokens_per_s", f"the arena: {a_large} ÷ {a_small}, parameters vs time per token",
                          f"{_x(more)} vs {_x(slower)}"))
    arena = f" In the arena, {a_large} had {_x(more)} the parameters and took {_x(slower)} the time per token."
    verdict = cost_rule(one_s, one_l, many_l, t.clear_ratio)
    if verdict == FAILS:
        return Verdict(CLAIMS[4], FAILS, f"One request at a time the small model is only {_x(ratio)} faster, under "
                       f"{t.clear_ratio}×.{arena}", numbers=nums)
    if verdict == CONDITIONAL:
        return Verdict(CLAIMS[4], CONDITIONAL,
                       f"On the same machine one request at a time the large model costs {_x(ratio)} as much per "
                       f"token, but batched {n} at a time it makes {many_l:.0f} tokens/s, more than the small one "
                       f"alone ({one_s:.0f}).{arena}", "at the same utilisation: a busy large server can undercut an idle "
                                                "small one", nums)
    return Verdict(CLAIMS[4], HOLDS, f"The large model costs {_x(ratio)} as much per token, and even batched "
                   f"({many_l:.0f} tokens/s) does not catch the small one ({one_s:.0f}).{arena}", numbers=nums)


def cost_rule(small_tps: float, large_tps: float, large_batched_tps: float, clear_ratio: float) -> str:
    """The cost claim's rule on throughputs measured on one machine (cost per token ∝ 1 / throughput there):
    FAILS if the small model is not ``clear_ratio`` × faster one request at a time; CONDITIONAL if it is, but the
    large model batched out-runs the small one alone; HOLDS otherwise."""
    if small_tps / large_tps < clear_ratio:
        return FAILS
    return CONDITIONAL if large_batched_tps > small_tps else HOLDS


def judge_domain(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 08 (bank chats, a domain no model saw) and lesson 10 (helpdesk tickets, seen in pretraining)."""
    ft, bar = ev.value(8, "best_finetuned_accuracy"), ev.value(8, "best_untrained")
    acc = ev.value(10, "helpdesk_accuracy")
    s, l_ = _pair(acc)
    nums = [ev.number(8, "best_finetuned_accuracy", "bank intents: fine-tuned small, fine-tuned large",
                      f"{_pct(ft[SMALL])}, {_pct(ft[LARGE])}"),
            ev.number(8, "best_untrained", "bank intents: best untrained model", f"{_pct(bar['accuracy'])} ({bar['name']})"),
            ev.number(10, "helpdesk_accuracy", f"helpdesk categories as shipped, {s} vs {l_}",
                      f"{_pct(acc[s])} vs {_pct(acc[l_])}")]
    if ft[SMALL] - bar["accuracy"] < t.accuracy_margin:
        return Verdict(CLAIMS[5], FAILS, f"Fine-tuned, the small model reaches {_pct(ft[SMALL])}, not above the "
                       f"untrained {_pct(bar['accuracy'])}.", numbers=nums)
    if ft[LARGE] - ft[SMALL] >= t.accuracy_margin or acc[l_] - acc[s] >= t.accuracy_margin:
        return Verdict(CLAIMS[5], CONDITIONAL,
                       f"Fine-tuned, the small model beats the best untrained contender ({_pct(ft[SMALL])} vs "
                       f"{_pct(bar['accuracy'])}); but the large model fine-tuned the same way reaches "
                       f"{_pct(ft[LARGE])}, and untrained on a domain both saw, the large one wins "
                       f"({_pct(acc[l_])} vs {_pct(acc[s])}).",
                       "against an untrained general model; not against a large model given the same data", nums)
    return Verdict(CLAIMS[5], HOLDS, f"Fine-tuned, the small model ({_pct(ft[SMALL])}) matches the fine-tuned large "
                   f"one ({_pct(ft[LARGE])}) and beats every untrained contender.", numbers=nums)


def judge_customise(ev: Evidence, t: Thresholds) -> Verdict:
    """Customising = adapting with your data: how many documents, how long, and on what machine (lessons 08, 10)."""
    docs, r = ev.value(8, "docs_to_beat_untrained"), ev.value(8, "large_vs_small_finetune")
    mem = ev.value(8, "training_memory_gb")
    debias = ev.value(10, "debias")
    more = "more than 2,000"
    nums = [ev.number(8, "docs_to_beat_untrained", "documents to beat the untrained models, small vs large",
                      f"{docs[SMALL] or more} vs {docs[LARGE] or more}"),
            ev.number(8, "large_vs_small_finetune", "fine-tuning time, large ÷ small", _x(r["time"])),
            ev.number(8, "training_memory_gb", "fine-tune memory: SmolLM2-135M full vs Qwen2.5-7B QLoRA (estimate)",
                      f"{mem['SmolLM2-135M, full']:.1f} GB vs {mem['Qwen2.5-7B, qlora']:.1f} GB"),
            ev.number(10, "debias", "a counterfactual fine-tune of course-large (changes its skew)",
                      f"{debias['seconds']:.0f} s, skew {debias['skew_before']:.3f} → {debias['skew_after']:.3f}")]
    n_s, n_l = docs[SMALL] or float("inf"), docs[LARGE] or float("inf")
    if r["time"] < t.clear_ratio:
        return Verdict(CLAIMS[6], FAILS, f"Fine-tuning the large model took only {_x(r['time'])} as long.",
                       numbers=nums)
    if n_s <= n_l:
        return Verdict(CLAIMS[6], HOLDS, f"The small model needs no more data ({docs[SMALL]} vs {docs[LARGE] or more} "
                       f"documents) and a {_x(r['time'])} shorter run.", numbers=nums)
    return Verdict(CLAIMS[6], CONDITIONAL,
                   f"Each run of the small model is {_x(r['time'])} cheaper, but it needs more data to get there "
                   f"({docs[SMALL] or more} documents against {docs[LARGE]}); and customising the large one took "
                   f"{debias['seconds']:.0f} s here.",
                   "per run; the large model gets there with less data, and LoRA/QLoRA bring large models within reach",
                   nums)


def judge_privacy(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 11: what leaves the machine depends on where a model runs; what the weights hold, on training."""
    conns = ev.value(11, "local_connections")
    grid = ev.value(11, "grid_exposure_16")
    follows = ev.value(11, "injection_follows")
    delimited = ev.value(11, "injection_follows_delimited")
    exp_s, exp_l = grid[f"{SMALL}, as is"], grid[f"{LARGE}, as is"]
    s, l_ = tuple(follows)[:2]  # lesson 11 records its pair small first (course models offline, hub models online)
    nums = [ev.number(11, "local_connections", "network connections opened by a local model", str(conns)),
            ev.number(11, "grid_exposure_16", "exposure of a canary seen 16 times, small vs large (bits)",
                      f"{exp_s:.1f} vs {exp_l:.1f}"),
            ev.number(11, "injection_follows", f"injected instruction followed, {s} vs {l_}",
                      f"{_pct(follows[s])} vs {_pct(follows[l_])}"),
            ev.number(11, "injection_follows_delimited", f"followed with a delimited prompt, {s} vs {l_}",
                      f"{_pct(delimited[s])} vs {_pct(delimited[l_])}")]
    if min(exp_s, exp_l) >= t.leak_bits:
        return Verdict(CLAIMS[7], CONDITIONAL,
                       f"Any model run locally sends nothing ({conns} connections); but size does not make weights "
                       f"safer: a canary seen 16 times reaches {exp_s:.1f} bits of exposure in the small model and "
                       f"{exp_l:.1f} in the large one. The small model follows injected instructions less often "
                       f"({_pct(follows[s])} vs {_pct(follows[l_])}), but delimiting the ticket brought the large one to "
                       f"{_pct(delimited[l_])}: the defence is in the prompt, not in the size.",
                       "only in that a small model fits on your own machine; local is a deployment choice, not a size",
                       nums)
    return Verdict(CLAIMS[7], HOLDS if exp_s < exp_l else CONDITIONAL,
                   f"Canary exposure {exp_s:.1f} bits (small) vs {exp_l:.1f} (large), under the {t.leak_bits:g}-bit "
                   f"leak line for at least one.", numbers=nums)


# ----------------------------------------------------------------------------- common claims the evidence qualifies

def judge_bigger_better(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 05's ladder and law (returns shrink towards the floor); lesson 08 (a tuned small beats a general large)."""
    from course_utils.scaling import family_scores, points_per_tenfold

    bpc, params = ev.value(5, "val_bpc"), ev.value(5, "params")
    floor, E = ev.value(5, "floor_bpc"), ev.value(5, "law_E")
    ft, bar = ev.value(8, "best_finetuned_accuracy"), ev.value(8, "best_untrained")
    ladder = sorted(bpc, key=lambda m: params[m])
    monotone = all(bpc[a] > bpc[b] for a, b in zip(ladder, ladder[1:]))
    gains = [bpc[a] - bpc[b] for a, b in zip(ladder, ladder[1:])]
    nums = [ev.number(5, "val_bpc", "bits/char up the ladder", " → ".join(f"{bpc[m]:.3f}" for m in ladder)),
            ev.number(5, "law_E", "fitted limit E vs the true floor", f"{E:.3f} vs {floor:.3f}"),
            ev.number(8, "best_finetuned_accuracy", "fine-tuned small vs best untrained",
                      f"{_pct(ft[SMALL])} vs {_pct(bar['accuracy'])}")]
    published = [f"{g['family']} {g['benchmark']}: {g['smallest']:.1f} → {g['largest']:.1f}, "
                 f"{g['points per tenfold']:.1f} points per tenfold" for g in points_per_tenfold(family_scores())]
    beaten = ft[SMALL] - bar["accuracy"] >= t.accuracy_margin
    if monotone and beaten:
        return Verdict(CLAIMS[8], CONDITIONAL,
                       f"On the same data every step up the ladder lowers bits/char ({'; '.join(f'{g:.3f}' for g in gains)} "
                       f"per step), towards a limit ({E:.3f}) no size passes; and a fine-tuned small model beats the "
                       f"best untrained contender ({_pct(ft[SMALL])} vs {_pct(bar['accuracy'])}).",
                       "at equal training and data; a smaller model trained for the task can beat it", nums, published)
    if monotone:
        return Verdict(CLAIMS[8], HOLDS, "Every step up the ladder lowered bits/char, and no fine-tuned small model "
                       "beat the untrained contenders.", numbers=nums, published=published)
    return Verdict(CLAIMS[8], FAILS, "A larger course model did worse than a smaller one on the same data.",
                   numbers=nums, published=published)


def judge_lora(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 08: LoRA vs all weights at the course's scale (live) and at real scale (the memory estimate)."""
    live, mem = ev.value(8, "live_lora_vs_full"), ev.value(8, "training_memory_gb")
    big = mem["Qwen2.5-7B, full"] / mem["Qwen2.5-7B, lora"]
    nums = [ev.number(8, "live_lora_vs_full", "course-small, LoRA ÷ full: time, memory",
                      f"{_x(live['time'])}, {_x(live['memory'])}"),
            ev.number(8, "training_memory_gb", "Qwen2.5-7B, full vs LoRA memory (estimate)",
                      f"{mem['Qwen2.5-7B, full']:.1f} GB vs {mem['Qwen2.5-7B, lora']:.1f} GB")]
    small_saves = 1 / live["time"] >= t.clear_ratio or 1 / live["memory"] >= t.clear_ratio
    if big >= t.clear_ratio and not small_saves:
        return Verdict(CLAIMS[9], CONDITIONAL,
                       f"On course-small LoRA took {_x(live['time'])} the time and {_x(live['memory'])} the memory of a "
                       f"full fine-tune, so it saved nothing real; for Qwen2.5-7B it needs {_x(big)} less memory.",
                       "only at scale, where weights, gradients and optimizer state dominate memory", nums)
    if big >= t.clear_ratio:
        return Verdict(CLAIMS[9], HOLDS, f"LoRA saved at both scales (7B: {_x(big)} less memory).", numbers=nums)
    return Verdict(CLAIMS[9], FAILS, f"Even at 7B LoRA saves only {_x(big)} memory.", numbers=nums)


def free_bits(sweep: dict, tolerance: float) -> int | None:
    """The lowest bit width at which *every* model's bits/char rises by less than ``tolerance`` (a share, 0.02 =
    2 %), going down from the widest; None if even the widest costs more. ``sweep``: {model: {bits: change}}."""
    line = None
    widths = sorted({int(b) for by in sweep.values() for b in by}, reverse=True)
    for bits in widths:
        if all(by.get(str(bits), by.get(bits, float("inf"))) < tolerance for by in sweep.values()):
            line = bits
        else:
            break
    return line


def judge_quantization(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 09's bits sweep: how far down the bit widths quantization stays within the tolerance."""
    sweep = ev.value(9, "quantized_bpc_change")
    nums = [ev.number(9, "quantized_bpc_change", f"{m}: bits/char change by bits",
                      ", ".join(f"{b} bits {v:+.1%}" for b, v in sorted(by.items(), key=lambda kv: -int(kv[0]))))
            for m, by in sweep.items()]
    line = free_bits(sweep, t.quality_tolerance)
    lowest = min(int(b) for by in sweep.values() for b in by)
    if line is None:
        return Verdict(CLAIMS[10], FAILS, f"Even the widest bit width tried costs some model "
                       f"{t.quality_tolerance:.1%} bits/char or more.", numbers=nums)
    if line == lowest:
        return Verdict(CLAIMS[10], HOLDS, f"Every bit width down to {lowest} costs under {t.quality_tolerance:.1%}.",
                       numbers=nums)
    worst = {m: max(by, key=lambda b: by[b]) for m, by in sweep.items()}
    costs = ", ".join(f"{m} {sweep[m][worst[m]]:+.0%} at {worst[m]} bits" for m in sweep)
    return Verdict(CLAIMS[10], CONDITIONAL,
                   f"Down to {line} bits per weight every model stays within {t.quality_tolerance:.1%} bits/char of "
                   f"full precision; below that it is not free ({costs}).",
                   f"down to {line} bits (group size 16), measured per model", nums)


def judge_local_private(ev: Evidence, t: Thresholds) -> Verdict:
    """Lesson 11: a local model opens no connection; its weights still hold what it memorised; pickles run code."""
    conns, grid = ev.value(11, "local_connections"), ev.value(11, "grid_exposure_16")
    ran, refused = ev.value(11, "pickle_payload_ran"), ev.value(11, "course_loader_refused")
    top = max(grid, key=grid.get)
    nums = [ev.number(11, "local_connections", "connections opened by a local model", str(conns)),
            ev.number(11, "grid_exposure_16", "highest canary exposure at 16 copies", f"{grid[top]:.1f} bits ({top})"),
            ev.number(11, "pickle_payload_ran", "a pickle checkpoint ran code when loaded; the course loader refused it",
                      f"{ran}; {refused}")]
    if conns == 0 and grid[top] >= t.leak_bits:
        return Verdict(CLAIMS[11], CONDITIONAL,
                       f"Local inference sent nothing ({conns} connections), but a secret repeated in the training data "
                       f"is recoverable from local weights ({grid[top]:.1f} bits of exposure), and loading an untrusted "
                       f"pickle ran code on this machine.",
                       "for what you send at inference; not for what the weights hold or for what you load", nums)
    if conns == 0:
        return Verdict(CLAIMS[11], HOLDS, "No connection, and no canary above the leak line.", numbers=nums)
    return Verdict(CLAIMS[11], FAILS, f"The local model opened {conns} connection(s).", numbers=nums)


JUDGES = {"size": judge_size, "finetune": judge_finetune, "bias": judge_bias, "hardware": judge_hardware,
          "cost": judge_cost, "domain": judge_domain, "customise": judge_customise, "privacy": judge_privacy,
          "bigger_better": judge_bigger_better, "lora": judge_lora, "quantization": judge_quantization,
          "local_private": judge_local_private}


def judge(claim_id: str, ev: Evidence | None = None, thresholds: Thresholds | None = None) -> Verdict:
    """One claim's verdict; "not measured" (saying which lesson to run) when its evidence is missing."""
    if claim_id not in JUDGES:
        raise BadInputError(f"unknown claim {claim_id!r}; the claims are: {', '.join(CLAIM_IDS)}.")
    claim = next(c for c in CLAIMS if c.id == claim_id)
    try:
        v = JUDGES[claim_id](ev or Evidence(), thresholds or Thresholds())
    except MissingEvidence as missing:
        return Verdict(claim, UNMEASURED, f"Lesson {missing.lesson:02d} has not recorded {missing.key!r} and no "
                       f"reference is shipped: run notebook {missing.lesson:02d} to the end to measure it.")
    return replace(v, claim=claim)


def scorecard(ev: Evidence | None = None, thresholds: Thresholds | None = None) -> list[Verdict]:
    ev = ev or Evidence()
    return [judge(c.id, ev, thresholds) for c in CLAIMS]


def flips(before: list[Verdict], after: list[Verdict]) -> list[tuple[str, str, str]]:
    """(claim id, verdict before, verdict after) for each claim whose verdict changed."""
    return [(a.claim.id, a.verdict, b.verdict) for a, b in zip(before, after) if a.verdict != b.verdict]


VERDICT_COLORS = {HOLDS: "#2e7d32", CONDITIONAL: "#f9a825", FAILS: "#c62828", UNMEASURED: "#9e9e9e"}


def plot_scorecard(rows: list[Verdict]):
    """One bar per claim, coloured by verdict, labelled with whose evidence it rests on."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 0.8))
    for k, v in enumerate(rows):
        ax.barh(k, 1, color=VERDICT_COLORS[v.verdict])
        label = v.claim.text if len(v.claim.text) < 70 else v.claim.text[:67] + "…"
        ax.text(0.01, k, label, va="center", fontsize=8)
        ax.text(1.01, k, v.sources, va="center", fontsize=8, color="#555")
    ax.set(xlim=(0, 1.25), yticks=[], xticks=[], title="The scorecard (colour: verdict; right: whose evidence)")
    ax.invert_yaxis()
    ax.legend(handles=[Patch(color=c, label=n) for n, c in VERDICT_COLORS.items()], loc="upper center",
              bbox_to_anchor=(0.5, -0.02), ncol=4, fontsize=8, frameon=False)
    for side in ax.spines.values():
        side.set_visible(False)
    return fig


def scorecard_table(rows: list[Verdict], width: int = 110) -> str:
    """The scorecard as text: claim, verdict, condition, and whose evidence."""
    import textwrap

    out = []
    for k, v in enumerate(rows, 1):
        tag = f"({v.claim.qualifies})" if v.claim.qualifies else ""
        out.append(f"{k:>2}. {v.claim.text} {tag}".rstrip())
        out.append(f"    → {v.verdict.upper()}" + (f": {v.condition}" if v.condition else "")
                   + f"   [evidence: {v.sources}]")
        out += textwrap.wrap(v.reasoning, width, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(out)
