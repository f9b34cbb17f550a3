"""benchmarks/store.py runs and reports what its docs promise (sizes, not timings, are asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_store_benchmark_json():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "store.py"), "--json", "--transitions", "20000",
                          "--chunk", "5000", "--steps", "400", "--repeats", "1", "--snapshot-every", "0.2"],
                         check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                         timeout=600).stdout
    r = json.loads(out)
    assert {"transitions_per_s", "overhead_ratio"} <= set(r)
    assert r["transitions_written"] == 20000 and r["transitions_per_s"] > 0 and r["overhead_ratio"] > 0
    assert r["snapshots"] >= 1 and r["metric_rows"] > 0  # the recorded side really recorded
