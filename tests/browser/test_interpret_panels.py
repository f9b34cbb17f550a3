"""Interpretability panels in a real JupyterLab: skill graph, calibration, value trace, episode paths over the map,
influence on request; clicking a skill highlights exactly its points, in the view and in Python."""

from __future__ import annotations

import pytest

from .conftest import POINTS_DRAWN, kernel_eval
from .test_notebook_ui import open_and_run, shutdown_sessions

pytestmark = pytest.mark.browser


def test_interpret_panels_render_and_a_skill_click_highlights_its_points(jupyter_server, page):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    # worker="thread": frames (and with them the history snapshots the scrub step needs) arrive from the first
    # steps of this short run; the worker process would spend them starting up.
    code = ("from better_rl_widget import BufferWidget, TrainingHook\n"
            "from better_rl_widget.agents.dqn import DQN, DQNConfig\n"
            "agent = DQN('CartPole-v1', DQNConfig(buffer_size=2_000, learning_starts=200), seed=0)\n"
            "widget = BufferWidget()\n"
            "hook = TrainingHook(widget, agent.buffer, projection='pca', q_network=agent.q,\n"
            "                    target_network=agent.q_target, worker='thread', max_points=2_000)\n"
            "agent.learn(1_500, callback=hook.on_step)\n"
            "hook.close()\n"
            "svc = widget.enable_interpret(hook, k=3, last=2)\n"
            "widget")
    nb = new_notebook(cells=[new_code_cell(code)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, jupyter_server.root / "interpret_view.ipynb")
    try:
        open_and_run(page, jupyter_server.url("lab/workspaces/interpret/tree/interpret_view.ipynb"))
        page.wait_for_function(POINTS_DRAWN, arg=1_500, timeout=180_000)
        page.wait_for_function("() => { const p = document.querySelector('.brw-interp');"
                               " return !!p && !p.hidden && p.dataset.skills === '3'; }", timeout=120_000)
        root = page.locator(".brw-root").first
        panel = page.locator(".brw-interp").first
        # The service answered this view (it published while the view was open): controls and influence buttons show.
        page.wait_for_function("() => document.querySelector('.brw-interp').dataset.live === '1'", timeout=60_000)
        charts = panel.locator(".brw-interp-chart")
        assert charts.count() == 4 and all(charts.nth(i).is_visible() for i in range(4))
        assert panel.locator(".brw-interp-controls").is_visible() and panel.locator("button[data-group]").count() == 4
        # Panels render: 3 skill nodes, calibration dots + binned means, a value trace, paths over the map.
        assert panel.locator("circle.brw-interp-node").count() == 3
        assert int(panel.get_attribute("data-calibration")) > 100
        assert panel.locator("polyline.brw-interp-bins").count() == 1
        assert panel.locator("polyline.brw-interp-v").count() == 1
        assert "bias" in panel.inner_text() and "transition entropy" in panel.inner_text()
        assert panel.locator("rect.brw-interp-run").count() >= 2  # skill timeline: a row per episode shown
        kc = jupyter_server.kernel_client("interpret_view.ipynb")
        try:
            # The overlay draws both episodes of the last 2, every state of them.
            n_path = kernel_eval(kc, "int(sum((svc.table['episode'] == e).sum() for e in "
                                     "sorted(svc.table['episode'].unique())[-2:]))")
            assert n_path > 0
            page.wait_for_function("n => +document.querySelector('.brw-root').dataset.paths === n", arg=n_path,
                                   timeout=30_000)
            # Colour by skill, V(s) and Q(s, a) of the taken action are offered.
            for channel in ("skill", "value", "q"):
                assert page.locator(f".brw-colorby-select option[value='{channel}']").count() == 1

            panel.locator("circle.brw-interp-node[data-skill='1']").click()
            page.wait_for_function(
                "() => { const r = document.querySelector('.brw-root');"
                " return +r.dataset.selected > 0 && r.dataset.selectedPython === r.dataset.selected; }",
                timeout=30_000)
            view_slots = sorted(root.evaluate("r => r.__brw.selectedSlots()"))
            want = kernel_eval(kc, "sorted(int(s) for s in widget.frame_state.present_slots() "
                                   "if widget.frame_state.column('skill', [s])[0] == 1)")
            # The page selects map points; Python names them as points and as buffer slots.
            got, slots_ok = kernel_eval(kc, "[sorted(widget.selected_points.tolist()), "
                                            "bool((widget.selection == "
                                            "widget.buffer_slots(widget.selected_points)).all())]")
            assert view_slots == want == got and len(want) > 0 and slots_ok
            assert panel.get_attribute("data-selected-skill") == "1"

            # Influence of the TD-error quartiles, run on request in Python's background thread.
            panel.locator("button[data-group='td']").click()
            page.wait_for_function("() => document.querySelector('.brw-interp').dataset.influence === '4'",
                                   timeout=120_000)
            assert "vs random" in panel.inner_text()

            # Scrubbed to an older map, the live episodes' paths are not drawn over it (their slots held other
            # transitions then); back to live, they are.
            assert int(root.get_attribute("data-history") or 0) >= 2
            page.locator(".brw-scrubber-range").first.fill("0")
            page.wait_for_function("() => { const r = document.querySelector('.brw-root');"
                                   " return r.dataset.scrubbed === '1' && r.dataset.paths === '0'; }", timeout=30_000)
            page.locator(".brw-scrubber-live").first.click()
            page.wait_for_function("() => { const r = document.querySelector('.brw-root');"
                                   " return r.dataset.scrubbed === '0' && +r.dataset.paths > 0; }", timeout=30_000)
        finally:
            kc.stop_channels()
    finally:
        shutdown_sessions(jupyter_server)
