"""Map history in a real browser: the time scrubber in JupyterLab, and the self-contained HTML export opened from
a file:// URL with the network off (points drawn, a click inspects, a hostile run name stays text)."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import POINTS_DRAWN, click_point, kernel_eval, wait_seq
from .test_notebook_ui import FEATURE_PANELS, VISIBLE, open_and_run, shutdown_sessions

pytestmark = pytest.mark.browser

ROOT = "document.querySelector('.brw-root')"
IDLE = f"() => {{ const r = {ROOT}; return !!r && !!r.__brw && r.__brw.idle(); }}"

PHASES_CODE = (
    "import numpy as np\n"
    "from better_rl_widget import BufferWidget, TrainingHook, ReplayBuffer\n"
    "def fill(widget, n=300, phases=3):\n"
    "    buf = ReplayBuffer(n)\n"
    "    rng = np.random.default_rng(0)\n"
    "    widget.history.every_s = 0.0  # a snapshot after every frame\n"
    "    hook = TrainingHook(widget, buf, projection='pca', every=50)\n"
    "    for phase in range(phases):  # the data moves between phases, so the map does\n"
    "        for i in range(n):\n"
    "            o = (rng.normal(size=4) + 3 * phase * np.array([1, -1, 0, 0])).astype('float32')\n"
    "            buf.add(o, i % 2, float(phase), o, i % 50 == 49)\n"
    "            hook.on_step()\n"
    "        hook.flush()\n"
    "    hook.close()\n"
    "    return widget\n"
)


def shown_coords(page, slots: list[int]) -> list:
    return page.evaluate(f"slots => slots.map(s => {ROOT}.__brw.shownCoords(s))", slots)


def test_scrubber_shows_the_map_as_it_was(jupyter_server, page):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(PHASES_CODE + "widget = fill(BufferWidget())\nwidget")],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, jupyter_server.root / "scrubber.ipynb")
    try:
        open_and_run(page, jupyter_server.url("lab/workspaces/scrub/tree/scrubber.ipynb"))
        page.wait_for_function(POINTS_DRAWN, arg=300, timeout=90_000)
        page.wait_for_function(f"() => +{ROOT}.dataset.history >= 3", timeout=30_000)
        kc = jupyter_server.kernel_client("scrubber.ipynb")
        try:
            # (queued behind the cell: the run is over when this answers)
            steps, slots, xy, seq = kernel_eval(
                kc, "[widget.history.steps, widget.history[0].slots.tolist(), widget.history[0].xy.tolist(),"
                    " widget.frame_state.seq]")
        finally:
            kc.stop_channels()
        # The page may still be receiving the last frames and index: wait until it has all of them.
        page.wait_for_function(f"n => +{ROOT}.dataset.history === n", arg=len(steps), timeout=30_000)
        wait_seq(page, seq)
        page.wait_for_function(IDLE, timeout=30_000)
        live = shown_coords(page, slots)
        live_screen = page.evaluate(f"s => {ROOT}.__brw.screenPositionOfSlot(s)", slots[0])

        # Scrub to the oldest snapshot: the map drawn is that snapshot, point for point.
        page.locator(".brw-scrubber-range").first.fill("0")
        page.wait_for_function(
            f"([step, n]) => {{ const r = {ROOT}; return r.dataset.scrubbed === '1' && +r.dataset.shownStep === step"
            " && +r.dataset.points === n && r.__brw.idle(); }", arg=[steps[0], len(slots)], timeout=30_000)
        old = shown_coords(page, slots)
        assert old == xy  # exactly the snapshot's float32 coordinates
        assert sum(a != b for a, b in zip(old, live)) > 0.9 * len(slots)  # and not the live map's
        assert page.evaluate(f"s => {ROOT}.__brw.screenPositionOfSlot(s)", slots[0]) != live_screen
        assert f"step {steps[0]:,}" in page.locator(".brw-scrubber").first.inner_text()
        assert "not drawn" in page.locator(".brw-status").first.inner_text()

        # A click on the old map shows that snapshot's row: every slot was overwritten since (900 insertions into
        # 300 slots), so Python's answer about the buffer as it is now must not replace it.
        slot = click_point(page)
        page.wait_for_function(f"s => +{ROOT}.dataset.inspected === s", arg=slot, timeout=10_000)
        kc = jupyter_server.kernel_client("scrubber.ipynb")
        try:
            py_clicked, py_step = kernel_eval(kc, "[widget.clicked, "
                                                  "__import__('better_rl_widget.frames.codec').frames.codec"
                                                  ".decode(widget.inspection)[0].get('step')]")
            # A status change sent after Python's answer: once the page shows it, the answer has arrived too
            # (one comm, in order). The view must have kept its own row.
            kernel_eval(kc, "widget.update_status(selected=4242) or True")
        finally:
            kc.stop_channels()
        assert py_clicked == slot and py_step is not None
        page.wait_for_function(f"() => {ROOT}.dataset.selectedPython === '4242'", timeout=30_000)
        text = page.locator(".brw-inspector").first.inner_text()
        assert f"map at step {steps[0]:,}" in text
        i = slots.index(slot)
        old_step = page.locator(".brw-inspector [data-field='step'] .brw-field-v").first.inner_text()
        assert int(old_step.replace(",", "")) != py_step  # the snapshot's transition, not the buffer's current one
        assert page.locator(".brw-inspector [data-field='reward'] .brw-field-v").first.inner_text() == "0"  # phase 0
        assert shown_coords(page, [slot])[0] == xy[i]

        # "live" snaps back to the present.
        page.locator(".brw-scrubber-live").first.click()
        page.wait_for_function(f"() => {{ const r = {ROOT}; return r.dataset.scrubbed === '0' && +r.dataset.points"
                               " === 300 && r.__brw.idle(); }", timeout=30_000)
        assert shown_coords(page, slots) == live
        assert "not drawn" not in page.locator(".brw-status").first.inner_text()
    finally:
        shutdown_sessions(jupyter_server)


# -- the exported file, offline -------------------------------------------------------------------------------
def _live_widget():
    ns: dict = {}
    exec(PHASES_CODE, ns)  # the same run as in the notebook above, in this process
    return ns["fill"](ns["BufferWidget"]())


def offline_page(browser):
    """A page that can load only file:// URLs: the context is offline and every other request is aborted."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    requests: list[str] = []
    dialogs: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:", "blob:")) else None)
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    return context, pg, requests, dialogs, errors


