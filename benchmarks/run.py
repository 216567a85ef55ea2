"""Benchmark the build against the floor: `python -m benchmarks.run` (or `make bench`).

For each row count: write the synthetic sample at the scale that gives at least that many rows
(`armtrace sample --scale`), run `armtrace build --force` in a fresh process, and record its
wall time (process start included), peak memory (maximum resident set size of that process),
per-step seconds and the step that set the peak (reports/build-timings.json); then time the
floor (benchmarks/floor.py) in its own process. Also times the shipped sample (data/raw) end
to end and an unchanged rebuild. Writes the raw numbers to benchmarks/results.json and the
table into docs/performance.md between its markers. Generated data stays under --work
(default /tmp/armtrace-bench).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster
import duckdb
import polars as pl

from pipeline.suite_process import item_log_bytes

REPO = Path(__file__).resolve().parent.parent
SAMPLE_ROWS = 3_454  # item rows in one copy of the sample (scale 1)
TODAY = "2026-01-01"  # fixed cut-off, so every build sees the same data as valid
RESULTS = REPO / "benchmarks" / "results.json"
DOC = REPO / "docs" / "performance.md"
START, END = "<!-- benchmark:start -->", "<!-- benchmark:end -->"
GIB = 1024 ** 3
TARGETS = {"floor_ratio_10m": 3.0, "peak_gib_10m": 4.0, "per_row_10m_over_1m": 1.2,
           "sample_seconds": 15.0, "unchanged_seconds": 3.0}


class OverMemory(Exception):
    """A build went past --max-gib and was stopped."""


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((line for line in status.splitlines() if line.startswith("VmRSS:")), "0 0 kB")
    return int(line.split()[1]) * 1024


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants, summed: a build runs the items
    suite in a child process when it is large."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # each thread lists the children it started
        with contextlib.suppress(OSError):  # a thread or process that just ended
            children += (task / "children").read_text().split()
    return _rss_bytes(pid) + sum(_tree_rss_bytes(int(child)) for child in children)


def timed(command: list[str], cwd: Path, env: dict[str, str],
          max_bytes: int | None = None) -> dict[str, object]:
    """Run a command; its wall seconds, peak memory (bytes) and output. Stops it (OverMemory)
    once its resident memory passes max_bytes, so a scale too big for the machine ends the
    run cleanly instead of swapping or being killed by the kernel.

    Peak memory is the larger of the process's own maximum resident set (wait4; the kernel
    keeps it, so no spike is missed) and the largest sum of its and its descendants' resident
    sets seen in samples every 0.1 s (a child's memory counts while the parent still holds
    its own)."""
    started = time.perf_counter()
    tree_peak = 0
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
        while True:  # wait4: this child's own peak, not the largest of all children so far
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            tree = _tree_rss_bytes(process.pid)
            tree_peak = max(tree_peak, tree)
            if max_bytes and tree > max_bytes:
                process.kill()
                os.wait4(process.pid, 0)
                log.seek(0)
                done = [line.split()[1] for line in log if line.strip().endswith("s")
                        and " ok " in line]
                raise OverMemory(f"stopped after {time.perf_counter() - started:.0f} s, when "
                                 f"its memory passed {max_bytes / GIB:.1f} GiB; steps "
                                 f"finished: {', '.join(done) or 'none'}")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        peak = max(usage.ru_maxrss * 1024, tree_peak)
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output}")
    cpu = usage.ru_utime + usage.ru_stime  # its children's too, once they have ended
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "peak_bytes": peak,
            "output": output}


LOG_CELL_LIMITS = {"ARMTRACE_MAX_FILE_CELLS": "50000000",
                   "ARMTRACE_MAX_WORKBOOK_CELLS": "50000000",
                   "ARMTRACE_MAX_WORKBOOK_MEMORY": str(8 * GIB)}
"""The benchmark's settings that differ from the defaults: a generated team log holds one year
of one team for every copy of the sample (at 10M rows, 1.2 million lines and 22 million cells
in a CSV; 515,000 rows in a workbook, which its reader needs more than 2 GiB for), past the
limits a field log may reach before it is refused as unreadable. Its memory is what the
benchmark measures; every file must be read (item_rows checks)."""


def dagster_env(work: Path) -> dict[str, str]:
    """A persistent Dagster instance in the work folder, configured as the repository's, and
    LOG_CELL_LIMITS."""
    home = work / "dagster-home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return {**os.environ, "DAGSTER_HOME": str(home), **LOG_CELL_LIMITS}


def armtrace(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "armtrace"), *args]


def build_command(raw: Path, out: Path, force: bool = True) -> list[str]:
    return armtrace("build", "--raw", str(raw), "--curated", str(out / "curated"),
                    "--reports", str(out / "reports"), "--today", TODAY,
                    *(["--force"] if force else []))


def sample(work: Path, rows: int) -> tuple[Path, int]:
    """The sample folder for a row count (written once, reused by later runs) and its rows."""
    scale = math.ceil(rows / SAMPLE_ROWS)
    folder = work / f"sample-scale-{scale}"
    done = folder / ".written"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        result = timed(armtrace("sample", "--out", str(folder), "--scale", str(scale)),
                       REPO, dict(os.environ))
        done.write_text(str(result["output"]))
    return folder, scale


def item_rows(curated: Path) -> int:
    """Rows the build read from the item logs; SystemExit when it left a log unread (the
    timing would be of a smaller input than the floor's)."""
    with duckdb.connect(str(curated / "armtrace.duckdb"), read_only=True) as con:
        unread = con.sql("SELECT path, status FROM source_files WHERE dataset = 'items' "
                         "AND status NOT IN ('ok', 'not_read')").fetchall()
        if unread:
            raise SystemExit(f"the build did not read every item log: {unread[:5]}")
        return con.sql("SELECT sum(rows_read) FROM source_files WHERE dataset = 'items'"
                       ).fetchall()[0][0]


def measure_scale(work: Path, rows: int, env: dict[str, str],
                  max_bytes: int) -> dict[str, object]:
    raw, scale = sample(work, rows)
    out = work / f"build-scale-{scale}"
    shutil.rmtree(out, ignore_errors=True)
    print(f"building scale {scale} ...", file=sys.stderr, flush=True)
    try:
        build = timed(build_command(raw, out), work, env, max_bytes)
    except OverMemory as error:
        shutil.rmtree(out, ignore_errors=True)
        return {"target_rows": rows, "scale": scale, "aborted": str(error)}
    timings = json.loads((out / "reports" / "build-timings.json").read_text())
    steps, peaks = timings["seconds_by_step"], timings["peak_bytes_after_step"]
    steps_cpu = timings["cpu_seconds_by_step"]
    floor = timed([sys.executable, "-m", "benchmarks.floor", str(raw)], REPO, dict(os.environ))
    floor_result = json.loads(str(floor["output"]).strip().splitlines()[-1])
    actual = item_rows(out / "curated")
    database_bytes = (out / "curated" / "armtrace.duckdb").stat().st_size
    shutil.rmtree(out)
    return {"target_rows": rows, "scale": scale, "item_rows": actual,
            "raw_item_log_bytes": item_log_bytes(raw), "database_bytes": database_bytes,
            "build_seconds": build["seconds"], "build_peak_bytes": build["peak_bytes"],
            "build_cpu_seconds": build["cpu_seconds"], "steps": steps, "steps_cpu": steps_cpu,
            "peak_step": next(step for step, peak in peaks.items()
                              if peak == max(peaks.values())),
            "floor_query_seconds": floor_result["seconds"],
            "floor_process_seconds": floor["seconds"], "floor_peak_bytes": floor["peak_bytes"],
            "floor_rows": floor_result["rows"],
            "floor_ratio": round(build["seconds"] / floor_result["seconds"], 2),
            # the ratio the build would reach with every core busy from start to end
            "floor_ratio_all_cores_busy": round(
                build["cpu_seconds"] / os.cpu_count() / floor_result["seconds"], 2),
            "microseconds_per_row": round(build["seconds"] / actual * 1e6, 2)}


def measure_shipped_sample(work: Path, env: dict[str, str]) -> dict[str, float]:
    """The shipped sample built end to end (Dagster included), then built again unchanged."""
    out = work / "build-shipped"
    shutil.rmtree(out, ignore_errors=True)
    full = timed(build_command(REPO / "data" / "raw", out), work, env)
    unchanged = timed(build_command(REPO / "data" / "raw", out, force=False), work, env)
    if "up to date" not in str(unchanged["output"]):
        raise SystemExit(f"the second build was not skipped:\n{unchanged['output']}")
    shutil.rmtree(out)
    return {"sample_seconds": full["seconds"], "sample_peak_bytes": full["peak_bytes"],
            "unchanged_seconds": unchanged["seconds"]}


PROBE_STEPS = 20_000_000


def speed_probe() -> float:
    """Seconds of a fixed loop of Python on one core: the same work on every run, so that two
    runs, or the start and end of one, can be told apart by the machine's speed. The
    machine this project is measured on has run the same code at half the speed an hour
    later (docs/performance.md)."""
    started = time.perf_counter()
    total = 0
    for step in range(PROBE_STEPS):
        total += step
    return round(time.perf_counter() - started, 3)


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(memory / GIB, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "polars": pl.__version__,
            "dagster": dagster.__version__}


def verdicts(scales: list[dict], shipped: dict[str, float]) -> list[tuple[str, str, str]]:
    """(target, measured, holds) for every target; "not measured" where this run lacks it."""
    by_rows = {entry["target_rows"]: entry for entry in scales}
    big, mid = by_rows.get(10_000_000), by_rows.get(1_000_000)
    rows: list[tuple[str, str, str]] = []

    def check(name: str, measured: float | None, limit: float, unit: str) -> None:
        if measured is None:
            rows.append((name, "not measured", "not measured"))
        else:
            rows.append((name, f"{measured:.2f}{unit}", "yes" if measured <= limit else "NO"))

    if big and "aborted" in big:
        rows += [(name, "the 10M build did not finish (see above)", "NO")
                 for name in ("10M build / floor <= 3", "10M peak memory <= 4 GiB",
                              "time per row 10M / 1M <= 1.2")]
    else:
        check("10M build / floor <= 3", big and big["floor_ratio"],
              TARGETS["floor_ratio_10m"], "x")
        check("10M peak memory <= 4 GiB", big and big["build_peak_bytes"] / GIB,
              TARGETS["peak_gib_10m"], " GiB")
        check("time per row 10M / 1M <= 1.2",
              big and mid and big["microseconds_per_row"] / mid["microseconds_per_row"],
              TARGETS["per_row_10m_over_1m"], "x")
    check("shipped sample end to end < 15 s", shipped.get("sample_seconds"),
          TARGETS["sample_seconds"], " s")
    check("unchanged rebuild < 3 s", shipped.get("unchanged_seconds"),
          TARGETS["unchanged_seconds"], " s")
    return rows


def table(results: dict) -> str:
    shipped = results["shipped_sample"]
    scales = [entry for entry in results["scales"] if "aborted" not in entry]
    stopped = [entry for entry in results["scales"] if "aborted" in entry]
    at_1m = next((e for e in scales if e["target_rows"] == 1_000_000), None)
    steps = sorted({step for entry in scales for step in entry["steps"]},
                   key=lambda step: -max(e["steps"].get(step, 0) for e in scales))
    lines = [f"Run of {results['command']!r} on {results['machine']['cpu']}, "
             f"{results['machine']['cores']} cores, {results['machine']['memory_gib']} GiB "
             f"(Python {results['machine']['python']}, DuckDB {results['machine']['duckdb']}, "
             f"polars {results['machine']['polars']}, Dagster {results['machine']['dagster']})."
             f"{probe_sentence(results['machine'])}",
             "", "| | " + " | ".join(f"{e['item_rows']:,} rows (scale {e['scale']})"
                                     for e in scales) + " |",
             "|---|" + "---:|" * len(scales)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("build wall time, s (process start to exit)", [f"{e['build_seconds']:.1f}" for e in scales])
    row("build peak memory, GiB", [f"{e['build_peak_bytes'] / GIB:.2f}" for e in scales])
    row("step that set the peak (build process only)",
        [f"`{e.get('peak_step', '?')}`" for e in scales])
    row("build µs per row", [f"{e['microseconds_per_row']:.1f}" for e in scales])
    if at_1m:
        row("build time per row / that at 1M", [
            f"{e['microseconds_per_row'] / at_1m['microseconds_per_row']:.2f}" for e in scales])
    if all("database_bytes" in e for e in scales):
        row("raw item logs, MB", [f"{e['raw_item_log_bytes'] / 1e6:,.0f}" for e in scales])
        row("published database, MB", [f"{e['database_bytes'] / 1e6:,.0f}" for e in scales])
    row("floor query, s", [f"{e['floor_query_seconds']:.2f}" for e in scales])
    row("floor peak memory, GiB", [f"{e['floor_peak_bytes'] / GIB:.2f}" for e in scales])
    row("**build / floor**", [f"**{e['floor_ratio']:.1f}x**" for e in scales])
    if all("build_cpu_seconds" in e for e in scales):
        row("build CPU time, s (all cores, children included)",
            [f"{e['build_cpu_seconds']:.1f}" for e in scales])
        row("cores busy on average (CPU time / wall time)",
            [f"{e['build_cpu_seconds'] / e['build_seconds']:.2f}" for e in scales])
        row("build / floor, were every core busy throughout (CPU time / cores / floor)",
            [f"{e['floor_ratio_all_cores_busy']:.1f}x" for e in scales])
    for step in steps:
        row(f"step `{step}`, s", [f"{e['steps'].get(step, 0):.2f}" for e in scales])
    row("sum of steps, s", [f"{sum(e['steps'].values()):.1f}" for e in scales])
    lines += cpu_by_step(scales[-1]) if scales and "steps_cpu" in scales[-1] else []
    lines += [f"\nScale {e['scale']} ({e['target_rows']:,} rows) not measured: "
              f"{e['aborted']}." for e in stopped]
    lines += ["", f"Shipped sample (data/raw) end to end: {shipped['sample_seconds']:.1f} s "
              f"(peak {shipped['sample_peak_bytes'] / GIB:.2f} GiB); unchanged rebuild: "
              f"{shipped['unchanged_seconds']:.1f} s.", "",
              "| target | measured | holds |", "|---|---:|---|"]
    lines += [f"| {name} | {measured} | {holds} |"
              for name, measured, holds in verdicts(results["scales"], shipped)]
    return "\n".join(lines)


def probe_sentence(machine: dict) -> str:
    """The speed probe's seconds at the start and end of the run, as a sentence ('' for
    results written before the probe existed)."""
    if "probe_seconds" not in machine:
        return ""
    start, end = machine["probe_seconds"]
    return (f" Speed probe (speed_probe: {PROBE_STEPS:,} steps of a Python loop on one core): "
            f"{start:.2f} s at the start of the run, {end:.2f} s at its end.")


def cpu_by_step(entry: dict) -> list[str]:
    """Wall and CPU time of each step of one scale's build, by CPU time: where the work is."""
    lines = ["", f"CPU time by step at {entry['item_rows']:,} rows (a suite's own process "
                 "counts in the step in which it ends):", "",
             "| step | wall, s | CPU, s | cores busy |", "|---|---:|---:|---:|"]
    for step, cpu in sorted(entry["steps_cpu"].items(), key=lambda item: -item[1]):
        wall = entry["steps"][step]
        lines.append(f"| `{step}` | {wall:.2f} | {cpu:.2f} | "
                     f"{cpu / wall if wall else 0:.2f} |")
    return lines


def write_doc(results: dict) -> None:
    text = DOC.read_text(encoding="utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(f"{before}{START}\n{table(results)}\n{END}{after}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--scales", default="100000,1000000,10000000",
                        help="row counts to build, comma-separated (default: 100k, 1M, 10M)")
    parser.add_argument("--work", default="/tmp/armtrace-bench",
                        help="folder for generated samples and builds (default: %(default)s)")
    parser.add_argument("--max-gib", type=float, default=12.0,
                        help="stop a build whose memory passes this and report the scale as "
                             "aborted (default: %(default)s)")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = dagster_env(work)
    probe_at_start = speed_probe()
    shipped = measure_shipped_sample(work, env)
    scales = [measure_scale(work, int(rows), env, int(args.max_gib * GIB))
              for rows in args.scales.split(",")]
    results = {"command": "python -m benchmarks.run --scales " + args.scales,
               "machine": {**machine(), "probe_seconds": [probe_at_start, speed_probe()]},
               "shipped_sample": shipped, "scales": scales}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_doc(results)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
