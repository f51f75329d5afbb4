#!/usr/bin/env bash
# Run the whole console locally: installs what it needs, then `python -m console up`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
exec .venv/bin/python -m console up "$@"
