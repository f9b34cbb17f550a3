"""A real JupyterLab on 127.0.0.1 and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BRW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "brw-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, runtime: Path, port: int, proc: subprocess.Popen) -> None:
        self.root, self.runtime, self.port, self.proc = root, runtime, port, proc
        self.base = f"http://127.0.0.1:{port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={TOKEN}"

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def kernel_client(self, notebook: str):
        """A second client on the notebook's kernel: asks Python directly what it received."""
        from jupyter_client import BlockingKernelClient

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for s in self.api("api/sessions"):
                if s["path"].endswith(notebook):
                    cf = self.runtime / f"kernel-{s['kernel']['id']}.json"
                    if cf.exists():
                        kc = BlockingKernelClient()
                        kc.load_connection_file(str(cf))
                        kc.start_channels()
                        kc.wait_for_ready(timeout=30)
                        return kc
            time.sleep(0.5)
        raise AssertionError(f"no kernel session for {notebook}")


def kernel_eval(kc, expr: str, timeout: float = 30):
    """Evaluate ``expr`` in the kernel and return its JSON-decoded value."""
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = kc.execute_interactive(f"import json as _j; print(_j.dumps({expr}))", output_hook=hook,
                                   timeout=timeout)
    assert reply["content"]["status"] == "ok", reply["content"]
    return json.loads("".join(out).strip().splitlines()[-1])


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    runtime = tmp_path_factory.mktemp("runtime")
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    # Test-local Lab settings: no news/update pop-ups over the page.
    settings = tmp_path_factory.mktemp("settings")
    notif = settings / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text('{"checkForUpdates": false, "fetchNews": "false"}')
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "PYTHONUNBUFFERED": "1"}
    log = open(root / "server.log", "w")  # noqa: SIM115 - the server writes to it until teardown closes it
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    server = Server(root, runtime, port, proc)
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(server.url("lab"), timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("JupyterLab did not start:\n" + (root / "server.log").read_text()[-3000:])
        time.sleep(0.5)
    yield server
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/setup.sh (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _stop_kernels(request):
    """Shut down the kernels a test started: one left training (a background run) would load the machine for
    every later test of the session."""
    yield
    if "jupyter_server" not in request.fixturenames:
        return
    server = request.getfixturevalue("jupyter_server")
    for k in server.api("api/kernels") or []:
        try:
            server.api(f"api/kernels/{k['id']}", method="DELETE")
        except OSError:
            pass  # already gone


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception:  # noqa: BLE001 - the screenshot is a courtesy; the failure is what matters
            pass
        (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(console))
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


# -- the map on the page --------------------------------------------------------------------------------------
POINTS_DRAWN = "n => { const r = document.querySelector('.brw-root'); return !!r && +r.dataset.points >= n; }"

# [slot, x, y] of a point of map `index` drawn at least `margin` px inside its canvas (CSS px relative to it), or
# null: positions are unavailable while a redraw is in flight. Samples about 50 points: indexOf is O(n).
_DRAWN_POINT = """([index, margin]) => {
  const r = document.querySelectorAll('.brw-root')[index]; if (!r || !r.__brw) return null;
  const c = r.querySelector('canvas'); const slots = r.__brw.slots();
  for (let i = 0; i < slots.length; i += Math.max(1, Math.floor(slots.length / 50))) {
    const p = r.__brw.screenPositionOfSlot(slots[i]);
    if (p && p[0] > margin && p[1] > margin && p[0] < c.clientWidth - margin && p[1] < c.clientHeight - margin)
      return [slots[i], p[0], p[1]];
  }
  return null; }"""
_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def drawn_point(page, index: int = 0, margin: float = 20, timeout: float = 30_000) -> list:
    return page.wait_for_function(_DRAWN_POINT, arg=[index, margin], timeout=timeout).json_value()


def pointer_to(page, x: float, y: float) -> None:
    """Move the pointer and wait until the map has drawn a frame with it there. regl-scatterplot's camera pans by
    the pointer's travel since its last frame whenever a frame falls while the button is down: a person's pointer
    gets there over many frames, Playwright's jumps and presses at once, and under load such a click dragged the
    map by the whole jump (off the canvas)."""
    page.mouse.move(x, y)
    page.evaluate(_TWO_FRAMES)


def click_at(page, x: float, y: float) -> None:
    pointer_to(page, x, y)
    page.mouse.down()
    page.mouse.up()


def click_point(page, index: int = 0, tries: int = 10) -> int:
    """Click a drawn point of map `index` and return the view's data-clicked (the map's first click). A live map
    can move the point between reading its position and the click: then it tries again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    root = page.locator(".brw-root").nth(index)
    canvas = root.locator("canvas").first
    for _ in range(tries):
        canvas.scroll_into_view_if_needed()  # the notebook may scroll while its cells run
        _, x, y = drawn_point(page, index)
        box = canvas.bounding_box()
        click_at(page, box["x"] + x, box["y"] + y)
        try:
            page.wait_for_function("i => +document.querySelectorAll('.brw-root')[i].dataset.clicked >= 0", arg=index,
                                   timeout=5_000)
            return int(root.get_attribute("data-clicked"))
        except PlaywrightTimeout:
            continue
    raise AssertionError("clicking a drawn point never reached the view")


def lasso(page, index: int = 0, frac: float = 0.3) -> None:
    """Shift-drag a rectangle of ±frac of the canvas around its middle on map `index`."""
    canvas = page.locator(".brw-root").nth(index).locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    rx, ry = box["width"] * frac, box["height"] * frac
    page.keyboard.down("Shift")
    pointer_to(page, cx - rx, cy - ry)
    page.mouse.down()
    for x, y in [(cx + rx, cy - ry), (cx + rx, cy + ry), (cx - rx, cy + ry), (cx - rx, cy - ry + 5)]:
        page.mouse.move(x, y, steps=12)
    page.mouse.up()
    page.keyboard.up("Shift")


def wait_seq(page, seq: int, index: int = 0, timeout: float = 60_000) -> None:
    """Wait until map `index` has applied Python's frame `seq` (widget.frame_state.seq) or a later one."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("([i, s]) => { const r = document.querySelectorAll('.brw-root')[i];"
                               " return !!r && +r.dataset.seq >= s; }", arg=[index, seq], timeout=timeout)
    except PlaywrightTimeout:
        got = page.evaluate("i => ({...document.querySelectorAll('.brw-root')[i]?.dataset})", index)
        raise AssertionError(f"map {index} never reached Python's frame {seq}: {got}") from None
