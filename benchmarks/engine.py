"""The cleaning engine against a naive pandas script and pyarrow's CSV read+write floor, side by side.

    .venv/bin/python -m benchmarks engine [--sizes 100k,1m,5m] [--repeat N] [--keep] [--thp] [--cold]

For each size a seeded file (benchmarks/data.py, cached) goes through the realistic config
(data.STEPS). Each contender runs in a child process of its own, so its peak RSS (VmHWM) is
its own; with --repeat the runs are interleaved and each contender's fastest run counts:

  engine   what the worker's runner does: reading.read_csv, check_columns, engine.run with an
           on_step callback, writing.write_csv (the CSV output; Parquet/xlsx are extra formats)
  naive    the same cleaning as a person writes it: default read_csv (zip read as text),
           drop_duplicates, fillna, str.strip, str.lower, to_numeric/to_datetime, a filter, to_csv
  pyarrow  pyarrow.csv read + write of the same file: the I/O floor (no cleaning, all rows)

Every child runs with the worker's process settings (transparent huge pages off,
worker/hugepages.py), the floor and the naive script alike; `--thp` leaves the kernel's default.
Each child starts right after ~6x the file of memory was written and freed (prewarm: on a VM
that hands freed memory back to its host, the first write to cold memory is costly and skews the
ratio against whoever needs the most memory); `--cold` skips that.
"work" is the contender's own time (after imports, which a worker process pays once);
"wall" is the child's whole life. The engine's and the naive script's outputs are read back
and reduced to one checksum each (numbers compared as numbers, yes/true as booleans), which
must be equal: no speed may come from doing less.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import data

ROOT = Path(__file__).resolve().parent.parent
CONTENDERS_ORDER = ("engine", "naive", "pyarrow")


# The contenders, each run in a child process -----------------------------------------------------


def run_engine(source: Path, target: Path) -> int:
    from worker.cleaning import engine, reading, writing
    from worker.cleaning.config import check_columns, validate_config

    config = validate_config({"steps": data.STEPS})
    loaded = reading.read_csv(source)
    check_columns(config, list(loaded.frame.columns), loaded.types)
    result, report = engine.run(loaded.frame, config, formats=loaded.formats, on_step=lambda done, total: None)
    writing.write_csv(result, target, report.date_formats)
    return len(loaded.frame)


def run_naive(source: Path, target: Path) -> int:
    import pandas as pd

    df = pd.read_csv(source, dtype={"zip": str})
    rows = len(df)
    df = df.drop_duplicates()
    df["age"] = df["age"].fillna(df["age"].median())
    df["income"] = df["income"].fillna(df["income"].mean())
    df["city"] = df["city"].fillna("unknown")
    for name in ("email", "city", "name"):
        df[name] = df[name].str.strip().replace("", None)
    df["email"] = df["email"].str.lower()
    df["score"] = pd.to_numeric(df["score"], errors="coerce")
    df["signup"] = pd.to_datetime(df["signup"], errors="coerce").dt.normalize()
    df = df[df["active"] == "yes"]
    df.to_csv(target, index=False)
    return rows


def run_outputs(source: Path, target: Path) -> int:
    """The engine path plus the output formats the runner writes (worker.outputs: CSV, Parquet, and xlsx
    up to the default XLSX_MAX_ROWS)."""
    from worker import outputs
    from worker.cleaning import engine, reading
    from worker.cleaning.config import check_columns, validate_config

    config = validate_config({"steps": data.STEPS})
    loaded = reading.read_csv(source)
    check_columns(config, list(loaded.frame.columns), loaded.types)
    result, report = engine.run(loaded.frame, config, formats=loaded.formats)
    folder = target.parent / f"{target.stem}-outputs"
    folder.mkdir(exist_ok=True)
    written = outputs.write_outputs(result, folder, date_formats=report.date_formats, xlsx_max_rows=_xlsx_max_rows())
    (folder / "output.csv").replace(target)
    for file in written.files:
        file.path.unlink(missing_ok=True)
    folder.rmdir()
    return len(loaded.frame)


def _xlsx_max_rows() -> int:
    """The runner's default limit for an xlsx output (settings.XLSX_MAX_ROWS)."""
    from console.core.settings import Settings

    return int(Settings.model_fields["XLSX_MAX_ROWS"].default)


