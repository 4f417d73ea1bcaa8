"""A model hub on this machine: the few endpoints of the Hugging Face hub's HTTP protocol that
``huggingface_hub`` and ``transformers`` use to find and download a model, served from a folder.

Point the libraries at it with ``HF_ENDPOINT=http://127.0.0.1:PORT`` (set before they are
imported). Used by the tests (the online lessons run against it, with repositories of random
weights), and by a classroom: an instructor serves the models once downloaded to the room,
``python -m course_utils hub serve``.

This is the course's own server, not a maintained mirror: olah 0.5.4, the self-hosted mirror
tried first, serves local repositories only as git repositories in offline mode, answers a
missing file as a missing repository, ignores byte ranges and cannot gate a repository, so
the error paths the course must handle could not be tested with it. This implements exactly:

    GET       /api/models/{repo}[/revision/{rev}]      repository info: commit sha, file list
    GET       /api/models/{repo}/tree/{rev}[/{path}]   file listing (recursive or one folder)
    HEAD/GET  /{repo}/resolve/{rev}/{path}             a file, with X-Repo-Commit, ETag,
                                                       Content-Length and byte ranges

Errors carry the hub's ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound: 404;
GatedRepo: 401), so ``huggingface_hub`` raises the same exceptions it raises for the real hub.

Storage is the hub cache's own layout (``models--org--name/refs/main`` holds a commit hash,
``snapshots/<hash>/`` the files), so a machine's hub cache can be served as it is.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
CHUNK_BYTES = 1 << 20


def repo_folder(root: Path, repo_id: str) -> Path:
    """Where ``repo_id`` lives under ``root``, in the hub cache's naming."""
    return Path(root) / ("models--" + repo_id.replace("/", "--"))


def add_snapshot(root: Path, repo_id: str, source: Path, branch: str = "main") -> str:
    """Copy the files of folder ``source`` into ``root`` as a new commit of ``repo_id`` on ``branch``.

    The commit hash is the SHA-1 of the file names and contents, so the same files give the
    same commit on every machine. Returns it.
    """
    files = sorted(p for p in Path(source).rglob("*") if p.is_file())
    digest = hashlib.sha1()
    for path in files:
        digest.update(path.relative_to(source).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    commit = digest.hexdigest()
    folder = repo_folder(root, repo_id)
    snapshot = folder / "snapshots" / commit
    if not snapshot.exists():
        shutil.copytree(source, snapshot)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / branch).write_text(commit)
    return commit


@dataclass
class HubRules:
    """How some repositories behave, for tests: gated ones refuse, slow ones wait before answering."""

    gated: set[str] = field(default_factory=set)
    slow_seconds: dict[str, float] = field(default_factory=dict)


