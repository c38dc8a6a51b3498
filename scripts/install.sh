#!/usr/bin/env bash
# Install what ridgeviz needs on a fresh machine. With --with-browser, also Debian's Chromium for the
# real-browser tests (needs root or sudo; skipped with a note when neither is available).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--with-browser" ]] && ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
  if [[ "$SUDO" != "none" ]]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "note: cannot install chromium (not root); the real-browser tests will be skipped" >&2
  fi
fi
python3 -m pip install -q -r requirements.txt
python3 -m pip install -q --no-deps --no-build-isolation -e .
