"""The course's generated world: six domains of English-like text with exact log-probabilities.

    generate(domain, n, seed)        documents with their exact log p (``Document``)
    entropy_floor(domain, n_docs)    the best achievable bits/char, with a 95% CI (``Floor``)
    make_splits(sizes)               fixed, non-overlapping train/val/test splits of the mix
    helpdesk_task(sizes)             labelled tickets (category) with splits; bayes_accuracy
    pronoun_rates(docs)              the occupation-pronoun skew (CorpusConfig.pronoun_skew)
    insert_canaries(docs, ...)       canary secrets for memorisation; canary_space(n_digits)
    derivations(text, domain)        parse a text back into its derivations (there is one)
"""

from .canaries import CANARY_PREFIX, Canary, canary_space, canary_space_size, canary_text, insert_canaries
from .domains import CATEGORIES, DOMAINS
from .floor import Floor, entropy_floor, floor_of
from .parse import derivations
from .tasks import (CATEGORY_PROMPT, bayes_accuracy, category_posterior, helpdesk_task, pronoun_rates,
                    stereotype, ticket_prompt)
from .world import CorpusConfig, Document, generate, make_splits, sample_document, split_of

__all__ = [
    "CANARY_PREFIX", "CATEGORIES", "CATEGORY_PROMPT", "Canary", "CorpusConfig", "DOMAINS", "Document",
    "Floor", "bayes_accuracy", "canary_space", "canary_space_size", "canary_text", "category_posterior",
    "derivations", "entropy_floor", "floor_of", "generate", "helpdesk_task", "insert_canaries",
    "make_splits", "pronoun_rates", "sample_document", "split_of", "stereotype", "ticket_prompt",
]
