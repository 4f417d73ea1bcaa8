"""Retrieval: the small model reads instead of remembering.

The course world's documents are independent, except in one place: an email reply quotes the message it answers,
numbers and all. That is the fact store. The *mailbox* holds the first messages of fresh email threads (test split,
never trained on); a *question* is a reply cut just before a number it must quote (an order number of six random
digits, an invoice amount, a room or an extension of three). No model can know the number: it is in the mailbox, not
in the weights, and a model that reads the right message can copy it.

    box = mailbox(n_messages=200)                  # the store and the questions about it
    retriever = BM25Retriever(box.messages)        # bm25s, over the messages' words
    hits = retriever.search(box.questions[0].query, k=2)
    prompt = retrieval_prompt(box.questions[0], hits, tokenizer)   # the hits, best last, then the reply
    rows = compare_retrieval({"course-small": small, "course-large": large}, box, retriever, ks=(0, 1, 2))

Prompts are laid out as the models were trained: documents separated by end- and start-of-text, the reply
continuing the best hit as it continues its message in a thread. The context window is the limit: hits that do not
fit are dropped, lowest ranked first (``fit_hits``).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from course_utils.corpus import sample_document, split_of
from course_utils.corpus.world import CorpusConfig
from course_utils.errors import BadInputError

_NUMBER = re.compile(r" (\d{6}|\d{3})(?!\d)")
_KINDS = (("My order", "order number"), ("invoice for", "invoice amount"), ("in room", "room"),
          ("extension", "extension"))


@dataclass(frozen=True)
class Question:
    message: int  # index in the mailbox of the message the reply quotes
    header: str  # "Email from A to B\nSubject: S\n": who wrote to whom, about what
    reply: str  # "\nReply from B: …\n> Hi B, … My order", cut before the number
    answer: str  # " 123456"
    kind: str

    @property
    def query(self) -> str:
        """What the retriever searches with, and the whole prompt without retrieval."""
        return self.header + self.reply.lstrip("\n")


@dataclass(frozen=True)
class Mailbox:
    messages: tuple[str, ...]
    questions: tuple[Question, ...]


def _split_thread(text: str, index: int) -> tuple[str, Question | None]:
    cut = text.index("\nReply from ")
    message, reply = text[:cut], text[cut:]
    quote = reply.index("\n> ") + 3
    m = _NUMBER.search(reply, quote)
    header = message[:message.index("\nHi ") + 1]
    if m is None:  # a message with no number to quote stays in the store, as a distractor
        return message, None
    before = reply[:m.start()]
    kind = next((k for marker, k in _KINDS if before.endswith(marker)), "number")
    return message, Question(index, header, before, " " + m.group(1), kind)


def mailbox(n_messages: int = 200, seed: int = 2026, cfg: CorpusConfig = CorpusConfig()) -> Mailbox:
    """``n_messages`` first messages of fresh email threads from the test split, and one question per message that
    has a number in it (the first number its reply quotes)."""
    if isinstance(n_messages, bool) or not isinstance(n_messages, int) or not 1 <= n_messages <= 100_000:
        raise BadInputError(f"n_messages={n_messages!r}: a mailbox holds 1 to 100,000 messages (try 200).")
    rng = random.Random(f"{seed}/mailbox")
    messages, questions = [], []
    for _ in range(50 * n_messages):
        if len(messages) == n_messages:
            break
        doc = sample_document(rng, "email", cfg)
        if split_of(doc.text, cfg) != "test":
            continue
        message, question = _split_thread(doc.text, len(messages))
        messages.append(message)
        if question is not None:
            questions.append(question)
    return Mailbox(tuple(messages), tuple(questions))


@dataclass(frozen=True)
class Hit:
    index: int  # position in the store
    score: float
    text: str


class BM25Retriever:
    """BM25 over a list of documents (the ``bm25s`` library; words lower-cased, English stop words dropped)."""

    def __init__(self, documents: list[str] | tuple[str, ...]):
        import bm25s

        self.documents = list(documents)
        if not self.documents:
            raise BadInputError("the document store is empty: retrieval needs documents to search (e.g. "
                                "mailbox(200).messages).")
        if any(not isinstance(d, str) or not d.strip() for d in self.documents):
            raise BadInputError("every document in the store must be non-empty text.")
        self._bm25 = bm25s.BM25()
        self._bm25.index(self._tokens(self.documents), show_progress=False)

    @staticmethod
    def _tokens(texts):
        import bm25s

        return bm25s.tokenize(list(texts), stopwords="en", show_progress=False)

    def search(self, query: str, k: int = 1) -> list[Hit]:
        """The ``k`` best-scoring documents for ``query``, best first (fewer if the store is smaller)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BadInputError(f"k={k!r}: retrieve at least 1 document (k = 0 means no retrieval: skip the search).")
        if not isinstance(query, str) or not query.strip():
            raise BadInputError("the query is empty: search with the question's text.")
        k = min(k, len(self.documents))
        index, score = self._bm25.retrieve(self._tokens([query]), k=k, show_progress=False)
        return [Hit(int(i), float(s), self.documents[int(i)]) for i, s in zip(index[0], score[0])]


