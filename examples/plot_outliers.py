"""
Outlier detection on breast cancer data: skae.OutlierDetector next to the usual ones
====================================================================================

The rows are scikit-learn's breast cancer (WDBC) data: every benign tumour
plus 5% malignant ones, the outliers to find.  Each detector is fitted on
these contaminated rows and scores the same rows (the unsupervised protocol of
``benchmarks/bench_outliers.py``): :class:`skae.OutlierDetector` with its
default model, and, on standardised rows, ``IsolationForest``,
``LocalOutlierFactor``, the PCA reconstruction error and a ``GaussianMixture``.

Two figures are saved in ``examples/figures/``:

* ``outliers_histograms.png``: per detector, the histogram of the scores of the
  inliers and of the outliers (higher means more normal), with
  ``OutlierDetector``'s ``contamination="auto"`` threshold ``offset_``;
* ``outliers_roc.png``: the ROC curve of every detector, with its ROC-AUC.

Run ``python examples/plot_outliers.py``; ``--quick`` (or ``SKAE_QUICK=1``)
trains the autoencoder for a few epochs only.
"""

import argparse
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler

from skae import OutlierDetector
from skae.outlier import default_estimator

FIGURES = Path(__file__).resolve().parent / "figures"
OUTLIER_SHARE = 0.05


def contaminated_breast_cancer(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Benign rows plus 5% malignant ones; labels are 1 for the malignant rows."""
    X, y = load_breast_cancer(return_X_y=True)  # 0 = malignant
    rng = np.random.RandomState(seed)
    n_out = round(OUTLIER_SHARE / (1 - OUTLIER_SHARE) * np.sum(y == 1))
    malignant = rng.choice(np.flatnonzero(y == 0), n_out, replace=False)
    rows = np.r_[np.flatnonzero(y == 1), malignant]
    return X[rows], (y[rows] == 0).astype(int)


def pca_reconstruction(X: np.ndarray) -> np.ndarray:
    pca = PCA(n_components=0.9).fit(X)
    return -np.mean((X - pca.inverse_transform(pca.transform(X))) ** 2, axis=1)


def baselines() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Scores (higher = more normal) of scikit-learn's detectors, standardised X."""
    return {
        "IsolationForest": lambda X: (
            IsolationForest(random_state=0).fit(X).score_samples(X)
        ),
        "LocalOutlierFactor": lambda X: (
            LocalOutlierFactor().fit(X).negative_outlier_factor_
        ),
        "PCA reconstruction": pca_reconstruction,
        "GaussianMixture": lambda X: (
            GaussianMixture(2, random_state=0).fit(X).score_samples(X)
        ),
    }


def skae_detector(quick: bool) -> OutlierDetector:
    """``OutlierDetector()``; ``quick`` caps the default model at 10 epochs."""
    if not quick:
        return OutlierDetector(random_state=0)
    model = default_estimator()
    capped = {name: 10 for name in model.get_params() if name.endswith("__max_iter")}
    return OutlierDetector(model.set_params(**capped), random_state=0)


def plot_histograms(scores: dict, labels: np.ndarray, offset: float) -> Path:
    fig, axes = plt.subplots(1, len(scores), figsize=(4 * len(scores), 3.4))
    for ax, (name, values) in zip(axes, scores.items(), strict=True):
        bins = np.histogram_bin_edges(values, bins=40)
        ax.hist(values[labels == 0], bins=bins, alpha=0.6, label="benign (inliers)")
        ax.hist(values[labels == 1], bins=bins, alpha=0.8, label="malignant")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("score (higher = more normal)")
    axes[0].axvline(offset, color="k", ls="--", label="offset_ ('auto')")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, "outliers_histograms.png")


def plot_roc(scores: dict, labels: np.ndarray) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, values in scores.items():
        false_pos, true_pos, _ = roc_curve(labels, -values)
        auc = roc_auc_score(labels, -values)
        ax.plot(false_pos, true_pos, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate (benign flagged)")
    ax.set_ylabel("true positive rate (malignant flagged)")
    ax.set_title("breast cancer, 5% malignant: fit and score the same rows")
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, "outliers_roc.png")


def save(fig, name: str) -> Path:
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved {path}")
    return path


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few epochs only")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, labels = contaminated_breast_cancer()
    detector = skae_detector(quick).fit(X)
    scores = {"OutlierDetector()": detector.score_samples(X)}
    X_std = StandardScaler().fit_transform(X)
    scores.update({name: score(X_std) for name, score in baselines().items()})
    flagged = detector.predict(X) == -1
    print(
        f"OutlierDetector() 'auto' flags {flagged.sum()} of {len(X)} rows, "
        f"{labels[flagged].sum()} of them malignant ({labels.sum()} in all)"
    )
    for name, values in scores.items():
        print(f"{name:20s} ROC-AUC {roc_auc_score(labels, -values):.3f}")
    return [plot_histograms(scores, labels, detector.offset_), plot_roc(scores, labels)]


if __name__ == "__main__":
    main()
