"""Timing and reporting helpers shared by the benchmark scripts."""

import json
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


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


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
    }


def markdown_table(rows: list[dict], columns: Sequence[str]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows
    ]
    return "\n".join(lines)


def write_results(name: str, rows: list[dict], columns: Sequence[str], **meta) -> str:
    """Write ``results/<name>.json`` and ``results/<name>.md``; return the table."""
    RESULTS.mkdir(exist_ok=True)
    table = markdown_table(rows, columns)
    payload = {"machine": machine(), **meta, "rows": rows}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))
    (RESULTS / f"{name}.md").write_text(f"# {name}\n\n{table}\n")
    return table
