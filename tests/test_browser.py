"""A real browser: JupyterLab in headless Chromium opens 00_start_here, runs every cell, and the
widgets render and respond. A screenshot is saved to test-artifacts/ for a person to look at."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

pytestmark = pytest.mark.timeout(600)


def _need_browser():
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is missing: .ci/run installs it with apt-get")
    pytest.skip("no chromium here (apt-get install chromium)")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _need_browser()
    root = tmp_path_factory.mktemp("lab")
    for name in ("00_start_here.ipynb", "12_choosing_a_model.ipynb"):
        shutil.copy(REPO / "notebooks" / name, root)  # the browser saves into the copies
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline, as for a learner
    env = {**env, "HF_HUB_OFFLINE": "1", "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),
           "JUPYTER_RUNTIME_DIR": str(root / ".runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(root / ".ws")}
    settings = root / ".settings"
    settings.mkdir()
    # Render every cell (no virtual windowing) and skip the news prompt.
    (settings / "overrides.json").write_text(json.dumps({
        "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    }))
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.allow_root=True",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True"]
    log_path = root / "jupyter.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    deadline = time.time() + 90
    while True:
        if proc.poll() is not None:  # exited before it answered: say so, with its log
            log.close()
            pytest.fail(f"JupyterLab exited with code {proc.returncode} before it answered on {url}; "
                        f"its log ({log_path}):\n{log_tail()}")
        try:
            urllib.request.urlopen(f"{url}/api", timeout=2)
            break
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            proc.wait(10)
            log.close()
            pytest.fail(f"JupyterLab did not answer on {url} within 90 s; its log ({log_path}):\n{log_tail()}")
        try:
            proc.wait(0.5)  # returns at once if the server exits
        except subprocess.TimeoutExpired:
            pass
    yield url
    exited_early = proc.poll()  # None: still serving, as it should be at the end of the test
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    if exited_early is not None:
        pytest.fail(f"JupyterLab exited with code {exited_early} during the test; its log ({log_path}):\n"
                    f"{log_tail()}")


PROGRESS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) return null;
  const cells = panel.content.model.cells;
  let code = 0, ran = 0, errors = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    code++;
    if (c.executionCount) ran++;
    for (const o of c.outputs.toJSON()) if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }
  return {code, ran, errors, status: panel.sessionContext.kernelDisplayStatus};
}"""


ALL_RAN_JS = f"""() => {{
  const s = ({PROGRESS_JS})();
  return !!s && s.code > 0 && s.status === 'idle' && (s.ran === s.code || s.errors.length > 0);
}}"""


def _run_all(page, url: str, budget_s: int) -> None:
    """Open ``url`` (a notebook in JupyterLab), run every cell, and assert that all of them ran without an error."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.goto(url, timeout=120_000)
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           ".kernelDisplayStatus === 'idle'", timeout=120_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    try:  # every code cell ran, or one failed (run-all stops there), and the kernel is idle
        page.wait_for_function(ALL_RAN_JS, timeout=budget_s * 1000, polling=1000)
    except PlaywrightTimeoutError:
        pass  # the assertions below say how far it got
    state = page.evaluate(PROGRESS_JS)
    assert state and state["errors"] == [], f"a cell failed: {state}"
    assert state["ran"] == state["code"], f"not every cell ran within {budget_s} s: {state}"


@contextlib.contextmanager
def _browser_page(name: str):
    """A headless Chromium page; on the way out (passed or failed) its screenshot and HTML go to test-artifacts/."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            yield page
        finally:
            page.screenshot(path=str(ARTIFACTS / f"{name}_final.png"))
            (ARTIFACTS / f"{name}.html").write_text(page.content())
            browser.close()


def test_start_here_runs_in_jupyterlab_and_widgets_render(lab):
    with _browser_page("00_start_here") as page:
        _run_all(page, f"{lab}/lab/tree/00_start_here.ipynb", 400)

        # The widgets rendered: the tier picker and the Generate button are live controls.
        button = page.locator(".jupyter-widgets button", has_text="Generate")
        button.wait_for(timeout=30_000)
        assert page.locator(".jupyter-widgets select").count() >= 2
        # Pick a laptop in the tier explorer: its memory plot renders inside the Output widget.
        laptop = "Laptop (16 GB RAM, CPU)"
        page.locator("select", has=page.locator(f"option[value='{laptop}']")).select_option(laptop)
        plot = page.locator(".jupyter-widgets .jp-OutputArea-output img").first
        plot.wait_for(timeout=30_000)
        plot.scroll_into_view_if_needed()
        plot.screenshot(path=str(ARTIFACTS / "tier_explorer.png"))
        assert "SmolLM2-1.7B-Instruct" in page.content()
        assert "Error displaying widget" not in page.content()

        # Click Generate in the real browser: the kernel answers with text and a speed.
        button.scroll_into_view_if_needed()
        button.click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.widget-html-content')]"
            ".some(e => e.textContent.includes('tokens/s'))", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "00_start_here.png"), full_page=False)
        assert "Error displaying widget" not in page.content()


def test_the_decision_guide_answers_in_the_browser_and_names_a_conflict(lab):
    """Lesson 12 runs to the end in JupyterLab; choosing an open-ended private task on Binder in the guide's own
    dropdowns makes it name the conflict (red), and a permissive choice clears it."""
    with _browser_page("12_choosing_a_model") as page:
        # a workspace of its own: the default one would reopen the first test's notebook beside this one
        _run_all(page, f"{lab}/lab/workspaces/lesson12/tree/12_choosing_a_model.ipynb", 300)

        def choose(option: str) -> None:
            select = page.locator(".jupyter-widgets select", has=page.locator(f"option[value='{option}']"))
            select.first.select_option(option)

        answer = "() => [...document.querySelectorAll('.widget-html-content')].map(e => e.textContent).join(' ')"
        choose("open-ended")
        choose("Binder (2 GB RAM)")
        choose("must stay on the machine")
        page.wait_for_function(f"() => ({answer})().includes('Conflicts')", timeout=30_000)
        page.locator(".widget-html-content", has_text="Conflicts").first.screenshot(
            path=str(ARTIFACTS / "decision_guide_conflict.png"))
        choose("may leave the machine")
        page.wait_for_function(f"() => !({answer})().includes('Conflicts') && ({answer})().includes('at an endpoint')",
                               timeout=30_000)
        assert "Error displaying widget" not in page.content()


def test_exported_slides_open_with_no_network_and_reveal_starts(tmp_path):
    """The reveal.js export of lesson 03 in Chromium with every request that is not a local file refused."""
    from course_utils.slides import export

    _need_browser()
    html = export("03", tmp_path)
    refused, failed = [], []
    with _browser_page("slides_03") as page:
        def route(r):
            if r.request.url.startswith(("file://", "data:")):
                r.continue_()
            else:
                refused.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("requestfailed", lambda req: failed.append(req.url))
        page.goto(html.as_uri())
        page.wait_for_function("window.Reveal && window.Reveal.isReady()", timeout=30_000)
        total = page.evaluate("window.Reveal.getTotalSlides()")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("window.Reveal.getIndices().h === 1", timeout=10_000)
        font = page.evaluate("getComputedStyle(document.querySelector('.reveal')).fontFamily")
    assert not refused and not failed, (refused, failed)  # nothing was fetched from the network
    assert total >= 10  # one slide per section and sub-slides for the predictions
    assert "Source Sans Pro" in font  # the theme and its font loaded from the local copy
