"""The arena engine and widget, driven as a learner would, on tiny local models."""

import asyncio
import html
import inspect
import json
import math
import threading
from dataclasses import replace

import pytest
import torch

from course_utils import arena as A
from course_utils.generation import GenerationSettings
from course_utils.loading import load_model
from course_utils.remote import Endpoint
from course_utils.widgets.arena import ENDPOINT, MODES, Arena, batch_table_html, plot_batch, plot_next_token

from conftest import make_tiny_llama


@pytest.fixture(scope="module")
def slow_dir(tmp_path_factory):
    return make_tiny_llama(tmp_path_factory.mktemp("arena-slow"), n_layers=4, hidden=256, context=1024)


@pytest.fixture
def box(tiny_llama_dir, tiny_llama_large_dir):
    return Arena(models=[], pair=(str(tiny_llama_dir), str(tiny_llama_large_dir)), prompt="The printer",
                 max_new_tokens=12)


# ----------------------------------------------------------------------------- engine

def test_a_run_streams_the_same_tokens_as_plain_generate(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    side = A.LocalSide(lm)
    seen = []
    run = A.ArenaRun([side], "The printer", GenerationSettings(max_new_tokens=10, temperature=0),
                     on_update=lambda r: seen.append(r.results[0].text)).start().wait()
    r = run.results[0]
    ids = lm.tokenizer("The printer", return_tensors="pt").input_ids
    plain = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False,
                              pad_token_id=lm.tokenizer.pad_token_id)
    assert r.tokens == plain[0, ids.shape[1]:].tolist()
    assert r.text == lm.tokenizer.decode(r.tokens, skip_special_tokens=True)
    assert r.timing.n_new_tokens == 10 and r.timing.tokens_per_s > 0
    assert 0 < r.timing.time_to_first_token_s <= r.ttft_visible_s <= r.timing.total_s
    assert seen and seen[-1] == r.text and not r.error and not r.stopped


def test_both_schedules_run_both_sides_and_sequential_ones_do_not_overlap(tiny_llama_dir, tiny_llama_large_dir):
    sides = [A.LocalSide(load_model(str(d))) for d in (tiny_llama_dir, tiny_llama_large_dir)]
    settings = GenerationSettings(max_new_tokens=8, temperature=0)
    together = A.ArenaRun(sides, "The weather", settings, "together").start().wait()
    apart = A.ArenaRun(sides, "The weather", settings, "one after another").start().wait()
    for run in (together, apart):
        assert [r.n_tokens for r in run.results] == [8, 8]
        assert not any(t.is_alive() for t in run.threads)
    assert [r.tokens for r in together.results] == [r.tokens for r in apart.results]  # greedy: same text
    first, second = apart.results
    assert second.t_start >= first.t_end  # the second started when the first had finished


def test_stop_from_on_update_ends_generation_between_tokens(slow_dir):
    # min_new_tokens: no end-of-text token can end a side before the stop does
    side = A.LocalSide(load_model(str(slow_dir)), min_new_tokens=500)
    run = A.ArenaRun([side, side], "The printer", GenerationSettings(max_new_tokens=500, temperature=0.8))
    stopped_at = []

    def stop_once_both_have_a_token(r):  # on the polling thread, while both workers generate
        if not stopped_at and all(x.tokens for x in r.results):
            stopped_at.append([len(x.tokens) for x in r.results])
            r.stop()

    run.on_update = stop_once_both_have_a_token
    run.start().wait(timeout_s=60)
    assert stopped_at, "on_update never saw a token from both sides"
    assert all(r.stopped for r in run.results) and len(run.results) == 2
    assert all(0 < r.n_tokens < 500 for r in run.results), [r.n_tokens for r in run.results]
    assert not any(t.is_alive() for t in run.threads)