class _Hub:
    """Reads repositories, revisions and files from a folder in the hub-cache layout."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def commit(self, repo_id: str, revision: str) -> str | None:
        folder = repo_folder(self.root, repo_id)
        if COMMIT_RE.match(revision):
            return revision if (folder / "snapshots" / revision).is_dir() else None
        ref = folder / "refs" / revision
        return ref.read_text().strip() if ref.is_file() else None

    def exists(self, repo_id: str) -> bool:
        return (repo_folder(self.root, repo_id) / "snapshots").is_dir()

    def snapshot(self, repo_id: str, commit: str) -> Path:
        return repo_folder(self.root, repo_id) / "snapshots" / commit

    def files(self, repo_id: str, commit: str) -> list[tuple[str, Path]]:
        snap = self.snapshot(repo_id, commit)
        return sorted((p.relative_to(snap).as_posix(), p) for p in snap.rglob("*") if p.is_file())


def _etag(path: Path) -> str:
    """The file's SHA-256, as the hub gives for large (LFS) files; stable across restarts."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Handler(BaseHTTPRequestHandler):
    server_version = "course-local-hub"
    protocol_version = "HTTP/1.1"
    hub: _Hub
    rules: HubRules
    stopping: threading.Event
    log: list

    def log_message(self, format, *args):  # quiet: requests are recorded in self.log instead
        pass

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def _json(self, payload, head: bool = False):
        body = json.dumps(payload).encode()
        self._send(200, body, {"Content-Type": "application/json"}, head)

    def _error(self, status: int, code: str, message: str, head: bool = False):
        body = json.dumps({"error": message}).encode()
        self._send(status, body, {"Content-Type": "application/json", "X-Error-Code": code,
                                  "X-Error-Message": message}, head)

    def _repo_checks(self, repo_id: str, revision: str, head: bool) -> str | None:
        """The commit for (repo, revision), after the test rules; None once an error is sent."""
        delay = self.rules.slow_seconds.get(repo_id, 0.0)
        if delay:
            self.stopping.wait(delay)  # a stopping server answers at once
        if not self.hub.exists(repo_id):
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}", head)
            return None
        if repo_id in self.rules.gated:
            self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have "
                        "access to it and be authenticated to access it. Please log in.", head)
            return None
        commit = self.hub.commit(repo_id, revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        return commit

    # ------------------------------------------------------------------ routes

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def _route(self, head: bool):
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.log.append((self.command, path))
        query = parse_qs(url.query)
        if path.startswith("/api/models/"):
            return self._api(path[len("/api/models/"):], query, head)
        match = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if match:
            return self._resolve(*match.groups(), head=head)
        self._error(404, "EntryNotFound", f"Not served here: {path}", head)

    def _api(self, rest: str, query: dict, head: bool):
        parts = rest.split("/")
        repo_id = "/".join(parts[:2])
        tail = parts[2:]
        if not tail or tail[0] == "revision":
            revision = tail[1] if len(tail) > 1 else "main"
            commit = self._repo_checks(repo_id, revision, head)
            if commit is None:
                return
            siblings = [{"rfilename": name, "size": path.stat().st_size}
                        for name, path in self.hub.files(repo_id, commit)]
            return self._json({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                               "gated": False, "disabled": False, "siblings": siblings,
                               "tags": ["course-local-hub"]}, head)
        if tail[0] == "tree" and len(tail) >= 2:
            commit = self._repo_checks(repo_id, tail[1], head)
            if commit is None:
                return
            prefix = "/".join(tail[2:]).strip("/")
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._json(self._tree(repo_id, commit, prefix, recursive), head)
        self._error(404, "EntryNotFound", f"Not served here: /api/models/{rest}", head)

    def _tree(self, repo_id: str, commit: str, prefix: str, recursive: bool) -> list[dict]:
        entries, folders = [], set()
        for name, path in self.hub.files(repo_id, commit):
            if prefix and not name.startswith(prefix + "/"):
                continue
            below = name[len(prefix) + 1:] if prefix else name
            if not recursive and "/" in below:
                folders.add((prefix + "/" if prefix else "") + below.split("/")[0])
                continue
            size = path.stat().st_size
            entries.append({"type": "file", "path": name, "size": size,
                            "oid": hashlib.sha1(name.encode() + commit.encode()).hexdigest(),
                            "lfs": {"oid": _etag(path), "size": size, "pointerSize": 134}})
        if recursive:
            for name, _ in self.hub.files(repo_id, commit):
                parents = name.split("/")[:-1]
                folders.update("/".join(parents[:i + 1]) for i in range(len(parents)))
        entries += [{"type": "directory", "path": f, "size": 0, "oid": hashlib.sha1(f.encode()).hexdigest()}
                    for f in sorted(folders) if not prefix or f.startswith(prefix + "/")]
        return entries

    def _resolve(self, repo_id: str, revision: str, filename: str, head: bool):
        commit = self._repo_checks(repo_id, revision, head)
        if commit is None:
            return
        path = self.hub.snapshot(repo_id, commit) / filename
        if not path.is_file() or ".." in Path(filename).parts:
            self._error(404, "EntryNotFound", f"{filename} does not exist in {repo_id}@{revision}", head)
            return
        size = path.stat().st_size
        headers = {"X-Repo-Commit": commit, "ETag": f'"{_etag(path)}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        start, end, status = 0, size - 1, 200
        ranged = re.match(r"^bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if ranged and size:
            first, last = ranged.groups()
            start = int(first) if first else max(0, size - int(last or 0))
            end = min(int(last), size - 1) if first and last else size - 1
            if start > end:
                self._send(416, b"", {"Content-Range": f"bytes */{size}"}, head)
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = end - start + 1 if size else 0
        self._send(status, b"", headers, head=True)
        if head or not size:
            return
        with path.open("rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0 and not self.stopping.is_set():
                chunk = f.read(min(CHUNK_BYTES, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


class LocalHub:
    """A running local hub: ``with LocalHub(root) as hub: os.environ["HF_ENDPOINT"] = hub.url``.

    Binds 127.0.0.1 on a free port unless told otherwise; ``stop()`` (or leaving the ``with``)
    shuts it down and wakes any request waiting on a slow-repository rule.
    """

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, rules: HubRules | None = None):
        self.root = Path(root)
        self.rules = rules or HubRules()
        self.stopping = threading.Event()
        self.requests: list[tuple[str, str]] = []
        handler = type("Handler", (_Handler,), {"hub": _Hub(self.root), "rules": self.rules,
                                                "stopping": self.stopping, "log": self.requests})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalHub":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True, name="local-hub")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(root: Path, host: str = "127.0.0.1", port: int = 8090) -> int:
    """Command line: serve ``root`` (a hub cache folder) until interrupted."""
    hub = LocalHub(root, host, port)
    repos = sorted(p.name[len("models--"):].replace("--", "/") for p in Path(root).glob("models--*"))
    print(f"Serving {len(repos)} model repositories from {root} at {hub.url}")
    for repo in repos:
        print(f"  {repo}")
    print(f"On each learner's machine, before starting Jupyter: export HF_ENDPOINT={hub.url}")
    print("Stop with Ctrl-C.")
    try:
        hub._server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        hub.stopping.set()
        hub._server.server_close()
    return 0
