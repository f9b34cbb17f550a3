"""Issue 17 in a real JupyterLab: the map-mode select rebuilds and redraws the map, a clicked temporal window
highlights its states, and the replay-count, staleness and churn channels are offered and drawn while a
prioritized DQN trains."""

from __future__ import annotations

import nbformat
import pytest

from .conftest import POINTS_DRAWN, click_point, kernel_eval
from .test_notebook_ui import open_and_run

pytestmark = pytest.mark.browser

NOTEBOOK = "map_modes_ui.ipynb"
CELLS = [
    "from better_rl_widget import BufferWidget, TrainingHook\n"
    "from better_rl_widget.agents.dqn import DQN, DQNConfig\n"
    "widget = BufferWidget()\nwidget",
    # Long enough to outlast the test; the fixture shuts the kernel down after it. Churn against the network of
    # 500 steps earlier so flips show soon after learning starts (1,000 steps).
    "agent = DQN('CartPole-v1', DQNConfig(buffer_size=20_000, prioritized=True), seed=0)\n"
    "hook = TrainingHook(widget, agent.buffer, every=10, q_network=agent.q, target_network=agent.q_target,\n"
    "                    n_actions=2, churn_lag_steps=500)\n"
    # `go` pauses training (the callback waits) so the end of the test can check the highlight with nothing
    # evicted meanwhile: a window's states are dropped from the selection once the ring overwrites them.
    "import threading\ngo = threading.Event(); go.set()\n"
    "def step(*a):\n    go.wait()\n    hook.on_step(*a)\n"
    "run = hook.run_in_background(lambda stop: agent.learn(500_000, callback=step, stop=stop))",
]

OPTIONS = "() => Array.from(document.querySelectorAll('select.brw-colorby-select option')).map(o => o.value)"
# A few drawn slots and where the page draws them now (the view's own coordinates).
COORDS = """() => { const r = document.querySelector('.brw-root'); const s = r.__brw.slots();
  const out = {}; for (let i = 0; i < s.length; i += Math.max(1, Math.floor(s.length / 40))) {
    const c = r.__brw.shownCoords(s[i]); if (c) out[s[i]] = c; } return out; }"""
MOVED = """(before) => { const r = document.querySelector('.brw-root'); let moved = 0, seen = 0;
  for (const [slot, c] of Object.entries(before)) { const n = r.__brw.shownCoords(+slot); if (!n) continue;
    seen++; if (Math.hypot(n[0] - c[0], n[1] - c[1]) > 1e-3) moved++; }
  return seen >= 10 && moved >= 0.8 * seen; }"""
# The toolbar's data-map-mode is what the map embeds now (data-map-mode-wanted is what the traits ask for).
APPLIED = "(mode) => { const el = document.querySelector('[data-map-mode]'); return el?.dataset.mapMode === mode; }"


def _write_notebook(server) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, server.root / NOTEBOOK)


def _legend_shows(page, channel: str) -> None:
    page.wait_for_function(
        """(ch) => { const t = document.querySelector('.brw-legend-title');
          if (!t || t.textContent !== ch) return false;
          const lg = t.parentElement; if (lg.dataset.kind === 'categorical')
            return lg.querySelectorAll('.brw-swatch-item').length >= 1;
          const lo = lg.querySelector('.brw-legend-min'), hi = lg.querySelector('.brw-legend-max');
          return !!lo && !!hi && lo.textContent !== '–' && hi.textContent !== '–'; }""", arg=channel, timeout=60_000)


def test_map_modes_windows_and_new_channels_in_jupyterlab(jupyter_server, page):
    _write_notebook(jupyter_server)
    open_and_run(page, jupyter_server.url(f"lab/workspaces/modes/tree/{NOTEBOOK}"))
    page.wait_for_function(POINTS_DRAWN, arg=100, timeout=180_000)
    kc = jupyter_server.kernel_client(NOTEBOOK)
    try:
        # -- the new channels are offered once training samples and the churn lag has passed, and drawn --------
        page.wait_for_function(
            "want => (" + OPTIONS + ")().filter(o => want.includes(o)).length === want.length",
            arg=["replays", "staleness", "flipped", "dq"], timeout=240_000)
        for channel in ("replays", "flipped", "dq"):
            page.locator("select.brw-colorby-select").first.select_option(channel)
            _legend_shows(page, channel)
            assert kernel_eval(kc, "widget.color_by") == channel
        assert kernel_eval(kc, "len(widget.churn_trace) >= 1")
        page.wait_for_function("() => { const c = document.querySelector('.brw-churn');"
                               " return !!c && !c.hidden && c.getClientRects().length > 0; }", timeout=60_000)

        # -- switching the map mode in the view rebuilds the projection and the page redraws ---------------------
        for mode in ("state-actions", "windows"):
            page.wait_for_function("() => { const r = document.querySelector('.brw-root');"
                                   " return !!r && !!r.__brw && r.__brw.slots().length >= 100; }", timeout=60_000)
            before = page.evaluate(COORDS)
            page.locator("select.brw-mapmode-select").first.select_option(mode)
            page.wait_for_function(APPLIED, arg=mode, timeout=120_000)
            page.wait_for_function(MOVED, arg=before, timeout=120_000)
            assert kernel_eval(kc, "widget.status['map_mode']['mode']") == mode
        assert kernel_eval(kc, "widget.window_k") == 4

        assert kernel_eval(kc, "run.done") is False, "training ended before the test: nothing was live"

        # -- clicking a window lists its k states and highlights its drawn ones (training paused from here on) ----
        kernel_eval(kc, "go.clear()")
        click_point(page)
        page.wait_for_function("() => +document.querySelector('.brw-root').dataset.windowPoints >= 1",
                               timeout=60_000)
        root = page.locator(".brw-root").first
        highlighted = int(root.get_attribute("data-window-points"))
        assert page.locator(".brw-inspector tr.brw-window-row").count() == 4
        assert page.evaluate("() => document.querySelector('.brw-root').__brw.selectedSlots().length") == highlighted
        page.wait_for_function("() => { const r = document.querySelector('.brw-root');"
                               " return r.dataset.selectedPython === r.dataset.selected; }", timeout=30_000)
        window_points = ("sorted(int(p) for p in __import__('better_rl_widget.frames.codec')"
                         ".frames.codec.decode(widget.inspection)[0]['window']['points'])")
        assert kernel_eval(kc, f"sorted(int(p) for p in widget.selected_points) == {window_points}"), \
            "Python's selection is not the clicked window's points"

        # -- back to states (applied by a capture: training is paused): the window's states stay highlighted -----
        page.locator("select.brw-mapmode-select").first.select_option("states")
        wait_states = "[__import__('time').sleep(0.2) for _ in range(300) if widget.map_mode != 'states'] and None"
        kernel_eval(kc, wait_states, timeout=90)  # the view's trait update reaches the kernel
        assert kernel_eval(kc, "widget.map_mode") == "states"
        kernel_eval(kc, "hook.flush(90)", timeout=120)
        page.wait_for_function(APPLIED, arg="states", timeout=120_000)
        assert page.evaluate("() => document.querySelector('.brw-root').__brw.selectedSlots().length") == highlighted
        assert kernel_eval(kc, f"sorted(int(p) for p in widget.selected_points) == {window_points}")
        kernel_eval(kc, "go.set()")
    finally:
        kc.stop_channels()
