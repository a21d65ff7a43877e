"""What a report of 4 runs × 100 epochs costs, in a fresh process and in a warm one.

The store is web_bench.py's: 4 finished ``mnist_mlp`` runs of 100 epochs each (loss,
accuracy and their validation), each with a 10-class confusion matrix and 200 wrong
predictions with 28×28 images, so the report has 2 charts of 8 curves, 4 confusion
matrices and 32 images.

* ``fresh``: ``ktui report 1 2 3 4`` as a person types it, a new process each round
  (Python, ktui's command line and matplotlib imported every time): wall time and the
  child's CPU time.
* ``phases``: the same in a fresh child, timed part by part (CPU): ktui's command line
  (its imports and parsing the line), importing matplotlib (and NumPy with it), reading
  the store, drawing and writing, with the garbage collector paused as
  :func:`~ktui.report.write_report` pauses it. Python's start and end are not in them:
  ``fresh`` minus this total is their cost.
* ``warm``: :func:`ktui.report.write_report` again in one process (matplotlib loaded),
  as the dashboard's report key does after its first report.

ktui's own modules are byte-compiled first (``compileall``, into the ``__pycache__``
folders git ignores), as ``pip install`` does: with ``PYTHONDONTWRITEBYTECODE`` set, as
in a development shell, each fresh process would otherwise compile the ~40 ktui modules
a report imports again (0.05–0.1 s of CPU a person with an installed ktui never pays).

    python benchmarks/report_bench.py [fresh] [phases] [warm] [--rounds 5]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from web_bench import fill_store

from ktui.store import RunStore

REPO = Path(__file__).resolve().parent.parent

PHASES = r"""
import gc, json, sys, time
clock = time.process_time
t0 = clock()
import ktui.cli  # what `ktui report` imports before it runs the command
gc.disable()  # as write_report does while it imports matplotlib and draws
ktui.cli.parse_args(["--store", sys.argv[1], "report", "1", "2", "3", "4"])
t1 = clock()
from ktui.report.charts import require_matplotlib
require_matplotlib()
from matplotlib.figure import Figure  # what drawing the first chart imports
from matplotlib.backends import backend_svg  # and writing it
t2 = clock()
from pathlib import Path
from ktui.report import collect
from ktui.report.render import render_html
from ktui.store import RunStore
with RunStore(Path(sys.argv[1])) as store:
    report = collect(store, [1, 2, 3, 4])
t3 = clock()
html = render_html(report)
Path(sys.argv[2]).write_text(html, encoding="utf-8")
t4 = clock()
print(json.dumps({"ktui's command line": t1 - t0, "matplotlib": t2 - t1,
                  "read the store": t3 - t2, "draw and write": t4 - t3}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh(store: Path, out: Path, rounds: int) -> None:
    walls, cpus = [], []
    for _ in range(rounds):
        cpu = _children_cpu()
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ktui",
                "--store",
                str(store),
                "report",
                "1",
                "2",
                "3",
                "4",
                "-o",
                str(out),
            ],
            check=True,
            env=_env(),
            stdout=subprocess.DEVNULL,
        )
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - cpu)
    print(
        f"fresh `ktui report 1 2 3 4`, {rounds} rounds: wall median "
        f"{statistics.median(walls):.2f} s (min {min(walls):.2f}), CPU median "
        f"{statistics.median(cpus):.2f} s (min {min(cpus):.2f}); "
        f"{out.stat().st_size / 1024:.0f} KiB"
    )


def phases(store: Path, out: Path, rounds: int) -> None:
    runs: list[dict[str, float]] = []
    for _ in range(rounds):
        result = subprocess.run(
            [sys.executable, "-c", PHASES, str(store), str(out)],
            check=True,
            env=_env(),
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print(f"fresh process, CPU by part (median of {rounds}):")
    for name in runs[0]:
        values = [r[name] for r in runs]
        print(f"  {name:18s} {statistics.median(values):.3f} s (min {min(values):.3f})")
    totals = [sum(r.values()) for r in runs]
    print(f"  {'total':18s} {statistics.median(totals):.3f} s (min {min(totals):.3f})")


def warm(store_path: Path, out: Path, rounds: int) -> None:
    from ktui.report import write_report

    with RunStore(store_path) as store:
        write_report(store, [1, 2, 3, 4], out)  # matplotlib imported, fonts loaded
        walls, cpus = [], []
        for _ in range(rounds):
            started, cpu = time.perf_counter(), time.process_time()
            write_report(store, [1, 2, 3, 4], out)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
    print(
        f"warm write_report, {rounds} rounds: wall median {statistics.median(walls):.3f} s "
        f"(min {min(walls):.3f}), CPU median {statistics.median(cpus):.3f} s (min {min(cpus):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", help="fresh, phases, warm (default all)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    what = args.what or ["fresh", "phases", "warm"]
    compileall.compile_dir(REPO / "ktui", quiet=1)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="ktui-report-bench-") as folder:
        store = Path(folder) / "runs.sqlite"
        with RunStore(store) as runs:
            assert fill_store(runs, 4, 100) == [1, 2, 3, 4]
        out = Path(folder) / "report.html"
        for name in what:
            {"fresh": fresh, "phases": phases, "warm": warm}[name](store, out, args.rounds)


if __name__ == "__main__":
    main()
