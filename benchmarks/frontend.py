"""P4: the front end. The widget's renderer against bare regl-scatterplot and plotly scattergl in headless Chromium.

The same points (a clustered map, coloured by age) and the same camera path at each N:

- fps: camera steps drawn per second while panning and zooming. The path is a drag, then wheel zooms in and out:
  the DOM events a mouse makes, sent to the element under the pointer in an animation frame once the previous
  step has been drawn. Drawn means, seen from outside each library: regl-scatterplot's copy of the frame onto
  the visible canvas (bare, and inside the widget), or plotly's WebGL draws, with the GPU's work on them finished
  (a pixel read back) by the end of each phase. A slow page stops a phase at its share of --cap-s.
- update_ms: from the update call until the frame that shows it is drawn, with 1 % of the points changed (the
  oldest 1 % replaced by new points, as in a rolling buffer; every point's age, hence its colour, changes).

"widget" is better_rl_widget/static/widget.js, the bundle anywidget loads, rendered with a minimal anywidget-like
model and fed the keyframe and the deltas Python makes (better_rl_widget.frames.FrameState); "regl" is
regl-scatterplot used directly with the widget's settings; "plotly" is scattergl from the plotly.min.js inside the
Python plotly package (pan on drag, scroll zoom on, Plotly.restyle for updates). No network: pages and data are
served to the browser by this process on 127.0.0.1. Every page must show points in a screenshot after its first
draw and raise no script error, or its run is an error (and the exit status 1).

The libraries alternate within each round (the order rotates), so every ratio is against an anchor measured in
the same minutes. fps: median over the rounds; update_ms: median over every update of every round.

    python benchmarks/frontend.py                 # table: 50k, 200k, 1M points, 3 rounds
    python benchmarks/frontend.py --json          # one JSON object
    python benchmarks/frontend.py --quick         # smoke run: 2,000 points, 1 round
    python benchmarks/frontend.py --sizes 50000 --rounds 1
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from better_rl_widget.frames.frame_state import FrameState

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STATIC = REPO / "better_rl_widget" / "static"
# Chromium as tests/browser/conftest.py finds and starts it (software WebGL without a GPU).
CHROMIUM = os.environ.get("BRW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LIBS = ("widget", "regl", "plotly")
WIDTH, HEIGHT = 800, 420  # the widget's map is 420 px high (js/src/widget.ts PLOT_HEIGHT)
TARGETS: dict[str, Any] = {"fps_vs_plotly": 3.0, "update_vs_plotly": 5.0, "vs_regl": 0.8, "sizes": [50_000, 200_000]}
INK_MIN = 0.002  # share of the canvas that must show points after the first draw

PAGES = {
    "widget": '<link rel="stylesheet" href="/static/widget.css"><div id="app"></div>'
              '<script type="module" src="/lib/_frontend_widget.js"></script>',
    "regl": '<div id="app"></div><script src="/lib/regl_page.js"></script>',
    "plotly": '<div id="app"></div><script src="/plotly.min.js"></script>'
              '<script type="module" src="/lib/_frontend_plotly.js"></script>',
}


class BenchError(RuntimeError):
    pass


def label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def point_size(n: int) -> int:
    """The widget's point size for n points (js/src/scatter.ts pointSizeFor), used by all three."""
    return 6 if n < 2_000 else 4 if n < 20_000 else 3 if n < 200_000 else 2


def camera_path(drag_steps: int = 30, wheel_steps: int = 15) -> list[dict]:
    """A drag around a circle of 70 px, then wheel zooms in and back out, as fractions of the plot's box.
    The press and a first move past plotly's drag threshold are an untimed lead-in."""
    cx, cy, r = 0.5, 0.5, 70
    angles = np.linspace(0, 2 * np.pi, drag_steps + 1)[1:]
    drag = [{"kind": "move", "fx": cx + float(r * np.cos(a) - r + 12) / WIDTH, "fy": cy + float(r * np.sin(a)) / HEIGHT}
            for a in angles]
    wheel = [{"kind": "wheel", "fx": 0.42, "fy": 0.46, "dy": -20.0}] * wheel_steps
    wheel += [{"kind": "wheel", "fx": 0.42, "fy": 0.46, "dy": 20.0}] * wheel_steps
    return [
        {"name": "drag", "steps": drag,
         "pre": [{"kind": "down", "fx": cx, "fy": cy}, {"kind": "move", "fx": cx + 12 / WIDTH, "fy": cy}],
         "post": [{"kind": "up", "fx": cx + 12 / WIDTH, "fy": cy}]},
        {"name": "wheel", "pre": [], "steps": wheel, "post": []},
    ]


