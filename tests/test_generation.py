import pytest

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
    assert a == b
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