def test_pump_on_an_event_loop_handles_a_stop_while_generating(slow_dir):
    side = A.LocalSide(load_model(str(slow_dir)), min_new_tokens=500)

    async def main():
        first_token = asyncio.Event()
        run = A.ArenaRun([side], "The printer", GenerationSettings(max_new_tokens=500),
                         on_update=lambda r: r.results[0].tokens and first_token.set())
        run.start()
        task = asyncio.ensure_future(run.pump(0.01))
        await asyncio.wait_for(first_token.wait(), 30)  # this coroutine runs while the pump waits
        assert not task.done()
        run.stop()
        await asyncio.wait_for(task, 30)
        return run

    run = asyncio.run(main())
    assert run.results[0].stopped and 0 < run.results[0].n_tokens < 500
    assert not run.threads[0].is_alive()


def test_seeded_sampling_repeats_on_both_sides_together_and_leaves_the_global_rng_alone(tiny_llama_dir):
    side = A.LocalSide(load_model(str(tiny_llama_dir)))
    settings = GenerationSettings(max_new_tokens=16, temperature=1.0, top_k=0, top_p=1.0, seed=7)
    torch.manual_seed(123)  # the learner's own random state
    before = torch.get_rng_state()
    runs = [A.ArenaRun([side, side], "The printer", settings, "together").start().wait() for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), before)
    first, again = ([r.tokens for r in run.results] for run in runs)
    assert first == again  # the same seed repeats, with both sides sampling at once
    assert first[0] == first[1] and len(first[0]) > 0  # each side draws from its own generator
    alone = A.ArenaRun([side], "The printer", settings).start().wait()
    other = A.ArenaRun([side], "The printer", replace(settings, seed=8)).start().wait()
    assert alone.results[0].tokens == first[0] and other.results[0].tokens != first[0]


