"""The shipped course models: manifest, hashes, loading, and metrics re-measured against the manifest."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from course_utils import MODELS_DIR
from course_utils.corpus import CorpusConfig, floor_of, generate, make_splits
from course_utils.zoo import build, evaluate
from course_utils.zoo.manifest import sha256

MANIFEST = json.loads((MODELS_DIR / "manifest.json").read_text())
MODELS = MANIFEST["models"]
NAMES = [m["name"] for m in MODELS]


@pytest.fixture(scope="module")
def splits():
    return make_splits(build.SIZES)  # the build's splits (~10 s): made once for this module


@pytest.fixture(scope="module")
def val_docs(splits):
    return splits["val"]


def test_manifest_describes_a_ladder_with_aliases():
    assert MANIFEST["format"] == 1 and len(MODELS) >= 4
    params = [m["params"] for m in MODELS]
    assert params == sorted(params) and len(set(params)) == len(params)
    assert MANIFEST["aliases"]["course-slm"] in NAMES and MANIFEST["aliases"]["course-llm"] == NAMES[-1]
    for m in MODELS:
        assert m["architecture"]["tied_embeddings"] is True
        assert m["training"]["tokens"] > 0 and m["training"]["wall_s"] > 0


def test_every_shipped_file_matches_its_sha256_and_nothing_is_unlisted():
    folders = [(MODELS_DIR / MANIFEST["tokenizer"]["path"], MANIFEST["tokenizer"]["files"])]
    folders += [(MODELS_DIR / m["path"], m["files"]) for m in MODELS]
    for folder, files in folders:
        assert {p.name for p in folder.iterdir() if p.is_file()} == set(files), folder
        for name, digest in files.items():
            assert sha256(folder / name) == digest, folder / name


def test_safetensors_only_and_within_the_size_budget():
    shipped = [p for p in MODELS_DIR.rglob("*") if p.is_file() and ".work" not in p.parts]
    assert not [p for p in shipped if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    assert sum(p.stat().st_size for p in shipped) <= 40 * 2**20


def test_corpus_and_floor_in_the_manifest_are_what_the_generator_makes_today(splits):
    c = MANIFEST["corpus"]
    cfg = CorpusConfig()
    assert c["seed"] == cfg.seed
    assert c["fingerprint"] == build.corpus_fingerprint(splits)
    sample = generate("mix", c["floor_docs"], seed=cfg.seed + 1, cfg=cfg)
    assert c["floor_bits_per_char"]["mix"] == pytest.approx(floor_of(sample).bits_per_char, abs=1e-5)
    lo, hi = c["floor_ci95"]["mix"]
    assert lo < c["floor_bits_per_char"]["mix"] < hi


@pytest.mark.parametrize("entry", MODELS, ids=NAMES)
def test_model_loads_with_plain_transformers_and_remeasures_as_recorded(entry, val_docs):
    path = MODELS_DIR / entry["path"]
    model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    tok = AutoTokenizer.from_pretrained(str(path))
    assert model.config.model_type == "llama" and model.config.tie_word_embeddings
    assert next(model.parameters()).dtype == torch.float32
    assert sum(p.numel() for p in model.parameters()) == entry["params"]
    a = entry["architecture"]
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == \
        (a["n_layers"], a["hidden"], a["vocab"])
    check = build.check_subset(val_docs)
    bits = evaluate.doc_bits(model, tok, check)
    bpc = sum(bits) / sum(len(d.text) for d in check)
    assert bpc == pytest.approx(entry["metrics"]["check_subset"]["bits_per_char"], rel=2e-3)
    # no model can beat the generator on the same documents
    assert bpc > sum(d.bits for d in check) / sum(len(d.text) for d in check)


def test_bits_per_char_strictly_decrease_along_the_ladder():
    mix = [m["metrics"]["val_bits_per_char"]["mix"] for m in MODELS]
    assert all(a > b for a, b in zip(mix, mix[1:])), mix
    floor = MODELS[0]["metrics"]["val_floor_bits_per_char"]["mix"]
    assert all(b > floor for b in mix)


def test_helpdesk_accuracy_of_the_small_default_remeasures():
    from course_utils.corpus import helpdesk_task

    name = MANIFEST["aliases"]["course-slm"]
    entry = next(m for m in MODELS if m["name"] == name)
    model = AutoModelForCausalLM.from_pretrained(str(MODELS_DIR / name)).eval()
    tok = AutoTokenizer.from_pretrained(str(MODELS_DIR / name))
    tickets = helpdesk_task({"val": build.HELPDESK_VAL})["val"]
    acc = evaluate.helpdesk_accuracy(model, tok, tickets)
    assert acc == pytest.approx(entry["metrics"]["helpdesk_accuracy"], abs=1.5 / len(tickets))
    chance = 1 / 5
    assert acc > chance + 3 * (chance * (1 - chance) / len(tickets)) ** 0.5  # better than guessing, at 3 sigma
    large = next(m for m in MODELS if m["name"] == MANIFEST["aliases"]["course-llm"])
    assert large["metrics"]["helpdesk_accuracy"] > entry["metrics"]["helpdesk_accuracy"]  # size helps on the task


def test_load_model_goes_through_the_catalog_offline(monkeypatch):
    from course_utils.loading import clear_cache, load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clear_cache()
    lm = load_model("course-slm")
    target = next(m for m in MODELS if m["name"] == MANIFEST["aliases"]["course-slm"])
    assert sum(p.numel() for p in lm.model.parameters()) == target["params"]
    out = lm.model.generate(**lm.tokenizer("Ticket #", return_tensors="pt"), max_new_tokens=5, do_sample=False)
    assert out.shape[1] > 3


def test_docs_results_table_is_the_manifest():
    from course_utils import REPO_ROOT
    from course_utils.zoo.report import results_table

    assert results_table(MANIFEST) in (REPO_ROOT / "docs" / "zoo.md").read_text(), \
        "docs/zoo.md is stale: run `python -m course_utils zoo report --write-docs`"


def test_manifest_records_reading_anywhere_copying_the_held_out_domain_and_the_grid():
    assert MANIFEST["corpus"]["config"]["held_out"] == ["bank"]
    assert "bank" not in MANIFEST["corpus"]["config"]["weights"]
    for m in MODELS:
        mt, t = m["metrics"], m["training"]
        assert mt["middle_reading"]["docs"] == build.PROBE_DOCS and mt["middle_reading"]["ratio"] > 0.5
        assert mt["copying"]["mix"]["period"] == 48 and mt["copying"]["mix"]["ratio"] > 0
        assert 0 <= mt["head_census"]["induction"] <= mt["head_census"]["heads"]
        bank = mt["held_out_bank"]
        assert bank["bits_per_char"] > bank["floor_bits_per_char"] > 0  # never seen in training, and no model beats the floor
        grid = t["grid"]
        assert len(grid) >= 8 and [p["tokens"] for p in grid] == sorted({p["tokens"] for p in grid})
        assert grid[-1]["tokens"] == t["tokens"] and grid[-1]["val_bits_per_char"] < grid[0]["val_bits_per_char"]
        assert t["precision"] in ("float32", "bfloat16") and 0 < t["flops_ratio"] < 1.5


def test_reading_from_the_middle_of_the_small_default_remeasures(val_docs):
    name = MANIFEST["aliases"]["course-slm"]
    entry = next(m for m in MODELS if m["name"] == name)
    model = AutoModelForCausalLM.from_pretrained(str(MODELS_DIR / name)).eval()
    tok = AutoTokenizer.from_pretrained(str(MODELS_DIR / name))
    got = evaluate.middle_reading(model, tok, val_docs[:build.PROBE_DOCS])
    assert got["ratio"] == pytest.approx(entry["metrics"]["middle_reading"]["ratio"], rel=2e-3)
