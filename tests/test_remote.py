"""The OpenAI-compatible client against a real `transformers serve` process on 127.0.0.1 (no mocks),
and against endpoints that are down or silent."""

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from course_utils import arena as A
from course_utils.generation import GenerationSettings
from course_utils.loading import load_model
from course_utils.remote import Endpoint, EndpointError, stream_text
from course_utils.widgets.arena import ENDPOINT, Arena

from conftest import free_port, make_tiny_llama

pytestmark = pytest.mark.timeout(240)
GREEDY = GenerationSettings(max_new_tokens=12, temperature=0.0)


@pytest.fixture(scope="module")
def served_dir(tmp_path_factory):
    """The course's small model when it is built, else a tiny random Llama."""
    from course_utils.catalog import get_spec

    spec = get_spec("course-slm")
    if spec.available_offline:
        return spec.path
    return make_tiny_llama(tmp_path_factory.mktemp("served"), n_layers=4, hidden=256, context=1024)


@pytest.fixture(scope="module")
def server(served_dir):
    """`transformers serve` on a free port, offline; stopped at the end."""
    from course_utils.server_load import transformers_serve

    try:
        with transformers_serve(served_dir, free_port()) as url:
            yield url, str(served_dir)
    except EndpointError as exc:
        pytest.fail(str(exc))


