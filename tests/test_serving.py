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
