import socket
import time

from course_utils import env


def test_detect_runtime_from_environment():
    assert env.detect_runtime({"COLAB_RELEASE_TAG": "x"}) == "colab"
    assert env.detect_runtime({"BINDER_SERVICE_HOST": "10.0.0.1"}) == "binder"
    assert env.detect_runtime({"CI": "true"}) == "ci"
    assert env.detect_runtime({}) == "local"


def test_machine_info_reads_real_numbers():
    m = env.machine_info(check_hub_now=False)
    assert m.cpu_cores >= 1
    assert 0 < m.ram_available_bytes <= m.ram_total_bytes
    assert m.device in ("cpu", "cuda")
    assert m.accelerator_bytes > 0


def test_hub_offline_env_is_honoured_without_any_connection(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("no connection may be attempted when HF_HUB_OFFLINE=1")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", forbidden)
    status = env.check_hub(refresh=True)
    assert not status.reachable and "HF_HUB_OFFLINE" in status.reason


def test_hub_check_answers_true_for_a_listening_local_server(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        status = env.check_hub(host="127.0.0.1", port=server.getsockname()[1], refresh=True)
    finally:
        server.close()
    assert status.reachable


def test_hub_check_reports_a_refused_port_quickly(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    status = env.check_hub(host="127.0.0.1", port=port, refresh=True)
    assert not status.reachable and "unreachable" in status.reason


def test_hub_check_never_hangs_past_its_timeout(monkeypatch):
    """A black-holed network (DNS or connect hanging) costs at most the timeout."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    def black_hole(*args, **kwargs):
        time.sleep(3)
        raise OSError("no answer")

    monkeypatch.setattr(socket, "create_connection", black_hole)
    start = time.perf_counter()
    status = env.check_hub(timeout=0.5, host="127.0.0.1", refresh=True)
    assert time.perf_counter() - start < 1.5
    assert not status.reachable and "did not answer" in status.reason


def test_human_bytes():
    assert env.human_bytes(512) == "512 B"
    assert env.human_bytes(1.5e9) == "1.50 GB"
