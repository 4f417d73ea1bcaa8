"""`doctor --class`, the room check: one line per check, and for each problem what to do."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from course_utils import REPO_ROOT, room_check
from course_utils.local_hub import add_snapshot

from conftest import free_port

GB = 10 ** 9


def test_memory_is_compared_with_the_hungriest_lesson_measured():
    peaks = {"06_arena": int(1.0 * GB), "09_efficiency": int(1.6 * GB)}
    ok = room_check._memory_check(4 * GB, peaks)
    assert ok.ok and "09_efficiency" in ok.detail
    short = room_check._memory_check(int(1.5 * GB), peaks)
    assert not short.ok and "09_efficiency" in short.detail and "06_arena" not in short.detail
    assert "close other programs" in short.detail


def test_the_shipped_record_has_every_lesson_measured_under_binders_limit():
    peaks = room_check.lesson_peaks()
    lessons = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(peaks) == lessons  # tools/bench_binder_memory.py measured them all, and all passed
    assert all(0 < p < 2 * 1024 ** 3 for p in peaks.values())
    assert set(room_check.lesson_peaks(lessons=["06", "13"])) == {"06_arena", "13_small_and_large_together"}


@pytest.fixture
def model_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "course-large"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_the_class_server_is_checked_and_a_wrong_address_says_what_to_do(model_server, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_MODELS_LOCK", str(tmp_path / "models.lock"))
    report = room_check.check_room(server=model_server)
    server = next(c for c in report.checks if c.name == "class server")
    assert server.ok and "course-large" in server.detail
    down = room_check.check_room(server=f"http://127.0.0.1:{free_port()}/v1")
    server = next(c for c in down.checks if c.name == "class server")
    assert not server.ok and "check the address" in server.detail and not down.ready
    assert "NOT READY" in down.text() and "✗ class server" in down.text()


def test_without_a_lock_the_room_check_says_to_get_the_classs_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_MODELS_LOCK", str(tmp_path / "models.lock"))
    report = room_check.check_room()
    lock = next(c for c in report.checks if c.name == "models.lock")
    assert not lock.ok and "ask your instructor" in lock.detail
    assert [c.name for c in report.checks][:2] == ["install", "course models"] and report.checks[0].ok


def test_the_locked_models_are_checked_in_the_cache_one_line_each(tmp_path, tiny_llama_dir):
    """A class lock naming two models: one cached as locked, one not; then the cached one is altered."""
    from course_utils.model_lock import sha256_file

    cache = tmp_path / "hf-home" / "hub"
    commit = add_snapshot(cache, "HuggingFaceTB/SmolLM2-135M", tiny_llama_dir)
    snapshot = cache / "models--HuggingFaceTB--SmolLM2-135M" / "snapshots" / commit
    lock = {"format": 1, "models": {
        "HuggingFaceTB/SmolLM2-135M": {"name": "SmolLM2-135M", "revision": "main", "commit": commit,
                                       "files": {p.name: sha256_file(p) for p in snapshot.iterdir()}},
        "EleutherAI/pythia-70m": {"name": "Pythia-70M", "revision": "main", "commit": "1" * 40, "files": {}}}}
    (tmp_path / "models.lock").write_text(json.dumps(lock))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "COURSE_MODELS_LOCK": str(tmp_path / "models.lock"),
           "PYTHONPATH": str(REPO_ROOT)}

    def doctor_class():
        return subprocess.run([sys.executable, "-m", "course_utils", "doctor", "--class"], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)

    run = doctor_class()
    assert run.returncode == 1, run.stdout + run.stderr
    assert "✓ models        1 of 2 locked model(s) cached as locked: SmolLM2-135M" in run.stdout
    assert "✗ model         EleutherAI/pythia-70m: not in the hub cache" in run.stdout
    assert "--models Pythia-70M" in run.stdout and "NOT READY: 1 problem(s)" in run.stdout
    (snapshot / "config.json").write_text("{}")
    run = doctor_class()
    assert "SmolLM2-135M: config.json differs from the lock" in run.stdout and "NOT READY: 2 problem(s)" in run.stdout
