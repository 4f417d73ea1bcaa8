"""The course's generated world: English-like domains with exact log-probabilities — six everyday ones,
an email domain whose replies quote earlier text (copying pays), and a held-out bank domain (never in
the pretraining mix; for fine-tuning).

    generate(domain, n, seed)        documents with their exact log p (``Document``)
    entropy_floor(domain, n_docs)    the best achievable bits/char, with a 95% CI (``Floor``)
    make_splits(sizes)               fixed, non-overlapping train/val/test splits of the mix
    helpdesk_task(sizes)             labelled tickets (category) with splits; bayes_accuracy
    bank_task(sizes)                 the held-out domain: bank chats with an intent label, fixed splits
    pronoun_rates(docs)              the occupation-pronoun skew (CorpusConfig.pronoun_skew)
    insert_canaries(docs, ...)       canary secrets for memorisation; canary_space(n_digits)
    derivations(text, domain)        parse a text back into its derivations (there is one)
"""

from .canaries import CANARY_PREFIX, Canary, canary_space, canary_space_size, canary_text, insert_canaries
from .domains import CATEGORIES, DOMAINS, HELD_OUT, INTENTS, PRETRAINING_DOMAINS
from .floor import Floor, entropy_floor, floor_of
from .parse import derivations
from .tasks import (BANK, CATEGORY_PROMPT, HELPDESK, INTENT_PROMPT, TASKS, LabelTask, bank_task,
                    bayes_accuracy, category_posterior, helpdesk_task, label_posterior, pronoun_rates,
                    stereotype, task_splits, ticket_prompt)
from .world import CorpusConfig, Document, generate, iter_splits, make_splits, sample_document, split_of

__all__ = [
    "BANK", "HELD_OUT", "PRETRAINING_DOMAINS", "HELPDESK", "INTENTS", "INTENT_PROMPT", "TASKS", "LabelTask", "bank_task",
    "label_posterior", "task_splits", "CANARY_PREFIX", "CATEGORIES", "CATEGORY_PROMPT", "Canary", "CorpusConfig", "DOMAINS", "Document",
    "Floor", "bayes_accuracy", "canary_space", "canary_space_size", "canary_text", "category_posterior",
    "derivations", "entropy_floor", "floor_of", "generate", "helpdesk_task", "insert_canaries",
    "iter_splits", "make_splits", "pronoun_rates", "sample_document", "split_of", "stereotype", "ticket_prompt",
]
