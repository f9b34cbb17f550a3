"""benchmarks/frontend.py (P4) runs end to end, tiny: all three pages draw in headless Chromium and report figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("BRW_CHROMIUM", "/usr/bin/chromium")  # as tests/browser/conftest.py finds it


def test_frontend_benchmark_quick_json():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/setup.sh (apt-get install chromium)")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "frontend.py"), "--json", "--sizes", "2000",
                           "--rounds", "1", "--updates", "2", "--drag-steps", "6", "--wheel-steps", "3"],
                          check=False, capture_output=True, text=True, timeout=400, cwd=REPO)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    r = json.loads(lines[-1])
    # a page that failed to draw (no points in its screenshot, a script error, a step never drawn) is an error
    assert r["errors"] == [], r["errors"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    libs = {"widget", "regl", "plotly"}
    assert {"fps", "update_ms", "load_before", "load_after", "load_during", "chromium", "camera_path_steps",
            "targets", "targets_met", "runs"} <= set(r)
    for size in ("2k", "50k", "200k"):
        for key in ("ratio_vs_plotly_fps", "ratio_vs_regl_fps", "ratio_vs_plotly_update", "ratio_vs_regl_update"):
            assert f"{key}_{size}" in r
    assert set(r["fps"]) == set(r["update_ms"]) == libs
    for lib in libs:
        assert r["fps"][lib]["2000"] > 0, lib
        assert r["update_ms"][lib]["2000"] > 0, lib
    for key in ("ratio_vs_plotly_fps_2k", "ratio_vs_regl_fps_2k", "ratio_vs_plotly_update_2k",
                "ratio_vs_regl_update_2k"):
        assert r[key] > 0, key
    assert r["camera_path_steps"] == 12 and r["chromium"]
    assert len(r["runs"]) == 3
    for run in r["runs"]:
        assert run["ink"] > 0.002, run  # the screenshot after the first draw shows points
        assert run["steps"] == 12 and not run["capped"], run  # every camera step was drawn
        assert len(run["update_ms"]) == 2, run