@contextlib.contextmanager
def stub_endpoint(*events, stall=False):
    """A streaming server on 127.0.0.1 that answers every POST with ``events`` (dicts, or "[DONE]")
    as server-sent events, then (stall=True) stays silent until the test is done; yields its URL."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for event in events:
                data = event if isinstance(event, str) else json.dumps(event)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()
            if stall:
                release.wait(60)  # bounded; the end of the test releases it

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


HELLO = {"choices": [{"text": "Hello"}]}


@pytest.mark.parametrize("error_event", [
    {"error": {"message": "the model ran out of <b>memory</b>", "type": "InternalServerError", "code": 500}},
    {"object": "error", "message": "the model ran out of <b>memory</b>", "code": 500},  # older vLLM
])
def test_an_error_sent_inside_the_stream_is_shown_as_an_error(error_event, tiny_llama_dir):
    with stub_endpoint(HELLO, error_event, "[DONE]") as url:
        got = []
        with pytest.raises(EndpointError, match="sent an error during the answer: the model ran out of"):
            for item in stream_text(Endpoint(url, "m"), "hi", GREEDY):
                got.append(item)
        assert got == [("text", "Hello")]  # what came before the error is kept
        run = A.ArenaRun([A.RemoteSide(Endpoint(url, "m"))], "hi", GREEDY).start().wait(timeout_s=30)
        box = Arena(models=[], pair=(str(tiny_llama_dir), str(tiny_llama_dir)), prompt="hi", max_new_tokens=2)
        box.left.model.value = ENDPOINT
        box.left.url.value, box.left.remote_model.value = url, "m"
        box.run(wait=True)
    r = run.results[0]
    assert r.text == "Hello" and "ran out of <b>memory</b>" in r.error and not run.threads[0].is_alive()
    notes = box.left.notes.value
    assert "ran out of &lt;b&gt;memory&lt;/b&gt;" in notes and "<b>memory" not in notes  # shown, escaped


def test_a_complete_stream_ends_with_its_usage_and_leaves_no_thread_behind(monkeypatch):
    from course_utils import remote

    waiters = []  # the threads this test's stream started to wait for a Stop (not other tests' threads)
    real = remote._shut_down_on_stop

    def recorded(*args):
        waiters.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(remote, "_shut_down_on_stop", recorded)
    usage = {"choices": [], "usage": {"completion_tokens": 2}}
    with stub_endpoint(HELLO, {"choices": [{"text": " world"}]}, usage, "[DONE]") as url:
        run = A.ArenaRun([A.RemoteSide(Endpoint(url, "m"))], "hi", GREEDY).start().wait(timeout_s=30)
    r = run.results[0]
    assert r.text == "Hello world" and r.n_tokens == 2 and not r.error and not r.stopped
    assert len(waiters) == 1 and waiters[0].name == "endpoint-stop"
    waiters[0].join(5)
    assert not waiters[0].is_alive()  # it ended with the stream, without a Stop


def test_stop_ends_a_silent_endpoint_at_once_not_after_the_read_timeout():
    read_timeout_s = 20
    with stub_endpoint(HELLO, stall=True) as url:
        run = A.ArenaRun([A.RemoteSide(Endpoint(url, "m", read_timeout_s=read_timeout_s))], "hi",
                         GenerationSettings(max_new_tokens=50, temperature=0.0))
        run.on_update = lambda r: r.results[0].text and r.stop()  # Stop as soon as the first token shows
        start = time.perf_counter()
        run.start().wait(timeout_s=60)
        elapsed = time.perf_counter() - start
    r = run.results[0]
    assert r.stopped and r.text == "Hello" and not r.error, r.error
    assert elapsed < read_timeout_s / 2 and not run.threads[0].is_alive()


def test_streamed_greedy_text_matches_the_same_model_run_locally(server):
    url, model = server
    pieces = list(stream_text(Endpoint(url, model), "The printer", GREEDY))
    texts = [v for k, v in pieces if k == "text"]
    assert len(texts) >= 2  # it really streamed, piece by piece
    assert pieces[-1] == ("usage", 12)
    lm = load_model(model)
    run = A.ArenaRun([A.LocalSide(lm)], "The printer", GREEDY).start().wait()
    # same greedy tokens; the server drops bytes that are not valid UTF-8 (random weights emit some)
    assert "".join(texts) == run.results[0].text.replace("\ufffd", "")


def test_an_endpoint_and_a_local_model_side_by_side(server):
    url, model = server
    sides = [A.LocalSide(load_model(model)), A.RemoteSide(Endpoint(url, model))]
    run = A.ArenaRun(sides, "The weather", GREEDY).start().wait(timeout_s=60)
    local, remote = run.results
    assert remote.n_tokens == 12 and not remote.error and remote.text == local.text.replace("\ufffd", "")
    assert remote.timing.tokens_per_s > 0 and sides[1].info.kind == "endpoint"
    assert A.CostAssumptions().per_1k_tokens(remote.timing.tokens_per_s, "endpoint") == pytest.approx(0.0005)


def test_stop_ends_an_endpoint_stream(server):
    url, model = server
    run = A.ArenaRun([A.RemoteSide(Endpoint(url, model))], "The printer",
                     GenerationSettings(max_new_tokens=200, temperature=0.8))
    run.on_update = lambda r: r.results[0].text and r.stop()  # stop at the first visible text
    run.start().wait(timeout_s=60)
    r = run.results[0]
    assert r.stopped and 0 < len(r.tokens) < 200 and not run.threads[0].is_alive()


def test_the_widget_streams_from_an_endpoint_and_never_holds_the_key(server, tiny_llama_dir, monkeypatch):
    url, model = server
    secret = "sk-test-" + "z" * 20
    monkeypatch.setenv("COURSE_TEST_KEY", secret)
    box = Arena(models=[], pair=(str(tiny_llama_dir), str(tiny_llama_dir)), prompt="The printer",
                max_new_tokens=6)
    box.right.model.value = ENDPOINT
    box.right.url.value, box.right.remote_model.value, box.right.key_env.value = url, model, "COURSE_TEST_KEY"
    run = box.run(wait=True)
    assert run.results[1].n_tokens == 6 and not run.results[1].error
    assert "memory ?" in box.right.metrics.value and "endpoint" in box.right.header.value  # not in this process

    def every_widget(w):
        yield w
        for child in getattr(w, "children", ()):
            yield from every_widget(child)

    states = repr([w.get_state() for w in every_widget(box.widget)])
    assert "COURSE_TEST_KEY" in states  # the variable's name is there, its value is not
    assert secret not in states and secret not in repr(box.right.key_env) and secret not in repr(run.sides[1].endpoint)


def test_a_missing_key_variable_is_named_not_guessed():
    ep = Endpoint("http://127.0.0.1:9/v1", "m", api_key_env="COURSE_SURELY_UNSET_KEY")
    with pytest.raises(EndpointError, match="COURSE_SURELY_UNSET_KEY .* is not set"):
        list(stream_text(ep, "hi", GREEDY))


def test_an_endpoint_that_is_down_is_reported_within_seconds(tiny_llama_dir):
    port = free_port()  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(EndpointError, match="Cannot connect to .* Is the server running"):
        list(stream_text(Endpoint(f"http://127.0.0.1:{port}/v1", "m"), "hi", GREEDY))
    assert time.perf_counter() - start < 5
    box = Arena(models=[], pair=(str(tiny_llama_dir), str(tiny_llama_dir)), prompt="The printer",
                max_new_tokens=4)
    box.left.model.value = ENDPOINT
    box.left.url.value, box.left.remote_model.value = f"http://127.0.0.1:{port}/v1", "m"
    start = time.perf_counter()
    run = box.run(wait=True)
    assert time.perf_counter() - start < 5
    assert "Cannot connect" in box.left.notes.value and run.results[1].n_tokens == 4


def test_a_silent_endpoint_times_out_with_a_message():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    port = listener.getsockname()[1]
    try:
        start = time.perf_counter()
        with pytest.raises(EndpointError, match="stopped answering"):
            list(stream_text(Endpoint(f"http://127.0.0.1:{port}/v1", "m", read_timeout_s=1), "hi", GREEDY))
        assert time.perf_counter() - start < 5
    finally:
        listener.close()


def test_endpoint_settings_are_checked():
    with pytest.raises(Exception, match="must start with http"):
        Endpoint("127.0.0.1:8000", "m")
    with pytest.raises(Exception, match="Name the model"):
        Endpoint("http://x/v1", " ")
    with pytest.raises(Exception, match="api must be one of"):
        Endpoint("http://x/v1", "m", api="responses")


def test_the_key_value_is_read_at_request_time_only(monkeypatch):
    ep = Endpoint("http://127.0.0.1:9/v1", "m", api_key_env="COURSE_TEST_KEY2")
    monkeypatch.setenv("COURSE_TEST_KEY2", "secret-value")
    assert ep.headers()["Authorization"] == "Bearer secret-value"
    assert "secret-value" not in repr(ep) and "secret-value" not in repr(ep.__dict__)


def test_chat_endpoints_get_messages_completion_endpoints_get_a_prompt():
    from course_utils.remote import request_body

    settings = GenerationSettings(max_new_tokens=7, temperature=0.0, top_p=0.9, seed=3)
    chat = request_body(Endpoint("http://x/v1", "m", api="chat"), "Hi", settings)
    plain = request_body(Endpoint("http://x/v1", "m"), "Hi", settings)
    assert chat["messages"] == [{"role": "user", "content": "Hi"}] and "prompt" not in chat
    assert plain["prompt"] == "Hi" and "messages" not in plain
    assert plain["max_tokens"] == 7 and plain["temperature"] == 0.0 and plain["stream"] is True


# ----------------------------------------------------------------------------- a class on one shared server

def test_twenty_learners_stream_at_once_and_the_server_survives_those_who_hang_up(server):
    from course_utils.server_load import run_load

    url, path = server
    report = run_load(Endpoint(base_url=url, model=path, read_timeout_s=120), clients=20, max_tokens=8, drop=4,
                      drop_after=2, deadline_s=180)
    summary = report.summary()
    assert summary["learners"] == 20 and summary["errors"] == 0, report.text()
    assert summary["dropped"] == 4 and summary["completed"] == 16
    assert all(r.tokens >= 2 for r in report.records)  # every learner saw the answer start
    assert 0 < report.ttft_percentile(50) <= report.ttft_percentile(95)
    assert report.total_tokens_per_s > 0 and report.tokens_per_s_per_learner > 0
    assert report.still_serving, report.text()  # the hang-ups did not break the server
    print(report.text())


def test_the_load_test_reports_a_server_that_is_down_as_errors_not_a_hang():
    from course_utils.server_load import run_load

    start = time.perf_counter()
    report = run_load(Endpoint(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", connect_timeout_s=1),
                      clients=5, max_tokens=4)
    assert len(report.errors) == 5 and not report.still_serving
    assert "Cannot connect" in report.errors[0].error and "does NOT answer" in report.text()
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize("kwargs, message", [({"clients": 0}, "clients must be"), ({"clients": 3, "drop": 4},
                                             "drop must be"), ({"max_tokens": 0}, "max_tokens must be")])
def test_absurd_load_settings_are_refused_with_a_message(kwargs, message):
    from course_utils.errors import BadInputError
    from course_utils.server_load import run_load

    with pytest.raises(BadInputError, match=message):
        run_load(Endpoint(base_url="http://127.0.0.1:9/v1", model="m"), **kwargs)
