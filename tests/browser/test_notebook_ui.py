"""The quickstart in a real JupyterLab (and Notebook 7) in headless Chromium: points drawn, a click and a lasso
reach Python while training still runs."""

from __future__ import annotations

import shutil

import pytest

from .conftest import POINTS_DRAWN, click_point, drawn_point, kernel_eval, lasso

pytestmark = pytest.mark.browser


# A network that looks only at rows 24-31, columns 8-15 of 42x42 frames: saliency must put its mass there.
PATCH_NET = ("class PatchNet(torch.nn.Module):\n"
             "    def __init__(self):\n"
             "        super().__init__(); w = torch.zeros(3, 4, 42, 42)\n"
             "        w[:, :, 24:32, 8:16] = torch.randn(3, 4, 8, 8, generator=torch.Generator().manual_seed(0))\n"
             "        self.w = torch.nn.Parameter(w)\n"
             "    def forward(self, x): return torch.einsum('nchw,achw->na', x, self.w)\n")


def run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).first.click()
    page.get_by_text("Run All Cells", exact=True).first.click()


# Panels of a feature that is off (no enable_interpret, no live service to answer requests) must not show, not even
# empty: the skill graph, calibration, value trace and timeline charts, segments, controls and influence buttons.
FEATURE_PANELS = ".brw-interp, .brw-interp-chart, .brw-interp-segments, .brw-interp-controls, .brw-interp-buttons"
VISIBLE = ("sel => Array.from(document.querySelectorAll(sel))"
           ".filter(e => e.getClientRects().length > 0).map(e => e.className)")


STARTED = ("() => Array.from(document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt'))"
           ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))")


def open_and_run(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    # Run All is dropped when it comes before the kernel is connected: wait for it, and check that cells started.
    try:  # JupyterLab's status bar says "Idle"; Notebook 7 shows only an icon, so this wait is best effort
        page.wait_for_function("() => /Idle/.test(document.body.innerText)", timeout=20_000)
    except Exception:  # noqa: BLE001 - the started-cells check below is what decides
        pass
    for _ in range(3):
        run_all(page)
        try:
            page.wait_for_function(STARTED, timeout=20_000)
            return
        except Exception:  # noqa: BLE001 - retried below
            continue
    raise AssertionError("the notebook's cells never started running")


def shutdown_sessions(server) -> None:
    for s in server.api("api/sessions"):
        server.api(f"api/sessions/{s['id']}", method="DELETE")


def test_quickstart_click_and_lasso_reach_python_while_training(jupyter_server, page):
    open_and_run(page, jupyter_server.url("lab/workspaces/quickstart/tree/quickstart.ipynb"))
    page.wait_for_function(POINTS_DRAWN, arg=200, timeout=180_000)
    root = page.locator(".brw-root").first
    kc = jupyter_server.kernel_client("quickstart.ipynb")
    try:
        # The page draws Python's sampled map: at most its 1,000 points. (Not compared with n_points: once the
        # buffer outgrows the sample, points leave and join it every frame; test_faults compares held maps.)
        drawn = int(root.get_attribute("data-points"))
        assert 0 < drawn <= kernel_eval(kc, "widget.frame_state.capacity") == 1_000
        assert page.locator(".brw-interp").count() == 1 and page.evaluate(VISIBLE, FEATURE_PANELS) == []

        # Hover shows the point's row from the view's own state. A frame can move the point from under the
        # cursor (the governor draws fewer, larger steps): find it again and retry.
        canvas = root.locator("canvas").first
        tip = page.locator(".brw-tooltip:not([hidden])").first
        for _ in range(10):
            # The notebook may scroll while its cells run: bring the map into view, read where it is now.
            canvas.scroll_into_view_if_needed()
            target = drawn_point(page)
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + target[1], box["y"] + target[2])
            try:
                tip.wait_for(timeout=3_000)
                break
            except Exception:  # noqa: BLE001 - the point moved away: try again
                page.mouse.move(box["x"] + 2, box["y"] + 2)
        else:
            raise AssertionError("hovering a drawn point never showed its tooltip")
        assert "slot" in tip.inner_text() and "reward" in tip.inner_text()

        # Click a drawn point (the live t-SNE keeps moving points a little: click_point retries).
        click_point(page)
        page.wait_for_function(
            "() => { const r = document.querySelector('.brw-root');"
            " return +r.dataset.clicked >= 0 && r.dataset.inspected === r.dataset.clicked; }", timeout=30_000)
        clicked = int(root.get_attribute("data-clicked"))
        py_clicked, py_slot, done, _step = kernel_eval(
            kc, "[widget.clicked, __import__('better_rl_widget.frames.codec').frames.codec.decode(widget.inspection)[0]"
                ".get('buffer_slot', -1), run.done, hook.step]")
        assert py_clicked == clicked and py_slot >= 0
        assert done is False, "training had already finished: the click was not tested during training"
        # The inspector names the buffer slot Python answered with (the map draws a sample of the 20k-slot
        # buffer: a point id is not a slot, and the point's lane may hold another slot by now).
        assert f"slot {py_slot:,}" in page.locator(".brw-inspector").first.inner_text()

        # Lasso (shift-drag) around the middle of the map.
        lasso(page)
        page.wait_for_function(
            "() => { const r = document.querySelector('.brw-root');"
            " return +r.dataset.selected > 0 && r.dataset.selectedPython === r.dataset.selected; }", timeout=30_000)
        n_selected = int(root.get_attribute("data-selected"))
        # The page selects map points (ids below the map's 1,000 points, not the buffer's 20k slots);
        # widget.selection names their buffer slots, so it has at most as many: training moves points out of
        # the sample meanwhile (so "still drawn now" is no check here).
        py_n, py_dtype, py_valid, n_slots, done = kernel_eval(
            kc, "[len(widget.selected_points), str(widget.selection.dtype),"
                " bool(widget.frame_state.capacity == 1_000 and (widget.selected_points < 1_000).all()),"
                " len(widget.selection), run.done]")
        assert py_n == n_selected and py_dtype == "uint32" and py_valid and 0 < n_slots <= py_n
        assert done is False, "training had already finished: the lasso was not tested during training"

        # The status line shows live frames from the worker.
        assert "frames" in page.locator(".brw-status").first.inner_text()
        kernel_eval(kc, "run.stop() or True")
    finally:
        kc.stop_channels()
        shutdown_sessions(jupyter_server)


