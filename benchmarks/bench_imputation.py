"""Imputation error: AutoencoderImputer against scikit-learn's imputers.

Protocol (MIWAE's, Mattei and Frellsen 2019): each table is made numeric and
complete as in ``benchmarks/_tables.py`` (at most ``MAX_ROWS`` rows), then
standardised with the mean and standard deviation of the full table; a
fraction ``rate`` of the entries is removed completely at random
(``np.random.seed(1234); mask = np.random.rand(*X.shape) < rate``, a row
left empty keeps its first entry).  Every imputer is fitted on the table with
its holes and fills them (``fit_transform``); the figure is the mean squared
error on the removed entries, in standard units (0 for a perfect fill, about
1 for the column means).

Candidates: ``AutoencoderImputer()`` (its default, a VAE trained on MIWAE's
importance-weighted bound with 20 draws, from the factor-analysis start, its
epochs chosen on held-out observed entries) and a masking
:class:`~skae.DenoisingAE` of the same width and training; anchors:
``SimpleImputer`` (mean), ``KNNImputer(n_neighbors=10)`` and
``IterativeImputer(max_iter=10, random_state=0)``.  Fit times are wall-clock
seconds on this machine (shared cores; compare within a run).

``breast_cancer`` at 50 % is close to the issue's acceptance protocol (MSE <=
0.30; IterativeImputer 0.333, KNNImputer 0.538, MIWAE's notebook 0.2867), but on
500 of its 569 rows; the protocol itself (all rows) is
``tests/test_impute.py::test_miwae_protocol_on_breast_cancer`` (``-m slow``).
The committed results come from three runs (``--rates 0.3``, ``0.5`` and
``0.2`` side by side on the 2 cores, joined with ``--merge``).

Run ``python -m benchmarks.bench_imputation [--quick] [--tables a,b]``; with
``--rates 0.5`` the rows go to ``imputation_0.5.json``, and
``--merge imputation_0.3,imputation_0.5,imputation_0.2`` writes their union as
the results.
"""

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from benchmarks._common import results_dir, write_results
from benchmarks._tables import cap_rows, load
from skae import AutoencoderImputer, DenoisingAE
from skae.impute import default_estimator

TABLES = (
    "breast_cancer",
    "wine",
    "diabetes",
    "boston",
    "concrete",
    "college",
    "crime",
    "fringe",
    "midwest",
    "leaf",
    "cells",
    "bfi",
)
RATES = (0.3, 0.5, 0.2)
MAX_ROWS = 500
GOAL = 0.30  # breast_cancer, 50 % MCAR


def standardised(name: str) -> np.ndarray:
    X = cap_rows(load(name), MAX_ROWS)
    X = X[:, X.std(axis=0) > 0]
    return (X - X.mean(axis=0)) / X.std(axis=0)


def mcar(X: np.ndarray, rate: float) -> np.ndarray:
    """MIWAE's mask: True where an entry is removed."""
    np.random.seed(1234)
    mask = np.random.rand(*X.shape) < rate
    mask[mask.all(axis=1), 0] = False
    return mask


def candidates(quick: bool) -> dict:
    epochs = 20 if quick else 500
    shared = {
        "n_components": 10,
        "hidden_layer_sizes": (128, 128),
        "activation": "tanh",
        "batch_size": 64,
        "max_iter": epochs,
        "n_iter_no_change": 50,
    }
    return {
        # The default itself (its epochs chosen on held-out entries); the
        # quick run passes the same model, 20 epochs, as an explicit estimator.
        "AutoencoderImputer()": AutoencoderImputer(
            default_estimator().set_params(max_iter=epochs) if quick else None,
            random_state=0,
        ),
        "DenoisingAE, masking": AutoencoderImputer(
            DenoisingAE(noise="masking", noise_level=0.25, **shared), random_state=0
        ),
        "SimpleImputer": SimpleImputer(),
        "KNNImputer(10)": KNNImputer(n_neighbors=10),
        "IterativeImputer": IterativeImputer(max_iter=10, random_state=0),
    }


def run(tables, rates, quick: bool, name: str) -> list[dict]:
    rows = []
    for rate in rates:
        for table in tables:
            X = standardised(table)
            mask = mcar(X, rate)
            X_missing = np.where(mask, np.nan, X)
            row = {"table": table, "n": X.shape[0], "d": X.shape[1], "rate": rate}
            for label, imputer in candidates(quick).items():
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    filled = imputer.fit_transform(X_missing)
                row[f"{label} time"] = round(time.perf_counter() - start, 2)
                assert np.array_equal(filled[~mask], X[~mask]), label
                row[label] = float(np.mean((filled - X)[mask] ** 2))
            print(
                f"{table} {rate:.0%}: "
                + ", ".join(f"{k} {row[k]:.3f}" for k in candidates(True)),
                flush=True,
            )
            rows.append(row)
            report(rows, quick, name)
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small settings for CI")
    parser.add_argument("--tables", default=None, help="comma-separated table names")
    parser.add_argument("--rates", default=None, help="comma-separated MCAR rates")
    parser.add_argument(
        "--merge", default=None, help="comma-separated result files to merge"
    )
    args = parser.parse_args(argv)
    tables = args.tables.split(",") if args.tables else TABLES
    if args.quick and not args.tables:
        tables = tables[:2]
    rates = (0.5,) if args.quick else RATES
    if args.rates:
        rates = tuple(float(rate) for rate in args.rates.split(","))
    if args.merge:
        rows = merge(args.merge.split(","), args.quick)
    else:
        name = (
            "imputation_" + args.rates.replace(",", "_") if args.rates else "imputation"
        )
        rows = run(tables, rates, args.quick, name)
    print(report(rows, args.quick))
    return rows


def merge(parts: list[str], quick: bool) -> list[dict]:
    """The rows of earlier runs' result files (``imputation_<rates>``), one per
    table and rate, by rate."""
    rows = {}
    for part in parts:
        path = results_dir(quick) / f"{part}.json"
        for row in json.loads(path.read_text())["rows"]:
            rows.setdefault((row["rate"], row["table"]), row)
    return [rows[key] for key in sorted(rows)]


def report(rows: list[dict], quick: bool, name: str = "imputation") -> str:
    """Write the results so far to ``name``; return the Markdown table."""
    labels = list(candidates(True))
    for row in rows:
        row["best"] = min(labels, key=row.get)
        if row["table"] == "breast_cancer" and row["rate"] == 0.5:
            row["goal"] = f"AutoencoderImputer() <= {GOAL}"
            row["met"] = row[labels[0]] <= GOAL
    beats = [r[labels[0]] <= r["IterativeImputer"] for r in rows]
    columns = ["table", "n", "d", "rate", *labels, "best"]
    columns += [f"{label} time" for label in labels]
    return write_results(
        name,
        rows,
        columns,
        quick=quick,
        goal="AutoencoderImputer() <= IterativeImputer's MSE on every table and rate",
        goal_met=all(beats),
        mean_mse={label: float(np.mean([r[label] for r in rows])) for label in labels},
    )


if __name__ == "__main__":
    main()
