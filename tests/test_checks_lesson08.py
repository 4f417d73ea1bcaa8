"""Lesson 08 checks: accept right answers, report a stub and each typical wrong answer with its own message."""

import copy

import pytest
import torch
import torch.nn.functional as F

from check_verdicts import assert_verdicts
from course_utils.checks import lesson08 as L
from course_utils.lora import DEFAULT_TARGETS


# ---- right answers (written differently from the solution notebook's, so the checks do not favour one spelling)

def forward(x, weight, A, B, alpha):
    return F.linear(x, weight) + alpha / A.shape[0] * F.linear(F.linear(x, A), B)


def merge(weight, A, B, alpha):
    return torch.addmm(weight, B, A, alpha=alpha / A.shape[0])


def count(config, r, targets=DEFAULT_TARGETS):
    h, m, hd = config.hidden_size, config.intermediate_size, config.head_dim
    q, kv = config.num_attention_heads * hd, config.num_key_value_heads * hd
    sizes = {"q_proj": h + q, "k_proj": h + kv, "v_proj": h + kv, "o_proj": q + h,
             "gate_proj": h + m, "up_proj": h + m, "down_proj": m + h}
    return config.num_hidden_layers * r * sum(sizes[t] for t in targets)


def memory(n, n_lora, method):
    return {"full": 16 * n, "lora": 4 * n + 16 * n_lora}[method]


def docs(sizes, accs, target):
    above = [n for n, a in zip(sizes, accs) if a > target]
    return min(above) if above else None


# ---- wrong answers

def forward_scaled(scale):
    def f(x, weight, A, B, alpha):
        return x @ weight.T + scale(alpha, A.shape[0], A, B) * (x @ A.T @ B.T)
    return f


def merge_in_place(weight, A, B, alpha):
    weight += alpha / A.shape[0] * (B @ A)
    return weight


def gqa_ignored(config, r, targets=DEFAULT_TARGETS):
    c = copy.deepcopy(config)
    c.num_key_value_heads = c.num_attention_heads
    return count(c, r, targets)


def queries_as_wide_as_hidden(config, r, targets=DEFAULT_TARGETS):
    h, m, kv = config.hidden_size, config.intermediate_size, config.num_key_value_heads * config.head_dim
    sizes = {"q_proj": 2 * h, "k_proj": h + kv, "v_proj": h + kv, "o_proj": 2 * h,
             "gate_proj": h + m, "up_proj": h + m, "down_proj": m + h}
    return config.num_hidden_layers * r * sum(sizes[t] for t in targets)


def one_layer(config, r, targets=DEFAULT_TARGETS):
    return count(config, r, targets) // config.num_hidden_layers


def all_targets(config, r, targets=DEFAULT_TARGETS):
    return count(config, r, DEFAULT_TARGETS)


def product(config, r, targets=DEFAULT_TARGETS):
    h, m, hd = config.hidden_size, config.intermediate_size, config.head_dim
    q, kv = config.num_attention_heads * hd, config.num_key_value_heads * hd
    sizes = {"q_proj": h * q, "k_proj": h * kv, "v_proj": h * kv, "o_proj": q * h,
             "gate_proj": h * m, "up_proj": h * m, "down_proj": m * h}
    return config.num_hidden_layers * r * sum(sizes[t] for t in targets)


def argmax_size(sizes, accs, target):
    best = max(range(len(sizes)), key=lambda i: accs[i])
    return sizes[best] if accs[best] > target else None


def last_above(sizes, accs, target):
    above = sorted(n for n, a in zip(sizes, accs) if a > target)
    return above[-1] if above else None


def first_in_given_order(sizes, accs, target):
    return next((n for n, a in zip(sizes, accs) if a > target), None)


def sizes_sorted_alone(sizes, accs, target):
    return next((n for n, a in zip(sorted(sizes), accs) if a > target), None)


