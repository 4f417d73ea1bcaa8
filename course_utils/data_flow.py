"""Where your data goes: exactly what a remote endpoint receives, and that a local model sends nothing.

    capture_request(endpoint, prompt, settings)   the request stream_text would send (built, not sent),
                                                  with the API key redacted
    verify_capture(endpoint, prompt, settings)    the same request really sent to a recording server on
                                                  127.0.0.1, compared with the shown one
    connections_during()                          a context manager recording every socket connection
    local_generation_connections(lm, prompt)      a local generate under it: no connection at all

The key is read from the environment variable the Endpoint names, at the moment the request is built, and
only its redacted form is kept or shown.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from course_utils.errors import BadInputError
from course_utils.remote import Endpoint, request_body, stream_text

OWASP_RISK = "LLM02 Sensitive Information Disclosure"  # OWASP Top 10 for LLM Applications 2025
REDACTED = "***redacted***"
SECRET_HEADERS = ("authorization", "proxy-authorization", "api-key", "x-api-key", "cookie")
HOP_HEADERS = ("host",)  # differs between the real endpoint and the local recorder by construction


@dataclass(frozen=True)
class Request:
    """One HTTP request as it leaves the machine (secrets redacted); header names in lower case."""

    method: str
    url: str
    headers: dict
    body: str  # the exact bytes sent, decoded (UTF-8 JSON)

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def __str__(self) -> str:
        lines = [f"{self.method} {self.url}"] + [f"{k}: {v}" for k, v in self.headers.items()]
        return "\n".join(lines) + "\n\n" + json.dumps(self.json, indent=2, ensure_ascii=False)


def redact_headers(headers) -> dict:
    """Header names in lower case; secret values replaced: 'Bearer sk-...' -> 'Bearer ***redacted***'."""
    out = {}
    for name, value in headers.items():
        name = name.lower()
        if name in SECRET_HEADERS:
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {REDACTED}" if rest and scheme.lower() in ("bearer", "basic", "token") else REDACTED
        out[name] = value
    return out


def _url(ep: Endpoint) -> str:
    return f"{ep.base_url}/{'chat/completions' if ep.api == 'chat' else 'completions'}"  # as stream_text


def capture_request(endpoint: Endpoint, prompt: str, settings) -> Request:
    """The request :func:`course_utils.remote.stream_text` would send for ``prompt``: built with the same
    httpx client defaults, URL, headers and JSON body (``remote.request_body``), but not sent."""
    import httpx

    if not isinstance(endpoint, Endpoint):
        raise BadInputError(f"capture_request needs a course_utils.remote.Endpoint (got {type(endpoint).__name__}).")
    with httpx.Client() as client:
        req = client.build_request("POST", _url(endpoint), json=request_body(endpoint, prompt, settings),
                                   headers=endpoint.headers())
    return Request(req.method, str(req.url), redact_headers(req.headers), req.content.decode("utf-8"))


@contextlib.contextmanager
def recording_server(answer: str = "ok", timeout_s: float = 10.0):
    """A one-purpose OpenAI-style server on 127.0.0.1 that records each request it receives and streams
    ``answer`` back; yields (base_url, records, expected). Each record keeps only the redacted request and
    whether the secret headers it got equal ``expected`` (a dict the caller fills before sending, then
    clears), so a real key is checked on arrival and never stored."""
    records: list[dict] = []
    expected: dict = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = timeout_s  # a client that stalls cannot hold the handler thread forever

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got = {k.lower(): v for k, v in self.headers.items()}
            secrets_match = all(got.get(k) == v for k, v in expected.items()) and \
                not any(k in got for k in SECRET_HEADERS if k not in expected)
            records.append({"request": Request(self.command, self.path, redact_headers(got),
                                               raw.decode("utf-8")), "secrets_as_expected": secrets_match})
            events = [{"choices": [{"text": answer, "delta": {"content": answer}}]}, "[DONE]"]
            payload = "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name="recording-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", records, expected
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout_s)


def differences(shown: Request, received: Request) -> list[str]:
    """What differs between a shown request and one a server received, besides the host it went to."""
    diffs = []
    if shown.method != received.method:
        diffs.append(f"method {shown.method} != {received.method}")
    if urlsplit(shown.url).path != urlsplit(received.url).path:
        diffs.append(f"path {urlsplit(shown.url).path} != {urlsplit(received.url).path}")
    for name in sorted(set(shown.headers) | set(received.headers)):
        if name not in HOP_HEADERS and shown.headers.get(name) != received.headers.get(name):
            diffs.append(f"header {name}: {shown.headers.get(name)!r} != {received.headers.get(name)!r}")
    if shown.body != received.body:
        diffs.append("body differs")
    return diffs


def verify_capture(endpoint: Endpoint, prompt: str, settings, timeout_s: float = 10.0) -> dict:
    """Show the request for ``endpoint``, then really send it with ``stream_text`` to a recording server on
    127.0.0.1 (the same endpoint, only its address changed) and compare what arrived with what was shown.

    The real key is sent to the local server (it runs in this process) and checked there, never kept.
    """
    shown = capture_request(endpoint, prompt, settings)
    with recording_server(timeout_s=timeout_s) as (url, records, expected):
        local = replace(endpoint, base_url=url, connect_timeout_s=min(endpoint.connect_timeout_s, timeout_s),
                        read_timeout_s=min(endpoint.read_timeout_s, timeout_s))
        expected.update({k.lower(): v for k, v in local.headers().items() if k.lower() in SECRET_HEADERS})
        answer = "".join(v for k, v in stream_text(local, prompt, settings) if k == "text")
        expected.clear()
    if len(records) != 1:
        raise RuntimeError(f"The recording server got {len(records)} requests instead of 1.")
    received = records[0]["request"]
    diffs = differences(shown, received)
    return {"shown": shown, "received": received, "differences": diffs, "same": not diffs,
            "secrets_as_shown": records[0]["secrets_as_expected"], "answer": answer}


@dataclass(frozen=True)
class Connection:
    kind: str      # "connect" or "lookup" (a DNS name resolution)
    address: str   # "host:port", or a socket path
    thread: str


@contextlib.contextmanager
def connections_during():
    """Record every socket connection and name lookup made in this process (any thread) while inside;
    yields the list, filled as they happen. Nothing is blocked, only recorded."""
    seen: list[Connection] = []
    real_connect, real_connect_ex, real_lookup = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def note(kind, address):
        where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        seen.append(Connection(kind, where, threading.current_thread().name))

    def connect(self, address):
        note("connect", address)
        return real_connect(self, address)

    def connect_ex(self, address):
        note("connect", address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, port, *args, **kwargs):
        note("lookup", (host, port))
        return real_lookup(host, port, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
    try:
        yield seen
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = real_connect, real_connect_ex, real_lookup


def local_generation_connections(lm, prompt: str, settings=None) -> dict:
    """Generate with a loaded local model while recording connections: the text, and the (empty) list."""
    from course_utils.generation import generate

    with connections_during() as seen:
        result = generate(lm, prompt, settings)
    return {"text": result.text, "connections": list(seen)}
