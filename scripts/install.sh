#!/usr/bin/env bash
# Install what ridgeviz needs into the project's environment, .venv/ (the README runs .venv/bin/...).
#
# - Inside an active virtual environment (or conda env): that environment is used, and .venv links to it.
# - Otherwise (a system or user Python, including an "externally managed" one, PEP 668, such as Debian's
#   /usr/bin/python3): a project virtual environment is created in .venv/ and used. When Python's venv module
#   is missing (Debian's python3-venv), it is installed with apt-get when root or sudo is available.
# - With --with-browser, also Debian's Chromium (the real-browser tests and PNG/SVG export); needs root or sudo,
#   skipped with a note otherwise.
# pip reads the usual configuration (/etc/pip.conf, /etc/xdg/pip, ~/.config/pip), so the venv sees the same
# wheel sources and constraints as the system's pip (torch==2.13.0, the CPU wheel, where that is configured).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv

if [[ $(id -u) -eq 0 ]]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
apt_install() {
  if [[ "$SUDO" == "none" ]]; then
    echo "note: cannot apt-get install $* (not root, no sudo)" >&2
    return 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

if [[ "${1:-}" == "--with-browser" ]] && ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium || echo "note: no chromium; the real-browser tests will be skipped" >&2
fi

# Which environment: the active one, or a project venv.
in_env=$("$PYTHON" -c 'import os, sys; print(int(sys.prefix != sys.base_prefix or "CONDA_PREFIX" in os.environ))')
if [[ "$in_env" == 1 ]]; then
  prefix=$("$PYTHON" -c 'import sys; print(sys.prefix)')
  if [[ ! -e "$VENV" ]]; then ln -s "$prefix" "$VENV"; fi
  echo "using the active environment $prefix (linked as $VENV)"
elif [[ ! -x "$VENV/bin/python" ]]; then
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ver=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${ver}-venv" || apt_install python3-venv || {
      echo "error: $PYTHON has no venv module; install python3-venv" >&2; exit 1; }
  fi
  managed=$("$PYTHON" -c 'import pathlib, sysconfig; print(int(pathlib.Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED").exists()))')
  echo "creating the project environment $VENV ($("$PYTHON" -c 'import sys; print(sys.executable)')$([[ "$managed" == 1 ]] && echo ", externally managed"))"
  "$PYTHON" -m venv "$VENV"
fi

"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
echo "ridgeviz is installed in $VENV: run .venv/bin/streamlit run app.py"
