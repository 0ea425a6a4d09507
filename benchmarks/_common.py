"""Timing and reporting helpers shared by the benchmark scripts.

Full runs write ``benchmarks/results/<name>.json`` and ``.md``; quick runs
(``quick=True`` in the metadata, or ``python -m benchmarks --quick``) write to
``benchmarks/results/quick/`` so that a CI-sized run never overwrites the
committed figures of a full run.
"""

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_RESULTS = RESULTS / "quick"
QUICK_ENV = "SKAE_BENCHMARKS_QUICK"


def results_dir(quick: bool = False) -> Path:
    """Where results go: ``results/quick/`` for quick runs, else ``results/``."""
    return QUICK_RESULTS if quick or os.environ.get(QUICK_ENV) == "1" else RESULTS


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternating_medians(
    candidates: dict[str, Callable[[], object]], repeats: int
) -> dict[str, list[float]]:
    """Run each candidate ``repeats`` times, interleaved, and keep every timing.

    Interleaving (A B A B ...) spreads slow drifts of the machine (thermal, other
    load) over all candidates instead of penalising whichever ran last.
    """
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            times[name].append(timed(fn))
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median of the ratios of runs made back to back (``a_i / b_i``).

    With alternating runs each pair shares the machine's state of the moment,
    so a change of load between repeats cancels out of every ratio; the
    ratio of the two medians would mix pairs from different states.
    """
    pairs = zip(numerator, denominator, strict=True)
    return float(statistics.median(a / b for a, b in pairs))


def spread(values: Sequence[float]) -> float:
    """Relative spread of repeated timings: ``(max - min) / median``."""
    return float((max(values) - min(values)) / statistics.median(values))


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (the growth exponent)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def load_1min() -> float:
    """The machine's one-minute load average (other work competing for cores)."""
    return os.getloadavg()[0]


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "load_1min": round(load_1min(), 2),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def markdown_table(rows: list[dict], columns: Sequence[str]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows
    ]
    return "\n".join(lines)


def write_results(
    name: str,
    rows: list[dict],
    columns: Sequence[str],
    *,
    markdown_after: str = "",
    **meta,
) -> str:
    """Write ``<results>/<name>.json`` and ``.md``; return the Markdown table.

    A row may carry ``goal`` (text) and ``met`` (bool); the whole run may carry
    ``goal`` and ``goal_met`` in ``meta``.  ``benchmarks.report`` collects both
    into the summary.  ``markdown_after`` (e.g. a profile) follows the table in
    the ``.md`` file.
    """
    directory = results_dir(bool(meta.get("quick")))
    directory.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows, columns)
    payload = {"machine": machine(), **meta, "columns": list(columns), "rows": rows}
    (directory / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    after = f"\n{markdown_after.strip()}\n" if markdown_after else ""
    (directory / f"{name}.md").write_text(f"# {name}\n\n{table}\n{after}")
    return table
