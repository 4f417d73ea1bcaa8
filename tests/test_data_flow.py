"""Where data goes: the shown request is what a local server receives, the key never appears, and a local
model makes no connection at all."""

from dataclasses import replace

import httpx
import pytest

from course_utils.data_flow import (REDACTED, Request, capture_request, connections_during, differences,
                                    local_generation_connections, recording_server, redact_headers, verify_capture)
from course_utils.errors import BadInputError
from course_utils.generation import GenerationSettings
from course_utils.loading import load_model
from course_utils.remote import Endpoint, EndpointError

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("one_torch_thread")]
SECRET = "sk-course-test-" + "q7" * 12
SETTINGS = GenerationSettings(max_new_tokens=7, temperature=0.0, top_p=0.9, seed=3)
PROMPT = "Ticket #4242 from Eden, extension 828: I forgot my password"


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("COURSE_TEST_SECRET", SECRET)
    return Endpoint("https://api.example.com/v1", "gpt-x", api_key_env="COURSE_TEST_SECRET")


def test_the_shown_request_names_everything_that_leaves_and_redacts_the_key(keyed, capsys):
    shown = capture_request(keyed, PROMPT, SETTINGS)
    assert shown.method == "POST" and shown.url == "https://api.example.com/v1/completions"
    assert shown.headers["authorization"] == f"Bearer {REDACTED}" and shown.headers["host"] == "api.example.com"
    assert shown.json["prompt"] == PROMPT and shown.json["model"] == "gpt-x" and shown.json["max_tokens"] == 7
    assert int(shown.headers["content-length"]) == len(shown.body.encode())
    print(shown, repr(shown))
    out = capsys.readouterr().out
    assert PROMPT in out and "Bearer ***redacted***" in out
    assert SECRET not in out and SECRET[-8:] not in out and SECRET not in repr(shown.__dict__)


def test_redaction_keeps_the_scheme_and_hides_every_secret_header():
    got = redact_headers({"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET, "Cookie": f"s={SECRET}",
                          "Content-Type": "application/json"})
    assert got == {"authorization": f"Bearer {REDACTED}", "x-api-key": REDACTED, "cookie": REDACTED,
                   "content-type": "application/json"}


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_what_a_local_server_received_is_exactly_what_was_shown(keyed, api, capsys):
    ep = replace(keyed, api=api)
    result = verify_capture(ep, PROMPT, SETTINGS)
    shown, received = result["shown"], result["received"]
    assert result["same"] and result["differences"] == [] and result["answer"] == "ok"
    assert received.body == shown.body and received.headers["authorization"] == f"Bearer {REDACTED}"
    assert received.url == f"/v1/{'chat/completions' if api == 'chat' else 'completions'}"
    assert result["secrets_as_shown"]  # the real key did arrive, checked on arrival
    print(result)
    assert SECRET not in capsys.readouterr().out and SECRET not in repr(result)


def test_the_comparison_can_fail():
    a = Request("POST", "http://x/v1/completions", {"host": "x", "content-type": "application/json"}, '{"a":1}')
    assert differences(a, replace(a, url="/v1/completions", headers={**a.headers, "host": "127.0.0.1:9"})) == []
    assert differences(a, replace(a, body='{"a":2}')) == ["body differs"]
    assert differences(a, replace(a, url="/v1/chat/completions")) == [
        "path /v1/completions != /v1/chat/completions"]
    assert differences(a, replace(a, headers={**a.headers, "x-extra": "1"})) == ["header x-extra: None != '1'"]


def test_the_recorder_notices_a_key_other_than_the_expected_one():
    with recording_server() as (url, records, expected):
        expected["authorization"] = "Bearer right"
        httpx.post(url + "/completions", json={"prompt": "hi"}, headers={"Authorization": "Bearer wrong"}, timeout=5)
        httpx.post(url + "/completions", json={"prompt": "hi"}, timeout=5)  # no key at all
        httpx.post(url + "/completions", json={"prompt": "hi"}, headers={"Authorization": "Bearer right"}, timeout=5)
    assert [r["secrets_as_expected"] for r in records] == [False, False, True]
    assert all(r["request"].headers["authorization"] == f"Bearer {REDACTED}" for r in (records[0], records[2]))


def test_without_a_key_no_authorization_is_sent_and_a_missing_key_is_named():
    shown = capture_request(Endpoint("http://127.0.0.1:8000/v1", "m"), "hi", SETTINGS)
    assert "authorization" not in shown.headers
    with pytest.raises(EndpointError, match="COURSE_SURELY_UNSET_KEY"):
        capture_request(Endpoint("http://x/v1", "m", api_key_env="COURSE_SURELY_UNSET_KEY"), "hi", SETTINGS)
    with pytest.raises(BadInputError, match="Endpoint"):
        capture_request("http://x/v1", "hi", SETTINGS)


def test_a_local_model_connects_nowhere_while_an_endpoint_does(keyed, tiny_llama_dir):
    with connections_during() as seen:  # the positive control: the same recorder sees a real request
        verify_capture(keyed, "hi", SETTINGS)
    connects = [c for c in seen if c.kind == "connect"]
    assert len(connects) == 1 and connects[0].address.startswith("127.0.0.1:")

    lm = load_model(str(tiny_llama_dir))
    result = local_generation_connections(lm, "The printer", GenerationSettings(max_new_tokens=5, temperature=0.0))
    assert result["text"] and result["connections"] == []
    import socket

    assert socket.socket.connect.__qualname__ != "connections_during.<locals>.connect"  # restored
