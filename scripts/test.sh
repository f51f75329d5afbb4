#!/usr/bin/env bash
# The whole test suite: installs what it needs, then runs pytest against the real services.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"  # the browser tests
command -v wrk >/dev/null || missing="$missing wrk"       # the API benchmark's load generator, tested too
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's$missing for the tests"
  (apt-get install -y -q $missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; })
fi
# Two test processes, a file each at a time: every test session has its own schema and queue, and
# most integration tests wait on workers and servers, so the two cores stay busy (12 min -> 7).
exec .venv/bin/python -m pytest -n "${TEST_PROCESSES:-2}" --dist loadfile "$@"
