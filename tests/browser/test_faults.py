"""Faults around a displayed map in a real JupyterLab: the kernel restarted, two views of one widget, the tab
reloaded while a live hook adds rows. What is drawn is read back from the page and compared with Python."""

from __future__ import annotations

import time

import pytest

from .conftest import POINTS_DRAWN, kernel_eval, lasso, wait_seq
from .test_notebook_ui import open_and_run, run_all, shutdown_sessions

pytestmark = pytest.mark.browser

ROOTS = "document.querySelectorAll('.brw-root')"
KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
FILLED = ("import numpy as np\n"
          "from better_rl_widget import BufferWidget, TrainingHook, ReplayBuffer\n"
          "buf = ReplayBuffer(500)\n"
          "rng = np.random.default_rng(0)\n"
          "for i in range(321):\n"
          "    o = rng.normal(size=4).astype('float32'); buf.add(o, i % 2, 1.0, o, i % 40 == 39)\n"
          "widget = BufferWidget()\n"
          "with TrainingHook(widget, buf, projection='pca') as hook:\n"
          "    hook.flush()\n")
PRESENT = "sorted(widget.frame_state.present_slots().tolist())"


def write_notebook(server, name: str, cells: list[str]) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata=KERNELSPEC), server.root / name)


def view_slots(page, index: int) -> list[int]:
    return sorted(page.evaluate(f"i => {ROOTS}[i].__brw.slots()", index))


def in_kernel(server, notebook: str, expr: str):
    kc = server.kernel_client(notebook)
    try:
        return kernel_eval(kc, expr, timeout=90)
    finally:
        kc.stop_channels()


def test_rerunning_the_cell_after_a_kernel_restart_restores_the_view(jupyter_server, page):
    write_notebook(jupyter_server, "restart.ipynb", [FILLED + "widget"])
    try:
        open_and_run(page, jupyter_server.url("lab/workspaces/restart/tree/restart.ipynb"))
        page.wait_for_function(POINTS_DRAWN, arg=321, timeout=90_000)
        assert in_kernel(jupyter_server, "restart.ipynb", "globals().setdefault('before_restart', True)")
        page.evaluate(f"() => {ROOTS}.forEach(r => {{ r.dataset.beforeRestart = '1'; }})")
        [kid] = [s["kernel"]["id"] for s in jupyter_server.api("api/sessions") if s["path"].endswith("restart.ipynb")]
        jupyter_server.api(f"api/kernels/{kid}/restart", method="POST")

        # Re-running the cell draws a new view (Run All is dropped while the page reconnects: try again).
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        new_view = f"n => Array.from({ROOTS}).findIndex(r => !r.dataset.beforeRestart && +r.dataset.points === n) + 1"
        for _ in range(3):
            run_all(page)
            try:
                index = page.wait_for_function(new_view, arg=321, timeout=90_000).json_value() - 1
                break
            except PlaywrightTimeout:
                continue
        else:
            raise AssertionError("re-running the cell after the restart never drew the map again")
        fresh, slots, seq = in_kernel(jupyter_server, "restart.ipynb",
                                      f"['before_restart' not in globals(), {PRESENT}, widget.frame_state.seq]")
        assert fresh, "the kernel was not restarted"
        wait_seq(page, seq, index)
        assert view_slots(page, index) == slots and len(slots) == 321
        # the view left from before the restart does not stay on the page next to the new one
        page.wait_for_function(f"() => {ROOTS}.length === 1", timeout=30_000)
    finally:
        shutdown_sessions(jupyter_server)