def test_exported_html_works_offline_from_a_file_url(browser, tmp_path):
    widget = _live_widget()
    snaps = list(widget.history)
    out = widget.to_html(tmp_path / "run.html", title="CartPole-ish run")
    context, pg, requests, dialogs, errors = offline_page(browser)
    try:
        pg.goto(out.as_uri())
        pg.wait_for_function(POINTS_DRAWN, arg=300, timeout=60_000)
        root = pg.locator(".brw-root").first
        assert int(root.get_attribute("data-history")) == len(snaps)
        assert int(root.get_attribute("data-shown-step")) == snaps[-1].step
        assert pg.locator("#brw-title").inner_text() == "CartPole-ish run"
        assert "300 / 300" in pg.locator(".brw-gauge").inner_text()
        # Only what a recorded map has: no interpretability, histogram or influential panels, and no button (a
        # replay has no live map, and nothing here could answer a request).
        assert pg.evaluate(VISIBLE, f"{FEATURE_PANELS}, .brw-summary, .brw-root button") == []
        # colour-by offers the snapshot's fields
        options = pg.locator(".brw-colorby-select option").evaluate_all("os => os.map(o => o.value)")
        assert {"reward", "action", "episode", "return"} <= set(options)
        pg.locator(".brw-colorby-select").select_option("reward")
        pg.wait_for_function(f"() => {ROOT}.querySelector('.brw-legend-title')?.textContent === 'reward'")

        # a click shows that point's fields from the snapshot
        slot = click_point(pg)
        last = snaps[-1]
        i = int(np.flatnonzero(last.slots == slot)[0])
        text = pg.locator(".brw-inspector").inner_text()
        assert f"slot {slot:,}" in text and f"map at step {last.step:,}" in text
        shown_step = pg.locator(".brw-inspector [data-field='step'] .brw-field-v").inner_text()
        assert shown_step.replace(",", "") == str(int(last.fields["step"][i]))

        # the scrubber works from the inlined data alone
        pg.locator(".brw-scrubber-range").fill("0")
        pg.wait_for_function(f"n => +{ROOT}.dataset.points === n && +{ROOT}.dataset.shownStep === {snaps[0].step}",
                             arg=len(snaps[0].slots), timeout=30_000)
        assert shown_coords(pg, [int(snaps[0].slots[0])])[0] == snaps[0].xy[0].tolist()
        assert requests == [] and dialogs == [] and errors == []
    finally:
        context.close()


def test_a_hostile_run_name_does_not_execute(browser, tmp_path):
    from better_rl_widget.frames.snapshot import MapSnapshot
    from better_rl_widget.widget.export import export_html

    title = '<img src=x onerror=alert(1)></script><script>window.__pwned = 1; alert(2)</script>'
    field = "<img src=x onerror=alert(3)>"
    rng = np.random.default_rng(0)
    slots = np.arange(50, dtype=np.uint32)
    snap = MapSnapshot(step=7, time_s=1.0, slots=slots, xy=rng.normal(size=(50, 2)).astype(np.float32),
                       extent=(-3.0, 3.0, -3.0, 3.0), fields={"step": slots, field: np.ones(50, np.float32)})
    out = export_html(tmp_path / "xss.html", [snap], title=title)
    context, pg, requests, dialogs, errors = offline_page(browser)
    try:
        pg.goto(out.as_uri())
        pg.wait_for_function(POINTS_DRAWN, arg=50, timeout=60_000)
        click_point(pg)
        pg.locator(".brw-colorby-select").select_option(field)
        # Both hostile strings are on the page now (inspector row, legend title); injected markup would be too.
        pg.wait_for_function(f"f => {ROOT}.querySelector('.brw-legend-title')?.textContent === f", arg=field,
                             timeout=30_000)
        assert dialogs == []
        assert pg.evaluate("() => window.__pwned") is None
        assert pg.evaluate("() => document.querySelectorAll('img').length") == 0  # no element was injected
        assert pg.evaluate("() => document.scripts.length") == 2
        assert pg.locator("#brw-title").inner_text() == title and pg.title() == title  # shown as text
        assert field in pg.locator(".brw-inspector").inner_text()
        assert pg.locator(".brw-legend-title").first.inner_text() == field
        assert requests == [] and errors == []
    finally:
        context.close()