def test_quickstart_renders_in_notebook7(jupyter_server, page):
    shutil.copy(jupyter_server.root / "quickstart.ipynb", jupyter_server.root / "quickstart_nb7.ipynb")
    try:
        open_and_run(page, jupyter_server.url("notebooks/quickstart_nb7.ipynb"))
        page.wait_for_function(POINTS_DRAWN, arg=50, timeout=180_000)
        assert page.locator(".brw-root canvas").count() >= 1
    finally:
        shutdown_sessions(jupyter_server)


def test_a_view_opened_after_the_data_was_sent_shows_it(jupyter_server, page):
    """The widget is displayed only after the hook flushed and closed: no delta will ever come, so the view must
    fetch the current state itself (it would otherwise show the empty keyframe from attach time)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    code = ("import numpy as np\n"
            "from better_rl_widget import BufferWidget, TrainingHook, ReplayBuffer\n"
            "buf = ReplayBuffer(500)\n"
            "rng = np.random.default_rng(0)\n"
            "for i in range(321):\n"
            "    o = rng.normal(size=4).astype('float32'); buf.add(o, i % 2, 1.0, o, i % 40 == 39)\n"
            "widget = BufferWidget()\n"
            "with TrainingHook(widget, buf, projection='pca') as hook:\n"
            "    hook.flush()\n")
    nb = new_notebook(cells=[new_code_cell(code), new_code_cell("widget")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, jupyter_server.root / "late_view.ipynb")
    try:
        open_and_run(page, jupyter_server.url("lab/workspaces/late/tree/late_view.ipynb"))
        page.wait_for_function(POINTS_DRAWN, arg=321, timeout=60_000)
        assert int(page.locator(".brw-root").first.get_attribute("data-points")) == 321
    finally:
        shutdown_sessions(jupyter_server)


def test_clicking_an_image_state_overlays_saliency_maps(jupyter_server, page):
    """Image observations: a click asks Python for perturbation maps, which come back while the kernel is free and
    are drawn over every frame of the stack."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    code = ("import numpy as np, torch\n"
            "from better_rl_widget import BufferWidget, TrainingHook, ReplayBuffer\n"
            + PATCH_NET +
            "rng = np.random.default_rng(0)\n"
            "buf = ReplayBuffer(200)\n"
            "for i in range(120):\n"
            "    f = rng.integers(0, 60, (4, 42, 42)).astype(np.uint8); buf.add(f, i % 3, 0.0, f, False)\n"
            "widget = BufferWidget()\n"
            "with TrainingHook(widget, buf, projection='pca') as hook:\n"
            "    hook.flush()\n"
            "widget.enable_saliency(PatchNet(), r=3, d=3)\n"
            "widget")
    nb = new_notebook(cells=[new_code_cell(code)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, jupyter_server.root / "saliency_view.ipynb")
    try:
        open_and_run(page, jupyter_server.url("lab/workspaces/saliency/tree/saliency_view.ipynb"))
        page.wait_for_function(POINTS_DRAWN, arg=120, timeout=60_000)
        click_point(page)
        page.wait_for_function("() => { const r = document.querySelector('.brw-root'); return +r.dataset.saliency >= 0"
                               " && r.dataset.saliency === r.dataset.inspected; }", timeout=60_000)
        assert page.locator(".brw-saliency-overlay").count() == 4  # one per frame of the 4-frame stack
        # the overlay's red (actor) mass sits on the patch the network reads
        frac = page.evaluate("""() => {
            const c = document.querySelector('.brw-saliency-overlay');
            const d = c.getContext('2d').getImageData(0, 0, 42, 42).data;
            let inside = 0, all = 0;
            for (let y = 0; y < 42; y++) for (let x = 0; x < 42; x++) { const a = d[4 * (y * 42 + x)];
              all += a; if (y >= 16 && y < 40 && x >= 0 && x < 24) inside += a; }
            return inside / all; }""")
        assert frac > 0.9
    finally:
        shutdown_sessions(jupyter_server)


def test_influential_list_shows_thumbnails_with_saliency_and_opens_the_inspector(jupyter_server, page):
    """An image buffer with priorities: every row of the influential list gets a thumbnail with real pixels; the
    list's saliency toggle overlays the actor map (red) on them; a row click still opens the inspector."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    code = ("import numpy as np, torch\n"
            "from better_rl_widget import BufferWidget, TrainingHook, PrioritizedReplayBuffer\n"
            + PATCH_NET +
            "rng = np.random.default_rng(0)\n"
            "buf = PrioritizedReplayBuffer(200, alpha=1.0, seed=0)\n"
            "for i in range(120):\n"
            "    f = rng.integers(0, 255, (4, 42, 42)).astype(np.uint8); buf.add(f, i % 3, 0.0, f, False)\n"
            "widget = BufferWidget()\n"
            "with TrainingHook(widget, buf, projection='pca') as hook:\n"
            "    hook.flush()\n"
            "    buf.update_priorities(np.arange(30), rng.random(30) * 10); hook.on_step()\n"
            "widget.enable_saliency(PatchNet(), r=3, d=3)\n"
            "widget")
    nb = new_notebook(cells=[new_code_cell(code)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, jupyter_server.root / "thumbnails_view.ipynb")
    rows = ".brw-influential-row[data-thumb='1']"
    try:
        open_and_run(page, jupyter_server.url("lab/workspaces/thumbs/tree/thumbnails_view.ipynb"))
        page.wait_for_function(f"() => document.querySelectorAll(\"{rows}\").length >= 20", timeout=90_000)
        assert page.locator(".brw-influential-row").count() == 20
        stats = page.evaluate(f"""() => Array.from(document.querySelectorAll("{rows} canvas.brw-thumb")).map(c => {{
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const seen = new Set();
            let lit = 0;
            for (let k = 0; k < d.length; k += 4) {{ seen.add(d[k]); if (d[k] > 0 && d[k + 3] === 255) lit++; }}
            return {{w: c.width, h: c.height, distinct: seen.size, lit,
                     css: getComputedStyle(c).imageRendering}}; }})""")
        assert len(stats) == 20
        for s in stats:  # 42x42 frames → 21x21 thumbnails of random pixels: many grey levels, crisp when scaled
            assert (s["w"], s["h"]) == (21, 21) and s["distinct"] > 50 and s["lit"] > 300
            assert s["css"] == "pixelated"

        # the toggle asks Python for saliency thumbnails; they arrive as red (actor) over the read patch
        toggle = page.locator(".brw-thumb-saliency").first
        assert toggle.is_visible() and not toggle.is_checked()
        toggle.check()
        page.wait_for_function("() => document.querySelectorAll(\".brw-influential-row[data-saliency='1']\")"
                               ".length >= 20", timeout=90_000)
        red = page.evaluate("""() => {
            const c = document.querySelector(".brw-influential-row[data-saliency='1'] canvas");
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let inside = 0, all = 0;
            for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
              const k = 4 * (y * c.width + x); const r = Math.max(0, d[k] - d[k + 1]);  // red excess over green
              all += r; if (y >= 8 && y < 20 && x >= 0 && x < 12) inside += r; }
            return inside / all; }""")
        assert red > 0.8

        # a row click opens that slot in the inspector, as before
        row = page.locator(rows).nth(3)
        slot = int(row.get_attribute("data-slot"))
        row.locator("canvas").click()
        page.wait_for_function("s => document.querySelector('.brw-root').dataset.inspected === String(s)", arg=slot,
                               timeout=60_000)
    finally:
        shutdown_sessions(jupyter_server)