def run_lowmem(source: Path, target: Path) -> int:
    """The low-memory path (worker/cleaning/lowmem.py) under BENCH_BUDGET_MB (default 1024)."""
    from worker.cleaning import lowmem

    budget = int(os.environ.get("BENCH_BUDGET_MB", "1024")) << 20
    result = lowmem.run_file(source, target, {"steps": data.STEPS}, budget_bytes=budget, folder=target.parent)
    return result.report.rows_in


def run_pyarrow(source: Path, target: Path) -> int:
    from pyarrow import csv

    table = csv.read_csv(source)
    csv.write_csv(table, target)
    return table.num_rows


CONTENDERS: dict[str, Callable[[Path, Path], int]] = {
    "engine": run_engine,
    "naive": run_naive,
    "pyarrow": run_pyarrow,
    "lowmem": run_lowmem,
    "outputs": run_outputs,
}


def child(name: str, source: Path, target: Path) -> None:
    # Libraries load before the clock starts, for every contender alike; "wall" still counts them.
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    from loguru import logger

    from worker import hugepages
    from worker.cleaning import engine, reading, writing  # noqa: F401

    if os.environ.get("BENCH_THP") != "on":
        hugepages.disable()  # as the worker does (worker/celery_app.py), for every contender alike
    logger.remove()
    start, cpu = time.perf_counter(), time.process_time()
    rows = CONTENDERS[name](source, target)
    work, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"work": work, "cpu": cpu, "rows_in": rows, "peak_mib": peak_rss_mib()}))  # noqa: T201


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Output checksums ---------------------------------------------------------------------------------


