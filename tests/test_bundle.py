"""The JS bundle shipped in the package is built from the current js/src, self-contained, and in the wheel."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import better_rl_widget

REPO = Path(__file__).resolve().parents[1]
STATIC = Path(better_rl_widget.__file__).resolve().parent / "static"


def sources_sha256(repo: Path) -> str:
    """Same recipe as js/build.mjs: sorted repo-relative POSIX paths; path, NUL, bytes, NUL for each file."""
    files = [p for p in (repo / "js" / "src").rglob("*") if p.is_file()]
    files += [repo / "js" / "build.mjs", repo / "package-lock.json"]
    h = hashlib.sha256()
    for rel in sorted(p.relative_to(repo).as_posix() for p in files):
        h.update(rel.encode())
        h.update(b"\0")
        h.update((repo / rel).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def test_bundle_is_built_from_current_sources():
    info = STATIC / "build-info.json"
    assert info.exists(), "no build-info.json: run `npm run build` (or make js)"
    built = json.loads(info.read_text())["sources_sha256"]
    assert built == sources_sha256(REPO), "the JS bundle is stale against js/src: run `npm run build` (make js)"


@pytest.mark.parametrize("name", ["widget.js", "export_page.js"])
def test_bundle_needs_no_network(name):
    js = (STATIC / name).read_text(encoding="utf-8")
    assert len(js) > 10_000
    # nothing imported or fetched from elsewhere at run time
    assert not re.search(r"""\bimport\s*(\(|[^;]*?\bfrom\s*)\s*["']https?://""", js)
    for host in ("cdn.jsdelivr", "unpkg.com", "esm.sh", "cdnjs", "skypack"):
        assert host not in js, f"bundle refers to {host}"
    assert (STATIC / "widget.css").stat().st_size > 100


@pytest.mark.timeout(300)
def test_wheel_contains_the_built_front_end(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, cwd=REPO)
    wheel = next(tmp_path.glob("better_rl_widget-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("widget.js", "export_page.js", "widget.css", "build-info.json"):
        assert f"better_rl_widget/static/{f}" in names
    assert not any("node_modules" in n or n.startswith("js/") for n in names)
