"""The online paths against a local hub (course_utils.local_hub on 127.0.0.1): the hub's protocol as
huggingface_hub uses it, loading each family from it, refusing pickle-only and gated repositories, giving up
on a slow one, and the model lock. Each online check runs in a child process whose HF_ENDPOINT points at the
local hub (huggingface_hub reads it at import), with its own hub cache."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from hub_repos import (GATED, PICKLE_ONLY, SAFETENSORS_MODELS, SLOW, SLOW_SECONDS, TIMEOUT_S, online_env)

from course_utils import REPO_ROOT
from course_utils.catalog import get_spec
from course_utils.local_hub import add_snapshot, repo_folder


def _online(code: str, hub, folder, timeout=180, extra_env=None):
    env = {**online_env(hub.url, folder), **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _request(hub, path, method="GET", headers=None):
    request = urllib.request.Request(hub.url + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


SMOL = get_spec("SmolLM2-135M").hub_id


# ----------------------------------------------------------------------------- the protocol

def test_a_file_resolves_by_branch_and_by_commit_with_the_hubs_headers(local_hub):
    commit = local_hub.commits[SMOL]
    status, headers, body = _request(local_hub, f"/{SMOL}/resolve/main/config.json", "HEAD")
    assert status == 200 and headers["X-Repo-Commit"] == commit and body == b""
    size = int(headers["Content-Length"])
    status, headers2, body = _request(local_hub, f"/{SMOL}/resolve/{commit}/config.json")
    assert status == 200 and len(body) == size and headers2["ETag"] == headers["ETag"]
    assert json.loads(body)["model_type"] == "llama"


def test_a_ranged_download_gets_exactly_the_bytes_asked_for(local_hub):
    _, _, whole = _request(local_hub, f"/{SMOL}/resolve/main/model.safetensors")
    status, headers, part = _request(local_hub, f"/{SMOL}/resolve/main/model.safetensors",
                                     headers={"Range": "bytes=100-199"})
    assert status == 206 and part == whole[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    status, _, tail = _request(local_hub, f"/{SMOL}/resolve/main/model.safetensors", headers={"Range": "bytes=-50"})
    assert status == 206 and tail == whole[-50:]


@pytest.mark.parametrize("path, status, code", [
    (f"/{SMOL}/resolve/main/no-such-file.json", 404, "EntryNotFound"),
    (f"/{SMOL}/resolve/no-such-branch/config.json", 404, "RevisionNotFound"),
    ("/nobody/nothing/resolve/main/config.json", 404, "RepoNotFound"),
    (f"/{get_spec(GATED).hub_id}/resolve/main/config.json", 401, "GatedRepo"),
    (f"/api/models/{get_spec(GATED).hub_id}/revision/main", 401, "GatedRepo"),
])
def test_errors_carry_the_hubs_error_codes(local_hub, path, status, code):
    got, headers, _ = _request(local_hub, path)
    assert (got, headers.get("X-Error-Code")) == (status, code)


def test_repository_info_and_tree_list_the_files_at_the_commit(local_hub):
    _, _, body = _request(local_hub, f"/api/models/{SMOL}/revision/main")
    info = json.loads(body)
    assert info["sha"] == local_hub.commits[SMOL]
    names = {s["rfilename"] for s in info["siblings"]}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    _, _, body = _request(local_hub, f"/api/models/{SMOL}/tree/main?recursive=true")
    assert {e["path"] for e in json.loads(body) if e["type"] == "file"} == names


def test_huggingface_hub_downloads_from_it_as_from_the_hub(local_hub, tmp_path):
    code = ("import huggingface_hub as h\n"
            f"meta = h.get_hf_file_metadata(h.hf_hub_url({SMOL!r}, 'config.json'))\n"
            "print(meta.commit_hash, meta.size)\n"
            f"folder = h.snapshot_download({SMOL!r})\n"
            "import os; print(sorted(os.listdir(folder)))\n"
            "try:\n"
            f"    h.hf_hub_download({SMOL!r}, 'missing.json')\n"
            "except h.errors.EntryNotFoundError: print('ENTRY-NOT-FOUND')\n")
    run = _online(code, local_hub, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    first = run.stdout.splitlines()[0].split()
    assert first[0] == local_hub.commits[SMOL] and int(first[1]) > 0
    assert "'model.safetensors'" in run.stdout and "ENTRY-NOT-FOUND" in run.stdout


# ----------------------------------------------------------------------------- the loader

def test_every_family_loads_from_the_hub_then_from_the_cache_offline(local_hub, tmp_path):
    names = list(SAFETENSORS_MODELS)
    code = ("from course_utils.loading import load_model\n"
            "from course_utils.generation import generate\n"
            f"for name in {names!r}:\n"
            "    lm = load_model(name)\n"
            "    chat = lm.tokenizer.chat_template is not None\n"
            "    out = generate(lm, 'The weather', max_new_tokens=4)\n"
            "    print('ROW', name, lm.info.source, lm.info.random_weights, chat, type(lm.model).__name__)\n"
            "    print(lm.info.summary())\n")
    run = _online(code, local_hub, tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {r.split()[1]: r.split()[2:] for r in run.stdout.splitlines() if r.startswith("ROW")}
    assert set(rows) == set(names)
    for name, (source, random_weights, chat, cls) in rows.items():
        assert source == "hub" and random_weights == "True", (name, source)
        assert chat == str(get_spec(name).instruct), name  # instruct repositories carry a chat template
    assert {rows[n][3] for n in names} >= {"LlamaForCausalLM", "Qwen2ForCausalLM", "GPTNeoXForCausalLM",
                                           "GPT2LMHeadModel"}
    assert run.stdout.count("[random weights") == len(names)  # the outputs say what they are
    # the same cache, offline: every model loads from it with no hub
    again = _online(code, local_hub, tmp_path, timeout=300, extra_env={"HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(r.split()[2:4] == ["hub", "cache"] for r in again.stdout.splitlines() if r.startswith("ROW"))


def test_a_pickle_only_repository_is_refused_before_anything_is_downloaded(local_hub, tmp_path):
    code = ("from course_utils.errors import UnsafeWeightsError\n"
            "from course_utils.loading import load_model\n"
            "try:\n"
            f"    load_model({PICKLE_ONLY!r})\n"
            "except UnsafeWeightsError as exc: print('REFUSED', exc)\n")
    run = _online(code, local_hub, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "REFUSED" in run.stdout and "pytorch_model.bin" in run.stdout and "safetensors" in run.stdout
    assert not list((tmp_path / "hf-home").rglob("pytorch_model.bin"))


def test_a_gated_repository_is_refused_with_what_to_do(local_hub, tmp_path):
    code = ("from course_utils.errors import GatedModelError\n"
            "from course_utils.loading import load_model\n"
            "try:\n"
            f"    load_model({GATED!r})\n"
            "except GatedModelError as exc: print('REFUSED', exc)\n")
    run = _online(code, local_hub, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    message = run.stdout.split("REFUSED", 1)[1]
    assert "gated" in message and "hf auth login" in message and "Or pick an ungated model" in message


def test_a_slow_hub_is_given_up_on_within_the_timeout_and_the_course_model_stands_in(local_hub, tmp_path):
    code = ("import time\n"
            "from course_utils.loading import load_model\n"
            "start = time.perf_counter()\n"
            f"lm = load_model({SLOW!r})\n"
            "print('LOADED', lm.info.name, lm.info.source, round(time.perf_counter() - start, 1))\n")
    started = time.perf_counter()
    run = _online(code, local_hub, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"did not answer within {TIMEOUT_S} s" in run.stdout
    loaded = run.stdout.split("LOADED", 1)[1].split()
    assert loaded[0].startswith("course-") and loaded[1:3] == ["offline", "fallback"]
    assert float(loaded[3]) < SLOW_SECONDS and time.perf_counter() - started < SLOW_SECONDS


def test_online_the_machine_gets_a_hub_tier_and_its_pair_loads_from_the_hub(local_hub, tmp_path):
    code = ("from course_utils.env import machine_info\n"
            "from course_utils.tiers import pick_pair\n"
            "from course_utils.loading import load_pair\n"
            "m = machine_info()\n"
            "pair = pick_pair(m)\n"
            "small, large = load_pair(pair)\n"
            "print('PAIR', m.hub.reachable, pair.tier.name, small.info.name, small.info.source, "
            "large.info.name, large.info.source)\n")
    run = _online(code, local_hub, tmp_path, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    reachable, tier, small, small_source, large, large_source = run.stdout.split("PAIR", 1)[1].split()
    assert reachable == "True" and tier != "offline"
    assert small_source == large_source == "hub" and small != large


# ----------------------------------------------------------------------------- the model lock

def test_the_lock_pins_the_commit_a_class_downloaded_even_after_the_hub_moves_on(local_hub, tmp_path):
    name = "SmolLM2-360M"
    hub_id = get_spec(name).hub_id
    run = _online(f"from course_utils.__main__ import main; raise SystemExit(main(['download', '--models', {name!r}]))",
                  local_hub, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    lock = json.loads((tmp_path / "models.lock").read_text())["models"]
    locked = lock[hub_id]["commit"]
    assert locked == local_hub.commits[hub_id] and "model.safetensors" in lock[hub_id]["files"]

    # the hub's main moves to a new commit (a changed config); a machine with the lock still loads the locked one
    snapshot = repo_folder(local_hub.root, hub_id) / "snapshots" / locked
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in snapshot.iterdir():
        (moved / f.name).write_bytes(f.read_bytes())
    config = json.loads((moved / "config.json").read_text())
    config["course_marker"] = "newer"
    (moved / "config.json").write_text(json.dumps(config))
    newer = add_snapshot(local_hub.root, hub_id, moved)
    try:
        code = ("from course_utils.loading import load_model\n"
                f"lm = load_model({name!r})\n"
                "print('MARKER', getattr(lm.model.config, 'course_marker', 'locked'))\n")
        fresh = tmp_path / "another-machine"
        fresh.mkdir()
        (fresh / "models.lock").write_text((tmp_path / "models.lock").read_text())
        run = _online(code, local_hub, fresh)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "MARKER locked" in run.stdout and locked[:12] in run.stdout
        (fresh / "models.lock").unlink()  # without the lock: the hub's main
        run = _online(code, local_hub, fresh / "no-lock")
        assert "MARKER newer" in run.stdout, run.stderr[-3000:]
    finally:
        (repo_folder(local_hub.root, hub_id) / "refs" / "main").write_text(locked)
    assert newer != locked


def test_download_check_verifies_the_cache_against_the_lock_and_says_what_is_missing(local_hub, tmp_path):
    download = "from course_utils.__main__ import main; raise SystemExit(main({}))"
    run = _online(download.format(["download", "--check"]), local_hub, tmp_path)
    assert run.returncode == 1 and "No lock" in run.stdout
    run = _online(download.format(["download", "--tier", "binder"]), local_hub, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    run = _online(download.format(["download", "--check"]), local_hub, tmp_path, extra_env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0 and "3 of 3 locked model(s) are in the cache as locked" in run.stdout, run.stdout

    blobs = [p for p in (tmp_path / "hf-home").rglob("config.json") if "SmolLM2-135M" in str(p)]
    blobs[0].resolve().write_text("{}")  # a corrupted file
    lock = json.loads((tmp_path / "models.lock").read_text())
    lock["models"]["EleutherAI/pythia-70m"] = {"name": "Pythia-70M", "revision": "main", "commit": "0" * 40,
                                               "files": {}}
    (tmp_path / "models.lock").write_text(json.dumps(lock))
    run = _online(download.format(["download", "--check"]), local_hub, tmp_path, extra_env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 1
    assert "config.json differs from the lock" in run.stdout
    assert "EleutherAI/pythia-70m: not in the hub cache" in run.stdout and "--models Pythia-70M" in run.stdout
    assert "2 of 4 locked model(s)" in run.stdout


def test_the_hub_check_asks_the_endpoint_the_libraries_will_use(local_hub, monkeypatch):
    from course_utils import env

    monkeypatch.setenv("HF_ENDPOINT", local_hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    status = env.check_hub(refresh=True)
    assert status.reachable and local_hub.url.split("//")[1] in status.reason
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert not env.check_hub(refresh=True).reachable
    assert env.hub_address({"HF_ENDPOINT": "https://hub.example.org"}) == ("hub.example.org", 443)
    assert env.hub_address({}) == ("huggingface.co", 443)


def test_a_classroom_serves_a_hub_cache_with_the_command_line(local_hub, tmp_path):
    from conftest import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "course_utils", "hub", "serve", str(local_hub.root),
                               "--port", str(port)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        lines = [server.stdout.readline() for _ in range(3)]  # the banner is printed before it serves
        assert lines[0].startswith(f"Serving {len(local_hub.commits)} model repositories")
        assert f"http://127.0.0.1:{port}" in lines[0] and lines[1].strip() in local_hub.commits
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models/{SMOL}", timeout=10) as response:
            assert json.loads(response.read())["sha"] == local_hub.commits[SMOL]
    finally:
        server.terminate()
        server.wait(timeout=10)
