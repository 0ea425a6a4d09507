"""Run every benchmark: ``python -m benchmarks [--quick]``.

Each ``benchmarks/bench_*.py`` module exposes ``main(argv)``; they run in turn and
each prints its table and writes ``benchmarks/results/<name>.json`` and ``.md``.
"""

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    failed = []
    for name in names:
        print(f"\n## {name}", flush=True)
        try:
            importlib.import_module(f"benchmarks.{name}").main(argv)
        except Exception:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
