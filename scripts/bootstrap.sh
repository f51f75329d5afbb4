#!/usr/bin/env bash
# Create .venv from the pinned requirements when it is missing or the pins changed.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
python="${PYTHON:-python3}"
stamp=".venv/.installed-$(cat requirements.txt "$requirements" | sha256sum | cut -c1-16)-$(basename "$requirements")"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  .venv/bin/python -m pip check
  touch "$stamp"
fi
