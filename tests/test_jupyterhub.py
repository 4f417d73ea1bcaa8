"""A class on one JupyterHub: a real hub and its proxy (configurable-http-proxy) on 127.0.0.1, a test authenticator
(dummy) and a local-process spawner that puts each user in a memory cgroup (tests/cgroup_spawner.py). Three users
are created and started through the hub's REST API; each runs lesson 00 to the end in a kernel of their own,
through the proxy, and the course's doctor in that kernel reads the user's limit (the one classroom/ sets)."""

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from course_utils import REPO_ROOT
from course_utils.class_config import sizing

from conftest import free_port

pytestmark = pytest.mark.timeout(600)
USERS = ("ada", "grace", "alan")
LIMIT = int(sizing().memory_limit_gb * 1e9)  # per learner, as classroom/ configures it from the measured peaks
LESSON = REPO_ROOT / "notebooks" / "00_start_here.ipynb"


def _need(tool: str):
    if shutil.which(tool):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is missing: .ci/run installs JupyterHub (pip) and configurable-http-proxy (npm)")
    pytest.skip(f"{tool} is not installed (pip install jupyterhub; npm install -g configurable-http-proxy)")


def _cgroups_writable() -> bool:
    from memory_limit import _make

    try:
        _make(LIMIT).rmdir()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    _need("jupyterhub")
    _need("configurable-http-proxy")
    if not _cgroups_writable():
        pytest.skip("cannot create a memory cgroup here (root and a writable cgroup controller are needed)")
    tmp = tmp_path_factory.mktemp("hub")
    token, port = secrets.token_hex(16), free_port()
    (tmp / "jupyterhub_config.py").write_text(f"""
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.pid_file = {str(tmp / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{tmp / 'hub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(tmp / "cookie_secret")!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "cgroup_spawner.CgroupSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp / "home" / "{username}")!r}
c.Spawner.mem_limit = {LIMIT}
c.Spawner.args = ["--allow-root"]  # the tests run as root (to make cgroups); a real hub spawns as each user
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {{"HF_HUB_OFFLINE": "1", "PYTHONPATH": {str(REPO_ROOT)!r}, "OMP_WAIT_POLICY": "PASSIVE",
                          "COURSE_EVIDENCE_DIR": {str(tmp / "evidence")!r}, "MPLBACKEND": "Agg"}}
c.JupyterHub.services = [{{"name": "course-test", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "course-test", "services": ["course-test"],
                             "scopes": ["admin:users", "admin:servers", "access:servers", "list:users"]}}]
""")
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'tests'}{os.pathsep}{REPO_ROOT}"}
    log = open(tmp / "hub.log", "w")
    proc = subprocess.Popen([shutil.which("jupyterhub"), "-f", str(tmp / "jupyterhub_config.py")], cwd=tmp, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    api = _Api(base + "/hub/api", token)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail("jupyterhub exited:\n" + (tmp / "hub.log").read_text()[-3000:])
            try:
                api.get("/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("jupyterhub did not answer within 60 s:\n" + (tmp / "hub.log").read_text()[-3000:])
                time.sleep(0.25)
        yield base, api, tmp
    finally:
        for user in USERS:
            try:
                api.call("DELETE", f"/users/{user}/server")
            except OSError:
                pass
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class _Api:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body=None, base=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request((base or self.base) + path, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            return json.loads(text) if text else None

    def get(self, path: str, base=None):
        return self.call("GET", path, base=base)


def _run_in_kernel(base: str, api: _Api, user: str, cells: list[str]) -> list[str]:
    """Run ``cells`` in a new kernel of ``user``'s server, through the proxy; the stdout of each, in order.
    Raises AssertionError with the traceback if a cell fails."""
    import websocket

    server = f"{base}/user/{user}/api"
    kernel = api.call("POST", "/kernels", {"name": "python3"}, base=server)
    ws = websocket.create_connection(f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/user/{user}/api/kernels/"
                                     f"{kernel['id']}/channels", header=[f"Authorization: token {api.token}"],
                                     timeout=300)
    outputs = []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({"channel": "shell", "header": {"msg_id": msg_id, "msg_type": "execute_request",
                                                                "username": user, "session": kernel["id"],
                                                                "version": "5.3"},
                                "parent_header": {}, "metadata": {}, "buffers": [],
                                "content": {"code": code, "silent": False, "store_history": True,
                                            "user_expressions": {}, "allow_stdin": False}}))
            text, reply, idle = [], None, False
            while reply is None or not idle:  # the reply (shell) may come before the output (iopub): wait for both
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    text.append(msg["content"]["text"])
                elif kind == "error":
                    raise AssertionError(f"{user}: a cell failed:\n{code[:300]}\n"
                                         + "\n".join(msg["content"]["traceback"]))
                elif kind == "execute_reply":
                    reply = msg["content"]
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
            assert reply["status"] == "ok", (user, reply)
            outputs.append("".join(text))
    finally:
        ws.close()
        api.call("DELETE", f"/kernels/{kernel['id']}", base=server)
    return outputs


def test_three_learners_each_run_a_lesson_in_their_own_kernel_under_their_own_limit(hub):
    base, api, tmp = hub
    for user in USERS:
        api.call("POST", f"/users/{user}")
        api.call("POST", f"/users/{user}/server")
    deadline = time.monotonic() + 180
    while not all(api.get(f"/users/{u}")["servers"].get("", {}).get("ready") for u in USERS):
        assert time.monotonic() < deadline, "the users' servers did not become ready within 180 s"
        time.sleep(0.5)

    lesson = [c for c in json.loads(LESSON.read_text())["cells"] if c["cell_type"] == "code"]
    cells = ["".join(c["source"]) for c in lesson]
    check = ("import os\nfrom course_utils.doctor import diagnose\nr = diagnose(check_hub=False)\n"
             "print(os.environ['USER'], r.machine.ram_total_bytes, r.ok)")
    results, errors = {}, {}

    def learner(user):
        try:
            results[user] = _run_in_kernel(base, api, user, cells + [check])
        except BaseException as exc:  # reported below, with the user
            errors[user] = exc

    threads = [threading.Thread(target=learner, args=(u,)) for u in USERS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(400)
    assert not errors, errors
    for user in USERS:
        name, ram, ok = results[user][-1].split()
        # the kernel keeps a cgroup limit in whole pages: the doctor reads the limit as the kernel enforces it
        assert name == user and LIMIT - 4096 < int(ram) <= LIMIT and ok == "True", results[user][-1]
        assert len(results[user]) == len(cells) + 1
    users = api.get("/users")
    assert {u["name"] for u in users} >= set(USERS)
