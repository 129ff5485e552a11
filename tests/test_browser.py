"""JupyterLab in a real browser: run a notebook through the UI and check what a researcher sees.

A JupyterLab server is started on a free 127.0.0.1 port with a known token, serving a temporary copy of
``notebooks/01_budget_pacing.ipynb`` whose parameters cell is set to ``scale = "ci"`` (outputs are redirected
to a temporary results folder, so nothing committed is touched). Debian's ``chromium``, driven by the
``playwright`` package (``playwright install`` is never used), opens the notebook, runs Run > Run All Cells,
waits for the kernel to go idle, and the test asserts that the checked table and the figures render and that
no cell shows an error. The screenshots (the notebook's top after the run, and its figures) are kept in
``results/_ci/browser/`` (ignored by git).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOK = "01_budget_pacing.ipynb"
ARTIFACTS = ROOT / "results" / "_ci" / "browser"
RUN_TIMEOUT_S = 900  # the ci-scale notebook takes seconds; a loaded 2-core CI machine can take minutes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"chromium not installed at {CHROMIUM} (Debian: "
                       "apt-get install chromium; .ci/run installs it)"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ci_copy(dest: Path) -> Path:
    """The notebook with its parameters cell set to ``scale = "ci"`` (and its stale outputs cleared)."""
    nb = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "the notebook must have exactly one parameters cell"
    source = "".join(params[0]["source"])
    new, n = re.subn(r'^scale = "full"', 'scale = "ci"', source, flags=re.M)
    assert n == 1, f"no `scale = \"full\"` line in the parameters cell: {source!r}"
    params[0]["source"] = new
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    path = dest / NOTEBOOK
    path.write_text(json.dumps(nb, indent=1))
    return path


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local server
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer at {url} within {timeout:.0f} s: "
                       f"{log.read_text()[-3000:]}")


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port serving a ci-scale copy of the notebook; yields (url, nb path)."""
    workdir = tmp_path / "notebooks"
    workdir.mkdir()
    nb_path = _ci_copy(workdir)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # Render every cell (no virtual scrolling), so all outputs are in the DOM to be checked.
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "PARETOBANDIT_RESULTS_ROOT": str(tmp_path / "results"),
           "PARETOBANDIT_MACROS_DIR": str(tmp_path / "results" / "macros"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
           "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
           "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    log = tmp_path / "jupyter.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={workdir}", "--LabApp.news_url=",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield f"{base}/lab/tree/{NOTEBOOK}?token={token}", nb_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.copy(log, tmp_path / "jupyter-final.log")


# Run All queues every cell ("[*]"); when a cell fails, the rest are unqueued ("[ ]"). Either way the run is
# over once no cell is queued and at least one has run.
_RUN_FINISHED = r"""() => {
  const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.textContent);
  return prompts.some(t => /\[\d+\]/.test(t)) && !prompts.some(t => /\[\*\]/.test(t));
}"""
_ANY_PROMPT_STARTED = r"""() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
  .some(p => /\[(\*|\d+)\]/.test(p.textContent))"""
# The status bar says "<kernel name> | Idle" once the kernel is connected (the toolbar indicator already
# says idle before that), and the toolbar indicator confirms nothing is queued.
_KERNEL_IDLE = r"""() => {
  const bar = document.querySelector('#jp-main-statusbar');
  const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
  return bar !== null && /\|\s*Idle/.test(bar.textContent)
    && el !== null && el.getAttribute('data-status') === 'idle';
}"""


def _run_all_cells(page) -> None:
    """Run > Run All Cells from the menu bar (clicked again if the first click started nothing)."""
    for _attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            page.wait_for_function(_ANY_PROMPT_STARTED, timeout=30_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: try the menu again
            page.keyboard.press("Escape")
    raise AssertionError("Run > Run All Cells did not start any cell")


def test_notebook_runs_in_jupyterlab_in_chromium(lab, tmp_path):
    from playwright.sync_api import sync_playwright  # the dev extra installs it

    url, nb_path = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{Path(NOTEBOOK).stem}.png"
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1800})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(120_000)
            page.goto(url)
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_function(_KERNEL_IDLE, timeout=180_000)
            news = page.get_by_role("button", name="No", exact=True)  # the "Jupyter news?" toast
            if news.count():
                news.first.click()
            _run_all_cells(page)
            try:
                page.wait_for_function(_RUN_FINISHED, timeout=RUN_TIMEOUT_S * 1000)
                page.wait_for_function(_KERNEL_IDLE, timeout=120_000)
            finally:
                page.screenshot(path=str(shot), full_page=True)

            outputs = page.locator(".jp-OutputArea-output")
            errors = [t for t in outputs.all_inner_texts() if "Traceback" in t or re.search(r"\w+Error\b", t)]
            assert errors == [], f"a cell shows an error: {errors[0][:2000]}"
            prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
            assert all(re.search(r"\[\d+\]", t) for t in prompts), f"not every cell ran: {prompts}"
            checked = page.locator(".jp-OutputArea-output", has_text="max overshoot over any ceiling")
            assert checked.count() == 1, "the # NBVAL_CHECK_OUTPUT table did not render"
            text = checked.inner_text()
            assert "seeds=3 val=300 test=300" in text  # scale=ci took effect
            assert len(re.findall(r"^\s*pacer\b", text, flags=re.M)) == 7  # one row per budget
            html_tables = page.locator(".jp-OutputArea-output table")
            assert html_tables.count() >= 1, "the summary DataFrame did not render as an HTML table"
            images = page.locator(".jp-OutputArea-output img")
            assert images.count() == 3, "expected the frontier, utilisation and lambda figures"
            widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert all(w > 100 for w in widths), f"a figure did not load: natural widths {widths}"
            images.last.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"{Path(NOTEBOOK).stem}_figures.png"))
        finally:
            context.close()
    assert shot.is_file() and shot.stat().st_size > 10_000
    # outputs were redirected, and as a non-canonical (interactive, scale=ci) run into its own run folder
    written = sorted((tmp_path / "results").rglob("results.json"))
    assert [p.relative_to(tmp_path / "results").parts[:2] for p in written] == [("_runs", "budget_pacing")]