def make_data(n: int, updates: int, changed: float = 0.01, seed: int = 0) -> tuple[dict[str, bytes], list[float]]:
    """Files the pages fetch: the widget's keyframe and deltas (from FrameState, as the live path makes them) and
    the same points and updates as raw arrays for the other two."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-8, 8, size=(40, 2))
    spread = rng.uniform(0.2, 1.2, size=40)

    def sample(m: int) -> np.ndarray:
        c = rng.integers(0, len(centers), m)
        return (centers[c] + rng.normal(size=(m, 2)) * spread[c, None]).astype(np.float32)

    def rows(slots: np.ndarray, step0: int) -> dict[str, np.ndarray]:
        m = len(slots)
        return {"step": np.arange(step0, step0 + m), "episode": np.arange(step0, step0 + m) // 200,
                "action": rng.integers(0, 4, m), "reward": rng.normal(size=m).astype(np.float32),
                "done": (np.arange(step0, step0 + m) % 200 == 199).astype(np.uint8)}

    xy = sample(n)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = 0.02 * (hi - lo)
    extent = [float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])]
    fs = FrameState(n)
    slots = np.arange(n)
    fs.upsert(slots, rows(slots, 0))
    fs.set_coords(slots, xy)
    fs.set_extent(extent)
    files = {"keyframe.bin": fs.keyframe(),
             "base.bin": xy[:, 0].tobytes() + xy[:, 1].tobytes() + np.arange(n, dtype=np.uint32).tobytes()}
    k = max(1, round(changed * n))
    for u in range(updates):
        idx = np.arange(u * k, (u + 1) * k) % n  # the oldest points give way to new ones
        new_xy = sample(k)
        step0 = n + u * k
        fs.upsert(idx, rows(idx, step0))
        fs.set_coords(idx, new_xy)
        blob = fs.take_delta()
        assert blob is not None
        files[f"delta{u}.bin"] = blob
        files[f"upd{u}.bin"] = (idx.astype(np.uint32).tobytes() + new_xy[:, 0].tobytes() + new_xy[:, 1].tobytes()
                                + np.arange(step0, step0 + k, dtype=np.uint32).tobytes())
    return files, extent


def build_regl_page(out: Path) -> Path:
    """Bundle the bare regl-scatterplot page with the project's esbuild (the same regl-scatterplot the widget
    bundles)."""
    esbuild = REPO / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise BenchError(f"{esbuild} is missing: npm install")
    target = out / "regl_page.js"
    subprocess.run([str(esbuild), str(HERE / "_frontend_regl.js"), "--bundle", "--minify", "--format=iife",
                    "--define:process.env.NODE_ENV=\"production\"", f"--outfile={target}", "--log-level=warning"],
                   check=True, cwd=REPO, timeout=120)
    return target


def plotly_js() -> Path:
    import plotly

    p = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not p.exists():
        raise BenchError(f"{p} is missing")
    return p


class Server:
    """What the pages fetch, from a thread of this process on 127.0.0.1 (Playwright's request interception
    passes large bodies too slowly: 20 s for the 1M keyframe)."""

    def __init__(self, regl_page: Path) -> None:
        text = {"/static/widget.js": STATIC / "widget.js", "/static/widget.css": STATIC / "widget.css",
                "/plotly.min.js": plotly_js(), "/lib/regl_page.js": regl_page}
        for name in ("_frontend_widget.js", "_frontend_plotly.js", "_frontend_data.js"):
            text[f"/lib/{name}"] = HERE / name
        self.files: dict[str, bytes] = {k: v.read_bytes() for k, v in text.items()}
        for lib, body in PAGES.items():
            self.files[f"/{lib}.html"] = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                                          f'<link rel="icon" href="data:,"><title>{lib}</title>'
                                          "<style>body{margin:16px;font-family:sans-serif}</style></head>"
                                          f"<body>{body}</body></html>").encode()
        self.data: dict[str, bytes] = {}
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                body = files.files.get(path, files.data.get(path))
                if body is None:
                    self.send_error(404)
                    return
                kind = ("text/html" if path.endswith(".html") else "text/javascript" if path.endswith(".js")
                        else "text/css" if path.endswith(".css") else "application/octet-stream")
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def set_data(self, n: int, files: dict[str, bytes]) -> None:
        self.data = {f"/data/{n}/{k}": v for k, v in files.items()}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def job(page: Any, name: str, arg: dict, timeout_s: float) -> Any:
    """Run a harness job in the page; Playwright's own timeout stops the wait even if the page hangs."""
    page.evaluate("([name, arg]) => window.__bench.start(name, arg)", [name, arg])
    page.wait_for_function("() => window.__bench.result !== undefined", timeout=timeout_s * 1000, polling=250)
    r = page.evaluate("() => window.__bench.result")
    if not r["ok"]:
        raise BenchError(f"{name}: {r['error']}")
    return r["value"]


