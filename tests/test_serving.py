"""course_utils.serving: the KV cache and batching change the speed, never the text."""

import pytest
import torch

from course_utils.errors import BadInputError
from course_utils.loading import load_model
from course_utils.serving import batch_speed, per_token_seconds

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_cache_changes_the_time_per_token_but_not_the_tokens(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The printer is jammed", return_tensors="pt")["input_ids"]
    cached, gaps = per_token_seconds(lm.model, ids, 12, use_cache=True)
    uncached, gaps_uncached = per_token_seconds(lm.model, ids, 12, use_cache=False)
    assert torch.equal(cached, uncached) and cached.shape[1] == ids.shape[1] + 12
    assert len(gaps) == len(gaps_uncached) == 11 and all(g > 0 for g in gaps + gaps_uncached)
    with pytest.raises(BadInputError, match="n_new >= 2"):
        per_token_seconds(lm.model, ids, 1)


def test_left_padded_batches_give_each_prompt_its_own_greedy_answer(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    prompts = ["The printer", "My screen is blank and the light is off", "Weather report", "Hello"]
    alone = batch_speed(lm.model, lm.tokenizer, prompts, batch=1, n_new=6)
    together = batch_speed(lm.model, lm.tokenizer, prompts, batch=4, n_new=6)
    assert together.outputs == alone.outputs  # padding done right changes nothing
    assert together.tokens_per_s > 0 and together.seconds_per_request > 0 and lm.tokenizer.padding_side == "right"
    assert len(together.outputs) == 4 and all(len(o) == 6 for o in together.outputs)
    with pytest.raises(BadInputError):
        batch_speed(lm.model, lm.tokenizer, [], batch=2)


def test_speeds_are_medians_inside_their_range_and_the_context_is_enforced(tiny_llama_dir):
    from course_utils.serving import decode_speed, prefill_speed

    lm = load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The printer is jammed", return_tensors="pt")["input_ids"]
    d, p = decode_speed(lm.model, ids, 8, repeats=3), prefill_speed(lm.model, ids, repeats=3)
    for m in (d, p):
        assert m.unit == "tokens/s" and m.repeats == 3 and 0 < m.low <= m.median <= m.high
    limit = lm.model.config.max_position_embeddings
    with pytest.raises(BadInputError, match=f"context of {limit} tokens"):
        decode_speed(lm.model, ids, limit)
    with pytest.raises(BadInputError, match="repeats"):
        prefill_speed(lm.model, ids, repeats=0)


def test_the_cache_of_a_real_generate_call_matches_lesson_05s_formula(tiny_llama_dir):
    from course_utils.serving import cache_bytes_formula, generated_cache_bytes

    lm = load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The printer is jammed", return_tensors="pt")["input_ids"]
    held, tokens = generated_cache_bytes(lm.model, ids, 10)
    assert tokens == ids.shape[1] + 10 - 1  # the last token is returned, never fed back
    assert held == cache_bytes_formula(lm.model, tokens) > 0
    c = lm.model.config
    assert cache_bytes_formula(lm.model, 100, batch=2) == 2 * c.num_hidden_layers * c.num_key_value_heads * (
        c.hidden_size // c.num_attention_heads) * 100 * 2 * 4


def test_a_batch_too_big_for_memory_is_refused_before_it_runs(tiny_llama_dir):
    from course_utils.errors import ModelTooLargeError
    from course_utils.serving import guard_batch

    lm = load_model(str(tiny_llama_dir))
    guard_batch(lm.model, 4, 64, available_bytes=10**9)
    with pytest.raises(ModelTooLargeError, match="smaller batch"):
        guard_batch(lm.model, 4096, 128, available_bytes=10**6)


def test_batch_sweep_serves_each_size_once_per_repeat_with_the_same_answers(tiny_llama_dir):
    from course_utils.serving import batch_sweep

    lm = load_model(str(tiny_llama_dir))
    prompts = ["The printer", "My screen is blank", "Weather report", "Hello there", "Recipe", "A ticket"]
    rows = batch_sweep(lm.model, lm.tokenizer, prompts, (1, 2, 4), n_new=4, repeats=2)
    assert [r.batch for r in rows] == [1, 2, 4] and all(r.tokens_per_s > 0 for r in rows)
    assert [len(r.outputs) for r in rows] == [1, 2, 4]  # size b serves the first b prompts
    assert rows[2].outputs[0] == rows[1].outputs[0] == rows[0].outputs[0]  # batched, each answer is unchanged
    with pytest.raises(BadInputError, match="need as many prompts"):
        batch_sweep(lm.model, lm.tokenizer, prompts, (8,))
