"""A small client for OpenAI-compatible endpoints (vLLM, Ollama, OpenAI, ``transformers serve``).

One function matters: :func:`stream_text` sends a prompt and yields the answer piece by piece as
the server streams it (server-sent events). The API key is read from an environment variable
*named* in the :class:`Endpoint`; the key itself is never stored, printed or put in a widget.
A server that is down gives an :class:`EndpointError` within ``connect_timeout_s`` seconds, and
so does an error the server sends inside the stream. Setting the ``stop`` event shuts the
connection down at once, even while the server is silent.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass
from typing import Iterator

from course_utils.errors import BadInputError, CourseError

APIS = ("completions", "chat")  # /v1/completions (plain text) or /v1/chat/completions (chat template)


class EndpointError(CourseError):
    """The endpoint could not be reached or refused the request."""


@dataclass
class Endpoint:
    base_url: str                     # e.g. "http://127.0.0.1:8000/v1"
    model: str                        # the model name the server knows
    api_key_env: str = ""             # NAME of the environment variable holding the key ("" = no key)
    api: str = "completions"          # "completions" for base models, "chat" for instruct models
    connect_timeout_s: float = 3.0    # a server that is down is reported after this long
    read_timeout_s: float = 60.0      # longest wait between two streamed pieces

    def __post_init__(self):
        if not str(self.base_url).startswith(("http://", "https://")):
            raise BadInputError(f"The endpoint URL must start with http:// or https:// "
                                f"(got {self.base_url!r}), e.g. http://127.0.0.1:8000/v1.")
        if not str(self.model).strip():
            raise BadInputError("Name the model the endpoint should use (e.g. what /v1/models lists).")
        if self.api not in APIS:
            raise BadInputError(f"api must be one of {APIS} (got {self.api!r}).")
        self.base_url = str(self.base_url).rstrip("/")

    @property
    def label(self) -> str:
        return f"{self.model} @ {self.base_url}"

    def headers(self) -> dict:
        """Request headers; the key is read from the environment now, not kept anywhere."""
        headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise EndpointError(f"The environment variable {self.api_key_env} (the API key for "
                                    f"{self.base_url}) is not set. Set it before starting Jupyter, "
                                    "or leave the key field empty for a local server.")
            headers["Authorization"] = f"Bearer {key}"
        return headers


def request_body(ep: Endpoint, prompt: str, settings) -> dict:
    """The JSON body for a streamed request. top-k is not part of the OpenAI API, so it is not sent."""
    body = {"model": ep.model, "stream": True, "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature, "top_p": settings.top_p, "seed": settings.seed,
            "stream_options": {"include_usage": True}}
    if ep.api == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return body


def _piece(event: dict, api: str) -> str:
    choices = event.get("choices") or []
    if not choices:
        return ""
    if api == "chat":
        return (choices[0].get("delta") or {}).get("content") or ""
    return choices[0].get("text") or ""


def _stream_error(event: dict) -> str | None:
    """The message of an error sent inside the stream: ``{"error": {...}}`` (OpenAI, vLLM) or
    ``{"object": "error", ...}`` (older vLLM); None for an ordinary event."""
    error = event.get("error") if event.get("error") is not None else \
        event if event.get("object") == "error" else None
    if error is None:
        return None
    message = error.get("message") if isinstance(error, dict) else error
    return str(message or error)[:300]


def _shut_down_on_stop(response, stop: threading.Event, finished: threading.Event) -> None:
    """Wait until ``stop`` or ``finished`` is set; on stop, shut the response's socket down, so a
    read waiting on a silent server returns now instead of after the read timeout."""
    while not stop.wait(0.05):
        if finished.is_set():
            return
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is None:
        response.close()
        return
    try:  # socket.socket's own shutdown: for TLS too, without touching the TLS state from here
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _endpoint_error(ep: Endpoint, exc) -> EndpointError:
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        return EndpointError(f"{ep.base_url} did not accept a connection within {ep.connect_timeout_s:g} s. "
                             "Is the server running, and is the address right?")
    if isinstance(exc, httpx.ConnectError):
        return EndpointError(f"Cannot connect to {ep.base_url} ({exc}). Is the server running? "
                             "Start it (e.g. `transformers serve`, `vllm serve`, `ollama serve`) "
                             "or check the URL.")
    if isinstance(exc, httpx.ReadTimeout):
        return EndpointError(f"{ep.base_url} stopped answering for {ep.read_timeout_s:g} s.")
    return EndpointError(f"The request to {ep.base_url} failed: {type(exc).__name__}: {exc}")


def stream_text(ep: Endpoint, prompt: str, settings, stop: threading.Event | None = None
                ) -> Iterator[tuple[str, object]]:
    """Yield ("text", piece) as the answer streams in, then ("usage", completion_tokens or None).

    ``stop`` (a threading.Event) ends the stream: between two pieces, or at once while waiting for
    the server (the connection is shut down). Raises EndpointError with a readable message when the
    server is down, slow, says no, or sends an error inside the stream.
    """
    import httpx

    url = f"{ep.base_url}/{'chat/completions' if ep.api == 'chat' else 'completions'}"
    timeout = httpx.Timeout(ep.read_timeout_s, connect=ep.connect_timeout_s)
    usage = None
    finished = threading.Event()
    try:
        with httpx.Client(timeout=timeout) as client:
            with client.stream("POST", url, json=request_body(ep, prompt, settings),
                               headers=ep.headers()) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:200]
                    hint = " Check the API key." if response.status_code in (401, 403) else \
                        " Check the model name and the URL." if response.status_code == 404 else ""
                    raise EndpointError(f"{ep.base_url} answered HTTP {response.status_code}: "
                                        f"{detail.strip() or response.reason_phrase}.{hint}")
                if stop is not None:
                    threading.Thread(target=_shut_down_on_stop, args=(response, stop, finished),
                                     daemon=True, name="endpoint-stop").start()
                for line in response.iter_lines():
                    if stop is not None and stop.is_set():
                        break
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    error = _stream_error(event)
                    if error is not None:
                        raise EndpointError(f"{ep.base_url} sent an error during the answer: {error}")
                    if event.get("usage"):
                        usage = event["usage"].get("completion_tokens")
                    piece = _piece(event, ep.api)
                    if piece:
                        yield "text", piece
    except httpx.HTTPError as exc:
        if stop is None or not stop.is_set():  # a stop shuts the connection: that is no error
            raise _endpoint_error(ep, exc) from None
    except json.JSONDecodeError:
        raise EndpointError(f"{ep.base_url} sent something that is not an OpenAI-style stream.") from None
    finally:
        finished.set()
    yield "usage", usage
