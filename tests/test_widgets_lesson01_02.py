"""Sampling explorer and tokenizer explorer, driven as a learner would: set values, click buttons."""

import pytest
from transformers import AutoTokenizer

from course_utils.bpe import CharTokenizer, train_bpe
from course_utils.loading import load_model
from course_utils.widgets import sampling_explorer as se
from course_utils.widgets.tokenizer_explorer import MAX_CHARS, TokenizerExplorer, token_pieces


@pytest.fixture
def explorer(tiny_llama_dir):
    return se.SamplingExplorer(load_model(str(tiny_llama_dir)), prompt="The printer", n_bars=10)


def bars(explorer):
    return explorer.figure.axes[0].patches


def test_sliders_reshape_the_bars_and_stats(explorer):
    s = explorer.step
    assert s.n_kept == len(s.probs) and "mass kept <b>100.0%</b>" in explorer.stats.value
    assert len(bars(explorer)) == 3 * 10
    explorer.top_k.value = 5
    assert explorer.step.n_kept == 5 and "<b>5</b> of" in explorer.stats.value
    assert explorer.step.mass_kept < 1
    final = [b.get_height() for b in bars(explorer)[20:]]
    assert sum(h > 0 for h in final) == 5 and abs(sum(final) - 1) < 1e-5  # renormalised over the kept 5
    explorer.temperature.value = 0.0
    assert explorer.step.n_kept == 1 and "greedy" in explorer.stats.value
    explorer.temperature.value, explorer.top_k.value, explorer.top_p.value = 1.5, 0, 0.5
    assert 1 <= explorer.step.n_kept < len(explorer.step.probs)
    assert explorer.step.mass_kept >= 0.5 and explorer.step.entropy_after < explorer.step.entropy_before


def test_the_model_runs_only_when_the_prompt_changes(explorer, monkeypatch):
    calls = []
    real = se.next_token_logits
    monkeypatch.setattr(se, "next_token_logits", lambda lm, p: calls.append(p) or real(lm, p))
    for t in (0.5, 1.0, 1.5):
        explorer.temperature.value = t
    explorer.top_p.value = 0.7
    assert calls == []
    explorer.prompt.value = "Mix the flour"
    assert calls == ["Mix the flour"]


def test_sample_button_appends_a_continuation(explorer):
    explorer.max_new_tokens.value = 5
    explorer.button.click()
    explorer.button.click()
    assert len(explorer.samples) == 2 and "<b>The printer</b>" in explorer.sample_html.value
    assert "new tokens" in explorer.sample_html.value and not explorer.button.disabled


def test_same_seed_same_samples(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    a, b = se.SamplingExplorer(lm, "Mix the", seed=4), se.SamplingExplorer(lm, "Mix the", seed=4)
    assert a.sample() == b.sample()


def test_empty_prompt_is_a_message_not_a_traceback(explorer):
    explorer.prompt.value = "   "
    assert explorer.step is None and explorer.figure is None
    assert "prompt is empty" in explorer.stats.value
    assert explorer.sample() is None and "prompt is empty" in explorer.sample_html.value
    explorer.prompt.value = "The nurse"
    assert explorer.step is not None and explorer.figure is not None


@pytest.fixture
def tok_explorer(tiny_llama_dir):
    hf = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    scratch = train_bpe("the printer is jammed again " * 20, 30)
    return TokenizerExplorer({"tiny BPE (transformers)": hf, "from-scratch BPE": scratch,
                              "characters": CharTokenizer()}, text="The printer is jammed.")


def test_two_tokenizers_side_by_side(tok_explorer):
    e = tok_explorer
    assert e.left.value == "tiny BPE (transformers)" and e.right.value == "from-scratch BPE"
    assert set(e.counts) == {"tiny BPE (transformers)", "from-scratch BPE"}
    e.right.value = "characters"
    assert e.counts["characters"] == len("The printer is jammed.")
    assert "22 tokens" in e.panes[1].value and "title='id 84'" in e.panes[1].value  # 'T' is code point 84
    assert "<sub" not in e.panes[0].value
    e.show_ids.value = True
    assert "<sub" in e.panes[0].value
    e.text.value = "two\nlines"
    assert "<br>" in e.panes[1].value and "⏎" in e.panes[1].value


def test_pieces_join_back_to_the_text(tiny_llama_dir):
    hf = AutoTokenizer.from_pretrained(str(tiny_llama_dir))
    for text in ("The printer  jams.", "Café 😀 ok\n", " x"):
        pieces = token_pieces(hf, text)
        assert "".join(p for p, _ in pieces) == text
        assert [i for _, i in pieces] == hf(text, add_special_tokens=False).input_ids


def test_bad_input_gives_messages(tok_explorer):
    e = tok_explorer
    e.text.value = "  "
    assert "text is empty" in e.summary.value and e.counts == {}
    e.text.value = "a" * (MAX_CHARS + 10)
    assert "only the first" in e.summary.value and e.counts["characters" if e.right.value == "characters"
                                                            else e.left.value] > 0


def test_a_failing_tokenizer_is_reported_in_its_pane():
    class Broken:
        name = "broken"

        def pieces(self, text):
            raise RuntimeError("no vocabulary loaded")

    e = TokenizerExplorer({"broken": Broken(), "characters": CharTokenizer()}, text="hi")
    assert "no vocabulary loaded" in e.panes[0].value and e.counts == {"characters": 2}


def test_hub_tokenizers_offline_and_failing(monkeypatch):
    from course_utils import env
    from course_utils.widgets.tokenizer_explorer import hub_tokenizers

    toks, note = hub_tokenizers()
    assert toks == {} and note.startswith("offline")  # the tests run with HF_HUB_OFFLINE=1
    from course_utils import loading

    for module in (env, loading):
        monkeypatch.setattr(module, "check_hub", lambda: env.HubStatus(True, "pretend online"))
    import transformers

    def refuse(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    toks, note = hub_tokenizers(("SmolLM2-135M",))
    assert toks == {} and "could not load SmolLM2-135M (OSError)" in note