def test_two_views_of_one_widget_draw_the_same_points_and_share_a_selection(jupyter_server, page):
    write_notebook(jupyter_server, "two_views.ipynb", [FILLED, "widget", "widget"])
    try:
        open_and_run(page, jupyter_server.url("lab/workspaces/two/tree/two_views.ipynb"))
        page.wait_for_function(f"n => {ROOTS}.length === 2 && Array.from({ROOTS}).every(r => +r.dataset.points === n)",
                               arg=321, timeout=90_000)
        slots, seq = in_kernel(jupyter_server, "two_views.ipynb", f"[{PRESENT}, widget.frame_state.seq]")
        for i in (0, 1):
            wait_seq(page, seq, i)
            assert view_slots(page, i) == slots
        same_xy = page.evaluate(f"s => {{ const [a, b] = {ROOTS}; return s.every(k => "
                                "JSON.stringify(a.__brw.shownCoords(k)) === JSON.stringify(b.__brw.shownCoords(k))); }",
                                slots)
        assert same_xy

        # A lasso in the second view reaches Python; both views hear Python's count back (one shared model).
        lasso(page, 1)
        page.wait_for_function(f"() => {{ const r = {ROOTS}[1]; return +r.dataset.selected > 0"
                               " && r.dataset.selectedPython === r.dataset.selected; }", timeout=30_000)
        selected = sorted(page.evaluate(f"() => {ROOTS}[1].__brw.selectedSlots()"))
        assert in_kernel(jupyter_server, "two_views.ipynb", "sorted(widget.selected_points.tolist())") == selected
        page.wait_for_function(f"n => +{ROOTS}[0].dataset.selectedPython === n", arg=len(selected), timeout=30_000)
    finally:
        shutdown_sessions(jupyter_server)


# Rows arrive ~50 a second from a background thread until the test holds them (`go`); a held run flushes, so
# Python's map is final, and says so (`held`).
LIVE = ("import threading\n"
        "import numpy as np\n"
        "from better_rl_widget import BufferWidget, TrainingHook, ReplayBuffer\n"
        "buf = ReplayBuffer(20_000)\n"
        "widget = BufferWidget()\n"
        "hook = TrainingHook(widget, buf, projection='pca', worker='thread', every=5, max_points=20_000,\n"
        "                    cost_budget=1.0)\n"
        "go, held = threading.Event(), threading.Event()\n"
        "go.set()\n"
        "def feed(stop):\n"
        "    rng = np.random.default_rng(0)\n"
        "    i = 0\n"
        "    while not stop.is_set():\n"
        "        if not go.is_set():\n"
        "            hook.flush(); held.set(); go.wait(0.2); continue\n"
        "        held.clear()\n"
        "        o = rng.normal(size=4).astype('float32'); buf.add(o, i % 2, 1.0, o, i % 40 == 39); i += 1\n"
        "        hook.on_step(); stop.wait(0.02)\n"
        "run = hook.run_in_background(feed)\n"
        "widget")


def test_a_reloaded_tab_comes_back_from_the_keyframe_and_keeps_updating(jupyter_server, page):
    name = "reload.ipynb"
    write_notebook(jupyter_server, name, [LIVE])
    page.on("dialog", lambda d: d.accept())  # a "leave the page?" prompt must not block the reload
    try:
        open_and_run(page, jupyter_server.url(f"lab/workspaces/reload/tree/{name}"))
        page.wait_for_function(POINTS_DRAWN, arg=50, timeout=90_000)
        # The output (the widget's view) must be in the file for the reloaded page to show it.
        page.locator(".jp-NotebookPanel-toolbar [data-command='docmanager:save']").first.click()
        deadline = time.monotonic() + 60
        while "application/vnd.jupyter.widget-view+json" not in (jupyter_server.root / name).read_text():
            assert time.monotonic() < deadline, "the notebook was never saved with the widget's view"
            time.sleep(0.2)
        before = in_kernel(jupyter_server, name, "buf.total_inserted")

        page.reload()
        page.wait_for_function(POINTS_DRAWN, arg=1, timeout=120_000)
        rows, done = in_kernel(jupyter_server, name, "[buf.total_inserted, run.done]")
        assert rows > before and not done, "the run was not adding rows across the reload"

        # Held, the page shows exactly Python's points (frames go on refreshing values, not which rows are drawn).
        assert in_kernel(jupyter_server, name, "go.clear() or held.clear() or held.wait(60)")
        n, seq, slots = in_kernel(jupyter_server, name, f"[widget.n_points, widget.frame_state.seq, {PRESENT}]")
        wait_seq(page, seq)
        assert int(page.locator(".brw-root").first.get_attribute("data-points")) == n == len(slots) > 0
        assert view_slots(page, 0) == slots

        # Let go: new rows keep arriving in the reloaded view.
        in_kernel(jupyter_server, name, "go.set()")
        page.wait_for_function(POINTS_DRAWN, arg=n + 20, timeout=90_000)
    finally:
        shutdown_sessions(jupyter_server)  # the kernel, and the run with it