_INK = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bmp = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext("2d");
  g.drawImage(bmp, 0, 0);
  const d = g.getImageData(0, 0, bmp.width, bmp.height).data;
  let ink = 0;
  for (let i = 0; i < d.length; i += 4) if (Math.min(d[i], d[i + 1], d[i + 2]) < 200) ink++;
  return ink / (d.length / 4);
}"""


def ink(page: Any) -> float:
    """Share of the plot's box that shows something other than the white background, from a screenshot of what
    the page really shows (a library that drew nothing gives 0)."""
    b = page.evaluate("() => { const r = window.benchLib.box(); return [r.left, r.top, r.width, r.height]; }")
    png = page.screenshot(clip={"x": b[0] + 2, "y": b[1] + 2, "width": b[2] - 4, "height": b[3] - 4})
    return float(page.evaluate(_INK, base64.b64encode(png).decode()))


def run_one(browser: Any, server: Server, lib: str, n: int, extent: list[float], opts: argparse.Namespace) -> dict:
    context = browser.new_context(viewport={"width": WIDTH + 200, "height": HEIGHT + 300}, device_scale_factor=1)
    context.add_init_script(path=str(HERE / "_frontend_harness.js"))
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("console", lambda m: problems.append(f"console.error: {m.text}") if m.type == "error" else None)
    out: dict = {"lib": lib, "n": n, "load_at_start": os.getloadavg()[0]}
    try:
        page.goto(f"{server.origin}/{lib}.html", wait_until="load", timeout=60_000)
        page.wait_for_function("() => !!window.benchLib", timeout=60_000, polling=100)
        arg = {"base": f"/data/{n}", "n": n, "updates": opts.updates, "width": WIDTH, "height": HEIGHT,
               "pointSize": point_size(n), "extent": extent, "timeoutMs": opts.init_timeout_s * 1000}
        out["init"] = job(page, "init", arg, opts.init_timeout_s + 30)
        out["first_draw_ms"] = out["init"]["firstDrawMs"]
        out["ink"] = ink(page)
        if out["ink"] < INK_MIN:
            raise BenchError(f"the page shows no points after its first draw (ink {out['ink']:.4f})")
        path = job(page, "path", {"phases": camera_path(opts.drag_steps, opts.wheel_steps),
                                  "capMs": opts.cap_s * 1000, "stepTimeoutMs": opts.step_timeout_s * 1000,
                                  "pauseMs": 1000}, opts.cap_s + opts.step_timeout_s + 30)
        if path["steps"] == 0:
            raise BenchError("no camera step was drawn")
        out.update(fps=path["fps"], steps=path["steps"], capped=path["capped"], path_s=path["elapsedMs"] / 1000,
                   step_ms_median=statistics.median(path["frameMs"]), phase_steps=path["phaseSteps"])
        upd = job(page, "updates", {"count": opts.updates, "capMs": opts.update_cap_s * 1000, "settleMs": 1000,
                                    "timeoutMs": opts.update_timeout_s * 1000},
                  opts.update_cap_s + opts.update_timeout_s + 30)
        out["update_ms"] = upd["ms"]
        errs = page.evaluate("() => window.__bench.errors")
        if errs or problems:
            raise BenchError("; ".join([*errs, *problems])[:2000])
    except Exception as exc:  # noqa: BLE001 - one failed page is reported, the others still run
        out["error"] = f"{type(exc).__name__}: {exc}"[:3000]
        if problems:
            out["error"] += " | " + "; ".join(problems)[:1000]
    finally:
        out["load_at_end"] = os.getloadavg()[0]
        context.close()
    return out


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def run(opts: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise BenchError(f"Chromium not found at {CHROMIUM} (set BRW_CHROMIUM)")
    t_start = time.monotonic()
    load_before = list(os.getloadavg())
    runs: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="brw-frontend-"))
    server: Server | None = None
    try:
        server = Server(build_regl_page(tmp))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                version = browser.version
                for n in opts.sizes:
                    files, extent = make_data(n, opts.updates)
                    server.set_data(n, files)
                    for rnd in range(opts.rounds):
                        order = LIBS[rnd % len(LIBS):] + LIBS[:rnd % len(LIBS)]
                        for lib in order:
                            r = run_one(browser, server, lib, n, extent, opts)
                            r["round"] = rnd
                            runs.append(r)
                            # progress on stderr (stdout keeps the table or the JSON)
                            print(f"  {label(n):>5} round {rnd + 1} {lib:<6} "
                                  + (f"ERROR {r['error'][:300]}" if "error" in r else
                                     f"{r['fps']:6.2f} fps ({r['steps']} steps{', capped' if r['capped'] else ''})"
                                     f"  update {statistics.median(r['update_ms']):9.1f} ms"),
                                  file=sys.stderr, flush=True)
            finally:
                browser.close()
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(tmp, ignore_errors=True)

    fps: dict[str, dict[str, float | None]] = {lib: {} for lib in LIBS}
    update_ms: dict[str, dict[str, float | None]] = {lib: {} for lib in LIBS}
    for lib in LIBS:
        for n in opts.sizes:
            ok = [r for r in runs if r["lib"] == lib and r["n"] == n and "error" not in r]
            fps[lib][str(n)] = statistics.median(r["fps"] for r in ok) if ok else None
            ms = [m for r in ok for m in r["update_ms"]]
            update_ms[lib][str(n)] = statistics.median(ms) if ms else None
    first_draw = {lib: {str(n): _median([r["first_draw_ms"] for r in runs if r["lib"] == lib and r["n"] == n
                                         and "error" not in r]) for n in opts.sizes} for lib in LIBS}
    result: dict = {"fps": fps, "update_ms": update_ms, "first_draw_ms": first_draw}
    met: dict[str, bool | None] = {}
    for n in sorted({*opts.sizes, *TARGETS["sizes"]}):
        key, lab = str(n), label(n)
        f = {lib: fps[lib].get(key) for lib in LIBS}
        u = {lib: update_ms[lib].get(key) for lib in LIBS}
        result[f"ratio_vs_plotly_fps_{lab}"] = ratio(f["widget"], f["plotly"])
        result[f"ratio_vs_regl_fps_{lab}"] = ratio(f["widget"], f["regl"])
        # update ratios are speeds: how many times faster than the other library (its time / ours)
        result[f"ratio_vs_plotly_update_{lab}"] = ratio(u["plotly"], u["widget"])
        result[f"ratio_vs_regl_update_{lab}"] = ratio(u["regl"], u["widget"])
        if n in TARGETS["sizes"] and n in opts.sizes:
            for k, t in ((f"ratio_vs_plotly_fps_{lab}", TARGETS["fps_vs_plotly"]),
                         (f"ratio_vs_plotly_update_{lab}", TARGETS["update_vs_plotly"]),
                         (f"ratio_vs_regl_fps_{lab}", TARGETS["vs_regl"]),
                         (f"ratio_vs_regl_update_{lab}", TARGETS["vs_regl"])):
                met[k] = None if result[k] is None else result[k] >= t
    loads = [x for r in runs for x in (r["load_at_start"], r["load_at_end"])]
    import plotly

    result.update(
        targets=TARGETS, targets_met=met, sizes=list(opts.sizes), rounds=opts.rounds,
        updates_per_round=opts.updates, changed_fraction=0.01,
        camera_path_steps=sum(len(ph["steps"]) for ph in camera_path(opts.drag_steps, opts.wheel_steps)),
        camera_path={"drag_steps": opts.drag_steps, "wheel_steps": 2 * opts.wheel_steps},
        cap_s=opts.cap_s, load_before=load_before, load_after=list(os.getloadavg()),
        load_during={"min": min(loads, default=None), "max": max(loads, default=None)},
        chromium=version, plotly_js=_plotly_js_version(), plotly_py=plotly.__version__,
        regl_scatterplot=json.loads((REPO / "node_modules/regl-scatterplot/package.json").read_text())["version"],
        machine={"cpus": os.cpu_count()}, canvas=[WIDTH, HEIGHT], wall_s=round(time.monotonic() - t_start, 1),
        errors=[f"{r['lib']} {r['n']} round {r['round']}: {r['error']}" for r in runs if "error" in r],
        runs=runs,
    )
    return result


def _plotly_js_version() -> str:
    head = plotly_js().read_bytes()[:200].decode("latin-1")
    return head.split("plotly.js v", 1)[1].split()[0] if "plotly.js v" in head else "?"


def report(r: dict) -> None:
    def f(v: float | None, fmt: str) -> str:
        return "—" if v is None else format(v, fmt)

    print(f"P4 front end: headless Chromium {r['chromium']} (software GL), canvas {r['canvas'][0]}×{r['canvas'][1]}, "
          f"{r['rounds']} round(s), camera path {r['camera_path_steps']} steps, {r['updates_per_round']} updates "
          f"of 1 % a round; load {r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} "
          f"(during {r['load_during']['min']:.1f}–{r['load_during']['max']:.1f}), {r['wall_s']:.0f} s")
    print(f"  {'N':>6}  {'frames/s: widget / regl / plotly':<34}  {'update ms: widget / regl / plotly':<36}  "
          "first draw ms: widget / regl / plotly")
    for n in r["sizes"]:
        k = str(n)
        cols = [" / ".join(f(r[key][lib][k], fmt) for lib in LIBS)
                for key, fmt in (("fps", ".2f"), ("update_ms", ".0f"), ("first_draw_ms", ".0f"))]
        print(f"  {label(n):>6}  {cols[0]:<34}  {cols[1]:<36}  {cols[2]}")
    print("  widget against the others (update: their time / ours):")
    for n in r["sizes"]:
        lab = label(n)
        items = []
        for key, tgt in (("ratio_vs_plotly_fps", r["targets"]["fps_vs_plotly"]),
                         ("ratio_vs_plotly_update", r["targets"]["update_vs_plotly"]),
                         ("ratio_vs_regl_fps", r["targets"]["vs_regl"]),
                         ("ratio_vs_regl_update", r["targets"]["vs_regl"])):
            met = r["targets_met"].get(f"{key}_{lab}")
            verdict = "" if met is None else (f", target ≥ {tgt} met" if met else f", target ≥ {tgt} MISSED")
            items.append(f"{key.removeprefix('ratio_')} {f(r[f'{key}_{lab}'], '.2f')}{verdict}")
        print(f"  {lab:>6}  " + "; ".join(items))
    capped = sorted({f"{x['lib']} {label(x['n'])}" for x in r["runs"] if x.get("capped")})
    if capped:
        print(f"  camera path cut at {r['cap_s']:.0f} s (fps over the steps drawn): {', '.join(capped)}")
    for e in r["errors"]:
        print(f"  ERROR {e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2,000 points, 1 round, short path")
    ap.add_argument("--sizes", type=lambda s: [int(float(x)) for x in s.split(",")],
                    default=[50_000, 200_000, 1_000_000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--updates", type=int, default=3, help="1 %% updates per page and round")
    ap.add_argument("--drag-steps", type=int, default=30)
    ap.add_argument("--wheel-steps", type=int, default=15, help="wheel steps each way (in, then out)")
    ap.add_argument("--cap-s", type=float, default=30.0, help="time cap of one camera path (slow pages stop early)")
    ap.add_argument("--step-timeout-s", type=float, default=60.0, help="longest wait for one camera step")
    ap.add_argument("--update-cap-s", type=float, default=60.0, help="no new update starts after this long")
    ap.add_argument("--update-timeout-s", type=float, default=120.0)
    ap.add_argument("--init-timeout-s", type=float, default=240.0)
    opts = ap.parse_args()
    if opts.quick:
        opts.sizes, opts.rounds, opts.updates = [2_000], 1, 2
        opts.drag_steps, opts.wheel_steps = 10, 5
    r = run(opts)
    if opts.json:
        print(json.dumps(r))
    else:
        report(r)
    if r["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
