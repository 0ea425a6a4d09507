"""Gather every benchmark's results into one summary with the goals marked.

Reads the current result files of ``benchmarks/results/`` (``results/quick/``
with ``--quick``), those named in ``BENCHMARKS``: what each ``bench_*.py``
writes through ``write_results``, including those of other issues (denoising,
density).  It writes ``SUMMARY.md`` next to them: first the date and machine
state of each file (every file comes from its own run), then one table of
every goal, met or not, then each benchmark's own table.  A goal is either a
row's ``goal`` / ``met`` pair (the row's value is in the column named by the
file's ``goal_column``) or a whole file's ``goal`` / ``goal_met`` pair.  The
parts that a merged file joins (``MERGED_INTO``) are dated but not summarised
again; any other file in the folder (an experiment's ``--output``) is named,
not summarised.  ``NOTES.md`` in the same folder, if present, is appended.

Run ``python -m benchmarks.report [--quick]``; ``python -m benchmarks`` runs it
after the benchmarks.
"""

import argparse
import json
import subprocess
from pathlib import Path

from benchmarks._common import markdown_table, results_dir

# The current result files, in summary order, with the command that writes each.
BENCHMARKS = {
    "fit_speed": "bench_fit_speed",
    "hardware": "bench_hardware",
    "inference": "bench_inference",
    "inference_memory": "bench_inference",
    "vae_scoring": "bench_inference",
    "scaling": "bench_scaling",
    "quality": "bench_quality",
    "denoising": "bench_denoising",
    "density": "bench_density",
    "image_flow": "bench_image_flow",
    "images_reconstruction": "bench_images",
    "images_reconstruction_k8": "bench_images --part reconstruction --k 8",
    "images_reconstruction_k30": "bench_images --part reconstruction --k 30",
    "images_vae": "bench_images",
    "images_vae_mlp": "bench_images --part vae --vae-model 'MLP VAE'",
    "images_vae_conv": "bench_images --part vae --vae-model 'conv VAE'",
    "reduction": "bench_reduction",
    "tables": "bench_tables",
    "tables_large": (
        "bench_tables --tables rwm5yr,alcohol,check_times --max-rows 0 "
        "--output tables_large"
    ),
    "two_moons": "bench_two_moons",
    "conditional": "bench_conditional",
    "imputation": "bench_imputation",
    "imputation_mixed": "bench_mixed_imputation",
    "synthesis": "bench_synthesis",
    "outliers": "bench_outliers",
    "sequences": "bench_sequences",
    "sequences_sinusoids": "bench_sequences",
    "pretraining": "bench_pretraining",
    "parallel": "bench_parallel",
}
# Parts that ``--merge`` joins into another file: dated, not summarised twice.
MERGED_INTO = {
    "imputation_0.2": "imputation",
    "imputation_0.3": "imputation",
    "imputation_0.5": "imputation",
}


def _label(row: dict) -> str:
    for key in ("case", "figure", "method", "estimator", "model", "data"):
        if key in row:
            return str(row[key])
    return str(next(iter(row.values()), ""))


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _status(met) -> str:
    return "met" if met else "**not met**"


def goals(name: str, payload: dict) -> list[dict]:
    found = []
    column = payload.get("goal_column")
    for row in payload.get("rows", []):
        if "goal" in row and "met" in row and row["goal"]:
            found.append(
                {
                    "benchmark": name,
                    "figure": _label(row),
                    "value": _value(row.get(column)) if column else "",
                    "goal": row["goal"],
                    "status": _status(row["met"]),
                }
            )
    if "goal" in payload and "goal_met" in payload:
        found.append(
            {
                "benchmark": name,
                "figure": payload.get("goal_figure", "whole benchmark"),
                "value": _value(payload.get("goal_value")),
                "goal": payload["goal"],
                "status": _status(payload["goal_met"]),
            }
        )
    return found


def _table_of(json_path: Path) -> str:
    markdown = json_path.with_suffix(".md")
    if not markdown.exists():
        return "(no table)"
    lines = markdown.read_text().strip().splitlines()
    return "\n".join(line for line in lines if not line.startswith("# ")).strip()


def _written(path: Path, payload: dict) -> str:
    """When the file was written: its recorded date, else its last commit's."""
    date = payload.get("machine", {}).get("date")
    if date:
        return date
    try:
        committed = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        committed = ""
    return f"not recorded (committed {committed})" if committed else "not recorded"


def summary(directory: Path) -> str:
    found = {p.stem: p for p in directory.glob("*.json") if p.stem != "SUMMARY"}
    names = [n for n in BENCHMARKS if n in found]
    parts = sorted(n for n in found if n in MERGED_INTO)
    others = sorted(n for n in found if n not in BENCHMARKS and n not in MERGED_INTO)
    payloads = {n: json.loads(found[n].read_text()) for n in [*names, *parts]}
    all_goals = [g for name in names for g in goals(name, payloads[name])]
    quick = any(p.get("quick") for p in payloads.values())
    dates = sorted(
        p["machine"]["date"]
        for p in payloads.values()
        if "date" in p.get("machine", {})
    )
    days = sorted({date[:10] for date in dates})
    span = (
        f"between {days[0]} and {days[-1]}"
        if len(days) > 1
        else f"on {days[0]}"
        if days
        else "on dates not recorded"
    )
    kind = "Quick (CI-sized)" if quick else "Full-size"
    lines = [
        "# skae benchmark summary",
        "",
        f"{kind} runs: each file is the latest run of its own benchmark, written "
        f"{span} (the date of each file is below).  Compare figures within a file, "
        "where each figure and its reference were measured in the same run on the "
        "same machine.  Generated by `python -m benchmarks.report` from the "
        "`results/*.json` files.",
        "",
        "| file | written by | written | torch threads | cpus | "
        "1-min load when written |",
        "|---|---|---|---|---|---|",
    ]
    for name in [*names, *parts]:
        payload = payloads[name]
        machine = payload.get("machine", {})
        command = (
            f"bench_imputation --rates {name.split('_', 1)[1]} "
            f"(merged into {MERGED_INTO[name]})"
            if name in MERGED_INTO
            else BENCHMARKS[name]
        )
        lines.append(
            f"| {name} | `{command}` | {_written(found[name], payload)} | "
            f"{machine.get('threads', '')} | {machine.get('cpus', '')} | "
            f"{machine.get('load_1min', '')} |"
        )
    if others:
        lines += [
            "",
            "Not summarised (not a current benchmark file): "
            + ", ".join(f"`{n}`" for n in others)
            + ".",
        ]
    met = sum(g["status"] == "met" for g in all_goals)
    lines += [
        "",
        f"## Goals: {met} of {len(all_goals)} met",
        "",
        markdown_table(all_goals, ["benchmark", "figure", "value", "goal", "status"]),
    ]
    for name in names:
        payload = payloads[name]
        lines += ["", f"## {name}", ""]
        for key in ("figure", "data", "network", "flops_formula", "goal"):
            if key in payload:
                lines.append(f"- {key}: {payload[key]}")
        lines += ["", _table_of(found[name])]
    notes = directory / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="summarise a quick run")
    args, _ = parser.parse_known_args(argv)
    directory = results_dir(args.quick)
    text = summary(directory)
    (directory / "SUMMARY.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
