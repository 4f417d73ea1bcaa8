"""Lesson 03-04 widgets, driven as a learner would: the attention explorer and the live loss plot."""

import pytest
import torch

from course_utils import loading
from course_utils.training import History
from course_utils.sampling import token_labels
from course_utils.widgets.attention_explorer import AttentionExplorer, head_summary
from course_utils.widgets.loss_plot import LossPlot, smooth


@pytest.fixture
def explorer(tiny_llama_dir, tiny_llama_large_dir):
    return AttentionExplorer([str(tiny_llama_dir), str(tiny_llama_large_dir)], text="The printer is jammed")


def test_show_draws_a_labelled_heatmap_whose_rows_sum_to_one(explorer):
    explorer.button.click()
    assert explorer.figure is not None and not explorer.button.disabled
    ax = explorer.figure.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == explorer.labels and len(labels) >= 4
    data = ax.images[0].get_array()
    assert data.shape == (len(labels), len(labels))
    assert torch.allclose(torch.tensor(data.sum(axis=1)), torch.ones(len(labels)), atol=1e-5)
    assert torch.tensor(data).triu(1).abs().max() == 0  # causal: nothing above the diagonal
    assert "layer 0" in ax.get_title() and "head 0" in ax.get_title()
    assert "% on the first token" in explorer.message.value


def test_sliders_follow_the_model_and_redraw_without_recomputing(explorer, monkeypatch):
    explorer.button.click()
    assert (explorer.layer.max, explorer.head.max) == (1, 3)  # 2 layers, 4 heads
    calls = []
    monkeypatch.setattr("course_utils.widgets.attention_explorer.attention_patterns",
                        lambda *a: calls.append(a) or pytest.fail("recomputed"))
    explorer.layer.value, explorer.head.value = 1, 3
    assert "layer 1" in explorer.figure.axes[0].get_title() and "head 3" in explorer.figure.axes[0].get_title()
    shown = torch.tensor(explorer.figure.axes[0].images[0].get_array())
    assert torch.allclose(shown, explorer.attentions[1][3])
    explorer.view.value = "all heads"
    assert len([ax for ax in explorer.figure.axes if ax.images]) == 4
    assert calls == []
    monkeypatch.undo()
    explorer.model.value = explorer.model.options[1]  # 3 layers: recomputed without a click
    assert explorer.layer.max == 2 and len(explorer.attentions) == 3
    explorer.view.value = "one head"
    assert explorer.model.options[1] in explorer.figure.axes[0].get_title()


def test_empty_sentence_and_unknown_model_give_messages_not_tracebacks(explorer):
    explorer.text.value = "   "
    explorer.button.click()
    assert "empty" in explorer.message.value and explorer.figure is None
    assert AttentionExplorer(list(explorer.model.options), model="elsewhere").model.value == explorer.model.options[0]
    bad = AttentionExplorer(["no-such-model"])
    bad.button.click()
    assert "Unknown model" in bad.message.value and not bad.button.disabled


def test_long_sentences_are_truncated_with_a_note(tiny_llama_dir):
    ex = AttentionExplorer([str(tiny_llama_dir)], text="the printer is jammed " * 30, max_tokens=12)
    ex.button.click()
    assert len(ex.labels) == 12 and "first 12 tokens" in ex.message.value


def test_token_labels_and_head_summary(tiny_llama_dir):
    lm = loading.load_model(str(tiny_llama_dir))
    ids = lm.tokenizer("The nurse\nsaid", return_tensors="pt")["input_ids"][0]
    labels = token_labels(lm.tokenizer, ids)
    assert "".join(labels).replace("␣", " ").replace("⏎", "\n") == "The nurse\nsaid"
    prev = torch.zeros(5, 5)
    prev[0, 0] = 1
    prev[torch.arange(1, 5), torch.arange(0, 4)] = 1  # a previous-token head
    s = head_summary(prev)  # rows 2… as the head census counts: row 1's previous token is the first token
    assert s == {"first token": 0.0, "previous token": 1.0, "itself": 0.0}
    sink = torch.zeros(5, 5)
    sink[:, 0] = 1
    assert head_summary(sink) == {"first token": 1.0, "previous token": 0.0, "itself": 0.0}
    assert head_summary(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))["previous token"] == 1.0  # 2 tokens: row 1 only


def _history(n=30, val_every=10):
    h = History(total_steps=50)
    h.steps = list(range(1, n + 1))
    h.train_loss = [5.0 - 0.05 * i for i in range(n)]
    h.lr = [1e-3] * n
    h.val_steps = list(range(0, n + 1, val_every))
    h.val_loss = [5.2 - 0.05 * s for s in h.val_steps]
    h.tokens, h.wall_s = n * 100, 2.0
    return h


def test_loss_plot_draws_training_validation_and_floor():
    plot = LossPlot(floor=1.25)
    plot.update(_history())
    ax = plot.figure.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == ["training loss", "training (smoothed)", "validation loss"]
    assert any("best possible (1.25)" in lab for lab in labels)
    assert list(ax.get_lines()[2].get_xdata()) == [0, 10, 20, 30]
    assert ax.get_xlim()[1] == 50  # the x axis spans the whole run from the start
    assert "step 30 / 50" in plot.status.value and "validation loss 3.700" in plot.status.value
    plot.update(_history(40))
    assert plot.n_updates == 2 and len(plot.figure.axes[0].get_lines()[0].get_xdata()) == 40


def test_loss_plot_without_validation_and_smoothing():
    plot = LossPlot()
    h = _history()
    h.val_steps, h.val_loss = [], []
    plot.update(h)
    assert [line.get_label() for line in plot.figure.axes[0].get_lines()] == ["training loss", "training (smoothed)"]
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # bias-corrected: no ramp from 0
    assert smooth([0.0, 10.0], weight=0.5) == pytest.approx([0.0, 10 * 0.5 / 0.75])


@pytest.mark.parametrize("reachable", [False, True])
def test_model_choices_offer_smollm2_only_when_the_hub_answers(reachable, monkeypatch):
    from course_utils import env
    from course_utils.widgets import attention_explorer as ae

    monkeypatch.setattr(env, "check_hub", lambda *a, **k: env.HubStatus(reachable, "test"))
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *a, **k: None)  # not cached
    choices = ae.attention_model_choices()
    assert (ae.ONLINE_MODEL in choices) is reachable
    assert all(not name.startswith("SmolLM2") for name in choices if name != ae.ONLINE_MODEL)