def checksum(path: Path) -> dict[str, object]:
    """Rows and a checksum of a CSV's content: each column canonical (all numbers -> float64,
    all yes/no/true/false -> boolean, else text; an empty field is missing), rows in order."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    with path.open("rb") as handle:
        header = handle.readline().decode().rstrip("\n").split(",")
    table = csv.read_csv(
        path,
        convert_options=csv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.large_string()), null_values=[""], strings_can_be_null=True
        ),
    )
    digest = hashlib.sha256(",".join(header).encode())
    for name in header:
        values = table.column(name)
        try:
            canonical = pc.cast(values, pa.float64())
        except pa.ArrowInvalid:
            lowered = pc.utf8_lower(values)
            words = pc.drop_null(lowered)
            if len(words) and pc.all(pc.is_in(words, value_set=pa.array(["true", "false", "yes", "no"]))).as_py():
                canonical = pc.is_in(lowered, value_set=pa.array(["true", "yes"]))
                canonical = pc.if_else(pc.is_null(lowered), None, canonical)
            else:
                canonical = values
        series = canonical.to_pandas()
        hashed = pd.util.hash_pandas_object(series, index=False).to_numpy()
        digest.update(np.ascontiguousarray(hashed).tobytes())
    return {"rows": table.num_rows, "checksum": digest.hexdigest()[:16]}


# The parent: run each child, print the table ------------------------------------------------------


def measure(
    name: str, source: Path, target: Path, env: dict[str, str] | None = None, *, warm_mib: int = 0
) -> dict[str, float]:
    """Run one contender in a child process; first, with ``warm_mib``, write that much memory and free it
    (see prewarm) so the child starts on memory its host has backed."""
    if warm_mib:
        prewarm(warm_mib)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", "--child", name, str(source), str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - start
    return figures


def _checksums(paths: list[Path]) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", "--checksum", *map(str, paths)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def run_size(
    rows: int, repeat: int, keep: bool, extra: tuple[str, ...] = (), *, warm: bool = True
) -> dict[str, dict[str, float]]:
    source = data.dataset(rows)
    warm_mib = warm_mib_for(source) if warm else 0
    folder = data.OUT / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeat):
        for name in CONTENDERS_ORDER + extra:
            figures = measure(name, source, folder / f"{name}-{rows}.csv", warm_mib=warm_mib)
            if name not in best or figures["work"] < best[name]["work"]:
                best[name] = figures
    outputs = [folder / f"{name}-{rows}.csv" for name in CONTENDERS_ORDER]
    for name, sums in zip(CONTENDERS_ORDER, _checksums(outputs[:2]) + [{"rows": None, "checksum": "-"}], strict=True):
        best[name].update(sums)
    for name in extra:
        best[name].update({"rows": None, "checksum": "-"})
    if not keep:
        for path in outputs + [folder / f"{name}-{rows}.csv" for name in extra]:
            path.unlink(missing_ok=True)
    best["_file"] = {"mib": source.stat().st_size / 2**20}
    return best


def machine() -> str:
    import pandas
    import pyarrow

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    load = os.getloadavg()[0]
    return (
        f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores ({cpu}) · {int(memory) / 2**20:.0f} GiB · "
        f"{platform.python_implementation()} {platform.python_version()} · pandas {pandas.__version__} · "
        f"pyarrow {pyarrow.__version__} · load average at start {load:.1f} · "
        f"reference loop {reference_loop_ms():.0f} ms of CPU"
    )


def reference_loop_ms(iterations: int = 2_000_000, tries: int = 3) -> float:
    """CPU milliseconds of a fixed pure-Python loop, the best of ``tries``: how fast this host is right now.

    The absolute targets (jobs/s, latencies, MB/s) move with the host's speed, which varies between
    machines of the same kind and within a day by up to 2×; the ratios do not. Printed with every table
    so figures from different runs can be set side by side.
    """
    best = float("inf")
    for _ in range(tries):
        started = time.process_time()
        total = 0
        for number in range(iterations):
            total += number
        best = min(best, time.process_time() - started)
    return best * 1000


# Writes argv[1] x 256 MiB of new memory, all held at once (freed one by one, each block would get the
# last one's pages back), with the kernel's huge pages: the fewest faults per GiB.
_TOUCH = """
import sys
import numpy as np
held = [np.ones(256 << 20, dtype=np.uint8) for _ in range(int(sys.argv[1]))]
"""


def _free_mib() -> int:
    """Memory no one uses (not the page cache), within this process's cgroup limit if it has one."""
    free = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemFree"))
    free_mib = free >> 10
    limit, used = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
    if limit.exists() and used.exists() and limit.read_text().strip().isdigit():
        free_mib = min(free_mib, (int(limit.read_text()) - int(used.read_text())) >> 20)
    return free_mib


def warm_mib_for(source: Path) -> int:
    """What prewarm writes before each child: the largest contender's peak (the engine's, ~5.5x the
    file), capped at the free memory less 1 GiB."""
    return max(0, min(6 * (source.stat().st_size >> 20) + 256, _free_mib() - 1024))


