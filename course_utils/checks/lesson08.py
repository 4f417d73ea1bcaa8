"""Checks for lesson 08's exercises: the LoRA forward pass, merging, counting adapters, the memory of
fine-tuning, and how many documents a model needs.

Each ``check_*`` takes the learner's function, compares it with the course's own code (``course_utils.lora``,
``course_utils.training_memory``, ``course_utils.finetune_results``) and prints one verdict (✅ / ❌ with
expected, found, hint / ⏳). The inputs are chosen so that the usual wrong answers give wrong numbers: B is not
zero (so the update counts), alpha / r is neither 1 nor alpha, the queries are wider than hidden_size and there
are fewer key/value heads than query heads, and the accuracy curves dip after they rise.
"""

from __future__ import annotations

import contextlib
import io

import torch
import torch.nn as nn

from course_utils import finetune_results
from course_utils.catalog import get_spec
from course_utils.checks import CheckFailed, expect_close, expect_equal, run_check
from course_utils.lora import DEFAULT_TARGETS, LoRAConfig, LoRALinear, apply_lora, trainable_parameters
from course_utils.training_memory import lora_parameters, training_memory

# (in, out, r, alpha, x's shape without the last dimension): a square layer first (a missing transpose
# gives wrong numbers there instead of a shape error), then a wide and a narrow one
LORA_CASES = [(12, 12, 3, 9.0, (2, 5)), (10, 16, 4, 12.0, (3,)), (16, 6, 2, 3.0, (2, 2, 4))]
SHAPE_HINT = ("x is (..., in), weight (out, in), A (r, in) and B (out, r): the frozen part and each step of the "
              "update multiply by the transpose of a matrix, so that the shapes chain up")


