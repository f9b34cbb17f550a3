"""The benchmark scripts run and print what their docs promise (sizes, not timings, are asserted)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_transport_benchmark_json():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "transport.py"), "--json", "--n", "20000",
                          "--ticks", "3"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"delta_fraction", "encode_ms", "full_bytes", "delta_bytes"} <= set(r)
    # payload size is deterministic: 1% of rows changed must cost well under 5% of a full resend
    assert 0.005 < r["delta_fraction"] < 0.05


def test_overhead_benchmark_json():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "overhead.py"), "--json", "--steps", "400",
                          "--repeats", "1"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"ratio", "hooked_steps_per_s", "plain_steps_per_s", "target"} <= set(r)
    assert r["ratio"] > 0 and len(r["hooked_runs"]) == len(r["plain_runs"]) == 1
    # the hooked side really drew the buffer with TD-errors on
    assert r["points"] == 400 and "td_error" in r["channels"]


def test_embed_live_benchmark_json():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "embed_live.py"), "--json", "--n", "300",
                          "--rate", "300", "--seconds", "2", "--data", "features"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"fps", "latency_p95_s", "knn_ratio", "displacement"} <= set(r)
    run = r["runs"][0]
    assert run["n"] == 300 and run["frames"] >= 2
    assert 0 < run["knn_full"] <= 1 and 0 < run["knn_live"] <= 1  # both maps really measured
    assert r["knn_ratio"] == run["knn_live"] / run["knn_full"]


def test_ray_scale_benchmark_json():
    import pytest

    pytest.importorskip("ray")
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ray_scale.py"), "--json", "--seeds", "3",
                          "--instances", "4", "--episodes", "20", "--steps", "20", "--num-cpus", "2",
                          "--workers", "2", "--rows", "300"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert {"local_s", "ray_init_s", "ray_first_s", "ray_warm_s", "speedup_warm", "capture_rows_per_s"} <= set(r)
    assert r["identical"] is True  # every seed's results equal between the backends
    assert r["capture_rows"] == r["capture_points"] == 600 and r["capture_dropped"] == 0
