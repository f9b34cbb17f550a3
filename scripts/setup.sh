#!/usr/bin/env bash
# Everything a fresh machine needs: Chromium for the browser tests, a venv with torch pinned to the CPU build,
# the front end's npm packages, and this package installed editable (which also builds the JS bundle).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

# chromium: the browser tests; g++: scripts/build_torchrl_ext.py (torchrl's prioritized-replay extension).
apt_pkgs=()
command -v chromium >/dev/null 2>&1 || apt_pkgs+=(chromium)
command -v g++ >/dev/null 2>&1 || apt_pkgs+=(g++)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_pkgs[@]}"
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
pip="$VENV/bin/python -m pip"
$pip install -q --disable-pip-version-check torch==2.13.0
npm ci --no-audit --no-fund
$pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev]"
# torchrl's wheel ships its sum-tree extension built for another torch: build it here only if it does not load.
"$VENV/bin/python" scripts/build_torchrl_ext.py
echo "setup done: $VENV"