def prewarm(mib: int) -> float:
    """Write ``mib`` MiB of new memory in a throwaway process and free it: seconds that process took.

    On a VM that hands freed memory back to its host (virtio-balloon free page reporting, as here),
    a page freed a few seconds ago is backed no longer, and the first write to it is far slower
    than to a backed one (4 GiB written: 0.34 s right after the same was freed, 2.3 s 5 s later,
    9.9 s 20 s later). A contender's child then pays for however much of its memory comes cold,
    and the one that needs the most memory the most: the engine's 5M run took 3.8-4.9 s after 15 s
    idle, 3.4-3.8 s right after 3 GiB were written and freed (the floor 2.4-2.8 s either way, as it
    runs right after the engine and gets its freed memory). So every child starts right after this,
    when the kernel hands out the memory just freed first.
    """
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _TOUCH, str(max(1, -(-mib // 256)))], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"writing {mib:,} MiB failed: {done.stderr.strip()[-500:]}")
    return time.perf_counter() - started


def table(results: dict[int, dict[str, dict[str, float]]]) -> str:
    lines = [
        "| rows | run | work s | wall s | rows/s (work) | peak RSS MiB | work × floor | wall × floor | RSS × floor | rows out | checksum |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    verdicts = []
    for rows, runs in results.items():
        floor = runs["pyarrow"]
        for name in [n for n in runs if not n.startswith("_")]:
            r = runs[name]
            out = ("all" if name == "pyarrow" else "same") if r["rows"] is None else f"{int(r['rows']):,}"
            lines.append(
                f"| {data.label(rows)} | {name} | {r['work']:.2f} | {r['wall']:.2f} | {r['rows_in'] / r['work']:,.0f} | "
                f"{r['peak_mib']:.0f} | {r['work'] / floor['work']:.2f} | {r['wall'] / floor['wall']:.2f} | "
                f"{r['peak_mib'] / floor['peak_mib']:.2f} | {out} | {r['checksum']} |"
            )
        same = runs["engine"]["checksum"] == runs["naive"]["checksum"] and runs["engine"]["rows"] == runs["naive"]["rows"]
        verdicts.append(
            f"{data.label(rows)} ({runs['_file']['mib']:.0f} MiB): engine {runs['engine']['work'] / floor['work']:.2f}× the floor "
            f"(target 1.5×), naive {runs['naive']['work'] / floor['work']:.2f}×; engine/naive "
            f"{runs['engine']['work'] / runs['naive']['work']:.2f}× time, {runs['engine']['peak_mib'] / runs['naive']['peak_mib']:.2f}× RSS; "
            f"outputs {'EQUAL' if same else 'DIFFER'}"
        )
    return "\n".join(lines + [""] + [f"- {v}" for v in verdicts])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks engine", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m", help="comma-separated row counts, e.g. 100k,1m,5m")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the fastest counts")
    parser.add_argument("--keep", action="store_true", help="keep the outputs in benchmarks/out/runs")
    parser.add_argument(
        "--outputs", action="store_true", help="also time the engine path with every output format (CSV, Parquet, xlsx)"
    )
    parser.add_argument(
        "--thp", action="store_true", help="leave transparent huge pages on in the children (the worker turns them off)"
    )
    parser.add_argument(
        "--cold", action="store_true", help="start each child without writing and freeing memory first (see prewarm)"
    )
    parser.add_argument("--child", nargs=3, metavar=("NAME", "SOURCE", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--checksum", nargs="+", metavar="CSV", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    if args.checksum:
        print(json.dumps([checksum(Path(p)) for p in args.checksum]))  # noqa: T201
        return 0
    sizes = [data.parse_size(s) for s in args.sizes.split(",") if s.strip()]
    if args.thp:
        os.environ["BENCH_THP"] = "on"  # the children inherit it
    thp = "transparent huge pages as the kernel has them" if args.thp else "transparent huge pages off"
    warmed = (
        "children start on cold memory (--cold)" if args.cold
        else "each child starts right after ~6x the file of memory was written and freed (prewarm)"
    )  # fmt: skip
    print(f"{machine()} · {thp} · {warmed}")  # noqa: T201
    results = {}
    for rows in sizes:
        results[rows] = run_size(rows, args.repeat, args.keep, ("outputs",) if args.outputs else (), warm=not args.cold)
        print(f"{data.label(rows)} done", file=sys.stderr)  # noqa: T201
    print(table(results))  # noqa: T201
    same = all(r["engine"]["checksum"] == r["naive"]["checksum"] for r in results.values())
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
