"""A complete, made-up set of lesson 05-11 and 13 evidence, shaped like the shipped reference, for tests that need to set
one figure and watch a verdict or a recommendation change."""

from __future__ import annotations

import copy

from course_utils import evidence

MACHINE = {"tier": "offline", "cpu_cores": 2, "ram_bytes": 24e9, "gpu": None}
S, L = "course-small", "course-large"
SAMPLE = {
    5: {"params": {"course-tiny": 104_688, S: 935_040, "course-medium": 3_887_968, L: 6_590_720},
        "val_bpc": {"course-tiny": 0.30, S: 0.22, "course-medium": 0.18, L: 0.17},
        "train_tokens": {"course-tiny": 1e6, S: 4e6, "course-medium": 1.6e7, L: 2.4e7},
        "floor_bpc": 0.155, "fitted_E": 0.16, "fitted_alpha": 0.4, "law_E": 0.157},
    6: {"params": {S: 935_040, L: 6_590_720}, "tokens_per_s": {S: 300.0, L: 120.0},
        "batch_accuracy": {S: {"course world": 0.3}, L: {"course world": 0.6}}, "batch_median_s": {S: 0.1, L: 0.3}},
    7: {"facts": {"n": 40, S: 10, L: 30},
        "facts_by_kind": [{"kind": "weather", "n": 20, S: 4, L: 15}, {"kind": "recipe", "n": 20, S: 6, L: 15}],
        "induction_heads": {S: 0, L: 1}},
    8: {"large_vs_small_finetune": {"params": 7.0, "time": 6.0, "flops": 7.0, "memory": 3.5},
        "best_untrained": {"name": "course-large, 8-shot prompt", "accuracy": 0.24},
        "best_finetuned_accuracy": {S: 0.49, L: 0.62}, "docs_to_beat_untrained": {S: 250, L: 100},
        "bayes_accuracy": 0.8,
        "training_memory_gb": {"SmolLM2-135M, full": 5.6, "SmolLM2-135M, lora": 3.0, "SmolLM2-135M, qlora": 2.5,
                               "SmolLM2-1.7B, full": 35.0, "SmolLM2-1.7B, lora": 9.0, "SmolLM2-1.7B, qlora": 6.0,
                               "Qwen2.5-7B, full": 135.0, "Qwen2.5-7B, lora": 29.0, "Qwen2.5-7B, qlora": 12.0},
        "live_lora_vs_full": {"time": 1.0, "memory": 0.9, "accuracy": {"full": 0.45, "lora": 0.40}},
        "live_untrained_accuracy": {"course-small, as shipped": 0.12, "course-large, as shipped": 0.2}},
    9: {"decode_tokens_per_s": {S: 400.0, L: 150.0}, "weight_bytes": {S: 3.7e6, L: 2.6e7},
        "bandwidth_bytes_per_s": 10e9, "threads": 1,
        "share_of_decode_bound": {"course-small, float32": 0.15, "course-large, float32": 0.3,
                                  "SmolLM2-135M (random weights), float32": 0.4},
        "quantized_bpc_change": {S: {"8": 0.001, "6": 0.004, "4": 0.03, "3": 0.1, "2": 0.9},
                                 L: {"8": 0.0005, "6": 0.002, "4": 0.015, "3": 0.06, "2": 0.7}},
        "batch_tokens_per_s": {S: {"1": 400.0, "32": 4000.0}, L: {"1": 150.0, "32": 2500.0}}},
    10: {"general_skew": {"course-tiny": 0.52, S: 0.51, "course-medium": 0.53, L: 0.665},
         "data_general_skew": 0.85, "clinic_skew": {"course-tiny": 0.5, S: 0.5, "course-medium": 0.5, L: 0.51},
         "general_abs_gap": {"course-tiny": 0.33, S: 0.34, "course-medium": 0.32, L: 0.185},
         "debias": {"skew_before": 0.665, "skew_after": 0.57, "bpc_change": 0.02, "seconds": 11.0},
         "helpdesk_accuracy": {"course-tiny": 0.2, S: 0.3, "course-medium": 0.66, L: 0.68},
         "ece": {S: 0.12, L: 0.04}, "ece_floor": 0.01},
    11: {"local_connections": 0, "pickle_payload_ran": True, "course_loader_refused": True,
         "grid_exposure_16": {f"{m}, {k}": v for m, vals in ((S, (17.4, 3.0, 5.9)), (L, (15.6, 3.9, 6.2)))
                              for k, v in zip(("as is", "deduplicated", "fewer epochs"), vals)},
         "injection_follows": {S: 0.16, L: 0.52}, "injection_follows_delimited": {S: 0.17, L: 0.09}},
    13: {"speculative_sweep": {"weather": [{"k": 1, "acceptance": 0.8, "tokens_per_pass": 1.8, "speedup": 1.2},
                                           {"k": 4, "acceptance": 0.7, "tokens_per_pass": 3.6, "speedup": 1.5}]},
         "draft_cost_ratio": {"course-small for course-large": 0.5,
                              "SmolLM2-135M for SmolLM2-1.7B (bandwidth bound)": 0.08},
         "cascade": {"course-medium → course-large, helpdesk": {
             "first": "course-medium", "threshold": 0.37, "test_accuracy": 0.69, "large_test_accuracy": 0.655,
             "deferred": 0.12, "cost_vs_large": 0.83}},
         "distillation": {"steps": 120, "distilled_bpc": 0.74, "control_bpc": 0.81, "teacher_bpc": 0.24,
                          "floor_bpc": 0.16, "gap_closed": 0.13, "flops_ratio": 3.35},
         "distillation_full": {"best_run": "distilled, T = 2, alpha = 1", "best_bpc": 0.2624, "control_bpc": 0.281,
                               "matched_control_bpc": 0.2723, "matched_flops_ratio": 3.35, "teacher_bpc": 0.24},
         "retrieval": {"recall_at_1": 0.925, "messages_that_fit": 3.0,
                       "accuracy": {"no retrieval": {S: 0.0, L: 0.0}, "the right message (oracle)": {S: 0.0, L: 0.0}},
                       "oracle_accuracy": {S: 0.0, L: 0.0}}},
}


def write_sample(folder, changes: dict | None = None, lessons=None) -> dict:
    """Write SAMPLE (with ``changes`` {(lesson, key): value} applied, None deleting) into ``folder``."""
    data = copy.deepcopy(SAMPLE)
    for (lesson, key), value in (changes or {}).items():
        if value is None:
            data[lesson].pop(key, None)
        else:
            data[lesson][key] = value
    for lesson, values in data.items():
        if lessons is None or lesson in lessons:
            evidence.record_many(lesson, values, models=[S, L], folder=folder, machine=MACHINE, today="2026-12-02",
                                 quiet=True)
    return data