def _lora_tensors(fan_in: int, fan_out: int, r: int, lead: tuple, seed: int):
    """Random W (out, in), A (r, in), B (out, r) (not zero: the update matters) and x (*lead, in)."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(fan_out, fan_in, generator=g) / fan_in ** 0.5
    A = torch.randn(r, fan_in, generator=g) / fan_in ** 0.5
    B = torch.randn(fan_out, r, generator=g)
    x = torch.randn(*lead, fan_in, generator=g)
    return x, W, A, B


def _reference_layer(W, A, B, alpha) -> LoRALinear:
    """course_utils.lora.LoRALinear holding exactly these tensors."""
    with torch.random.fork_rng(devices=[]):  # the layers' own random init leaves the learner's RNG alone
        base = nn.Linear(W.shape[1], W.shape[0], bias=False)
        layer = LoRALinear(base, A.shape[0], alpha)
    with torch.no_grad():
        base.weight.copy_(W)
        layer.lora_A.copy_(A)
        layer.lora_B.copy_(B)
    return layer


def _scale_of(found, base, update):
    """c if ``found`` is base + c·update (least squares, then a closeness test), else None."""
    diff, update = (found - base).double().flatten(), update.double().flatten()
    c = float(diff @ update / (update @ update))
    return c if torch.allclose(diff, c * update, atol=1e-4, rtol=1e-3) else None


def _scaling_hint(c: float, alpha: float, r: int, fan_in: int, fan_out: int) -> str | None:
    """What a wrong scale c of the update means (None: c is right)."""
    right = alpha / r
    if abs(c - right) <= 1e-4 * right:
        return None
    if abs(c) < 1e-6:
        return "you returned the frozen layer's output alone: add the low-rank update (here B is not zero)"
    if abs(c - 1) < 1e-4:
        return f"the update is scaled by alpha / r (here {alpha:g} / {r} = {right:g}); yours is not scaled at all"
    if abs(c - alpha) < 1e-4 * alpha:
        return f"scale by alpha / r, not alpha: divide by the rank, the first dimension of A (here {r})"
    if abs(c - r / alpha) < 1e-4 * r / alpha:
        return f"alpha / r, not r / alpha: here {alpha:g} / {r} = {right:g}"
    if abs(c - alpha / fan_in) < 1e-4 * alpha / fan_in or abs(c - alpha / fan_out) < 1e-4 * alpha / fan_out:
        return "r is the rank, the first dimension of A (A is (r, in)), not the layer's in or out size"
    return f"your update is scaled by {c:.4g}; it should be alpha / r = {right:g}"


def check_lora_forward(lora_forward) -> None:
    def test():
        for seed, (fan_in, fan_out, r, alpha, lead) in enumerate(LORA_CASES):
            x, W, A, B = _lora_tensors(fan_in, fan_out, r, lead, seed)
            with torch.no_grad():
                expected = _reference_layer(W, A, B, alpha)(x)
                found = lora_forward(x.clone(), W.clone(), A.clone(), B.clone(), alpha)
            what = f"output for x {tuple(x.shape)}, weight {fan_out}×{fan_in}, rank r={r}, alpha={alpha:g}"
            if not isinstance(found, torch.Tensor) or found.shape != expected.shape:
                expect_close(found, expected, what, SHAPE_HINT)
            base, update = x @ W.T, x @ A.T @ B.T  # (..., out) each
            c = _scale_of(found, base, update)
            if c is not None:
                message = _scaling_hint(c, alpha, r, fan_in, fan_out)
                if message:
                    raise CheckFailed(what, expected, found, message)
            if fan_in == fan_out:  # wrong orders that a square layer lets through without a shape error
                if _scale_of(found, x @ W, update) is not None or _scale_of(found, x @ W, x @ B @ A) is not None:
                    raise CheckFailed(what, expected, found, "nn.Linear's weight is (out, in): the frozen layer "
                                      "computes x times the transpose of weight")
                if _scale_of(found, base, x @ B @ A) is not None:
                    raise CheckFailed(what, expected, found,
                                      "the update goes through A first (down to r numbers) and then B (up to out "
                                      "numbers), each transposed, as the frozen weight is")
            expect_close(found, expected, what, SHAPE_HINT)

    run_check("LoRA forward pass", test, hint=SHAPE_HINT)


def check_merge_weight(merge_weight) -> None:
    def test():
        for seed, (fan_in, fan_out, r, alpha, lead) in enumerate(LORA_CASES):
            _, W, A, B = _lora_tensors(fan_in, fan_out, r, lead, seed)
            with torch.no_grad():
                expected = _reference_layer(W, A, B, alpha).merged_weight()  # (out, in)
                weight = W.clone()
                found = merge_weight(weight, A.clone(), B.clone(), alpha)
            what = f"merged weight of a {fan_out}×{fan_in} layer, rank r={r}, alpha={alpha:g}"
            if not torch.equal(weight, W):
                raise CheckFailed("merge_weight changed the weight it was given", "weight unchanged",
                                  "weight changed in place",
                                  "in-place operations (+=, add_) overwrite the base model's weight; build a "
                                  "new tensor and return it")
            if isinstance(found, torch.Tensor) and found.shape == (r, r):
                raise CheckFailed(what + " (wrong shape)", tuple(expected.shape), tuple(found.shape),
                                  "A·B is (r, r); the update that has the weight's shape (out, in) is B·A")
            if isinstance(found, torch.Tensor) and fan_in != fan_out and found.shape == (fan_in, fan_out):
                raise CheckFailed(what + " (wrong shape)", tuple(expected.shape), tuple(found.shape),
                                  "the merged matrix has the weight's shape (out, in): B (out, r) times A (r, in), "
                                  "not transposed")
            if isinstance(found, torch.Tensor) and found.shape == expected.shape:
                c = _scale_of(found, W, B @ A)
                if c is not None:
                    message = _scaling_hint(c, alpha, r, fan_in, fan_out)
                    if message:
                        raise CheckFailed(what, expected, found, message.replace("frozen layer's output",
                                                                                 "frozen weight"))
                if fan_in == fan_out and _scale_of(found, W, (B @ A).T) is not None:
                    raise CheckFailed(what, expected, found, "the update is B·A, as it is (out, in) like the "
                                      "weight; yours is its transpose")
            expect_close(found, expected, what,
                         hint="one matrix that computes what the frozen layer and the scaled update compute "
                              "together: the weight plus alpha / r times B·A")

    run_check("merged LoRA weight", test, hint="weight is (out, in), A (r, in) and B (out, r): the product of "
                                               "the two that has the weight's shape is the update")


# --------------------------------------------------------------------------- counting LoRA parameters

def small_configs():
    """Llama configs small enough to build: queries wider than hidden_size, 4 and 2 query heads per kv head."""
    from transformers import LlamaConfig

    return [
        LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=176, num_hidden_layers=3,
                    num_attention_heads=8, num_key_value_heads=2, head_dim=16),
        LlamaConfig(vocab_size=64, hidden_size=48, intermediate_size=120, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=12),
    ]


# (config index, r, targets)
COUNT_CASES = [(0, 4, DEFAULT_TARGETS), (0, 8, ("q_proj", "v_proj")), (1, 2, ("k_proj", "o_proj", "down_proj"))]
CATALOG_COUNT_CASES = [("SmolLM2-135M", 8, DEFAULT_TARGETS), ("Qwen2.5-7B", 16, ("q_proj", "v_proj"))]


def llama_config(name: str):
    """A LlamaConfig with the architecture numbers of catalog model ``name``."""
    from transformers import LlamaConfig

    s = get_spec(name)
    return LlamaConfig(vocab_size=s.vocab, hidden_size=s.hidden, intermediate_size=s.mlp,
                       num_hidden_layers=s.n_layers, num_attention_heads=s.heads,
                       num_key_value_heads=s.kv_heads, head_dim=s.head_dim)


def applied_count(config, r: int, targets) -> int:
    """The trainable parameters apply_lora leaves in a model built from ``config`` (random weights)."""
    from transformers import LlamaForCausalLM

    with torch.random.fork_rng(devices=[]):  # random weights, without moving the learner's RNG
        model = LlamaForCausalLM(config)
    model = apply_lora(model, LoRAConfig(r=r, alpha=2 * r, target_modules=tuple(targets), seed=0))
    return trainable_parameters(model)[0]


def _formula(config, r, targets, *, kv_heads=None, q_width=None, layers=None, per=lambda r, i, o: r * (i + o),
             every_target=False) -> int:
    """The count with one thing changed (to recognise a wrong answer)."""
    h, m, hd = config.hidden_size, config.intermediate_size, config.head_dim
    q = q_width or config.num_attention_heads * hd
    kv = (kv_heads or config.num_key_value_heads) * hd
    shapes = {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
              "gate_proj": (h, m), "up_proj": (h, m), "down_proj": (m, h)}
    names = DEFAULT_TARGETS if every_target else targets
    return (layers or config.num_hidden_layers) * sum(per(r, *shapes[n]) for n in names)


def _count_diagnosis(found, config, r, targets) -> str | None:
    wrong = [
        (_formula(config, r, targets, kv_heads=config.num_attention_heads),
         "with grouped-query attention k_proj and v_proj are smaller: they make num_key_value_heads heads of "
         "head_dim numbers, not num_attention_heads"),
        (_formula(config, r, targets, q_width=config.hidden_size),
         "q_proj's output (and o_proj's input) is num_attention_heads · head_dim numbers, which need not be "
         "hidden_size"),
        (_formula(config, r, targets, kv_heads=config.num_attention_heads, q_width=config.hidden_size),
         "work out each Linear's (in, out) from the config: q_proj makes num_attention_heads · head_dim numbers, "
         "k_proj and v_proj num_key_value_heads · head_dim"),
        (_formula(config, r, targets, layers=1), "every one of the num_hidden_layers layers has its own adapters"),
        (_formula(config, r, targets, per=lambda r, i, o: r * i * o),
         "A is (r, in) and B is (out, r): r·in + r·out numbers, a sum, not a product"),
        (_formula(config, r, targets, per=lambda r, i, o: i * o), "that is the size of the frozen weights; the "
         "adapters of a Linear are A (r, in) and B (out, r)"),
        (_formula(config, r, targets, per=lambda r, i, o: r * i), "count B (out, r) too, not only A (r, in)"),
        (_formula(config, r, targets, per=lambda r, i, o: r * o), "count A (r, in) too, not only B (out, r)"),
        (_formula(config, r, targets, every_target=True), "count only the Linears named in targets"),
    ]
    for value, message in wrong:
        if found == value:
            return message
    return None


def check_lora_trainable_params(lora_trainable_params) -> None:
    def test():
        configs = small_configs()
        cases = [(configs[i], r, targets, "a small Llama config", "apply_lora on a model built from it",
                  lambda c=configs[i], r=r, t=targets: applied_count(c, r, t)) for i, r, targets in COUNT_CASES]
        cases += [(llama_config(name), r, targets, name, "training_memory.lora_parameters",
                   lambda name=name, r=r, t=targets: lora_parameters(name, r, t))
                  for name, r, targets in CATALOG_COUNT_CASES]
        for config, r, targets, label, source, reference in cases:
            expected = reference()
            found = lora_trainable_params(config, r, tuple(targets))
            what = (f"LoRA parameters of {label} ({config.num_hidden_layers} layers, hidden {config.hidden_size}, "
                    f"{config.num_attention_heads} query heads, {config.num_key_value_heads} key/value heads of "
                    f"{config.head_dim}), r={r}, targets {', '.join(targets)} (counted by {source})")
            if found != expected:
                message = _count_diagnosis(found, config, r, targets)
                if message:
                    raise CheckFailed(what, expected, found, message)
            expect_equal(found, expected, what, hint="layers × the sum over the targeted Linears of r·(in + out)")

    run_check("LoRA parameter count", test)


# --------------------------------------------------------------------------- memory of fine-tuning

MEMORY_MODELS = ["SmolLM2-135M", "SmolLM2-1.7B", "Qwen2.5-7B"]
MEMORY_R = 8


def _memory_diagnosis(found, n, n_lora, method) -> str | None:
    if method == "full":
        wrong = {4 * n: "that is the weights alone: each parameter also has a gradient (4 bytes) and AdamW's two "
                        "moments (4 bytes each)",
                 8 * n: "weights and gradients, but AdamW also keeps two moments per parameter (8 bytes)",
                 12 * n: "AdamW keeps two moments per parameter, m and v, 4 bytes each, beside the weight and "
                         "the gradient",
                 2 * n: "float32: 4 bytes per number, and 4 numbers per trained parameter"}
        for extra in (n_lora, 4 * n_lora, 16 * n_lora):
            wrong.setdefault(16 * n + extra, "full fine-tuning has no adapters: every parameter trains, and "
                                             "n_lora does not matter")
    else:
        wrong = {16 * n_lora: "the frozen base weights are still in memory: 4 bytes each (but no gradient and no "
                              "optimizer state)",
                 4 * n + 4 * n_lora: "the adapters train: each has a gradient and two AdamW moments besides its "
                                     "weight, 16 bytes in all",
                 16 * n + 16 * n_lora: "frozen weights get no gradient and no optimizer state: 4 bytes each",
                 16 * n: "with LoRA only the adapters train; the frozen weights need 4 bytes each",
                 4 * n + 12 * n_lora: "the adapters' own weights take 4 bytes each too, 16 per adapter parameter "
                                      "in all (n_params counts the base model alone; the adapters come on top)",
                 4 * n: "the adapters take memory too: 16 bytes per LoRA parameter"}
    return wrong.get(found)


def check_finetune_bytes(finetune_bytes) -> None:
    def test():
        for name in MEMORY_MODELS:
            for method in ("full", "lora"):
                tm = training_memory(name, method=method, dtype="float32", r=MEMORY_R)
                expected = tm.weights + tm.gradients + tm.optimizer  # activations and logits left out
                n, n_lora = tm.params, lora_parameters(name, MEMORY_R)
                found = finetune_bytes(n, n_lora, method)
                what = (f"bytes of weights, gradients and AdamW states, {method}, {name} ({n:,} parameters, "
                        f"{n_lora:,} LoRA parameters at r={MEMORY_R})")
                if found != expected:
                    message = _memory_diagnosis(found, n, n_lora, method)
                    if message:
                        raise CheckFailed(what, expected, found, message)
                expect_equal(found, expected, what,
                             hint="a trained float32 parameter takes 16 bytes (weight, gradient, two moments), "
                                  "a frozen one 4")

    run_check("fine-tuning memory", test)


# --------------------------------------------------------------------------- documents needed

SIZES = [10, 30, 100, 300, 1000]
# (sizes, accuracies, target)
CURVES = [
    (SIZES, [0.30, 0.62, 0.55, 0.71, 0.68], 0.60),  # beats the target at 30, dips, beats it again
    (SIZES, [0.20, 0.50, 0.65, 0.64, 0.70], 0.65),  # 100 only reaches the target: not beating it
    (SIZES, [0.10, 0.20, 0.30, 0.25, 0.20], 0.50),  # never beats it
    ([300, 10, 1000, 30, 100], [0.80, 0.40, 0.75, 0.82, 0.50], 0.70),  # sizes in any order
]


def _shipped_results():
    """The shipped results file, or None (quietly: the check's verdict stays one line)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return finetune_results.load_results()


def _docs_diagnosis(found, sizes, accs, target, expected) -> str | None:
    pairs = sorted(zip(sizes, accs))
    beating = [n for n, a in pairs if a > target]
    if expected is None and found is not None:
        return "no size beats the target here: return None"
    if found == max(pairs, key=lambda p: p[1])[0]:
        return "the most accurate size is not the fewest documents that beat the target: accuracy can dip as " \
               "documents are added, so look for the first size that beats it"
    if beating and found == beating[-1]:
        return "you want the fewest documents: the smallest size that beats the target, not the largest"
    if found in [n for n, a in pairs if a == target]:
        return "to beat the target the accuracy must be above it: equal is not enough"
    if found == next((n for n, a in zip(sizes, accs) if a > target), None):
        return "the sizes may come in any order: go through them from the fewest documents up"
    if found == next((n for n, a in zip(sorted(sizes), accs) if a > target), None):
        return "sorting the sizes alone parts them from their accuracies: keep each size with its own accuracy"
    return None


def check_docs_needed(docs_needed, results: dict | None = None) -> None:
    """``results``: a results dict in the format of models/finetune/results.json (default: the shipped file,
    if there is one)."""
    def test():
        cases = [(list(s), list(a), t, "a made-up curve") for s, a, t in CURVES]
        shipped = results if results is not None else _shipped_results()
        if shipped:
            contenders = shipped["contenders"]
            bar = finetune_results.best_general(contenders)["accuracy"]
            for model in shipped["models"]:
                for method in ("full", "lora"):
                    pts = finetune_results.sweep(contenders, model, method)
                    accs = [p["accuracy"] for p in pts]
                    for target in dict.fromkeys([bar, *accs]):
                        cases.append(([p["n_docs"] for p in pts], accs, target, f"{model}, {method}, shipped"))
        for sizes, accs, target, label in cases:
            if label.endswith("shipped"):
                model, method, _ = label.split(", ")
                expected = finetune_results.docs_to_beat(shipped["contenders"], model, method, target)
            else:
                expected = next((n for n, a in sorted(zip(sizes, accs)) if a > target), None)
            found = docs_needed(list(sizes), list(accs), target)
            what = (f"fewest documents to beat {target:.3f} ({label}: "
                    + ", ".join(f"{n} docs {a:.2f}" for n, a in zip(sizes, accs)) + ")")
            if found != expected:
                message = _docs_diagnosis(found, sizes, accs, target, expected)
                if message:
                    raise CheckFailed(what, expected, found, message)
            expect_equal(found, expected, what, hint="the smallest size whose accuracy is above the target, "
                                                     "or None if there is none")

    run_check("documents needed", test)
