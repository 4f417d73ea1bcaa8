"""The arena in a real kernel (ipykernel + ipywidgets as installed): "Run both" clicked over the comm
protocol streams into the output widgets while the kernel stays responsive, and a Stop click sent
during generation is handled between tokens."""

import os
import time

import pytest

from conftest import make_tiny_llama

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def slow_model_dir(tmp_path_factory):
    # big enough that 500 tokens take a few seconds on 2 cores: time to press Stop
    return make_tiny_llama(tmp_path_factory.mktemp("arena-slow"), n_layers=4, hidden=256, heads=4,
                           kv_heads=2, context=1024)


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.manager import start_new_kernel

    os.environ["HF_HUB_OFFLINE"] = "1"
    km, kc = start_new_kernel(kernel_name="python3", cwd=os.getcwd())
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def execute(kc, code: str, timeout: float = 60) -> str:
    msg_id = kc.execute(code)
    out = []
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            out.append(m["content"]["text"])
        elif m["msg_type"] == "error":
            raise AssertionError("\n".join(m["content"]["traceback"]))
        elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return "".join(out)


def click(kc, model_id: str) -> None:
    """What the browser sends when a Button is clicked (the widget message protocol)."""
    msg = kc.session.msg("comm_msg", {"comm_id": model_id,
                                      "data": {"method": "custom", "content": {"event": "click"}}})
    kc.shell_channel.send(msg)


def wait_for_texts(kc, model_id: str, n: int, timeout: float = 60) -> list[str]:
    """The values the kernel sent for output widget ``model_id``, read until ``n`` different ones came
    (or ``timeout`` s passed): the test acts on what the kernel streamed, not after a fixed time."""
    texts, end = [], time.time() + timeout
    while len(set(texts)) < n and time.time() < end:
        try:
            m = kc.get_iopub_msg(timeout=0.05)
        except Exception:
            continue
        c = m["content"]
        if m["msg_type"] == "comm_msg" and c.get("comm_id") == model_id and c["data"].get("method") == "update":
            if "value" in c["data"]["state"]:
                texts.append(c["data"]["state"]["value"])
    return texts


# Each token takes at least 5 ms (a logits processor that sleeps), so 500 tokens take 2.5 s or more
# on any machine: however fast it is, generation is still going when the Stop click arrives.
PACED_ARENA = """
import time
from transformers import LogitsProcessor, LogitsProcessorList
import course_utils.widgets.arena as WA

class AtLeast5msPerToken(LogitsProcessor):
    def __call__(self, input_ids, scores):
        time.sleep(0.005)
        return scores

class PacedArena(WA.Arena):
    def side(self, i):  # the same model, generating at most one token per 5 ms, never ending before Stop
        s = super().side(i)
        return WA.LocalSide(s.lm, min_new_tokens=500,
                            logits_processor=LogitsProcessorList([AtLeast5msPerToken()]))

{name} = PacedArena(models=[], pair=({path!r}, {path!r}), prompt="The printer", max_new_tokens=500,
                    schedule="together")
{name}.side(0); {name}.side(1)  # load (once) before clicking
"""


def test_run_click_streams_and_stop_click_ends_generation_between_tokens(kernel, slow_model_dir):
    ids = execute(kernel, PACED_ARENA.format(name="a", path=str(slow_model_dir)) + """
print(a.run_button.model_id, a.stop_button.model_id, a.left.output.model_id)
""").split()
    run_id, stop_id, output_id = ids[-3:]
    click(kernel, run_id)
    texts = wait_for_texts(kernel, output_id, 3)  # the pump streams text while generation goes on
    assert len(set(texts)) >= 3, f"the text should grow in several updates while generating: {texts}"
    click(kernel, stop_id)  # at once: generation is still going (at least 2.5 s for 500 tokens)
    report = execute(kernel, """
import asyncio
await asyncio.wait_for(a._task, 30)  # the pump, on the kernel's event loop, handles the Stop and ends
run = a.last_run
print(run.running, all(r.stopped for r in run.results), [r.n_tokens for r in run.results],
      any(t.is_alive() for t in run.threads), a.run_button.disabled, a.stop_button.disabled)
""")
    running, stopped, *rest = report.split(maxsplit=2)
    assert running == "False" and stopped == "True", report
    counts = [int(x) for x in report[report.index("[") + 1: report.index("]")].split(",")]
    assert len(counts) == 2 and all(0 < n < 500 for n in counts), report  # stopped early, after some tokens
    assert report.strip().endswith("False False True"), report  # threads ended, Run enabled, Stop off


def test_kernel_stays_alive_after_bad_input(kernel, slow_model_dir):
    out = execute(kernel, f"""
from course_utils.widgets.arena import Arena
b = Arena(models=[], pair=({str(slow_model_dir)!r}, {str(slow_model_dir)!r}), prompt="", max_new_tokens=5)
b.run(wait=True)
print(b.left.notes.value)
print(1 + 1)
""")
    assert "The prompt is empty" in out and out.strip().endswith("2")
