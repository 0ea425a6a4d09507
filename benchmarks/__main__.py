"""Run every benchmark, then the summary: ``python -m benchmarks [--quick]``.

Each ``benchmarks/bench_*.py`` module exposes ``main(argv)``; they run in turn and
each prints its table and writes ``benchmarks/results/<name>.json`` and ``.md``
(``results/quick/`` with ``--quick``).  ``benchmarks.report`` then gathers them
into ``SUMMARY.md``.  A benchmark is a measurement: a slow figure never makes
this command fail, only a benchmark that crashes does.
"""

import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path

from benchmarks import report
from benchmarks._common import QUICK_ENV, load_1min


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--quick" in argv:
        os.environ[QUICK_ENV] = "1"  # also routes benchmarks that do not say so
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    failed = []
    start = time.perf_counter()
    for name in names:
        print(f"\n## {name} (1-min load {load_1min():.2f})", flush=True)
        began = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").main(argv)
        except Exception:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
        print(f"({name}: {time.perf_counter() - began:.1f} s)", flush=True)
    print(f"\n# all benchmarks: {time.perf_counter() - start:.1f} s\n")
    report.main(argv)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
