"""Bounded memory: the low-memory path on a file several times its budget, against the in-memory path and the floor.

    .venv/bin/python -m benchmarks memory [--rows 5m] [--budget-mb 1024] [--repeat N] [--cold]

Each contender runs in a child process of its own (peak RSS = the child's VmHWM):

  lowmem   worker/cleaning/lowmem.run_file with the budget: columns on disk, a step's columns
           in memory (what the runner uses when a file does not fit; see lowmem.fits_in_memory)
  engine   the in-memory path (reading.read_csv + engine.run + writing.write_csv)
  pyarrow  pyarrow.csv read + write: the floor

The low-memory output must be byte for byte the in-memory output (sha256 of both files).
"work" is wall-clock time (the issue's measure); "cpu" is the child's CPU time over all its
threads, steadier than wall-clock on a busy machine (the low-memory path and the floor both
use two cores where they can, so a busy machine stretches their wall-clock times unequally).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from benchmarks import data
from benchmarks.engine import machine, measure, warm_mib_for


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks memory", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="5m")
    parser.add_argument("--budget-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-engine", action="store_true", help="leave out the in-memory run (it needs ~5x the file)")
    parser.add_argument(
        "--cold", action="store_true", help="start each child without writing and freeing memory first (engine.prewarm)"
    )
    args = parser.parse_args(argv)
    rows = data.parse_size(args.rows)
    source = data.dataset(rows)
    folder = data.OUT / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    names = ["lowmem", "pyarrow"] + ([] if args.skip_engine else ["engine"])
    env = {"BENCH_BUDGET_MB": str(args.budget_mb)}
    warm_mib = 0 if args.cold else warm_mib_for(source)
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for name in names:
            figures = measure(name, source, folder / f"mem-{name}.csv", env, warm_mib=warm_mib)
            if name not in best or figures["work"] < best[name]["work"]:
                best[name] = figures
    floor = best["pyarrow"]
    warmed = (
        "children start on cold memory (--cold)" if args.cold
        else f"each child starts right after {warm_mib:,} MiB of memory was written and freed (engine.prewarm)"
    )  # fmt: skip
    print(f"{machine()} · {warmed}")  # noqa: T201
    print(f"{data.label(rows)} rows, {source.stat().st_size / 2**20:.0f} MiB file, budget {args.budget_mb} MiB")  # noqa: T201
    print("| run | work s | wall s | cpu s | rows/s | peak RSS MiB | work × floor | cpu × floor | peak / budget |")  # noqa: T201
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")  # noqa: T201
    for name in names:
        r = best[name]
        print(  # noqa: T201
            f"| {name} | {r['work']:.2f} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rows_in'] / r['work']:,.0f} | "
            f"{r['peak_mib']:.0f} | {r['work'] / floor['work']:.2f} | {r['cpu'] / floor['cpu']:.2f} | "
            f"{r['peak_mib'] / args.budget_mb:.2f} |"
        )
    same = None
    if not args.skip_engine:
        same = _sha(folder / "mem-lowmem.csv") == _sha(folder / "mem-engine.csv")
        print(f"\nlowmem output {'IDENTICAL to' if same else 'DIFFERS from'} the in-memory output (sha256)")  # noqa: T201
    within = best["lowmem"]["peak_mib"] <= args.budget_mb
    print(f"lowmem peak {'within' if within else 'OVER'} the budget; {best['lowmem']['work'] / floor['work']:.2f}× the floor (target 4×)")  # noqa: T201
    for name in names:
        (folder / f"mem-{name}.csv").unlink(missing_ok=True)
    return 0 if within and same is not False else 1


if __name__ == "__main__":
    sys.exit(main())
