"""Where a default fit's time goes, next to its classical counterpart's.

For each table (``benchmarks._tables``: the bench tables, digits included) and
each estimator at its defaults, one process, one thread, a 75/25 split seeded
0: the fit time of the skae estimator and of the classical estimator it is
compared with, their ratio, the held-out figure of both, and how skae's time
splits into its phases (``fit_times_``: input, preprocessing and classical
start with its scans, training, post-fit statistics), with the epochs run.

* ``AutoencoderTransformer(n_components=k)`` vs ``PCA(k)``, ``k = min(4, d - 1)``:
  held-out mean squared error per entry (standardised units);
* ``VAE()`` vs ``FactorAnalysis`` with the VAE's ``n_components``: held-out
  mean log-likelihood, nats per row;
* ``RealNVPDensity()`` vs ``GaussianMixture`` chosen by BIC over 1..8
  components (the scan's time): held-out mean log-likelihood, nats per row;
* ``OutlierDetector()`` vs ``IsolationForest()``: fit times only;
* ``AutoencoderImputer()`` vs ``IterativeImputer()`` on the training rows with
  30 % of their entries removed (MCAR, ``benchmarks.bench_imputation.mcar``):
  mean squared error of the removed entries; tables of at most 1,000 rows;
* on digits also the README's ``AutoencoderTransformer(n_components=8)`` vs
  ``PCA(8)``.

``to_1pct_s`` is when the fit first came within 1 % of its final held-out
figure: the phases before training plus the epochs (skorch's ``dur``) up to the
first whose validation loss is within 1 % of the best one (0 epochs when the
start was kept).

Run ``python -m benchmarks.bench_fit_time [--quick] [--tables a,b]``; the
1-minute load average is printed beside the table (time ratios are only
comparable within one run).
"""

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from benchmarks._common import load_1min, write_results
from benchmarks._tables import DEFAULT_TABLES, load
from benchmarks.bench_imputation import mcar
from skae import (
    VAE,
    AutoencoderImputer,
    AutoencoderTransformer,
    OutlierDetector,
    RealNVPDensity,
)

QUICK_TABLES = ("wine", "diabetes")
IMPUTED_ROWS = 1000  # more training rows: no imputer case
PHASES = (
    "input",
    "preprocessing and start",
    "network",
    "training",
    "post-fit statistics",
)