def test_a_multibyte_character_split_over_tokens_is_never_shown_half(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    emoji_ids = lm.tokenizer.encode("🎉")
    assert len(emoji_ids) > 1  # byte-level BPE: the emoji is several tokens

    class FakeSide(A.LocalSide):
        def work(self, prep, q, i, stop):
            for t in emoji_ids:
                q.put(A.TokenEvent(i, [t], 0.0))

    run = A.ArenaRun([FakeSide(lm)], "héllo 🎉", GenerationSettings(max_new_tokens=5))
    shown = []
    run.on_update = lambda r: shown.append(r.results[0].text)
    run.start()
    run.wait()
    assert shown[-1] == "🎉" and not any("\ufffd" in s for s in shown)


def test_bad_input_is_refused_before_any_thread_starts(tiny_llama_dir):
    side = A.LocalSide(load_model(str(tiny_llama_dir)))
    run = A.ArenaRun([side], "   ", GenerationSettings()).start().wait()
    assert "prompt is empty" in run.results[0].error and run.threads == [None]
    with pytest.raises(Exception, match="schedule must be one of"):
        A.ArenaRun([side], "x", schedule="sideways")


def test_a_crash_in_a_worker_becomes_a_message(tiny_llama_dir):
    class Broken(A.LocalSide):
        def work(self, *a):
            raise RuntimeError("out of cheese")

    run = A.ArenaRun([Broken(load_model(str(tiny_llama_dir)))], "x").start().wait()
    assert run.results[0].error == "RuntimeError: out of cheese" and not run.running


# ----------------------------------------------------------------------------- the Side protocol

def _sides(lm):
    return [A.LocalSide(lm), A.RemoteSide(Endpoint("http://127.0.0.1:9/v1", "course-llm")),
            A.UnavailableSide("Qwen2.5-7B-Instruct", "needs about 15 GB")]


def test_every_side_implements_the_side_protocol(tiny_llama_dir):
    members = [m for m in vars(A.Side) if m in ("prepare", "work", "decode", "count_tokens")]
    assert len(members) == 4
    for side in _sides(load_model(str(tiny_llama_dir))):
        assert isinstance(side, A.Side), type(side).__name__
        assert side.kind == side.info.kind and isinstance(side.info, A.SideInfo)
        for m in members:  # callable as ArenaRun calls it: the protocol's positional arguments
            n = len(inspect.signature(getattr(A.Side, m)).parameters) - 1  # without self
            inspect.signature(getattr(side, m)).bind(*[None] * n)


def test_the_stand_in_refuses_with_its_reason_and_is_never_launched():
    side = A.UnavailableSide("big", "needs about 15 GB")
    run = A.ArenaRun([side], "The printer").start().wait()
    assert run.results[0].error == "needs about 15 GB" and run.threads == [None]
    with pytest.raises(Exception, match="needs about 15 GB"):
        side.work(None, None, 0, threading.Event())


def test_an_object_that_is_not_a_side_is_refused_by_name(tiny_llama_dir):
    class NoDecode:  # everything a side has, but decode
        kind, info = "local", A.SideInfo("x", "local", None, None, None, None, None)

        def prepare(self, prompt, settings):
            return None, [], 0

        def work(self, prepared, q, side, stop):
            pass

        def count_tokens(self, text):
            return None

    assert not isinstance(NoDecode(), A.Side)
    with pytest.raises(TypeError, match="NoDecode is not an arena side"):
        A.ArenaRun([A.LocalSide(load_model(str(tiny_llama_dir))), NoDecode()], "The printer")


def test_the_engine_draws_no_html_or_plots():
    from pathlib import Path

    for path in Path(A.__file__).parent.glob("*.py"):
        source = path.read_text()
        assert "matplotlib" not in source and "<span" not in source and "<table" not in source, path.name


# ----------------------------------------------------------------------------- metrics and cost

def test_cost_per_1k_tokens_follows_the_assumptions():
    c = A.CostAssumptions(hardware_usd_per_hour=0.9, power_watts=100, electricity_usd_per_kwh=1.0,
                          endpoint_usd_per_million_tokens=2.0)
    assert c.usd_per_hour() == pytest.approx(1.0)
    assert c.per_1k_tokens(1000 / 3600) == pytest.approx(1.0)  # 1000 tokens take an hour
    assert c.per_1k_tokens(100) == pytest.approx(10 / 3600)
    assert c.per_1k_tokens(None) is None and c.per_1k_tokens(0.0) is None
    assert c.per_1k_tokens(5, "endpoint") == pytest.approx(0.002)


def test_flops_per_token_of_a_side_match_the_measure_formula(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    info = A.LocalSide(lm).info
    cfg = lm.model.config
    non_emb = sum(p.numel() for n, p in lm.model.named_parameters() if "embed" not in n and "lm_head" not in n)
    assert info.non_embedding == non_emb
    head = cfg.vocab_size * cfg.hidden_size  # the output head's matmul counts, tied or not
    assert info.flops_per_token(10) == 2 * non_emb + 2 * head + 2 * cfg.num_hidden_layers * 10 * cfg.hidden_size


# ----------------------------------------------------------------------------- next-token distributions

def test_align_by_text_pools_the_rest_and_kl_is_finite():
    a = {" hot": 0.6, " warm": 0.3, " cold": 0.1}
    b = {" warm": 0.5, " hot": 0.2, "x": 0.3}
    labels, pa, pb = A.align_by_text(a, b, k=2)
    assert labels == [" hot", " warm", "x", A.OTHER]  # union of both top-2, then the rest
    assert pa == pytest.approx([0.6, 0.3, 0.0, 0.1]) and pb == pytest.approx([0.2, 0.5, 0.3, 0.0])
    kl = A.kl_divergence_bits(pa, pb)  # b puts nothing on OTHER: floored at 1e-9
    assert kl == pytest.approx(0.6 * math.log2(3) + 0.3 * math.log2(0.6) + 0.1 * math.log2(0.1 / A.KL_FLOOR))
    assert A.kl_divergence_bits(pb, pa) == pytest.approx(
        0.2 * math.log2(0.2 / 0.6) + 0.5 * math.log2(0.5 / 0.3) + 0.3 * math.log2(0.3 / A.KL_FLOOR))
    assert A.kl_divergence_bits(pa, pa) == 0
    assert math.isfinite(A.kl_divergence_bits([0.5, 0.5], [1.0, 0.0]))  # floored, not infinite


def test_compare_next_token_sums_to_one_and_is_zero_against_itself(tiny_llama_dir, tiny_llama_large_dir):
    small, large = load_model(str(tiny_llama_dir)), load_model(str(tiny_llama_large_dir))
    same = A.compare_next_token(small, small, "The printer", k=5)
    assert same.kl_ab_bits == pytest.approx(0, abs=1e-9)
    cmp = A.compare_next_token(small, large, "The printer", k=5)
    assert sum(cmp.p_a) == pytest.approx(1, abs=1e-4) and sum(cmp.p_b) == pytest.approx(1, abs=1e-4)
    assert cmp.labels[-1] == A.OTHER and 5 <= len(cmp.labels) - 1 <= 10
    assert cmp.kl_ab_bits > 0 and cmp.kl_ba_bits > 0
    fig = plot_next_token(cmp)
    assert len(fig.axes[0].patches) == 2 * len(cmp.labels)


def test_text_distribution_sums_ids_with_the_same_text():
    d = A.text_distribution(torch.tensor([0.5, 0.25, 0.25]), ["a", "a"])
    assert d == {"a": 0.75, A.OTHER: 0.25}  # id 2 is beyond the tokenizer: pooled in OTHER


# ----------------------------------------------------------------------------- batch mode

def test_shipped_prompt_set_has_every_category_and_its_course_world_part_is_the_world_facts():
    prompts = json.loads(A.PROMPTS_PATH.read_text())["prompts"]
    assert {p["category"] for p in prompts} == set(A.CATEGORIES)
    assert len({p["id"] for p in prompts}) == len(prompts)
    assert [p for p in prompts if p["category"] == "course world"] == A.course_world_prompts()
    assert sum(bool(p["answer"]) for p in prompts) >= 30
    assert all(not p["prompt"].endswith(" ") for p in prompts)  # BPE: the space goes with the next word


def test_course_world_answers_score_as_correct_when_the_text_continues_with_them():
    for p in A.course_world_prompts(1):
        assert A.score_answer(" " + p["answer"] + "\nmore text", p["answer"])
        assert not A.score_answer(" no idea", p["answer"])


def test_score_answer_base_and_instruct():
    assert A.score_answer(" hot.\n6. Enjoy", "hot") and not A.score_answer(" warm and hot", "hot")
    assert A.score_answer("The capital of France is Paris.", "Paris", instruct=True)
    assert not A.score_answer("", "Paris") and not A.score_answer("Paris", "")


def test_load_prompts_filters_and_refuses_unknown_categories():
    ps = A.load_prompts(["course world", "reasoning"], 2)
    assert [p["category"] for p in ps] == ["course world"] * 2 + ["reasoning"] * 2
    with pytest.raises(Exception, match="Unknown categories"):
        A.load_prompts(["poetry"])


def test_run_batch_table_agreement_and_plots(tiny_llama_dir, tiny_llama_large_dir):
    sides = [A.LocalSide(load_model(str(d))) for d in (tiny_llama_dir, tiny_llama_large_dir)]
    prompts = A.load_prompts(["general knowledge", "course world", "instructions"], 2)
    result = A.run_batch(sides, prompts, GenerationSettings(max_new_tokens=4, temperature=0), progress=False)
    assert len(result.rows) == 2 * len(prompts)
    summary = result.summary()
    assert len(summary) == 2 and [s["model"] for s in summary] == result.sides
    assert [s["prompts"] for s in summary] == [6, 6]
    assert "accuracy: course world" in summary[0] and "accuracy: instructions" not in summary[0]
    agreement = result.agreement()
    assert set(agreement) == {"general knowledge", "course world", "instructions"}
    assert all(v in (0.0, 0.5, 1.0) for v in agreement.values())  # 2 prompts per category: 0, 1 or 2 agree
    table = batch_table_html(result)
    for s in summary:  # one row per model: its name, size and number of prompts
        assert f"<tr><td>{html.escape(s['model'])}</td><td>{s['params'] / 1e6:,.1f}M</td><td>6</td>" in table
    assert "<th>accuracy: course world</th>" in table
    assert "Same first word (agreement): general knowledge: " in table
    fig = plot_batch(result)
    assert len(fig.axes) == 3 and fig.axes[0].get_xscale() == "log"


def _row(pid, category, side, text, correct=None):
    return A.BatchRow(pid, category, side, 1_000_000, text, 3, 0.1, 5.0, 0.6, correct)


def test_batch_agreement_accuracy_and_table_from_known_rows():
    rows = [_row("w1", "course world", "a", " Paris is", True), _row("w1", "course world", "b", " Paris.", True),
            _row("w2", "course world", "a", " hot", True), _row("w2", "course world", "b", " cold", False),
            _row("g1", "general knowledge", "a", " yes", None), _row("g1", "general knowledge", "b", " no", None)]
    result = A.BatchResult(rows, ["a", "b"])
    assert result.agreement() == {"course world": 0.5, "general knowledge": 0.0}  # "Paris" vs "Paris."
    a, b = result.summary()
    assert (a["prompts"], a["accuracy: course world"], b["accuracy: course world"]) == (3, 1.0, 0.5)
    assert "accuracy: general knowledge" not in a  # no answer key, no accuracy
    table = batch_table_html(result)
    assert "<td>1.0M</td>" in table and "<td>0.5</td>" in table
    assert "course world: 50%, general knowledge: 0%" in table


def test_batch_table_escapes_what_it_shows():
    script = "<script>alert(1)</script>"
    rows = [A.BatchRow("p1", "course world", script, 123_456, script, 3, 0.1, 5.0, 0.6, True)]
    table = batch_table_html(A.BatchResult(rows, [script]))
    assert "<script>" not in table and "&lt;script&gt;alert(1)&lt;/script&gt;" in table


# ----------------------------------------------------------------------------- the widget

def test_run_both_shows_text_metrics_and_greedy_note(box):
    run = box.run(wait=True)
    assert run is not None and [r.n_tokens for r in run.results] == [12, 12]
    for col, r, side in zip(box.columns, run.results, run.sides):
        assert r.text and f"{html.escape(r.text)}</div>" in col.output.value  # all of it, and done (no cursor)
        m, t = col.metrics.value, r.timing  # this side's own numbers, not just the labels
        assert f"first token {t.time_to_first_token_s:.2f} s · {t.tokens_per_s:.1f} tokens/s · 12 tokens" in m
        assert f"{side.info.params / 1e6:,.1f}M parameters" in m
        assert f"≈ ${box.costs().per_1k_tokens(t.tokens_per_s):.5f} per 1,000 tokens" in m
        assert "FLOPs/token" in m and "greedy" in col.notes.value
    assert not box.run_button.disabled and box.stop_button.disabled


def test_editing_cost_assumptions_updates_the_metrics(box):
    run = box.run(wait=True)
    before = box.left.metrics.value
    box.hardware_usd.value = 1000.0
    usd = box.costs().per_1k_tokens(run.results[0].timing.tokens_per_s)
    assert box.left.metrics.value != before and f"≈ ${usd:.5f} per 1,000 tokens" in box.left.metrics.value


def test_bad_inputs_each_give_a_clear_message(box):
    box.prompt.value = ""
    box.run(wait=True)
    assert "prompt is empty" in box.left.notes.value and "prompt is empty" in box.right.notes.value
    box.prompt.value = "word " * 400  # longer than the tiny models' 128-token context
    box.run(wait=True)
    assert "kept the last" in box.left.notes.value
    box.prompt.value = "The printer"
    box.max_new_tokens.value = 10**6
    box.run(wait=True)
    assert "capped at 512" in box.left.notes.value
    box.max_new_tokens.value = 0
    box.run(wait=True)
    assert "at least 1" in box.left.notes.value
    box.max_new_tokens.value = 5
    box.prompt.value = "Ünïcödé ✓ 你好 🎉🚀"
    run = box.run(wait=True)
    assert all(r.n_tokens == 5 and not r.error for r in run.results)


def test_a_model_that_does_not_fit_is_refused_in_its_column(tiny_llama_dir):
    box = Arena(models=["Qwen2.5-7B-Instruct"], pair=(str(tiny_llama_dir), "Qwen2.5-7B-Instruct"),
                prompt="The printer", max_new_tokens=5, available_bytes=2_000_000_000)
    box.mode.value = MODES[1]  # from config: the guard runs before building anything
    run = box.run(wait=True)
    assert run.results[0].n_tokens == 5  # the other side still runs
    assert "Qwen2.5-7B-Instruct needs about" in box.right.notes.value
    assert "2.00 GB" in box.right.notes.value


def test_from_config_mode_labels_random_weights(tiny_llama_dir):
    box = Arena(models=[], pair=(str(tiny_llama_dir), "Pythia-70M"), prompt="The printer", max_new_tokens=3,
                available_bytes=64 * 10**9)  # Pythia-70M fits: this machine's free RAM decides nothing here
    box.mode.value = MODES[1]
    box.run(wait=True)
    assert "random weights: speed and memory are real, the text is not" in box.right.header.value
    assert box.last_run.results[1].n_tokens == 3


def test_endpoint_fields_show_only_for_the_endpoint_choice(box):
    assert box.left.endpoint_box.layout.display == "none"
    box.left.model.value = ENDPOINT
    assert box.left.endpoint_box.layout.display == ""


def test_distribution_button_plots_both_models_on_one_axis(box):
    box.dist_button.click()
    assert box.figure is not None and box.comparison.labels[-1] == A.OTHER
    ax = box.figure.axes[0]
    assert len(ax.patches) == 2 * len(box.comparison.labels) and "KL" in ax.get_title()


def test_batch_button_makes_a_table_and_plots(box):
    box.batch_categories.value = ["course world"]
    box.batch_n.value = 2
    box.batch_button.click()
    assert box.batch_result is not None and len(box.batch_result.rows) == 4
    assert box.batch_figure is not None and len(box.batch_figure.axes) == 3
    box.batch_n.value = 0
    box.batch_button.click()
    assert "at least 1 prompt" in box.message.value


def test_batch_gives_every_answer_key_enough_tokens(tiny_llama_dir):
    side = A.LocalSide(load_model(str(tiny_llama_dir)))
    prompt = {"id": "x", "category": "course world", "kind": "k", "prompt": "The weather",
              "answer": "Roads may be icy, so drive slowly."}
    result = A.run_batch([side], [prompt], GenerationSettings(max_new_tokens=1, temperature=0), progress=False)
    assert result.rows[0].n_tokens == side.count_tokens(" " + prompt["answer"]) + 2


def test_instruct_models_get_their_chat_template_base_models_plain_text(tiny_llama_dir):
    lm = load_model(str(tiny_llama_dir))
    plain = A.ArenaRun([A.LocalSide(lm)], "The printer", GenerationSettings(max_new_tokens=2)).start().wait()
    lm.tokenizer.chat_template = "{% for m in messages %}User: {{ m['content'] }}\nAssistant:{% endfor %}"
    lm.info.instruct = True
    chat = A.ArenaRun([A.LocalSide(lm)], "The printer", GenerationSettings(max_new_tokens=2)).start().wait()
    expected = len(lm.tokenizer("User: The printer\nAssistant:").input_ids)
    assert chat.results[0].n_prompt_tokens == expected > plain.results[0].n_prompt_tokens