CASES = [
    (L.check_lora_forward, forward, lambda x, w, A, B, alpha: x @ w.T, "frozen layer's output alone"),
    (L.check_lora_forward, forward, forward_scaled(lambda alpha, r, A, B: 1.0), "not scaled at all"),
    (L.check_lora_forward, forward, forward_scaled(lambda alpha, r, A, B: alpha), "not alpha"),
    (L.check_lora_forward, forward, forward_scaled(lambda alpha, r, A, B: r / alpha), "not r / alpha"),
    (L.check_lora_forward, forward, forward_scaled(lambda alpha, r, A, B: alpha / A.shape[1]),
     "first dimension of A"),
    (L.check_lora_forward, forward, lambda x, w, A, B, alpha: x @ w + alpha / A.shape[0] * (x @ A.T @ B.T),
     "transpose of weight"),
    (L.check_lora_forward, forward, lambda x, w, A, B, alpha: x @ w.T + alpha / A.shape[0] * (x @ B @ A),
     "through A first"),
    (L.check_lora_forward, forward, lambda x, w, A, B, alpha: x @ w.T + alpha / A.shape[0] * (x @ A.T),
     "shapes chain up"),  # a shape error: one line, with the hint
    (L.check_merge_weight, merge, merge_in_place, "changed the weight it was given"),
    (L.check_merge_weight, merge, lambda w, A, B, alpha: w + alpha / A.shape[0] * (A @ B),
     "that has the weight's shape is the update"),  # a shape error: one line, with the hint
    (L.check_merge_weight, merge, lambda w, A, B, alpha: alpha / A.shape[0] * (A @ B), "A·B is (r, r)"),
    (L.check_merge_weight, merge, lambda w, A, B, alpha: w + alpha / A.shape[0] * (B @ A).T, "its transpose"),
    (L.check_merge_weight, merge, lambda w, A, B, alpha: w + alpha * (B @ A), "not alpha"),
    (L.check_merge_weight, merge, lambda w, A, B, alpha: w + B @ A, "not scaled at all"),
    (L.check_merge_weight, merge, lambda w, A, B, alpha: w.clone(), "frozen weight alone"),
    (L.check_lora_trainable_params, count, gqa_ignored, "num_key_value_heads heads"),
    (L.check_lora_trainable_params, count, queries_as_wide_as_hidden, "need not be hidden_size"),
    (L.check_lora_trainable_params, count, one_layer, "num_hidden_layers layers"),
    (L.check_lora_trainable_params, count, all_targets, "only the Linears named in targets"),
    (L.check_lora_trainable_params, count, product, "a sum, not a product"),
    (L.check_finetune_bytes, memory, lambda n, k, m: 4 * n if m == "full" else 4 * n + 16 * k, "weights alone"),
    (L.check_finetune_bytes, memory, lambda n, k, m: 8 * n if m == "full" else 4 * n + 16 * k,
     "two moments per parameter (8 bytes)"),
    (L.check_finetune_bytes, memory, lambda n, k, m: 16 * n + 16 * k if m == "full" else 4 * n + 16 * k,
     "n_lora does not matter"),
    (L.check_finetune_bytes, memory, lambda n, k, m: 16 * n if m == "full" else 16 * k,
     "frozen base weights are still in memory"),
    (L.check_finetune_bytes, memory, lambda n, k, m: 16 * n if m == "full" else 16 * n + 16 * k,
     "no gradient and no optimizer state"),
    (L.check_finetune_bytes, memory, lambda n, k, m: 16 * n if m == "full" else 4 * n + 4 * k,
     "16 bytes in all"),
    (L.check_finetune_bytes, memory, lambda n, k, m: 16 * n if m == "full" else 4 * n + 12 * k,
     "own weights take 4 bytes each too"),
    (L.check_docs_needed, docs, argmax_size, "most accurate size"),
    (L.check_docs_needed, docs, last_above, "not the largest"),
    (L.check_docs_needed, docs, lambda s, a, t: next((n for n, x in sorted(zip(s, a)) if x >= t), None),
     "equal is not enough"),
    (L.check_docs_needed, docs, lambda s, a, t: docs(s, a, t) or 0, "return None"),
    (L.check_docs_needed, docs, first_in_given_order, "any order"),
    (L.check_docs_needed, docs, sizes_sorted_alone, "its own accuracy"),
]


@pytest.mark.parametrize("check, right, wrong, message", CASES)
def test_check_accepts_right_rejects_stub_and_wrong(check, right, wrong, message, capsys):
    assert_verdicts(check, right, wrong, message, capsys)


def test_the_library_layer_called_as_the_exercise_function_passes(capsys):
    L.check_lora_forward(lambda x, w, A, B, alpha: L._reference_layer(w, A, B, alpha)(x))
    assert capsys.readouterr().out.startswith("✅")


def test_a_crash_in_the_learners_code_is_one_line(capsys):
    L.check_merge_weight(lambda w, A, B, alpha: w + B.T @ A.T)
    out = capsys.readouterr().out
    assert out.startswith("❌ merged LoRA weight: your code raised") and "Traceback" not in out
    assert "the product of the two that has the weight's shape" in out


def test_the_inputs_tell_the_wrong_answers_apart():
    """B is not zero, alpha / r is neither 1 nor alpha, the queries are wider than hidden_size in one config and
    as wide in the other, and every config has fewer key/value heads than query heads."""
    for fan_in, fan_out, r, alpha, lead in L.LORA_CASES:
        _, _, _, B = L._lora_tensors(fan_in, fan_out, r, lead, 0)
        assert B.abs().min() > 0 and alpha / r not in (1, alpha) and r < min(fan_in, fan_out)
    configs = L.small_configs()
    assert all(c.num_key_value_heads < c.num_attention_heads for c in configs)
    assert [c.num_attention_heads * c.head_dim > c.hidden_size for c in configs] == [True, False]
    for sizes, accs, target in L.CURVES:
        pairs = sorted(zip(sizes, accs))
        assert any(a2 < a1 for (_, a1), (_, a2) in zip(pairs, pairs[1:]))  # every curve dips somewhere


def test_apply_lora_counts_what_the_formula_counts_on_the_small_configs():
    for i, r, targets in L.COUNT_CASES:
        config = L.small_configs()[i]
        assert L.applied_count(config, r, targets) == count(config, r, targets)


def results_with(sweeps: dict, general: float) -> dict:
    """A results dict in the format of models/finetune/results.json with these (model, method) sweeps."""
    rows = [{"name": "m, as shipped (zero-shot)", "model": "m", "method": "as shipped", "n_docs": 0,
             "accuracy": general}]
    for (model, method), points in sweeps.items():
        rows += [{"name": f"{model}, {method}, {n} docs", "model": model, "method": method, "n_docs": n,
                  "accuracy": acc} for n, acc in points]
    return {"format": 1, "models": {m: {} for m, _ in sweeps}, "contenders": rows}


def test_docs_needed_is_also_checked_on_a_results_file(capsys):
    results = results_with({("m", "full"): [(50, 0.3), (200, 0.5), (1000, 0.45)],
                            ("m", "lora"): [(50, 0.2), (200, 0.25), (1000, 0.6)]}, general=0.4)
    L.check_docs_needed(docs, results=results)
    assert capsys.readouterr().out.startswith("✅")

    def learnt_the_made_up_curves(sizes, accs, target):  # right on five sizes, wrong on the file's three
        return docs(sizes, accs, target) if len(sizes) == 5 else sizes[-1]

    L.check_docs_needed(learnt_the_made_up_curves, results=results)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "m, full, shipped" in out