def _timed(fit: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def _mse(model, X: np.ndarray) -> float:
    codes = model.transform(X)
    return float(np.mean((model.inverse_transform(codes) - X) ** 2))


def _bic_mixture(X: np.ndarray) -> GaussianMixture:
    fits = [
        GaussianMixture(k, n_init=3, random_state=0).fit(X)
        for k in range(1, min(8, len(X) // 2) + 1)
    ]
    return min(fits, key=lambda m: m.bic(X))


def _imputation_case(X_train: np.ndarray) -> tuple:
    mask = mcar(X_train, 0.3)
    X_missing = np.where(mask, np.nan, X_train)

    def error(model, X_test) -> float:
        filled = model.transform(X_missing)
        return float(np.mean((filled - X_train)[mask] ** 2))

    class Imputation:  # fit() on the rows with holes, as the others fit X_train
        def __init__(self, estimator):
            self.estimator = estimator

        def fit(self, X):
            return self.estimator.fit(X_missing)

    return (
        Imputation(AutoencoderImputer(random_state=0)),
        lambda: IterativeImputer(random_state=0).fit(X_missing),
        error,
        "MSE",
    )


def _cases(table: str, X_train: np.ndarray) -> dict[str, tuple]:
    """name -> (skae estimator, classical fit, held-out figure(model, X), unit)."""
    k = max(1, min(4, X_train.shape[1] - 1))
    latent = VAE().n_components
    extra = {}
    if table == "digits":
        extra["AE k=8"] = (
            AutoencoderTransformer(n_components=8, random_state=0),
            lambda: PCA(8).fit(X_train),
            _mse,
            "MSE",
        )
    if len(X_train) <= IMPUTED_ROWS:
        extra["imputer"] = _imputation_case(X_train)
    return {
        **extra,
        "AE": (
            AutoencoderTransformer(n_components=k, random_state=0),
            lambda: PCA(k).fit(X_train),
            _mse,
            "MSE",
        ),
        "VAE": (
            VAE(random_state=0),
            lambda: FactorAnalysis(min(latent, X_train.shape[1])).fit(X_train),
            lambda model, X: float(model.score(X)),
            "nats",
        ),
        "flow": (
            RealNVPDensity(random_state=0),
            lambda: _bic_mixture(X_train),
            lambda model, X: float(model.score(X)),
            "nats",
        ),
        "outlier": (
            OutlierDetector(random_state=0),
            lambda: IsolationForest(random_state=0).fit(X_train),
            None,
            "",
        ),
    }


def _row(table: str, name: str, case: tuple, X_train, X_test) -> dict:
    estimator, classical_fit, figure, unit = case
    model, seconds = _timed(lambda: estimator.fit(X_train))
    reference, reference_seconds = _timed(classical_fit)
    inner = getattr(model, "estimator_", model)
    inner = inner.steps[-1][1] if hasattr(inner, "steps") else inner
    phases = getattr(inner, "fit_times_", {})
    net = getattr(inner, "net_", None)
    row = {
        "table": table,
        "estimator": name,
        "skae_s": seconds,
        "classical_s": reference_seconds,
        "ratio": seconds / max(reference_seconds, 1e-9),
        "epochs": getattr(inner, "n_iter_", None),
        **{phase: phases.get(phase) for phase in PHASES},
        "to_1pct_s": None if net is None else _to_one_percent(net, phases),
        "unit": unit,
    }
    if figure is not None:
        row["skae_held_out"] = figure(model, X_test)
        row["classical_held_out"] = figure(reference, X_test)
    return row


def _to_one_percent(net, phases: dict) -> float | None:
    """Seconds until the validation loss first came within 1 % of its best."""
    epochs = [row for row in net.history if "valid_loss" in row]
    stopping = dict(net.callbacks_).get("stopping")
    start = getattr(stopping, "initial_score_", None)
    if not epochs or start is None:
        return None
    losses = [start, *(row["valid_loss"] for row in epochs)]
    best = min(losses)
    first = next(i for i, loss in enumerate(losses) if loss <= best + 0.01 * abs(best))
    before = sum(phases.get(phase, 0.0) for phase in PHASES[:3])
    return before + sum(row["dur"] for row in epochs[:first])


COLUMNS = (
    "table",
    "estimator",
    "skae_s",
    "classical_s",
    "ratio",
    "skae_held_out",
    "classical_held_out",
    "unit",
    "to_1pct_s",
    *PHASES,
    "epochs",
)


def _rounded(row: dict) -> dict:
    return {
        key: round(value, 3) if isinstance(value, float) else value
        for key, value in row.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    parser.add_argument("--tables", help="comma-separated names from _tables.TABLES")
    args = parser.parse_args(argv)
    tables = (
        args.tables.split(",")
        if args.tables
        else (QUICK_TABLES if args.quick else DEFAULT_TABLES)
    )
    torch.set_num_threads(1)
    load_average = load_1min()
    rows = []
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    for table in tables:
        X = StandardScaler().fit_transform(load(table))
        X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
        for name, case in _cases(table, X_train).items():
            row = _row(table, name, case, X_train, X_test)
            rows.append(row)
            print(
                f"{table:14s} {name:8s} skae {row['skae_s']:7.2f} s  classical "
                f"{row['classical_s']:6.2f} s  ratio {row['ratio']:7.0f}x",
                flush=True,
            )
    table = write_results(
        "fit_time",
        [_rounded(row) for row in rows],
        COLUMNS,
        quick=args.quick,
        load_1min_at_start=round(load_average, 2),
    )
    print(f"1-min load average at the start: {load_average:.2f}\n{table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
