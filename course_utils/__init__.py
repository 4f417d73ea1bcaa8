"""course_utils: the tested helpers behind the *Small vs Large Language Models* notebooks.

One concept per module. Which lesson uses which (``LESSON_MODULES``, checked against the notebooks' imports):

- the machine and the models: ``env`` (this machine), ``doctor``, ``catalog`` (the model catalog), ``sizing``
  (memory a model needs), ``tiers`` (the pair a machine runs), ``loading`` (safe loading, the model cache),
  ``errors``, ``course_map``;
- the course world: ``corpus`` (generated domains with exact log-probabilities), ``world_facts``;
- lessons 01–04: ``ngram``, ``bigram``, ``sampling``, ``bpe``, ``nn`` (the from-scratch GPT), ``training`` (the one
  training loop), ``measure``, ``tables``;
- lessons 05–07: ``scaling``, ``generation``, ``arena``, ``tokenizer_diff``, ``heads``, ``lens``;
- lesson 08: ``lora``, ``finetune``, ``finetune_results``, ``training_memory``;
- lesson 09: ``hardware`` (matmul throughput per dtype, memory bandwidth, the decode bound), ``quantize``
  (group-wise int and NF4 weight quantization from scratch), ``quantize_libraries`` (torchao, bitsandbytes),
  ``serving`` (decode and prefill speed, the KV cache, batching), ``efficiency`` (one model in several forms,
  compared), ``cost`` (what a token costs, locally or from an endpoint);
- lesson 10: ``bias`` (pronoun skew of models against their data, a domain model, counterfactual fine-tuning),
  ``bias_templates`` (WinoGender-style probes of real models against the labour statistics), ``eval_hygiene``
  (contamination, variance, calibration), ``intervals`` (Wilson and bootstrap);
- lesson 11: ``memorisation`` (canaries and exact exposure), ``unsafe_loading`` (a pickle that runs code, and what
  refuses it), ``injection`` (prompt injection on helpdesk tickets, and a defence), ``data_flow`` (what leaves the
  machine for an endpoint; a local model opens no connection), ``model_lock`` (``models.lock``: the exact hub
  commits a class downloads and loads);
- lesson 12: ``evidence`` (each lesson's key measurements with their provenance, own or the shipped reference;
  lessons 05-11 and 13 record theirs), ``scorecard`` (the claims, judged by explicit rules over the evidence),
  ``decision_guide`` (needs -> a size class, models, cost, what to try and measure, conflicts named),
  ``course_summary`` (one page of the learner's numbers, exported as standalone HTML);
- lesson 13: ``speculative`` (greedy speculative decoding from scratch, against transformers' assisted
  generation), ``cascade`` (the small model answers when it is sure), ``distillation`` (a student trained on the
  teacher's distributions, through the one training loop), ``distillation_results`` (the full run, shipped),
  ``retrieval`` (BM25 over a mailbox, and which model can read what it finds);
- widgets: ``widgets`` (QuickGenerate, …), ``widgets.sampling_explorer``, ``widgets.tokenizer_explorer``,
  ``widgets.attention_explorer``, ``widgets.loss_plot``, ``widgets.memory_calculator``, ``widgets.arena``, ``widgets.cost_calculator``,
  ``widgets.decision_guide``;
- behind the scenes (no lesson imports them): ``remote`` (OpenAI-compatible endpoints, for the arena and lesson 11),
  ``streaming`` (the token streamer), ``results_file`` (shipped grids, read safely), ``launch`` (the repository
  address, the Colab/Binder badges and Colab bootstrap cell of every notebook), ``zoo`` (builds the course models), ``exercises`` and ``hints``
  (the exercise pipeline), ``checks`` (exercise checks), ``local_hub`` (the hub's download protocol served from a
  folder, for tests and classrooms);
- the classroom (no lesson imports them): ``room_check`` (``doctor --class``: is this machine ready for today?),
  ``server_load`` (a class streaming at once from one shared model server), ``class_config`` (JupyterHub limits
  sized from the lessons' measured peaks), ``slides`` (RISE metadata and offline reveal.js export),
  ``instructor_guide`` (docs/instructor.md from the lessons and the measurements).
"""

import os
from pathlib import Path

from course_utils import _quiet_logs

_quiet_logs.install()  # known, harmless library warnings (torchao's GPU-only kernels, …) stay out of every lesson

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parent.parent
# The shipped course models; COURSE_MODELS_DIR points elsewhere (e.g. a class's shared copy).
MODELS_DIR = Path(os.environ.get("COURSE_MODELS_DIR") or REPO_ROOT / "models")

# module -> the lessons whose notebook or solution imports it (tests/test_project.py keeps this true)
LESSON_MODULES: dict[str, tuple[int, ...]] = {
    "env": (5, 6, 7, 8, 9, 10, 11, 13),
    "doctor": (0,),
    "catalog": (1, 2, 3, 4, 5, 8, 9, 11, 13),
    "sizing": (5,),
    "tiers": (0, 6, 10),
    "loading": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13),
    "errors": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13),
    "course_map": (0,),
    "corpus": (1, 2, 4, 7, 8, 9, 10, 11, 13),
    "world_facts": (7,),
    "ngram": (1,),
    "bigram": (1,),
    "sampling": (1, 2),
    "bpe": (2, 13),
    "nn": (3, 4),
    "training": (1, 2, 4, 13),
    "measure": (1, 2, 5, 9, 13),
    "tables": (5, 7, 8, 9, 10, 11, 12, 13),
    "scaling": (5, 12),
    "generation": (0, 6, 11),
    "arena": (6,),
    "tokenizer_diff": (6, 7),
    "heads": (3, 7),
    "lens": (7,),
    "lora": (8,),
    "finetune": (8,),
    "finetune_results": (8, 13),
    "training_memory": (8,),
    "quantize": (9,),
    "quantize_libraries": (9,),
    "serving": (9, 13),
    "hardware": (9,),  # also the zoo's and the training loop's yardstick
    "efficiency": (9,),
    "cost": (9,),  # also the arena's cost assumptions
    "bias": (10,),
    "bias_templates": (10,),
    "eval_hygiene": (10,),
    "intervals": (),  # behind bias, eval_hygiene and injection's rates
    "results_file": (),  # behind finetune_results and memorisation
    "launch": (),  # writes every notebook's badges and Colab bootstrap cell
    "evidence": (5, 6, 7, 8, 9, 10, 11, 12, 13),  # lesson 12's evidence store: lessons 05-11 and 13 record into it
    "scorecard": (12,),
    "decision_guide": (12,),
    "course_summary": (12,),
    "speculative": (13,),
    "cascade": (13,),
    "distillation": (13,),
    "distillation_results": (13,),
    "retrieval": (13,),
    "memorisation": (11,),
    "unsafe_loading": (11,),
    "injection": (11,),
    "data_flow": (11,),
    "model_lock": (11,),
    "widgets": (0,),
    "widgets.sampling_explorer": (1,),
    "widgets.tokenizer_explorer": (2,),
    "widgets.attention_explorer": (3,),
    "widgets.loss_plot": (4, 8),
    "widgets.memory_calculator": (5,),
    "widgets.arena": (6,),
    "widgets.cost_calculator": (9,),
    "widgets.decision_guide": (12,),
    "remote": (11,),
    "streaming": (),
    "zoo": (),
    "exercises": (),
    "hints": (),
    "checks": (),
}
