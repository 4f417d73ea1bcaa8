"""Retrieval over the mailbox: questions whose answers are only in the store, BM25 finding them, prompts laid out as
in training and cut to the context window, and clear messages for what cannot work."""

import pytest

from course_utils import retrieval as rt
from course_utils.errors import BadInputError
from course_utils.loading import load_model


@pytest.fixture(scope="module")
def box():
    return rt.mailbox(60)


@pytest.fixture(scope="module")
def tok():
    return load_model("course-tiny").tokenizer


def test_every_answer_is_in_its_message_and_not_in_the_question(box):
    assert len(box.messages) == 60 and 0 < len(box.questions) <= 60
    assert rt.mailbox(60) == box  # deterministic: the same seed, the same store
    for q in box.questions:
        message = box.messages[q.message]
        assert q.answer.strip().isdigit() and len(q.answer.strip()) in (3, 6)
        assert q.answer.strip() in message
        assert q.answer.strip() not in q.query  # the number is what the question asks for
        assert q.query.startswith(message.split("\nHi ")[0])  # who wrote to whom, and the subject
        assert q.kind in ("order number", "invoice amount", "room", "extension")
        thread_so_far = message + q.reply
        assert thread_so_far.endswith(q.reply) and q.reply.startswith("\nReply from ")


def test_bm25_finds_the_quoted_message_for_most_questions(box):
    retriever = rt.BM25Retriever(box.messages)
    recall = rt.recall_at(retriever, box.questions, ks=(1, 4))
    assert recall[1] >= 0.8 and recall[4] >= recall[1]
    hits = retriever.search(box.questions[0].query, k=3)
    assert len(hits) == 3 and hits[0].score >= hits[1].score >= hits[2].score
    assert len(retriever.search(box.questions[0].query, k=500)) == len(box.messages)  # k beyond the store: all


def test_the_prompt_puts_the_best_hit_last_and_the_reply_after_it(box, tok):
    retriever = rt.BM25Retriever(box.messages)
    q = box.questions[0]
    hits = retriever.search(q.query, k=2)
    prompt = rt.retrieval_prompt(q, hits, tok)
    assert prompt.endswith(hits[0].text + q.reply)
    assert prompt.startswith(hits[1].text + tok.eos_token + tok.bos_token)
    assert rt.retrieval_prompt(q, [], tok) == q.query


def test_hits_that_do_not_fit_the_context_are_dropped_lowest_first(box, tok):
    retriever = rt.BM25Retriever(box.messages)
    q = box.questions[0]
    hits = retriever.search(q.query, k=8)
    for limit in (256, 140, 60):
        kept = rt.fit_hits(q, hits, tok, limit)
        assert kept == hits[:len(kept)]
        assert len(tok(rt.retrieval_prompt(q, kept, tok) + q.answer)["input_ids"]) <= limit
    assert len(rt.fit_hits(q, hits, tok, 256)) < 8  # eight messages never fit in 256 tokens
    with pytest.raises(BadInputError, match="does not fit"):
        rt.fit_hits(q, hits, tok, 5)


def test_compare_retrieval_reports_each_setting_for_each_model(box):
    tiny = load_model("course-tiny")
    few = rt.Mailbox(box.messages, box.questions[:6])
    rows = rt.compare_retrieval({"tiny": tiny}, few, rt.BM25Retriever(box.messages), ks=(0, 2))
    assert [r["setting"] for r in rows] == ["no retrieval", "top 2", "the right message (oracle)"]
    assert rows[0]["hits that fit"] == 0 and rows[0]["right message in prompt"] == 0
    assert rows[-1]["right message in prompt"] == 1.0 and rows[-1]["hits that fit"] == 1.0
    assert all(len(r["tiny"]) == 6 and all(isinstance(x, bool) for x in r["tiny"]) for r in rows)
    assert rows[0]["tiny"] == [False] * 6  # six random digits (or three) cannot be guessed


def test_bad_input_gets_a_clear_message(box):
    with pytest.raises(BadInputError, match="empty"):
        rt.BM25Retriever([])
    with pytest.raises(BadInputError, match="non-empty"):
        rt.BM25Retriever(["a message", "  "])
    retriever = rt.BM25Retriever(box.messages)
    for k in (0, -1, 1.5, True):
        with pytest.raises(BadInputError, match="k="):
            retriever.search("order", k=k)
    with pytest.raises(BadInputError, match="query is empty"):
        retriever.search(" ", k=1)
    for n in (0, -5, 2.5, 10**9):
        with pytest.raises(BadInputError, match="n_messages"):
            rt.mailbox(n)
    with pytest.raises(BadInputError, match="no questions"):
        rt.compare_retrieval({"tiny": load_model("course-tiny")}, rt.Mailbox(box.messages, ()), retriever)
    with pytest.raises(BadInputError, match="ks="):
        rt.compare_retrieval({"tiny": load_model("course-tiny")}, box, retriever, ks=(-1,))


def test_plot_comparison_draws_a_bar_per_model_and_setting():
    rows = [{"setting": "no retrieval", "a": [False, False], "b": [False, True]},
            {"setting": "top 1", "a": [True, False], "b": [True, True]}]
    ax = rt.plot_comparison(rows, ["a", "b"])
    assert [p.get_height() for p in ax.patches] == [0.0, 0.5, 0.5, 1.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["no retrieval", "top 1"]
