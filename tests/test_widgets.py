"""Widget logic, driven as a learner would: set values, click buttons."""

import html
from pathlib import Path

import pytest

from course_utils import loading
from course_utils.widgets import QuickGenerate, TierExplorer
from course_utils.widgets.tier_explorer import PROFILES


@pytest.fixture
def box(tiny_llama_dir, tiny_llama_large_dir):
    return QuickGenerate([str(tiny_llama_dir), str(tiny_llama_large_dir)], prompt="The printer")


def test_generate_button_shows_text_and_speed(box):
    box.max_new_tokens.value = 6
    box.temperature.value = 0.0
    box.button.click()
    r = box.last
    assert r is not None and 1 <= r.timing.n_new_tokens <= 6
    shown = box.result.value  # this run's own text, model, token count and speed, not just the labels
    assert f"<b>The printer</b><span style='color:#1a5fb4'>{html.escape(r.text)}</span>" in shown
    assert f"{html.escape(Path(box.model.value).name)} · {r.timing.n_new_tokens} new tokens" in shown
    assert f"{r.timing.tokens_per_s:.1f} tokens/s" in shown
    assert "greedy" in shown  # the note about temperature 0
    assert not box.button.disabled


def test_a_click_leaves_the_learners_random_state_alone(box):
    import torch

    box.max_new_tokens.value, box.temperature.value = 8, 1.0
    box.button.click()  # loads the model first: only the generation itself is watched below
    first = box.last.text
    torch.manual_seed(7)  # the learner's own random numbers
    before = torch.get_rng_state()
    box.button.click()
    assert torch.equal(torch.get_rng_state(), before)
    assert box.last.text == first and first  # the widget's seed: the same sample again


def test_switching_models_reuses_loaded_ones(box, monkeypatch):
    calls = []
    real = loading._from_pretrained

    def counting(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(loading, "_from_pretrained", counting)
    for option in box.model.options * 2:
        box.model.value = option
        box.button.click()
    assert len(calls) == 2  # each model loaded once, then served from the cache


def test_quick_generate_loads_in_the_dtype_it_is_given(tiny_llama_dir):
    """With the pair's dtype, the widget reuses the models load_pair loaded instead of loading copies."""
    import torch

    loaded = loading.load_model(str(tiny_llama_dir), dtype="bfloat16")
    box = QuickGenerate([str(tiny_llama_dir)], prompt="The printer", max_new_tokens=2, dtype="bfloat16")
    box.button.click()
    assert box.last is not None
    assert loading.cached_models() == [loaded.info.name]  # no float32 copy next to it
    assert next(loaded.model.parameters()).dtype == torch.bfloat16


def test_empty_prompt_shows_a_message_not_a_traceback(box):
    box.prompt.value = "   "
    box.button.click()
    assert box.last is None
    assert "prompt is empty" in box.result.value and "Traceback" not in box.result.value
    assert not box.button.disabled


def test_unknown_model_is_reported_in_the_widget():
    box = QuickGenerate(["no-such-model"], prompt="Hi")
    box.button.click()
    assert "Unknown model" in box.result.value and "Valid names" in box.result.value


def test_tier_explorer_updates_when_the_machine_changes():
    explorer = TierExplorer()
    seen = {}
    for name in PROFILES:
        explorer.machine.value = name
        seen[name] = (explorer.choice.tier.name, explorer.choice.large)
        assert explorer.choice.large in explorer.summary.value
    assert seen["Binder (2 GB RAM, CPU)"][0] == "binder"
    assert seen["H100 (80 GB GPU)"] == ("large-gpu", "Qwen2.5-7B-Instruct")
    assert seen["Any machine, offline"][0] == "offline"
    explorer.machine.value = "Binder (2 GB RAM, CPU)"
    assert "bfloat16 to fit" in explorer.summary.value


def test_tier_explorer_draws_a_memory_plot():
    explorer = TierExplorer()
    explorer.machine.value = "Laptop (16 GB RAM, CPU)"
    ax = explorer.figure.axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert len(widths) == 2 and all(w > 0 for w in widths)
    budget = ax.lines[0].get_xdata()[0]
    assert sum(widths) <= budget  # the pair fits under the dashed budget line
    explorer.machine.value = "Any machine, offline"
    assert explorer.figure is None


# ----------------------------------------------------------------------------- the shared error HTML

def test_error_html_is_red_with_a_warning_sign_and_escapes_the_message():
    from course_utils.widgets.html import error_html

    shown = error_html("<script>alert('x')</script> & more")
    assert shown.startswith("<span style='color:#b00'>⚠ ") and shown.endswith("</span>")
    assert "<script>" not in shown and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in shown
    assert error_html(ValueError("a < b")) == "<span style='color:#b00'>⚠ a &lt; b</span>"


def test_a_widget_error_quoting_the_learners_input_is_escaped():
    box = QuickGenerate(["<b>no-such-model</b>"], prompt="Hi")
    box.button.click()
    shown = box.result.value
    assert shown.startswith("<span style='color:#b00'>⚠ ") and "Unknown model" in shown
    assert "&lt;b&gt;no-such-model&lt;/b&gt;" in shown and "<b>no-such" not in shown


def test_no_widget_writes_its_own_error_html():
    widgets = Path(loading.__file__).parent / "widgets"
    for path in widgets.glob("*.py"):
        if path.name != "html.py":
            assert "color:#b00'>⚠" not in path.read_text(), f"{path.name}: use widgets.html.error_html"
