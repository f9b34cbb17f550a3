"""GridWorldWidget's and ContinualWidget's front ends in headless Chromium: each bundle's ``render`` gets a
stand-in anywidget model holding the traits Python produced, and must draw them (read back from the page)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

import better_rl_widget
from better_rl_widget.agents.planning import value_iteration
from better_rl_widget.envs import GridWorld
from better_rl_widget.widget.continual_widget import ContinualWidget
from better_rl_widget.widget.grid_widget import GridWorldWidget

pytestmark = pytest.mark.browser
STATIC = Path(better_rl_widget.__file__).resolve().parent / "static"

HARNESS = """
async ([bundle, traits]) => {
  const mod = await import(URL.createObjectURL(new Blob([bundle], {type: "text/javascript"})));
  const values = {};
  for (const [k, v] of Object.entries(traits)) {
    if (v !== null && typeof v === "object" && "b64" in v) {
      const bin = atob(v.b64); const u = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
      values[k] = new DataView(u.buffer);
    } else values[k] = v;
  }
  const handlers = {};
  const model = {
    get: (k) => values[k], set: (k, v) => { values[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); },
    save_changes: () => {}, on: (e, f) => { (handlers[e] = handlers[e] || []).push(f); },
    off: (e, f) => { handlers[e] = (handlers[e] || []).filter((g) => g !== f); },
  };
  const el = document.createElement("div"); document.body.appendChild(el);
  window.__cleanup = mod.default.render({model, el});
  window.__model = model;
  return true;
}
"""


def _bytes(b: bytes) -> dict:
    return {"b64": base64.b64encode(b).decode()}


def test_grid_panel_draws_values_and_switches_view(page):
    env = GridWorld(width=4, height=3, walls=[(1, 1)], lava=[(3, 1)], goals=[(3, 2)], slip=0.05)
    w = GridWorldWidget(env)
    plan = value_iteration(env.P, env.R, 0.95)
    w.show(V=plan.V, policy=plan.policy, visits=np.ones(env.n_states), episode=7, agent="vi", mean_return=0.5)
    page.set_content("<html><body></body></html>")
    page.evaluate(HARNESS, [(STATIC / "grid_widget.js").read_text(),
                            {"layout": _bytes(w.layout), "frame": _bytes(w.frame), "view": "value", "episode": 7}])
    caption = page.locator(".brw-grid > div").last.inner_text()
    assert "episode 7" in caption and "mean return 0.500" in caption and "value" in caption
    assert page.evaluate("document.querySelector('.brw-grid canvas').width") == 4 * 56
    # the wall cell (1, 1) is grey; the start cell (0, 0) has a value colour (neither grey nor the empty colour)
    px = page.evaluate("""() => { const c = document.querySelector('.brw-grid canvas').getContext('2d');
        return [Array.from(c.getImageData(56 + 28, 56 + 5, 1, 1).data),
                Array.from(c.getImageData(10, 150, 1, 1).data)]; }""")
    assert px[0][:3] == [51, 51, 51]
    assert px[1][:3] not in ([51, 51, 51], [238, 238, 238], [0, 0, 0])
    page.click("text=visitation")
    assert "visits" in page.locator(".brw-grid > div").last.inner_text()
    page.evaluate("window.__cleanup()")
    assert page.locator(".brw-grid").count() == 0


def test_continual_panel_draws_series_and_switches(page):
    panel = ContinualWidget()
    panel.task_switch(0)
    panel.push([{"step": s, "layer": layer, "dormant_fraction": 0.1 * s / 10, "effective_rank": 5.0 - s / 10}
                for s in (0, 10, 20) for layer in ("1", "3")])
    panel.task_switch(15)
    page.set_content("<html><body></body></html>")
    page.evaluate(HARNESS, [(STATIC / "continual_widget.js").read_text(), {"series": _bytes(panel.series)}])
    legend = page.locator(".brw-continual > div")
    assert legend.get_attribute("data-points") == "3" and legend.get_attribute("data-switches") == "2"
    assert legend.inner_text().split() == ["■", "1", "■", "3"]
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.brw-continual canvas')).map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; })""")
    assert all(n > 500 for n in drawn)