def _separator(tokenizer) -> str:
    """Between documents, as in the training stream: end of one text, start of the next."""
    eos, bos = tokenizer.eos_token, tokenizer.bos_token
    return (eos or "\n\n") + (bos if bos and bos != eos else "")


def retrieval_prompt(question: Question, hits: list[Hit], tokenizer) -> str:
    """The question alone (no hits), or the hits, best last, with the reply continuing the best one."""
    if not hits:
        return question.query
    texts = [h.text for h in reversed(hits)]
    return _separator(tokenizer).join(texts) + question.reply


def context_limit(model) -> int:
    limit = getattr(model.config, "max_position_embeddings", None)
    if not limit:
        raise BadInputError("this model's config states no context length (max_position_embeddings).")
    return int(limit)


def fit_hits(question: Question, hits: list[Hit], tokenizer, limit: int) -> list[Hit]:
    """The longest prefix of ``hits`` (best first) whose prompt and answer fit in ``limit`` tokens."""
    for n in range(len(hits), -1, -1):
        prompt = retrieval_prompt(question, hits[:n], tokenizer)
        if len(tokenizer(prompt + question.answer, verbose=False)["input_ids"]) <= limit:  # no overlength warning
            return hits[:n]
    raise BadInputError(f"the question alone does not fit in {limit} tokens.")


def recall_at(retriever: BM25Retriever, questions, ks=(1, 2, 4, 8)) -> dict[int, float]:
    """Share of questions whose own message is among the top k hits."""
    if not questions:
        raise BadInputError("no questions to measure recall on.")
    top = max(ks)
    ranks = [[h.index for h in retriever.search(q.query, top)] for q in questions]
    return {k: sum(q.message in r[:k] for q, r in zip(questions, ranks)) / len(questions) for k in ks}


def answered(lm, prompts: list[str], answers: list[str]) -> list[bool]:
    """Whether each prompt's greedy continuation is its answer (teacher-forced: one forward pass per batch)."""
    from course_utils.world_facts import Fact, score_facts

    return [r["correct"] for r in score_facts(lm, [Fact("retrieval", p, a) for p, a in zip(prompts, answers)])]


def compare_retrieval(models: dict, box: Mailbox, retriever: BM25Retriever, ks=(0, 1, 2, 4),
                      oracle: bool = True) -> list[dict]:
    """Per setting (no retrieval, the top k hits that fit, the right message given): how many hits fit in the
    context on average, how often the right message is in the prompt, and each model's share of exact answers."""
    if not box.questions:
        raise BadInputError("the mailbox has no questions: build it with more messages.")
    if any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in ks):
        raise BadInputError(f"ks={ks!r}: each k is a whole number of hits, 0 for no retrieval.")
    lms = list(models.values())
    tokenizer = lms[0].tokenizer
    limit = min(context_limit(lm.model) for lm in lms)
    settings = [(f"top {k}" if k else "no retrieval", k) for k in ks]
    if oracle:
        settings.append(("the right message (oracle)", None))
    rows = []
    for label, k in settings:
        fitted = []
        for q in box.questions:
            hits = [Hit(q.message, float("inf"), box.messages[q.message])] if k is None else \
                retriever.search(q.query, k) if k else []
            fitted.append(fit_hits(q, hits, tokenizer, limit))
        prompts = [retrieval_prompt(q, h, tokenizer) for q, h in zip(box.questions, fitted)]
        answers = [q.answer for q in box.questions]
        row = {"setting": label, "hits that fit": sum(map(len, fitted)) / len(fitted),
               "right message in prompt": sum(q.message in {h.index for h in f}
                                              for q, f in zip(box.questions, fitted)) / len(fitted)}
        for name, lm in models.items():
            row[name] = answered(lm, prompts, answers)
        rows.append(row)
    return rows


def plot_comparison(rows: list[dict], names, ax=None):
    """Each model's share of exact answers per setting (``compare_retrieval``'s rows), side by side."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(names)
    for i, m in enumerate(names):
        ax.bar([j + width * i for j in range(len(rows))], [sum(r[m]) / len(r[m]) for r in rows], width, label=m)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(rows))], [r["setting"] for r in rows],
                  fontsize=8)
    ax.set(ylabel="numbers quoted exactly", ylim=(0, 1), title=f"{len(rows[0][names[0]])} questions about the mailbox")
    ax.legend()
    return ax
