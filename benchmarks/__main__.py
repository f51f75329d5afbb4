"""`python -m benchmarks [NAME] [options]`: the benchmark suite (`make bench` runs the engine suite).

    python -m benchmarks                      engine vs naive pandas vs pyarrow floor (--sizes 100k,1m)
    python -m benchmarks engine --sizes 100k,1m,5m --repeat 3
    python -m benchmarks memory --rows 5m --budget-mb 1024
    python -m benchmarks upload --mb 1024
    python -m benchmarks api
    python -m benchmarks throughput --jobs 1000

Each prints its own table; figures go to benchmarks/README.md by hand.
"""

from __future__ import annotations

import importlib
import sys

SUITES = {
    "engine": "benchmarks.engine",
    "memory": "benchmarks.memory",
    "upload": "benchmarks.upload_memory",
    "api": "benchmarks.api_load",
    "throughput": "benchmarks.throughput",
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)  # noqa: T201
        return 0
    name = argv[0] if argv and not argv[0].startswith("-") else "engine"
    rest = argv[1:] if argv and argv[0] == name else argv
    if name not in SUITES:
        print(f"unknown benchmark {name!r}; one of: {', '.join(SUITES)}", file=sys.stderr)  # noqa: T201
        return 2
    return int(importlib.import_module(SUITES[name]).main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
