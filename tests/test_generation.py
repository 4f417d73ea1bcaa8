import threading

import pytest
import torch

from course_utils import loading
from course_utils.errors import BadInputError
from course_utils.generation import MAX_NEW_TOKENS_CAP, GenerationSettings, generate


@pytest.fixture
def lm(tiny_llama_dir):
    return loading.load_model(str(tiny_llama_dir))


def test_generates_the_requested_number_of_tokens(lm):
    r = generate(lm, "The printer", max_new_tokens=12, temperature=0.8, seed=1)
    assert r.timing.n_new_tokens <= 12 and r.timing.n_new_tokens >= 1
    assert r.notes == []


def test_same_seed_same_text_and_greedy_is_deterministic(lm):
    a = generate(lm, "The weather", max_new_tokens=10, seed=3).text
    b = generate(lm, "The weather", max_new_tokens=10, seed=3).text
    assert a == b and a  # same seed, same (non-empty) text
    g1 = generate(lm, "The weather", max_new_tokens=10, temperature=0, seed=1)
    g2 = generate(lm, "The weather", max_new_tokens=10, temperature=0, seed=2)
    assert g1.text == g2.text and any("greedy" in n for n in g1.notes)


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_empty_prompt_is_refused_clearly(lm, prompt):
    with pytest.raises(BadInputError, match="prompt is empty"):
        generate(lm, prompt)


def test_overlong_prompt_is_truncated_with_a_note(lm):
    r = generate(lm, "The printer on floor two is jammed. " * 100, max_new_tokens=8)
    assert any("kept the last" in n for n in r.notes)
    assert r.timing.n_prompt_tokens + 8 <= lm.info.context


def test_absurd_max_tokens_is_capped_with_a_note(lm):
    r = generate(lm, "Hello", max_new_tokens=10**9, temperature=0)
    assert any(f"capped at {MAX_NEW_TOKENS_CAP}" in n for n in r.notes)
    assert r.timing.n_new_tokens <= lm.info.context // 2


@pytest.mark.parametrize("bad, message", [
    (dict(max_new_tokens=0), "at least 1"), (dict(temperature=-1), "0 or more"),
    (dict(top_p=0), r"\(0, 1\]"), (dict(top_p=1.5), r"\(0, 1\]"), (dict(top_k=-5), "top_k"),
])
def test_absurd_settings_get_a_clear_message(lm, bad, message):
    with pytest.raises(BadInputError, match=message):
        generate(lm, "Hello", GenerationSettings(**bad))


def test_non_ascii_and_emoji_prompts_work(lm):
    r = generate(lm, "Café ☕ 日本語 🙂", max_new_tokens=5, temperature=0)
    assert isinstance(r.text, str) and r.timing.n_prompt_tokens > 5


SAMPLED = dict(max_new_tokens=16, temperature=1.0, top_k=0, top_p=1.0)  # every token can be drawn


def test_seeded_sampling_leaves_the_global_random_state_alone(lm):
    """A click on QuickGenerate must not reset the learner's own random numbers."""
    torch.manual_seed(123)  # the learner's own random state
    before = torch.get_rng_state()
    first = generate(lm, "The printer", seed=5, **SAMPLED)
    assert torch.equal(torch.get_rng_state(), before)
    again = generate(lm, "The printer", seed=5, **SAMPLED)
    assert torch.equal(torch.get_rng_state(), before)
    assert first.text == again.text and first.timing.n_new_tokens > 0


def test_different_seeds_give_different_samples(lm):
    texts = [generate(lm, "The printer", seed=seed, **SAMPLED).text for seed in range(4)]
    assert all(texts) and len(set(texts)) == 4  # the seed picks the sample: not one fixed text
    assert generate(lm, "The printer", seed=2, **SAMPLED).text == texts[2]


def test_two_generations_in_threads_each_repeat_their_own_seed(lm):
    """Each call has a generator of its own: running two at once changes neither one's text."""
    alone = {seed: generate(lm, "The weather", seed=seed, **SAMPLED).text for seed in (1, 2)}
    together, start = {}, threading.Barrier(2)

    def work(seed):
        start.wait()
        together[seed] = generate(lm, "The weather", seed=seed, **SAMPLED).text

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert together == alone and alone[1] != alone[2]


def test_the_shared_streamer_sees_exactly_the_new_tokens(lm):
    from course_utils.arena.sides import _QueueStreamer
    from course_utils.measure import _TimingStreamer
    from course_utils.streaming import NewTokenStreamer

    class Collect(NewTokenStreamer):
        def __init__(self):
            super().__init__()
            self.steps = []

        def on_new_tokens(self, ids):
            self.steps.append(ids.reshape(-1).tolist())

    ids = lm.tokenizer("The printer", return_tensors="pt").input_ids  # (1, T)
    streamer = Collect()
    out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, min_new_tokens=6,
                            do_sample=False, pad_token_id=lm.tokenizer.pad_token_id, streamer=streamer)
    assert streamer.steps == [[t] for t in out[0, ids.shape[1]:].tolist()]  # one step each, no prompt
    for cls in (_QueueStreamer, _TimingStreamer):  # the arena's and measure's streamers share the skeleton
        assert issubclass(cls, NewTokenStreamer) and "put" not in vars(cls)
